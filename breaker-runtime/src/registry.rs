//! Every breaker in the process, by name: for health endpoints, dashboards, tests and
//! manual control.
//!
//! Breakers register themselves when they are built (unless built
//! [`unregistered`](crate::Builder::unregistered)); the breaker behind a
//! `#[circuit_breaker]` function is listed from program start (link-time registration
//! through [`inventory`](https://docs.rs/inventory): the first read of the registry builds
//! every annotated function's breaker, closed with no calls; on WebAssembly, where
//! constructors may not run, a breaker appears at its function's first call). The registry
//! holds them weakly: a dropped breaker disappears from it.
//!
//! ```
//! use breaker_runtime::{registry, CircuitBreaker, State};
//!
//! let breaker = CircuitBreaker::builder("registry-doc").build();
//!
//! // Somewhere else (an admin endpoint, a test), by name:
//! let handle = registry::get("registry-doc").expect("registered when built");
//! handle.open();
//! assert_eq!(breaker.state(), State::Open);
//!
//! let info = registry::list().into_iter().find(|b| b.name == "registry-doc").unwrap();
//! assert_eq!(info.state, State::Open);
//! ```
//!
//! # Cost
//!
//! Keyed sets put a breaker per host or tenant here, and their keys may be chosen by
//! whoever sends the requests, so nothing here grows with the number of breakers:
//! building a breaker, looking one up by name, evicting one from a keyed set and
//! dropping one are each a few operations on a lock-free hash table
//! ([papaya](https://docs.rs/papaya); amortised: the insertion that finds it full copies
//! it, to a table twice its size or, to clear the slots removals leave, of the same
//! size; a table whose entries come and go is given room enough that it copies rarely);
//! no lock is held across the table, so [`all`] and [`snapshot`], which read every
//! entry, never make a build wait.

mod annotated;
mod snapshot;

use std::sync::atomic::{fence, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{LazyLock, Mutex};

use std::hash::{BuildHasher, Hash, Hasher, RandomState};

use nohash_hasher::{BuildNoHashHasher, IsEnabled};

use crate::breaker::WeakBreaker;
use crate::sync::lock;
use crate::{listener, CircuitBreaker, ConfigError, Name};

// For the expansion of `#[circuit_breaker]`, through `__private`.
pub(crate) use annotated::{function_owning, owner};
#[doc(hidden)]
pub use annotated::{BuildOnRead, Registration};
pub use snapshot::{list, snapshot, BreakerInfo, Snapshot};

/// Every breaker in the process, by weak handle: the registered ones by name, the ones
/// built [`unregistered`](crate::Builder::unregistered) by address, only so that global
/// listeners reach them. An entry leaves when its breaker is dropped (or evicted from a
/// keyed set), so the tables hold live breakers only.
struct Registry {
    listed: papaya::HashMap<Listed, (), Prehashed>,
    unlisted: papaya::HashMap<usize, WeakBreaker>,
    /// How many entries `listed` has seen removed since it was last sized.
    listed_removed: AtomicUsize,
    /// Hashes the names (seeded per process: keys may be chosen by whoever sends the
    /// requests). The table of listed breakers takes the hash each entry keeps.
    names: RandomState,
}

/// The table's hasher: an entry and a lookup each bring their name's hash, computed
/// once, and the table takes it as it is. So growing the table (or clearing it of the
/// slots that removals left, which it does by copying it) reads each entry but not its
/// name's bytes: at a million breakers, one trip to memory per entry instead of two.
type Prehashed = BuildNoHashHasher<Listed>;

/// A registered breaker: its name's hash and its name, which the table is keyed by, and
/// a weak handle on it, all in the key, so that a lookup sees the handle while it
/// compares names.
#[derive(Clone)]
struct Listed {
    hash: u64,
    name: Name,
    breaker: WeakBreaker,
}

impl IsEnabled for Listed {}

impl Hash for Listed {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl PartialEq for Listed {
    fn eq(&self, other: &Listed) -> bool {
        self.hash == other.hash && self.name == other.name
    }
}

impl Eq for Listed {}

/// A name to look up in the table of listed breakers, with its hash.
struct Lookup<'a> {
    hash: u64,
    name: &'a str,
}

impl<'a> Lookup<'a> {
    fn new(name: &'a str) -> Self {
        Lookup {
            hash: REGISTRY.names.hash_one(name),
            name,
        }
    }
}

impl Hash for Lookup<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl papaya::Equivalent<Listed> for Lookup<'_> {
    /// Asks for the entry's breaker before comparing names: the breaker and the name's
    /// bytes live in two allocations, and a lookup that finds its name goes on to the
    /// breaker (to take a handle), so reading both at once saves a trip to memory
    /// (with a million breakers, a lookup is a few cache misses in a row).
    fn equivalent(&self, listed: &Listed) -> bool {
        if listed.hash != self.hash {
            return false;
        }
        listed.breaker.touch();
        listed.name.as_str() == self.name
    }
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| Registry {
    listed: papaya::HashMap::builder()
        .hasher(Prehashed::default())
        .resize_mode(RESIZE)
        .build(),
    unlisted: papaya::HashMap::builder().resize_mode(RESIZE).build(),
    names: RandomState::new(),
    listed_removed: AtomicUsize::new(0),
});

