//! One breaker per key: per host, per endpoint, per tenant.
//!
//! A breaker per *function* is the wrong grain when one function calls many hosts: one
//! bad host would open it for all of them. A [`Breakers`] set gives each key its own
//! breaker, made on the key's first call from a template, and bounds its memory:
//!
//! - at most [`max_keys`](BreakersBuilder::max_keys) keys (default 1,024) have a breaker
//!   of their own; new keys beyond the cap share one **overflow** breaker, named
//!   `<set>{overflow}` (a form no key's `<set>[<key>]` takes);
//! - a key's breaker is **evicted** when it has not been used for
//!   [`idle_ttl`](BreakersBuilder::idle_ttl) (default 10 minutes) and is closed, however
//!   many failures it counts: stale failures must not pin a key. An open or half-open
//!   breaker is never evicted, since evicting it would reset it (a way around the
//!   breaker for anyone who can choose keys); nor is a [disabled](CircuitBreaker::disable)
//!   one, nor one whose handle you hold (from [`get`](Breakers::get), say), since the
//!   set would then make a second breaker of that name. Eviction happens when a new
//!   key finds the set full (at most one sweep a second), or when you call
//!   [`sweep`](Breakers::sweep); there is no background thread.
//! - an evicted breaker leaves the [registry](crate::registry) (and, with `metrics`,
//!   the published metrics) at once and is freed as soon as no thread is still reading
//!   it; the key's next call makes a fresh breaker under the same name.
//!
//! Breakers are built as [`Builder::build`] builds them, so a name stands for one
//! breaker: two sets made from one template (two clients of one factory) share each
//! key's breaker, while each set has an overflow breaker of its own unless you give two
//! sets one [`name`](BreakersBuilder::name). A key whose breaker the template names like
//! a live breaker of other settings ([`ConfigError::NameTaken`]) is no reason for a call
//! to fail, since keys may come from whoever sends the requests: that key gets a breaker
//! of its own, outside the registry, and a `tracing` error says so. A setting the
//! template gets wrong panics when the key is first used, as `build` does.
//!
//! With the `metrics` feature a set publishes its keys together, under its name (see
//! [`metrics_per_key`](BreakersBuilder::metrics_per_key)): the number of series does not
//! grow with the keys.
//!
//! Reads of a key that has a breaker never block and write no shared memory on a
//! closed success, beyond the key's last-used time, stored at most once a second. The
//! map is [papaya](https://docs.rs/papaya)'s lock-free hash table.
//!
//! Keys should have few values: an authority (`scheme://host:port`), a tenant id, an
//! endpoint name, not a full URL.
//!
//! ```
//! use breaker_runtime::{keyed::Breakers, CircuitBreaker, State};
//!
//! type BoxError = Box<dyn std::error::Error + Send + Sync>;
//!
//! let hosts: Breakers<String> = Breakers::builder(|host: &String| {
//!     CircuitBreaker::builder(format!("upstream[{host}]")).fail_max(2)
//! })
//! .max_keys(10_000)
//! .build();
//!
//! let down = || -> Result<(), BoxError> { Err("503".into()) };
//! for _ in 0..2 {
//!     let _ = hosts.call("a.example", down);
//! }
//! assert_eq!(hosts.get("a.example").unwrap().state(), State::Open);
//! // The other host has a breaker of its own, closed.
//! assert!(hosts.call("b.example", || Ok::<_, BoxError>(())).is_ok());
//! assert_eq!(hosts.get("b.example").unwrap().name(), "upstream[b.example]");
//! ```

use std::borrow::Borrow;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use papaya::Guard as _;

use crate::clock::{duration_to_nanos, ClockCell, ClockSource};
use crate::outcome::Seen;
use crate::permit::Detached;
use crate::registry::{BreakerInfo, Snapshot};
use crate::{
    Builder, CircuitBreaker, CircuitBreakerError, Clock, ConfigError, Name, OwnedPermit, State,
    Verdict,
};

/// The default cap on keys with a breaker of their own.
pub const DEFAULT_MAX_KEYS: usize = 1024;
/// The default time a closed breaker must go unused before it may be evicted.
pub const DEFAULT_IDLE_TTL: Duration = Duration::from_secs(600);

