//! Feature `metrics`: every call counted, published through the [`metrics`] facade so any
//! exporter (Prometheus, StatsD, ...) sees it.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `circuit_breaker_calls_total` | counter | `breaker`, `outcome` = `success`, `failure`, `rejected`, `ignored`; and `throttled` for a breaker with a [`throttle`](crate::throttle) (for a keyed set, once its keys refused a call) |
//! | `circuit_breaker_throttle_probability` | gauge: the probability, 0 to 1, with which a throttling breaker refuses a call now (breakers with a throttle only) | `breaker` |
//! | `circuit_breaker_state` | gauge: 0 closed, 1 open, 2 half_open | `breaker` |
//! | `circuit_breaker_transitions_total` | counter, one series per transition that can happen (six: no `closed` → `closed`) | `breaker`, `from`, `to` (`closed`, `open`, `half_open`) |
//! | `circuit_breaker_failure_rate` | gauge: percent of the window's calls that failed; -1 below `min_calls` (rate policies only) | `breaker` |
//! | `circuit_breaker_slow_call_rate` | gauge: percent of the window's calls that were slow; -1 below `min_calls` (rate policies only) | `breaker` |
//! | `circuit_breaker_fleet_healthy` | gauge: 1 while a shared breaker reaches its fleet backend, 0 while it runs locally (degraded, or no backend installed) (shared breakers only) | `breaker` |
//! | `circuit_breaker_keys` | gauge: how many keys of a [keyed set](crate::keyed) are in each state (keyed sets only) | `name` (the set's), `state` = `closed`, `open`, `half_open`, `forced_open`, `disabled` |
//! | `circuit_breaker_advised_openings_total` | counter: openings whose time an upstream's advice set (see [`Advice`](crate::Advice)), from the first one | `name` (the breaker's, or a keyed set's), `source` = `retry_after`, `grpc_retry_info`, `grpc_pushback`, `upstream_breaker`, `function` |
//!
//! **Keyed sets publish per set.** A [`Breakers`](crate::keyed::Breakers) set, and the
//! attribute's `per = ...`, make a breaker per host or tenant, possibly chosen by
//! whoever sends the requests: a series per key would make the exporter's memory and
//! every scrape grow with them (Prometheus' own advice is to keep label values
//! bounded; Envoy keeps per-host figures out of its stats). So by default a set's keys
//! count together: `circuit_breaker_calls_total` and `circuit_breaker_transitions_total`
//! of all its keys summed under `breaker` = the set's name, and `circuit_breaker_keys`,
//! the keys in each state: the same 15 series for ten keys or a million. Per-key series
//! only when asked for, with
//! [`BreakersBuilder::metrics_per_key`](crate::keyed::BreakersBuilder::metrics_per_key)
//! (the attribute's `metrics_per_key`): 11 series per key, each key's calls counted in
//! per-thread blocks of its own (about 1 KB more per key used by a thread). A set's
//! overflow breaker is published as a breaker of its own.
//!
//! Counting must not bring back the cross-core write that the closed path avoids, so
//! each thread counts in a block of its own for each breaker (a plain load and store, no
//! atomic read-modify-write, on a cache line no other core writes). A background thread
//! named `breaker-metrics`, started when the first breaker is built, sums the blocks and
//! hands the totals to the facade every 500 ms, so counts reach any installed exporter
//! (such as `metrics-exporter-prometheus`'s own HTTP listener) within a second with no
//! code of yours. Change its pace with [`set_publish_interval`], stop it with
//! [`stop_publisher`], and call [`publish`] for an export on demand (a `/metrics` handler
//! of your own). Transitions are published as they happen, together with their breaker's
//! call counts.
//!
//! Handles are bound to the recorder in place when they are used, and bound again when
//! another one is installed, so a recorder installed after the first breaker was built
//! (or after the publisher first ran) still receives everything.
//!
//! Only breakers in the [`registry`] are published: one built
//! [`unregistered`](crate::Builder::unregistered) publishes nothing, and one evicted from
//! a [keyed set](crate::keyed) with per-key metrics is not published again. An exporter
//! keeps the series it was once given, though, so breakers that come and go need the
//! exporter to forget series nobody updates; `metrics-exporter-prometheus` does with
//! `PrometheusBuilder::idle_timeout(MetricKindMask::ALL, Some(Duration::from_secs(300)))`
//! (live breakers are published every 500 ms, so only departed ones go idle).
//!
//! ```
//! use breaker_runtime::{metrics, CircuitBreaker};
//!
//! let breaker = CircuitBreaker::builder("metrics-doc").build();
//! let _ = breaker.call(|| Ok::<_, Box<dyn std::error::Error + Send + Sync>>(1));
//! assert_eq!(breaker.calls().success, 1);
//! metrics::publish(); // optional: the background publisher does it within 500 ms
//! ```