/// An entry left the table of listed breakers: the table is made room for more if its
/// entries come and go (see [`churning`]). Asked every [`CHURN_FROM`] removals, since
/// papaya's count of entries is a sum over its shards.
fn listed_one_less(table: &papaya::HashMapRef<'_, Listed, (), Prehashed, impl papaya::Guard>) {
    let removed = REGISTRY.listed_removed.fetch_add(1, Relaxed) + 1;
    if removed % CHURN_FROM != 0 {
        return;
    }
    let len = table.len();
    if churning(removed, len) {
        // (Two threads may both get here: the second `reserve` finds the room made.)
        REGISTRY.listed_removed.store(0, Relaxed);
        table.reserve(2 * len);
    }
}

/// Whether the table of listed breakers, holding `len` entries and `removed` fewer
/// since it was last sized, has its entries coming and going: removals as many as
/// a quarter of its entries (and at least [`CHURN_FROM`]). It is then made room for
/// three times its entries, four to eight slots per entry where papaya keeps two to
/// four. Papaya reuses none of the slots that removals leave: it clears them by copying
/// the table when too few are free, a copy the insertions since the last one pay for.
/// At a million breakers the copy takes some 300 ms (each entry is two trips to
/// memory), and a table of four slots per entry copies every 2.4 million new keys
/// instead of every 0.7 million (a new key's mean cost, copies included, 0.7 µs instead
/// of 1). A registry whose breakers only come keeps papaya's size.
fn churning(removed: usize, len: usize) -> bool {
    removed >= CHURN_FROM.max(len / 4)
}

/// Below this many removals the table stays as papaya sizes it: its copies are a few
/// microseconds.
const CHURN_FROM: usize = 1024;

/// The tables grow at once: the insertion that finds a table full copies it to one
/// twice its size, other writers helping (amortised, a step per entry). Copying a few
/// entries at each insertion instead would leave a resize half done between bursts of
/// new keys, every lookup meanwhile searching both tables (at 1,000,000 breakers,
/// `get` took 92 ns instead of 73).
const RESIZE: papaya::ResizeMode = papaya::ResizeMode::Blocking;

/// A breaker just built, or the live one that already bore its name.
pub(crate) enum Enrolled {
    New(CircuitBreaker),
    Existing(CircuitBreaker),
}

/// Adds a newly built breaker, or, when a live listed breaker already bears its name,
/// hands that one back if `built` would not differ from it in anything
/// ([`ConfigError::NameTaken`] otherwise): a name stands for one breaker. The check and
/// the insertion are one step on the name's entry, so two threads building one name get
/// one breaker. An annotated function's breaker owns its name: unless `owner` says this
/// is that breaker, it is built first.
pub(crate) fn enroll(
    built: CircuitBreaker,
    listed: bool,
    owner: Option<usize>,
) -> Result<Enrolled, ConfigError> {
    if listed {
        annotated::claim(built.name(), owner);
        let name = Lookup::new(built.name());
        let listed = Listed {
            hash: name.hash,
            name: built.name_handle().clone(),
            breaker: built.downgrade(),
        };
        let table = REGISTRY.listed.pin();
        // The name's entry, taken if it is free. (Not `compute`: papaya's `compute`
        // neither reuses the slots removals leave nor helps a resize along, and the
        // table then fills up: lookups at 1,000 breakers took 120 ns instead of 30.)
        while table.try_insert(listed.clone(), ()).is_err() {
            visited(1);
            let Some((current, _)) = table.get_key_value(&name) else {
                continue; // dropped meanwhile: the name is free again
            };
            match current.breaker.upgrade().filter(CircuitBreaker::is_held) {
                Some(existing) => {
                    return if crate::builder::same_settings(&built, &existing) {
                        Ok(Enrolled::Existing(existing))
                    } else {
                        Err(ConfigError::NameTaken)
                    };
                }
                // Held by a breaker on its way out (dropped, or evicted from a keyed
                // set and waiting to be freed): the name is this one's.
                None => {
                    let gone = &current.breaker;
                    if let Ok(Some(_)) =
                        table.remove_if(&name, |listed, _| listed.breaker.same(gone))
                    {
                        listed_one_less(&table);
                    }
                }
            }
        }
        visited(1);
        #[cfg(feature = "metrics")]
        crate::metrics::enrolled(&built);
    } else {
        visited(1);
        REGISTRY
            .unlisted
            .pin()
            .insert(built.address(), built.downgrade());
    }
    hear_globals(&built);
    Ok(Enrolled::New(built))
}