/// How often, at most, a new key finding the set full sweeps it for idle breakers.
const SWEEP_EVERY: u64 = 1_000_000_000;

type Template<K> = dyn Fn(&K) -> Builder + Send + Sync;

/// A key's breaker and its id (`None` for the overflow breaker).
pub(crate) type Found<'g> = (&'g CircuitBreaker, Option<u64>);

/// A breaker per key, made from a template on the key's first use. See the
/// [module](self) for the rules that bound its memory.
///
/// A `Breakers` is a handle: `Clone` shares the same set, and it is `Send + Sync`.
pub struct Breakers<K> {
    pub(crate) set: Arc<Set<K>>,
}

pub(crate) struct Set<K> {
    pub(crate) map: papaya::HashMap<K, Entry>,
    template: Box<Template<K>>,
    name: Name,
    /// The counters its keys share, unless each key publishes its own.
    #[cfg(feature = "metrics")]
    counters: Option<Arc<crate::metrics::Counters>>,
    /// The settings of its first key's breaker, which the others share when the
    /// template gives them the same.
    config: OnceLock<Arc<crate::Config>>,
    max_keys: usize,
    idle_ttl: u64,
    /// Keys with a breaker of their own, counted before they are inserted so that the
    /// cap holds however many threads insert at once.
    keys: AtomicUsize,
    next_id: AtomicU64,
    overflow: OnceLock<CircuitBreaker>,
    clock: ClockCell,
    /// When the set was last swept, on its clock (nanoseconds).
    swept_at: AtomicU64,
}

pub(crate) struct Entry {
    breaker: CircuitBreaker,
    /// Tells this key's breaker from one made for the same key after an eviction, for
    /// a call that looks its breaker up again at the end.
    id: u64,
    /// Whole seconds on the set's clock when the key was last used.
    used: AtomicU32,
    /// Evicted: out of the map, waiting for papaya to free it.
    removed: AtomicBool,
}

/// How many keyed-set entries hold a breaker: `live` ones, in a set's map, and
/// `removed` ones, evicted but not yet freed (papaya frees a removed entry once no
/// thread can still be reading it). A breaker that only removed entries hold is gone
/// as far as anyone can tell: the registry no longer lists it, and building its name
/// again makes a new breaker.
#[derive(Default)]
pub(crate) struct SetRefs {
    live: AtomicU32,
    removed: AtomicU32,
}

impl CircuitBreaker {
    /// Held by something other than evicted set entries awaiting reclamation: this
    /// handle's holder (the registry's, say) is not counted.
    pub(crate) fn is_held(&self) -> bool {
        let removed = self.sinks().set_refs().removed.load(Acquire) as usize;
        self.handle_count() - 1 > removed
    }

    /// Every handle to it is a set entry's, live or removed: evicting the entry loses
    /// nothing anyone holds.
    fn held_by_sets_only(&self) -> bool {
        let refs = self.sinks().set_refs();
        let entries = refs.live.load(Acquire) as usize + refs.removed.load(Acquire) as usize;
        self.handle_count() <= entries
    }
}

impl<K> Clone for Breakers<K> {
    fn clone(&self) -> Self {
        Breakers {
            set: Arc::clone(&self.set),
        }
    }
}

/// Configures a [`Breakers`] set: from [`Breakers::builder`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct BreakersBuilder<K> {
    template: Box<Template<K>>,
    name: Option<Name>,
    max_keys: usize,
    idle_ttl: Duration,
    clock: ClockSource,
    metrics_per_key: bool,
}