use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, AtomicUsize};
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::breaker::WeakBreaker;
use crate::events::Counted;
use crate::lanes::Lanes;
use crate::state::{Phase, Word};
use crate::sync::lock;
use crate::{registry, CircuitBreaker, Name, State};

impl CircuitBreaker {
    /// Calls through this breaker since it was built, by outcome (feature `metrics`).
    ///
    /// A breaker of a [keyed set](crate::keyed) that publishes per set (the default)
    /// counts with the other keys of its set: this is then the set's calls, all keys
    /// together (see
    /// [`metrics_per_key`](crate::keyed::BreakersBuilder::metrics_per_key)).
    pub fn calls(&self) -> Calls {
        self.sinks().counters().totals()
    }

    /// Its calls, if it counts them alone (not as a key of a set that counts per set).
    pub(crate) fn own_calls(&self) -> Option<Calls> {
        let counters = self.sinks().counters();
        counters.set.is_none().then(|| counters.totals())
    }
}

/// Calls through one breaker since it was built, by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Calls {
    /// Calls that succeeded (including excluded errors).
    pub success: u64,
    /// Calls that failed, panicked or timed out.
    pub failure: u64,
    /// Calls refused without running.
    pub rejected: u64,
    /// Calls with a neutral outcome (ignored errors, cancelled futures).
    pub ignored: u64,
    /// Calls the throttle refused (see [`throttle`](crate::throttle)).
    pub throttled: u64,
}

/// A breaker's counting state, or a keyed set's, which its keys share.
pub(crate) struct Counters {
    /// Each thread's counts, one cell per [`Counted`] kind, written only by that thread.
    lanes: Lanes,
    /// The facade's handles for this breaker (or set) and the recorder they are bound
    /// to, registered on first use so that publishing does not build (and allocate)
    /// metric keys every time, and again when another recorder is installed.
    handles: Mutex<Option<(usize, Arc<Handles>)>>,
    /// A breaker's: it is in the registry, so it publishes.
    listed: AtomicBool,
    /// A keyed set's: what its keys add up to beyond their calls.
    set: Option<Box<SetTally>>,
}

/// What a keyed set publishes beyond its keys' calls.
struct SetTally {
    /// The set's name: the `breaker` and `name` label of its series.
    name: Name,
    /// Its keys in each [`Phase`], in the order of [`Phase::ALL`]. Signed: two keys'
    /// moves may land in either order.
    keys: [AtomicI64; 5],
    /// Its keys' transitions, in the order of [`TRANSITIONS`].
    transitions: [AtomicU64; 6],
}

/// A key's place in its set's tally: the phase it is counted in, plus one; 0 while it
/// is not counted (not yet in the set, or out of it).
pub(crate) struct Tallied(AtomicU8);

const UNTALLIED: u8 = 0;

impl Tallied {
    pub(crate) const fn new() -> Self {
        Tallied(AtomicU8::new(UNTALLIED))
    }
}