/// Tells a breaker just enrolled whether global listeners are attached, so that it
/// agrees with them whatever [`relisten`] does meanwhile: either `relisten` finds it in
/// the table (the fences order its insertion before the listeners' count is read), or
/// this reads the count `relisten` was called for; and should `relisten`'s word land
/// between this read and this write, the count read again tells.
fn hear_globals(breaker: &CircuitBreaker) {
    loop {
        fence(SeqCst);
        let global = listener::any_global();
        breaker.listen(global);
        fence(SeqCst);
        if listener::any_global() == global {
            return;
        }
    }
}

/// Global listeners came or went: every live breaker is told whether any remain. One
/// call at a time (listeners change rarely), each with the count as of its turn.
pub(crate) fn relisten() {
    static TURN: Mutex<()> = Mutex::new(());
    let _turn = lock(&TURN);
    fence(SeqCst);
    let global = listener::any_global();
    let (listed, unlisted) = (REGISTRY.listed.pin(), REGISTRY.unlisted.pin());
    let listed = listed.keys().map(|listed| &listed.breaker);
    for weak in listed.chain(unlisted.values()) {
        if let Some(breaker) = weak.upgrade() {
            breaker.listen(global);
        }
    }
}

/// A breaker evicted from a keyed set leaves the registry at once (it may live a little
/// longer, until no thread reads it), so that its name is free for the key's next one.
pub(crate) fn withdraw(breaker: &CircuitBreaker) {
    visited(1);
    let table = REGISTRY.listed.pin();
    let removed = table.remove_if(&Lookup::new(breaker.name()), |listed, _| {
        listed.breaker.points_to(breaker)
    });
    if let Ok(Some(_)) = removed {
        listed_one_less(&table);
    }
    #[cfg(feature = "metrics")]
    crate::metrics::withdrawn(breaker);
}

/// A breaker is being dropped (its last handle went): its entry goes, unless its name
/// already stands for a newer breaker.
pub(crate) fn dropped(name: &str, address: usize) {
    visited(1);
    let table = REGISTRY.listed.pin();
    let removed = table.remove_if(&Lookup::new(name), |listed, _| !listed.breaker.is_alive());
    if let Ok(Some(_)) = removed {
        listed_one_less(&table);
    }
    let _ = REGISTRY.unlisted.pin().remove(&address);
}

/// A breaker could not have its name, a live breaker of other settings holding it, and
/// so runs as a private one (built `unregistered`): said where it can be seen, since
/// neither its calls nor the process may fail for a name. `whose` says whose breaker it
/// is.
#[cold]
pub(crate) fn runs_privately(_name: &str, _whose: std::fmt::Arguments<'_>) {
    #[cfg(feature = "tracing")]
    tracing::error!(
        circuit_breaker.name = _name,
        "a live breaker of other settings is named '{_name}': {_whose} runs on a breaker of \
         its own, outside the registry; give it a name of its own"
    );
}

/// Builds the breakers of every annotated function linked into the program, if nothing
/// did yet: each read of the registry (and each export of metrics) starts here.
pub(crate) fn build_annotated() {
    annotated::build_all();
}

/// The listed breaker `weak` points to, if it is alive. (A breaker evicted from a keyed
/// set, which the set's memory reclamation may free a little later, is withdrawn from
/// the table as it is evicted: what the table holds is listed.)
fn held(weak: &WeakBreaker) -> Option<CircuitBreaker> {
    weak.upgrade()
}