impl<K> BreakersBuilder<K>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    /// Keys with a breaker of their own (default [`DEFAULT_MAX_KEYS`]); keys beyond
    /// share the overflow breaker until idle breakers can be evicted.
    pub fn max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys;
        self
    }

    /// How long a closed breaker must go unused before it may be evicted, whatever its
    /// failure count (default [`DEFAULT_IDLE_TTL`], 10 minutes).
    pub fn idle_ttl(mut self, idle_ttl: Duration) -> Self {
        self.idle_ttl = idle_ttl;
        self
    }

    /// The set's name: its overflow breaker is called `<name>{overflow}`. Without one,
    /// a set is named `keyed#1`, `keyed#2`, ... in the order sets are built, so that
    /// two sets never share an overflow breaker unless you give them one name (a name
    /// stands for one breaker).
    pub fn name(mut self, name: impl Into<Name>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Feature `metrics`: publish series per key (`true`) instead of per set (`false`,
    /// the default).
    ///
    /// By default the set's keys publish together, under the set's
    /// [`name`](Self::name): their calls and transitions summed, and
    /// `circuit_breaker_keys{name, state}`, how many keys are in each state; 15 series
    /// whatever the number of keys, and no counters of their own (each key's
    /// [`calls`](CircuitBreaker::calls) are then the set's). With `true`, each key is
    /// published as a breaker of its own: 11 series per key in every scrape, and about
    /// 1 KB more memory per key that a thread has used, so only for sets whose keys are
    /// few and not chosen by whoever sends the requests (a handful of upstream hosts,
    /// say). See [`metrics`](crate::metrics).
    pub fn metrics_per_key(mut self, per_key: bool) -> Self {
        self.metrics_per_key = per_key;
        self
    }

    /// The clock idle times are measured with (default: the monotonic clock); a
    /// [`ManualClock`](crate::ManualClock) in tests. The breakers keep the clocks their
    /// template gives them.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = ClockSource::of(clock);
        self
    }

    /// The set, or why its settings are refused.
    pub fn try_build(self) -> Result<Breakers<K>, ConfigError> {
        if self.max_keys == 0 {
            return Err(ConfigError::ZeroMaxKeys);
        }
        let name = self.name.unwrap_or_else(|| numbered("keyed"));
        #[cfg(not(feature = "metrics"))]
        let _ = self.metrics_per_key;
        Ok(Breakers {
            set: Arc::new(Set {
                map: papaya::HashMap::new(),
                template: self.template,
                #[cfg(feature = "metrics")]
                counters: (!self.metrics_per_key)
                    .then(|| crate::metrics::Counters::for_set(name.clone())),
                config: OnceLock::new(),
                name,
                max_keys: self.max_keys,
                idle_ttl: duration_to_nanos(self.idle_ttl),
                keys: AtomicUsize::new(0),
                next_id: AtomicU64::new(0),
                overflow: OnceLock::new(),
                clock: ClockCell::new(self.clock),
                swept_at: AtomicU64::new(0),
            }),
        })
    }

    /// The set.
    ///
    /// # Panics
    ///
    /// When a setting is refused (`max_keys` of zero); see [`try_build`](Self::try_build).
    #[track_caller]
    pub fn build(self) -> Breakers<K> {
        self.try_build()
            .unwrap_or_else(|e| panic!("invalid keyed breakers: {e}"))
    }
}