/// Registered metric handles of one breaker or set, bound to one recorder.
struct Handles {
    calls: [metrics::Counter; 4],
    /// The six transitions that can happen (a state never changes to itself), in the
    /// order of [`TRANSITIONS`].
    transitions: [metrics::Counter; 6],
    /// A breaker's state.
    state: Option<metrics::Gauge>,
    /// A rate policy's failure and slow-call rates.
    rates: Option<[metrics::Gauge; 2]>,
    /// A shared breaker's link to its fleet: healthy or not.
    fleet: Option<metrics::Gauge>,
    /// A throttling breaker's refusals and its refusal probability.
    throttle: Option<(metrics::Counter, metrics::Gauge)>,
    /// A set's keys in each phase, in the order of [`Phase::ALL`].
    keys: Option<[metrics::Gauge; 5]>,
}

/// What a set of handles is for.
#[derive(Clone, Copy)]
enum Publishes {
    Breaker {
        rate: bool,
        shared: bool,
        throttle: bool,
    },
    Set,
}

impl Handles {
    fn register(name: &Name, publishes: Publishes) -> Self {
        // A label is a `&'static str` as it is, a run-time name copied once.
        let name: metrics::SharedString = match name.as_static() {
            Some(name) => name.into(),
            None => name.to_string().into(),
        };
        let (rate, shared, throttle, set) = match publishes {
            Publishes::Breaker {
                rate,
                shared,
                throttle,
            } => (rate, shared, throttle, false),
            Publishes::Set => (false, false, false, true),
        };
        Handles {
            throttle: throttle.then(|| {
                (
                    throttled_counter(&name),
                    metrics::gauge!("circuit_breaker_throttle_probability", "breaker" => name.clone()),
                )
            }),
            fleet: shared.then(|| {
                metrics::gauge!("circuit_breaker_fleet_healthy", "breaker" => name.clone())
            }),
            rates: rate.then(|| {
                [
                    metrics::gauge!("circuit_breaker_failure_rate", "breaker" => name.clone()),
                    metrics::gauge!("circuit_breaker_slow_call_rate", "breaker" => name.clone()),
                ]
            }),
            keys: set.then(|| {
                Phase::ALL.map(|phase| {
                    metrics::gauge!("circuit_breaker_keys", "name" => name.clone(), "state" => phase.as_str())
                })
            }),
            calls: OUTCOMES.map(|outcome| {
                metrics::counter!("circuit_breaker_calls_total", "breaker" => name.clone(), "outcome" => outcome)
            }),
            state: (!set)
                .then(|| metrics::gauge!("circuit_breaker_state", "breaker" => name.clone())),
            transitions: TRANSITIONS.map(|(from, to)| {
                metrics::counter!(
                    "circuit_breaker_transitions_total",
                    "breaker" => name.clone(), "from" => from.as_str(), "to" => to.as_str()
                )
            }),
        }
    }
}

impl Counters {
    /// A breaker's own counters.
    pub(crate) fn new() -> Arc<Self> {
        Self::with(None)
    }

    /// The counters a keyed set's keys share, published under the set's `name` from now
    /// on, for as long as the set lives.
    pub(crate) fn for_set(name: Name) -> Arc<Self> {
        let counters = Self::with(Some(Box::new(SetTally {
            name,
            keys: Default::default(),
            transitions: Default::default(),
        })));
        let mut sets = lock(&SETS);
        if sets.len().is_power_of_two() {
            sets.retain(|set| set.strong_count() > 0);
        }
        sets.push(Arc::downgrade(&counters));
        counters
    }

    fn with(set: Option<Box<SetTally>>) -> Arc<Self> {
        start_publisher();
        Arc::new(Counters {
            // The four outcomes, and the throttle's refusals.
            lanes: Lanes::new(OUTCOMES.len() + 1),
            handles: Mutex::new(None),
            listed: AtomicBool::new(false),
            set,
        })
    }

    /// Counts one call on this thread's lane.
    #[inline]
    pub(crate) fn count(&self, call: Counted) {
        self.lanes.with(|lane| lane.bump(call as usize));
    }