/// The breaker registered under `name`, if a live one bears it.
///
/// A name stands for one breaker: building a registered breaker under a name that a
/// live one bears hands back that breaker (as Resilience4j's registry does), provided
/// the builder asks for nothing different, and is refused with
/// [`ConfigError::NameTaken`] otherwise. So two live registered breakers never share a
/// name, and a name a live registered breaker bears always finds it. (Names from
/// `#[circuit_breaker]` include the module and type path, so they do not collide; and
/// an annotated function's breaker owns its name: another breaker built under it meets
/// that one, whichever was built first.)
pub fn get(name: &str) -> Option<CircuitBreaker> {
    build_annotated();
    visited(1);
    REGISTRY
        .listed
        .pin()
        .get_key_value(&Lookup::new(name))
        .and_then(|(listed, _)| held(&listed.breaker))
}

/// Every live registered breaker, in name order.
pub fn all() -> Vec<CircuitBreaker> {
    let mut all = Vec::new();
    each(|breaker| all.push(breaker));
    all.sort_unstable_by(|a, b| a.name().cmp(b.name()));
    all
}

/// Calls `f` with every live registered breaker, in no particular order. Lock-free: a
/// breaker built meanwhile may be seen or not, and waits for nothing.
pub(crate) fn each(mut f: impl FnMut(CircuitBreaker)) {
    build_annotated();
    for listed in REGISTRY.listed.pin().keys() {
        visited(1);
        if let Some(breaker) = held(&listed.breaker) {
            f(breaker);
        }
    }
}

/// One page of the registry, from [`page`].
#[cfg_attr(not(feature = "axum"), allow(dead_code))]
pub(crate) struct Page {
    /// The breakers, in name order.
    pub(crate) breakers: Vec<CircuitBreaker>,
    /// The cursor of the next page (the last breaker's name), if more follow.
    pub(crate) next: Option<Name>,
}

/// Up to `limit` (at least 1) registered breakers that `keep` keeps, in name order
/// (Rust's `str` order: by bytes), whose names come after `after`; and the cursor of
/// the next page. A walk over the table that keeps the `limit + 1` first names it meets
/// (a heap): its memory is the page's, whatever the number of breakers, and only
/// breakers that could be on the page are read (`keep` sees no other). A breaker that
/// comes or goes meanwhile may be on the page or not; one that stays is on exactly one
/// page of a walk from cursor to cursor.
#[cfg_attr(not(feature = "axum"), allow(dead_code))]
pub(crate) fn page(
    after: Option<&str>,
    limit: usize,
    mut keep: impl FnMut(&CircuitBreaker) -> bool,
) -> Page {
    use std::collections::BinaryHeap;

    /// A breaker ordered by its name, for the heap.
    struct ByName(CircuitBreaker);
    impl PartialEq for ByName {
        fn eq(&self, other: &Self) -> bool {
            self.0.name() == other.0.name()
        }
    }
    impl Eq for ByName {}
    impl PartialOrd for ByName {
        fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(other))
        }
    }
    impl Ord for ByName {
        fn cmp(&self, other: &Self) -> std::cmp::Ordering {
            self.0.name().cmp(other.0.name())
        }
    }

    build_annotated();
    let limit = limit.max(1);
    // The first `limit + 1` names: the page, and whether a next one begins.
    let mut first: BinaryHeap<ByName> = BinaryHeap::with_capacity(limit + 2);
    for listed in REGISTRY.listed.pin().keys() {
        visited(1);
        let name = listed.name.as_str();
        if after.is_some_and(|after| name <= after) {
            continue;
        }
        if first.len() > limit && first.peek().is_some_and(|last| name >= last.0.name()) {
            continue;
        }
        let Some(breaker) = held(&listed.breaker) else {
            continue;
        };
        if keep(&breaker) {
            first.push(ByName(breaker));
            if first.len() > limit + 1 {
                first.pop();
            }
        }
    }
    let mut breakers: Vec<CircuitBreaker> =
        first.into_sorted_vec().into_iter().map(|b| b.0).collect();
    let more = breakers.len() > limit;
    breakers.truncate(limit);
    let next = more
        .then(|| breakers.last().map(|b| b.name_handle().clone()))
        .flatten();
    Page { breakers, next }
}

/// Counts the table entries the registry's own code examines on this thread, for the
/// test that shows no operation scans the table.
#[cfg(all(test, not(loom)))]
fn visited(entries: u64) {
    tests::VISITED.with(|visited| visited.set(visited.get() + entries));
}

#[cfg(not(all(test, not(loom))))]
#[inline(always)]
fn visited(_entries: u64) {}

#[cfg(all(test, not(loom)))]
mod tests;