impl<K> Breakers<K>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    /// A set whose breakers `template` describes, given the key (it usually names the
    /// breaker after it), with the default cap and idle time.
    ///
    /// The template's builder is built when a key is first used; a setting it refuses
    /// panics there, as [`Builder::build`] does.
    pub fn new(template: impl Fn(&K) -> Builder + Send + Sync + 'static) -> Self {
        Self::builder(template).build()
    }

    /// Configures a set whose breakers `template` describes.
    pub fn builder(template: impl Fn(&K) -> Builder + Send + Sync + 'static) -> BreakersBuilder<K> {
        BreakersBuilder {
            template: Box::new(template),
            name: None,
            max_keys: DEFAULT_MAX_KEYS,
            idle_ttl: DEFAULT_IDLE_TTL,
            clock: ClockSource::Monotonic,
            metrics_per_key: false,
        }
    }

    /// Runs `f` through `key`'s breaker (made on first use): see
    /// [`CircuitBreaker::call`].
    pub fn call<Q, T, E, F>(&self, key: &Q, f: F) -> Result<T, E>
    where
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
        K: Borrow<Q>,
        F: FnOnce() -> Result<T, E>,
        E: From<CircuitBreakerError> + fmt::Debug + fmt::Display,
    {
        self.with_breaker(key, |breaker| breaker.call(f))
    }

    /// Awaits `future` through `key`'s breaker: see [`CircuitBreaker::call_async`]. The
    /// breaker is looked up again when the future completes (a second read, no shared
    /// write), so nothing is held across its `.await`s.
    pub async fn call_async<Q, T, E, F>(&self, key: &Q, future: F) -> Result<T, E>
    where
        Q: Hash + Eq + ToOwned<Owned = K> + Sync + ?Sized,
        K: Borrow<Q>,
        F: Future<Output = Result<T, E>>,
        E: From<CircuitBreakerError> + fmt::Debug + fmt::Display,
    {
        let permit = self.try_acquire(key)?;
        let result = future.await;
        permit.record(&result);
        result
    }

    /// Asks to make one call through `key`'s breaker: see
    /// [`CircuitBreaker::try_acquire`].
    pub fn try_acquire<'a, Q>(
        &'a self,
        key: &'a Q,
    ) -> Result<KeyedPermit<'a, K, Q>, CircuitBreakerError>
    where
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
        K: Borrow<Q>,
    {
        let guard = self.set.map.guard();
        let (breaker, id) = self.set.breaker(key, || key.to_owned(), &guard);
        let permit = breaker.try_acquire()?.detach();
        Ok(KeyedPermit {
            set: &self.set,
            key,
            id,
            permit: Some(permit),
        })
    }

    /// [`try_acquire`](Self::try_acquire) for a call that must own its permit (a
    /// `'static` future): the permit holds a clone of the breaker's handle.
    pub fn try_acquire_owned<Q>(&self, key: &Q) -> Result<OwnedPermit, CircuitBreakerError>
    where
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
        K: Borrow<Q>,
    {
        self.with_breaker(key, CircuitBreaker::try_acquire_owned)
    }

    /// Runs `f` with `key`'s breaker (made on first use), borrowed for as long as `f`
    /// runs.
    pub fn with_breaker<Q, R>(&self, key: &Q, f: impl FnOnce(&CircuitBreaker) -> R) -> R
    where
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
        K: Borrow<Q>,
    {
        let guard = self.set.map.guard();
        let (breaker, _) = self.set.breaker(key, || key.to_owned(), &guard);
        f(breaker)
    }

    /// `key`'s own breaker, if it has one now (not the overflow breaker); makes none.
    /// While you hold the handle, the key's breaker is not evicted.
    pub fn get<Q>(&self, key: &Q) -> Option<CircuitBreaker>
    where
        Q: Hash + Eq + ?Sized,
        K: Borrow<Q>,
    {
        let guard = self.set.map.guard();
        self.set
            .map
            .get(key, &guard)
            .map(|entry| entry.breaker.clone())
    }

    /// The breaker keys beyond the cap share, once one has needed it.
    pub fn overflow(&self) -> Option<CircuitBreaker> {
        self.set.overflow.get().cloned()
    }

    /// Keys with a breaker of their own.
    pub fn len(&self) -> usize {
        self.set.keys.load(Relaxed)
    }

    /// True when no key has a breaker of its own.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every key's breaker (and the overflow breaker, last), with its state and
    /// counters, ordered by name.
    pub fn snapshot(&self) -> Snapshot {
        let guard = self.set.map.guard();
        let mut breakers: Vec<BreakerInfo> = self
            .set
            .map
            .iter(&guard)
            .map(|(_, entry)| BreakerInfo::of(&entry.breaker))
            .collect();
        breakers.sort_by(|a, b| a.name.cmp(&b.name));
        breakers.extend(self.set.overflow.get().map(BreakerInfo::of));
        Snapshot { breakers }
    }

    /// Evicts every breaker that may be: unused for `idle_ttl`, closed (whatever its
    /// failure count), held by no one but sets. Returns how many were evicted. A set
    /// sweeps itself when a new key finds it full; call this from a timer of yours to
    /// free memory sooner.
    pub fn sweep(&self) -> usize {
        self.set.sweep(self.set.now())
    }
}

impl<K: Hash + Eq> Set<K> {
    /// The breaker a permit of `id` was granted by, if it is still `key`'s (or the
    /// overflow breaker, for `None`).
    pub(crate) fn find<'g, P>(
        &'g self,
        probe: &P,
        id: Option<u64>,
        guard: &'g impl papaya::Guard,
    ) -> Option<&'g CircuitBreaker>
    where
        P: Hash + papaya::Equivalent<K> + ?Sized,
    {
        match id {
            None => self.overflow.get(),
            Some(id) => self
                .map
                .get(probe, guard)
                .filter(|entry| entry.id == id)
                .map(|entry| &entry.breaker),
        }
    }
}