    pub(crate) fn totals(&self) -> Calls {
        let mut n = [0u64; 5];
        self.lanes.each(|lane| {
            for (i, n) in n.iter_mut().enumerate() {
                *n += lane.cell(i).load(Relaxed);
            }
        });
        Calls {
            success: n[0],
            failure: n[1],
            rejected: n[2],
            ignored: n[3],
            throttled: n[4],
        }
    }

    /// Where these counters live: the key of [`PUBLISHED`].
    fn address(&self) -> usize {
        self as *const Counters as usize
    }
}

impl Drop for Counters {
    fn drop(&mut self) {
        if *self.listed.get_mut() {
            let _ = PUBLISHED.pin().remove(&self.address());
        }
    }
}

/// The breakers that publish series of their own: registered, and not counted in a
/// keyed set. By the address of their counters, so that the counters' drop finds the
/// entry. A key counted in its set is not here: the publisher's work does not grow
/// with keys.
static PUBLISHED: LazyLock<papaya::HashMap<usize, WeakBreaker>> =
    LazyLock::new(papaya::HashMap::new);

/// The keyed sets that publish per set.
static SETS: Mutex<Vec<Weak<Counters>>> = Mutex::new(Vec::new());

/// A breaker entered the registry: unless its set counts for it, it publishes.
pub(crate) fn enrolled(breaker: &CircuitBreaker) {
    let counters = breaker.sinks().counters();
    if counters.set.is_none() {
        counters.listed.store(true, Relaxed);
        PUBLISHED
            .pin()
            .insert(counters.address(), breaker.downgrade());
    }
}

/// A breaker left the registry (evicted from a keyed set): it publishes no more.
pub(crate) fn withdrawn(breaker: &CircuitBreaker) {
    let counters = breaker.sinks().counters();
    if counters.set.is_none() {
        counters.listed.store(false, Relaxed);
        let _ = PUBLISHED.pin().remove(&counters.address());
    }
}

/// A key joined its set (its first entry in a set's map): its set counts it, in the
/// phase it is in.
pub(crate) fn key_joined(breaker: &CircuitBreaker) {
    if let Some(set) = &breaker.sinks().counters().set {
        let phase = breaker.word().phase();
        let tallied = &breaker.sinks().tallied().0;
        if tallied
            .compare_exchange(UNTALLIED, phase as u8 + 1, AcqRel, Acquire)
            .is_ok()
        {
            set.keys[phase as usize].fetch_add(1, Relaxed);
        }
    }
}

/// A key left its set (evicted, or the set dropped): its set no longer counts it.
pub(crate) fn key_left(breaker: &CircuitBreaker) {
    if let Some(set) = &breaker.sinks().counters().set {
        let was = breaker.sinks().tallied().0.swap(UNTALLIED, AcqRel);
        if was != UNTALLIED {
            set.keys[usize::from(was - 1)].fetch_sub(1, Relaxed);
        }
    }
}

/// A key changed phase: it moves to the phase it is in now (not the one the
/// transition named, so that two transitions told in the other order leave it right).
fn retally(breaker: &CircuitBreaker, set: &SetTally) {
    let tallied = &breaker.sinks().tallied().0;
    loop {
        let was = tallied.load(Acquire);
        let now = breaker.word().phase() as u8 + 1;
        if was == UNTALLIED || was == now {
            return;
        }
        if tallied.compare_exchange(was, now, AcqRel, Acquire).is_ok() {
            set.keys[usize::from(was - 1)].fetch_sub(1, Relaxed);
            set.keys[usize::from(now - 1)].fetch_add(1, Relaxed);
            return;
        }
    }
}

/// The `outcome` label of each [`Counted`], in its order, but the throttle's (published
/// only for a breaker with a throttle, or a set whose keys refused calls).
const OUTCOMES: [&str; 4] = ["success", "failure", "rejected", "ignored"];

/// The `throttled` outcome's series of `name`.
fn throttled_counter(name: &metrics::SharedString) -> metrics::Counter {
    metrics::counter!("circuit_breaker_calls_total", "breaker" => name.clone(), "outcome" => "throttled")
}