impl<K> Set<K>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    fn now(&self) -> u64 {
        self.clock.recent_nanos()
    }

    /// The breaker of the key `probe` stands for, and its id (`None`: the overflow
    /// breaker), made if need be from the owned key `owned` makes.
    #[inline]
    pub(crate) fn breaker<'g, P>(
        &'g self,
        probe: &P,
        owned: impl FnOnce() -> K,
        guard: &'g impl papaya::Guard,
    ) -> Found<'g>
    where
        P: Hash + papaya::Equivalent<K> + ?Sized,
    {
        match self.map.get(probe, guard) {
            Some(entry) => {
                entry.touch(self.now());
                (&entry.breaker, Some(entry.id))
            }
            None => self.make(owned, guard),
        }
    }

    /// A key without a breaker: one is made if the cap allows (after sweeping, at most
    /// once a second), otherwise the call goes through the overflow breaker.
    #[cold]
    #[inline(never)]
    fn make<'g>(&'g self, owned: impl FnOnce() -> K, guard: &'g impl papaya::Guard) -> Found<'g> {
        let now = self.now();
        // A place under the cap, or one freed by a sweep (at most one a second).
        let placed =
            self.reserve() || (self.sweep_due(now) && self.sweep(now) > 0 && self.reserve());
        let owned = owned();
        if !placed {
            return (self.overflow(&owned), None);
        }
        let id = self.next_id.fetch_add(1, Relaxed);
        // A live breaker of the same name (another set's, made from the same template)
        // is handed back by `build`: one name, one breaker.
        let entry = Entry::new(self.build(&owned, None), id, now);
        match self.map.try_insert(owned, entry, guard) {
            Ok(entry) => (&entry.breaker, Some(entry.id)),
            Err(occupied) => {
                // Another thread made this key's breaker first: use it, give the slot back.
                self.keys.fetch_sub(1, Relaxed);
                (&occupied.current.breaker, Some(occupied.current.id))
            }
        }
    }

    /// Whether a full set may sweep now: at most once a second, by one thread.
    fn sweep_due(&self, now: u64) -> bool {
        let last = self.swept_at.load(Relaxed);
        (last == 0 || now.saturating_sub(last) >= SWEEP_EVERY)
            && self
                .swept_at
                .compare_exchange(last, now.max(1), Relaxed, Relaxed)
                .is_ok()
    }

    /// Takes a place under the cap, if one is free.
    fn reserve(&self) -> bool {
        self.keys
            .fetch_update(Relaxed, Relaxed, |n| (n < self.max_keys).then_some(n + 1))
            .is_ok()
    }

    fn overflow(&self, key: &K) -> &CircuitBreaker {
        self.overflow
            .get_or_init(|| self.build(key, Some(overflow_name(&self.name))))
    }

    /// The breaker the template makes for `key` (named `name` instead, for the overflow
    /// breaker). A name the template gives like a live breaker of other settings is no
    /// reason for a call to fail (keys may come from whoever sends the requests): the
    /// key then gets a breaker of its own, outside the registry, and says so. A setting
    /// the template gets wrong panics, as [`Builder::build`] does.
    fn build(&self, key: &K, name: Option<Name>) -> CircuitBreaker {
        let builder = || {
            let builder = (self.template)(key);
            let builder = match &name {
                Some(name) => builder.renamed(name.clone()),
                None => builder,
            };
            #[cfg(feature = "metrics")]
            let builder = match (&self.counters, &name) {
                (Some(counters), None) => builder.counted_in(Arc::clone(counters)),
                _ => builder,
            };
            match self.config.get() {
                Some(config) => builder.config_like(config),
                None => builder,
            }
        };
        match builder().try_build() {
            Ok(breaker) => {
                let _ = self.config.set(Arc::clone(breaker.shared_config()));
                breaker
            }
            Err(ConfigError::NameTaken) => {
                let breaker = builder().unregistered().build();
                crate::registry::runs_privately(
                    breaker.name(),
                    format_args!("a key of the keyed set '{}'", self.name),
                );
                breaker
            }
            Err(_) => builder().build(),
        }
    }

    fn sweep(&self, now: u64) -> usize {
        let guard = self.map.guard();
        let idle: Vec<K> = self
            .map
            .iter(&guard)
            .filter(|(_, entry)| entry.evictable(now, self.idle_ttl))
            .map(|(key, _)| key.clone())
            .collect();
        let mut evicted = 0;
        for key in idle {
            // Decided again at the removal: a call may have used it meanwhile.
            let removed =
                self.map
                    .remove_if(&key, |_, entry| entry.evictable(now, self.idle_ttl), &guard);
            if let Ok(Some((_, entry))) = removed {
                entry.evicted();
                evicted += 1;
            }
        }
        self.keys.fetch_sub(evicted, Relaxed);
        // Hand the removed entries to reclamation now rather than when later removals
        // fill papaya's batch: they are freed once no thread is reading them.
        guard.flush();
        evicted
    }
}

/// Whole seconds of a clock reading, as a key's last use keeps them.
fn seconds(nanos: u64) -> u32 {
    (nanos / 1_000_000_000) as u32
}

/// The key of a breaker a keyed set holds, as its name `<set>[<key>]` spells it (the
/// attribute's `per` and the reqwest middleware name their breakers so); `None` for any
/// other breaker, the overflow breaker included.
#[cfg(any(feature = "tracing", feature = "axum"))]
pub(crate) fn key_of(breaker: &CircuitBreaker) -> Option<&str> {
    set_and_key(breaker).map(|(_, key)| key)
}

/// The set and the key of a breaker a keyed set holds, as its name `<set>[<key>]`
/// spells them; `None` for any other breaker.
#[cfg(any(feature = "tracing", feature = "axum"))]
pub(crate) fn set_and_key(breaker: &CircuitBreaker) -> Option<(&str, &str)> {
    if breaker.sinks().set_refs().live.load(Acquire) == 0 {
        return None;
    }
    let name = breaker.name().strip_suffix(']')?;
    name.find('[')
        .map(|open| (&name[..open], &name[open + 1..]))
}

/// `<prefix>#<n>`, n counting the sets built in the process from 1: the name of a set
/// built without one.
pub(crate) fn numbered(prefix: &str) -> Name {
    static SETS: AtomicU64 = AtomicU64::new(0);
    Name::from(format!("{prefix}#{}", SETS.fetch_add(1, Relaxed) + 1))
}

/// The overflow breaker's name: `<set>{overflow}`, a form no `<set>[<key>]` takes, so
/// that no key's breaker can bear it.
fn overflow_name(set: &Name) -> Name {
    Name::from(format!("{set}{{overflow}}"))
}