/// Hands the current counts and states of every registered breaker, and of every keyed
/// set, to the `metrics` facade now. The background publisher does this every 500 ms;
/// call it where an export must be exact to the moment, e.g. at the top of your own
/// `/metrics` handler. Its work grows with the breakers that publish series of their
/// own, not with the keys of sets that publish per set.
pub fn publish() {
    registry::build_annotated();
    for weak in PUBLISHED.pin().values() {
        if let Some(breaker) = weak.upgrade() {
            publish_breaker(&breaker);
        }
    }
    let sets: Vec<Arc<Counters>> = lock(&SETS).iter().filter_map(Weak::upgrade).collect();
    for set in sets {
        publish_set(&set);
    }
}

/// An identity for the recorder that `metrics` macros would use here and now: the
/// address of the recorder object (the no-op one until a recorder is installed).
fn current_recorder() -> usize {
    metrics::with_recorder(|recorder| {
        recorder as *const dyn metrics::Recorder as *const u8 as usize
    })
}

fn describe(recorder: usize) {
    static DESCRIBED: AtomicUsize = AtomicUsize::new(0);
    if DESCRIBED.swap(recorder, Relaxed) == recorder {
        return;
    }
    metrics::describe_counter!(
        "circuit_breaker_calls_total",
        "Calls through a circuit breaker (or all keys of a keyed set), by outcome"
    );
    metrics::describe_gauge!(
        "circuit_breaker_state",
        "Circuit breaker state: 0 closed, 1 open, 2 half_open"
    );
    metrics::describe_counter!(
        "circuit_breaker_transitions_total",
        "Circuit breaker state changes (of all keys of a keyed set)"
    );
    metrics::describe_gauge!(
        "circuit_breaker_failure_rate",
        "Percent of the calls in a rate breaker's window that failed (-1 below min_calls)"
    );
    metrics::describe_gauge!(
        "circuit_breaker_slow_call_rate",
        "Percent of the calls in a rate breaker's window that were slow (-1 below min_calls)"
    );
    metrics::describe_gauge!(
        "circuit_breaker_fleet_healthy",
        "1 while a shared circuit breaker reaches its fleet backend, 0 while it runs locally"
    );
    metrics::describe_gauge!(
        "circuit_breaker_keys",
        "Keys of a keyed circuit breaker set in each state"
    );
    metrics::describe_gauge!(
        "circuit_breaker_throttle_probability",
        "The probability with which a throttling circuit breaker refuses a call (0 to 1)"
    );
    metrics::describe_counter!(
        "circuit_breaker_advised_openings_total",
        "Circuit breaker openings whose time an upstream's advice (Retry-After, gRPC RetryInfo or pushback) set"
    );
}

fn publish_calls(handles: &Handles, counters: &Counters) {
    let c = counters.totals();
    for (counter, n) in handles
        .calls
        .iter()
        .zip([c.success, c.failure, c.rejected, c.ignored])
    {
        counter.absolute(n);
    }
}

pub(crate) fn publish_breaker(breaker: &CircuitBreaker) {
    let counters = breaker.sinks().counters();
    let handles = handles(breaker);
    publish_calls(&handles, counters);
    if let Some(state) = &handles.state {
        state.set(breaker.state().number() as f64);
    }
    if let (Some([failure, slow]), Some(window)) = (&handles.rates, breaker.window()) {
        // Resilience4j's convention: -1 until the window holds `min_calls` calls.
        failure.set(window.failure_rate.unwrap_or(-1.0));
        slow.set(window.slow_rate.unwrap_or(-1.0));
    }
    if let (Some(gauge), Some(fleet)) = (&handles.fleet, breaker.sinks().fleet_info()) {
        let healthy = fleet.backend == crate::shared::BackendHealth::Healthy;
        gauge.set(if healthy { 1.0 } else { 0.0 });
    }
    if let Some((refused, probability)) = &handles.throttle {
        refused.absolute(counters.totals().throttled);
        probability.set(breaker.throttle_probability().unwrap_or(0.0));
    }
}