impl Entry {
    fn new(breaker: CircuitBreaker, id: u64, now: u64) -> Self {
        let first = breaker.sinks().set_refs().live.fetch_add(1, AcqRel) == 0;
        #[cfg(feature = "metrics")]
        if first {
            crate::metrics::key_joined(&breaker);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = first;
        Entry {
            breaker,
            id,
            used: AtomicU32::new(seconds(now)),
            removed: AtomicBool::new(false),
        }
    }

    /// Taken out of the map: from now on its breaker is held only if someone else
    /// holds it.
    fn evicted(&self) {
        self.removed.store(true, Relaxed);
        let refs = self.breaker.sinks().set_refs();
        refs.removed.fetch_add(1, AcqRel);
        if refs.live.fetch_sub(1, AcqRel) == 1 {
            self.left();
            crate::registry::withdraw(&self.breaker);
        }
    }

    /// No set's map holds the breaker any more: its set no longer counts it.
    fn left(&self) {
        #[cfg(feature = "metrics")]
        crate::metrics::key_left(&self.breaker);
    }

    /// Notes a use at `now`: a store only when the second has changed.
    #[inline]
    fn touch(&self, now: u64) {
        let now = seconds(now);
        if self.used.load(Relaxed) != now {
            self.used.store(now, Relaxed);
        }
    }

    /// Idle for `idle_ttl`, closed (not by `disable`: an operator's choice stays), and
    /// held by nobody but sets. Failures do not keep it: a closed breaker's stale
    /// failures would otherwise pin its key forever. An open or half-open breaker is
    /// never evicted, since evicting it would reset it.
    fn evictable(&self, now: u64, idle_ttl: u64) -> bool {
        let idle = u64::from(seconds(now).saturating_sub(self.used.load(Relaxed))) * 1_000_000_000;
        idle >= idle_ttl
            && self.breaker.state() == State::Closed
            && !self.breaker.is_disabled()
            && self.breaker.held_by_sets_only()
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        let refs = self.breaker.sinks().set_refs();
        if *self.removed.get_mut() {
            refs.removed.fetch_sub(1, AcqRel);
        } else if refs.live.fetch_sub(1, AcqRel) == 1 {
            self.left();
        }
    }
}

/// Permission to make one call through a key's breaker, from
/// [`Breakers::try_acquire`]. Give it a verdict as a [`Permit`](crate::Permit); dropped
/// without one, it reports as a permit does. The verdict goes to the breaker that
/// granted it, looked up again by key; if that breaker was evicted meanwhile, the
/// verdict is discarded.
#[must_use = "a permit reports a neutral outcome if dropped: give it a verdict with success(), failure() or ignore()"]
pub struct KeyedPermit<'a, K, Q>
where
    K: Hash + Eq + Borrow<Q>,
    Q: Hash + Eq + ?Sized,
{
    set: &'a Set<K>,
    key: &'a Q,
    id: Option<u64>,
    permit: Option<Detached>,
}

impl<K, Q> KeyedPermit<'_, K, Q>
where
    K: Hash + Eq + Borrow<Q>,
    Q: Hash + Eq + ?Sized,
{
    crate::permit::verdicts!();

    /// True when this call is a half-open probe.
    pub fn is_probe(&self) -> bool {
        self.permit.as_ref().is_some_and(Detached::is_probe)
    }

    fn finish(mut self, verdict: Verdict, error: Option<Seen<'_>>) {
        if let Some(permit) = self.permit.take() {
            let guard = self.set.map.guard();
            if let Some(breaker) = self.set.find(self.key, self.id, &guard) {
                permit.attach(breaker).finish_with(verdict, error);
            }
        }
    }

    fn finish_advised(mut self, error: Option<Seen<'_>>, advice: crate::Advice) {
        if let Some(permit) = self.permit.take() {
            let guard = self.set.map.guard();
            if let Some(breaker) = self.set.find(self.key, self.id, &guard) {
                permit.attach(breaker).finish_advised(error, advice);
            }
        }
    }
}

impl<K, Q> Drop for KeyedPermit<'_, K, Q>
where
    K: Hash + Eq + Borrow<Q>,
    Q: Hash + Eq + ?Sized,
{
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            // The permit's own drop decides: a failure while panicking, neutral
            // otherwise.
            let guard = self.set.map.guard();
            if let Some(breaker) = self.set.find(self.key, self.id, &guard) {
                drop(permit.attach(breaker));
            }
        }
    }
}

impl<K> fmt::Debug for Breakers<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Breakers")
            .field("name", &self.set.name)
            .field("keys", &self.set.keys.load(Relaxed))
            .field("max_keys", &self.set.max_keys)
            .finish()
    }
}

impl<K, Q> fmt::Debug for KeyedPermit<'_, K, Q>
where
    K: Hash + Eq + Borrow<Q>,
    Q: Hash + Eq + fmt::Debug + ?Sized,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedPermit")
            .field("key", &self.key)
            .field("overflow", &self.id.is_none())
            .field(
                "probe",
                &self.permit.as_ref().is_some_and(Detached::is_probe),
            )
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::ManualClock;

    /// What the registry cannot show: the evicted breaker's memory is freed, not only
    /// forgotten, once the sweep that evicted it is over.
    #[test]
    fn an_evicted_breaker_is_freed() {
        let clock = ManualClock::new();
        let hosts: Breakers<String> =
            Breakers::builder(|key: &String| CircuitBreaker::builder(format!("freed[{key}]")))
                .idle_ttl(Duration::from_secs(60))
                .clock(clock.clone())
                .build();
        hosts
            .call("a", || Ok::<_, CircuitBreakerError>(()))
            .unwrap();
        let weak = hosts.get("a").unwrap().downgrade();
        clock.advance(Duration::from_secs(61));
        assert_eq!(hosts.sweep(), 1);
        assert!(!weak.is_alive(), "freed when the sweep returned");
        hosts
            .call("a", || Ok::<_, CircuitBreakerError>(()))
            .unwrap();
        assert_eq!(
            hosts.get("a").unwrap().handle_count(),
            2,
            "the entry's and ours"
        );
    }
}