/// A keyed set's series: its keys' calls, transitions and states; the throttle's
/// refusals once its keys have refused any.
fn publish_set(counters: &Counters) {
    if let Some(set) = &counters.set {
        publish_calls(&set_handles(counters, set), counters);
        publish_set_states(counters, set);
        let throttled = counters.totals().throttled;
        if throttled > 0 {
            let name: metrics::SharedString = set.name.to_string().into();
            throttled_counter(&name).absolute(throttled);
        }
    }
}

/// A keyed set's transitions and keys by state, as they are now.
fn publish_set_states(counters: &Counters, set: &SetTally) {
    let handles = set_handles(counters, set);
    for (counter, n) in handles.transitions.iter().zip(&set.transitions) {
        counter.absolute(n.load(Relaxed));
    }
    if let Some(keys) = &handles.keys {
        for (gauge, n) in keys.iter().zip(&set.keys) {
            gauge.set(n.load(Relaxed).max(0) as f64);
        }
    }
}

/// Every change of state a breaker can make: each `from` to each other state (closing
/// from open and half-opening from closed are manual ones). No `closed → closed`: a
/// series for a transition that cannot happen is a series for nothing.
const TRANSITIONS: [(State, State); 6] = [
    (State::Closed, State::Open),
    (State::Closed, State::HalfOpen),
    (State::Open, State::Closed),
    (State::Open, State::HalfOpen),
    (State::HalfOpen, State::Closed),
    (State::HalfOpen, State::Open),
];

/// A change of phase (of state, or of sticky mode alone), published as it happens: by
/// the breaker if it publishes, by its set if it counts in one.
pub(crate) fn transition(breaker: &CircuitBreaker, from: Word, to: Word) {
    let counters = breaker.sinks().counters();
    let moved = TRANSITIONS
        .iter()
        .position(|&pair| pair == (from.state(), to.state()));
    let advised = (to.state() == State::Open && from.state() != State::Open)
        .then(|| breaker.open_advice())
        .flatten();
    match &counters.set {
        Some(set) => {
            if let Some(i) = moved {
                set.transitions[i].fetch_add(1, Relaxed);
            }
            retally(breaker, set);
            publish_set_states(counters, set);
            if let Some(advice) = advised {
                advised_opening(&set.name, advice.source());
            }
        }
        None if counters.listed.load(Relaxed) => {
            let handles = handles(breaker);
            if let Some(i) = moved {
                handles.transitions[i].increment(1);
            }
            publish_breaker(breaker);
            if let Some(advice) = advised {
                advised_opening(breaker.name_handle(), advice.source());
            }
        }
        None => {}
    }
}

/// One more opening timed by an upstream's advice. Rare, so the series is registered
/// (with the recorder in place now) when it first happens.
fn advised_opening(name: &Name, source: crate::AdviceSource) {
    let name: metrics::SharedString = match name.as_static() {
        Some(name) => name.into(),
        None => name.to_string().into(),
    };
    metrics::counter!(
        "circuit_breaker_advised_openings_total",
        "name" => name, "source" => source.as_str()
    )
    .increment(1);
}

impl Counters {
    fn handles(&self, name: &Name, publishes: Publishes) -> Arc<Handles> {
        let recorder = current_recorder();
        let mut bound = lock(&self.handles);
        match &*bound {
            Some((to, handles)) if *to == recorder => Arc::clone(handles),
            _ => {
                describe(recorder);
                let handles = Arc::new(Handles::register(name, publishes));
                *bound = Some((recorder, Arc::clone(&handles)));
                handles
            }
        }
    }
}

/// The breaker's handles, bound to the recorder in place now.
fn handles(breaker: &CircuitBreaker) -> Arc<Handles> {
    let publishes = Publishes::Breaker {
        rate: breaker.config().is_rate(),
        shared: breaker.sinks().fleet_info().is_some(),
        throttle: breaker.config().throttle.is_some(),
    };
    breaker
        .sinks()
        .counters()
        .handles(breaker.name_handle(), publishes)
}

/// The handles of a set (`set` being what `counters` add up), bound to the recorder in
/// place now.
fn set_handles(counters: &Counters, set: &SetTally) -> Arc<Handles> {
    counters.handles(&set.name, Publishes::Set)
}

/// How often the background publisher hands counts to the recorder, unless changed with
/// [`set_publish_interval`].
pub const DEFAULT_PUBLISH_INTERVAL: Duration = Duration::from_millis(500);

/// The background publisher: a thread named `breaker-metrics` that calls [`publish`] at
/// each interval. It sleeps on a condition variable, so changing its interval or
/// stopping it takes effect at once.
struct Publisher {
    state: Mutex<PublisherState>,
    wake: Condvar,
}

struct PublisherState {
    interval: Duration,
    stopped: bool,
    thread: Option<JoinHandle<()>>,
}

static PUBLISHER: Publisher = Publisher {
    state: Mutex::new(PublisherState {
        interval: DEFAULT_PUBLISH_INTERVAL,
        stopped: false,
        thread: None,
    }),
    wake: Condvar::new(),
};

/// Set once the publisher has been started (or stopped before it started): building a
/// breaker then reads one flag.
static STARTED: AtomicBool = AtomicBool::new(false);

impl Publisher {
    fn lock(&self) -> MutexGuard<'_, PublisherState> {
        lock(&self.state)
    }

    fn run(&self) {
        let mut state = self.lock();
        let mut next = Instant::now() + state.interval;
        loop {
            let now = Instant::now();
            if state.stopped {
                return;
            }
            if now < next {
                state = self
                    .wake
                    .wait_timeout(state, next - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
                continue;
            }
            drop(state);
            publish();
            state = self.lock();
            next = Instant::now() + state.interval;
        }
    }
}

fn start_publisher() {
    if STARTED.swap(true, Relaxed) {
        return;
    }
    let mut state = PUBLISHER.lock();
    if state.stopped || state.thread.is_some() {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("breaker-metrics".into())
        .spawn(|| PUBLISHER.run());
    match spawned {
        Ok(thread) => state.thread = Some(thread),
        // Without the thread, counts still reach the recorder on transitions and on
        // `publish()`.
        Err(_error) => {
            #[cfg(feature = "tracing")]
            tracing::error!(error = %_error, "could not start the breaker-metrics publisher thread");
        }
    }
}

/// Sets how often the background publisher hands counts to the recorder (default 500
/// ms; at least 1 ms). A shorter interval brings counts to the exporter sooner at the
/// cost of summing every breaker's counts more often.
///
/// ```
/// use std::time::Duration;
/// breaker_runtime::metrics::set_publish_interval(Duration::from_millis(250));
/// ```
pub fn set_publish_interval(interval: Duration) {
    PUBLISHER.lock().interval = interval.max(Duration::from_millis(1));
    PUBLISHER.wake.notify_all();
}

/// Stops the background publisher for the rest of the process and waits for its thread
/// to end (or keeps it from ever starting, if no breaker was built yet). Counts then
/// reach the recorder only on transitions and through [`publish`].
///
/// ```
/// breaker_runtime::metrics::stop_publisher();
/// breaker_runtime::metrics::publish(); // from now on, the only way counts are exported
/// ```
pub fn stop_publisher() {
    STARTED.store(true, Relaxed);
    let thread = {
        let mut state = PUBLISHER.lock();
        state.stopped = true;
        state.thread.take()
    };
    PUBLISHER.wake.notify_all();
    if let Some(thread) = thread {
        if thread.thread().id() != std::thread::current().id() {
            let _ = thread.join();
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::{Arc, Mutex};

    use metrics::{
        Counter, CounterFn, Gauge, GaugeFn, Histogram, Key, KeyName, Metadata, Recorder,
        SharedString, Unit,
    };

    use super::*;

    /// A recorder that writes down every absolute value its counters are given.
    #[derive(Default)]
    struct Capture(Arc<Mutex<Vec<String>>>);

    struct Sink(String, Arc<Mutex<Vec<String>>>);

    impl CounterFn for Sink {
        fn increment(&self, by: u64) {
            self.1.lock().unwrap().push(format!("{} +{by}", self.0));
        }
        fn absolute(&self, value: u64) {
            self.1.lock().unwrap().push(format!("{} ={value}", self.0));
        }
    }

    impl GaugeFn for Sink {
        fn increment(&self, _: f64) {}
        fn decrement(&self, _: f64) {}
        fn set(&self, value: f64) {
            self.1.lock().unwrap().push(format!("{} ={value}", self.0));
        }
    }

    impl Recorder for Capture {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            let labels: Vec<String> = key.labels().map(|l| l.value().to_string()).collect();
            let name = format!("{}{labels:?}", key.name());
            Counter::from_arc(Arc::new(Sink(name, Arc::clone(&self.0))))
        }
        fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
            let labels: Vec<String> = key.labels().map(|l| l.value().to_string()).collect();
            let name = format!("{}{labels:?}", key.name());
            Gauge::from_arc(Arc::new(Sink(name, Arc::clone(&self.0))))
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::noop()
        }
    }

    impl Capture {
        fn saw(&self, line: &str) -> bool {
            self.0.lock().unwrap().iter().any(|l| l == line)
        }
    }

    #[test]
    fn handles_follow_the_recorder_in_place() {
        let breaker = CircuitBreaker::builder("metrics-rebind")
            .unregistered()
            .build();
        let ok = || Ok::<_, Box<dyn std::error::Error + Send + Sync>>(());
        breaker.call(ok).unwrap();
        // First published with no recorder at all (the no-op one)...
        publish_breaker(&breaker);
        // ...then a recorder appears: the handles bind to it.
        let first = Capture::default();
        metrics::with_local_recorder(&first, || publish_breaker(&breaker));
        let success = r#"circuit_breaker_calls_total["metrics-rebind", "success"]"#;
        assert!(first.saw(&format!("{success} =1")), "{:?}", first.0);
        breaker.call(ok).unwrap();
        let second = Capture::default();
        metrics::with_local_recorder(&second, || publish_breaker(&breaker));
        assert!(second.saw(&format!("{success} =2")), "{:?}", second.0);
        assert!(
            !first.saw(&format!("{success} =2")),
            "the old recorder is left alone"
        );
    }

    #[test]
    fn a_rate_breaker_publishes_its_rates_and_minus_one_below_min_calls() {
        let breaker = CircuitBreaker::builder("metrics-rates")
            .failure_rate(50)
            .slow_call(Duration::from_secs(1))
            .window(crate::Window::Calls(4))
            .unregistered()
            .build();
        let failure = r#"circuit_breaker_failure_rate["metrics-rates"]"#;
        let slow = r#"circuit_breaker_slow_call_rate["metrics-rates"]"#;
        breaker.try_acquire().unwrap().failure();
        let below = Capture::default();
        metrics::with_local_recorder(&below, || publish_breaker(&breaker));
        assert!(below.saw(&format!("{failure} =-1")), "{:?}", below.0);
        assert!(below.saw(&format!("{slow} =-1")), "{:?}", below.0);
        for _ in 0..3 {
            breaker.try_acquire().unwrap().success();
        }
        let full = Capture::default();
        metrics::with_local_recorder(&full, || publish_breaker(&breaker));
        assert!(full.saw(&format!("{failure} =25")), "{:?}", full.0);
        assert!(full.saw(&format!("{slow} =0")), "{:?}", full.0);

        let plain = CircuitBreaker::builder("metrics-plain")
            .unregistered()
            .build();
        let none = Capture::default();
        metrics::with_local_recorder(&none, || publish_breaker(&plain));
        assert!(
            !none.0.lock().unwrap().iter().any(|l| l.contains("_rate")),
            "no rate gauges for a consecutive breaker"
        );
    }
}
