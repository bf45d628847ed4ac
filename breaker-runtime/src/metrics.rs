//! Feature `metrics`: every call counted, published through the [`metrics`] facade so any
//! exporter (Prometheus, StatsD, ...) sees it.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `circuit_breaker_calls_total` | counter | `breaker`, `outcome` = `success`, `failure`, `rejected`, `ignored` |
//! | `circuit_breaker_state` | gauge: 0 closed, 1 open, 2 half-open | `breaker` |
//! | `circuit_breaker_transitions_total` | counter, one series per transition that can happen (six: no `closed` → `closed`) | `breaker`, `from`, `to` (`closed`, `open`, `half_open`) |
//! | `circuit_breaker_failure_rate` | gauge: percent of the window's calls that failed; -1 below `min_calls` (rate policies only) | `breaker` |
//! | `circuit_breaker_slow_call_rate` | gauge: percent of the window's calls that were slow; -1 below `min_calls` (rate policies only) | `breaker` |
//! | `circuit_breaker_fleet_healthy` | gauge: 1 while a shared breaker reaches its fleet backend, 0 while it runs locally (degraded, or no backend installed) (shared breakers only) | `breaker` |
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
//! Only breakers in the [`registry`] are published: one evicted from a
//! [keyed set](crate::keyed) is not published again. An exporter keeps the series it was
//! once given, though, so breakers that come and go (per host, per tenant) need the
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

use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::events::Counted;
use crate::lanes::Lanes;
use crate::sync::lock;
use crate::{registry, CircuitBreaker, Name, State};

impl CircuitBreaker {
    /// Calls through this breaker since it was built, by outcome (feature `metrics`).
    pub fn calls(&self) -> Calls {
        self.sinks().counters().totals()
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
}

/// A breaker's counting state.
pub(crate) struct Counters {
    /// Each thread's counts, one cell per [`Counted`] kind, written only by that thread.
    lanes: Lanes,
    /// The facade's handles for this breaker and the recorder they are bound to,
    /// registered on first use so that publishing does not build (and allocate) metric
    /// keys every time, and again when another recorder is installed.
    handles: Mutex<Option<(usize, Arc<Handles>)>>,
}

/// Registered metric handles of one breaker, bound to one recorder.
struct Handles {
    calls: [metrics::Counter; 4],
    state: metrics::Gauge,
    /// The six transitions that can happen (a state never changes to itself), in the
    /// order of [`TRANSITIONS`].
    transitions: [metrics::Counter; 6],
    /// A rate policy's failure and slow-call rates.
    rates: Option<[metrics::Gauge; 2]>,
    /// A shared breaker's link to its fleet: healthy or not.
    fleet: Option<metrics::Gauge>,
}

impl Handles {
    fn register(name: &Name, rate: bool, shared: bool) -> Self {
        // A label is a `&'static str` as it is, a run-time name copied once.
        let name: metrics::SharedString = match name.as_static() {
            Some(name) => name.into(),
            None => name.to_string().into(),
        };
        Handles {
            fleet: shared.then(|| {
                metrics::gauge!("circuit_breaker_fleet_healthy", "breaker" => name.clone())
            }),
            rates: rate.then(|| {
                [
                    metrics::gauge!("circuit_breaker_failure_rate", "breaker" => name.clone()),
                    metrics::gauge!("circuit_breaker_slow_call_rate", "breaker" => name.clone()),
                ]
            }),
            calls: OUTCOMES.map(|outcome| {
                metrics::counter!("circuit_breaker_calls_total", "breaker" => name.clone(), "outcome" => outcome)
            }),
            state: metrics::gauge!("circuit_breaker_state", "breaker" => name.clone()),
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
    pub(crate) fn new() -> Self {
        start_publisher();
        Counters {
            lanes: Lanes::new(OUTCOMES.len()),
            handles: Mutex::new(None),
        }
    }

    /// Counts one call on this thread's lane.
    #[inline]
    pub(crate) fn count(&self, call: Counted) {
        self.lanes.with(|lane| lane.bump(call as usize));
    }

    pub(crate) fn totals(&self) -> Calls {
        let mut n = [0u64; 4];
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
        }
    }
}

/// The `outcome` label of each [`Counted`], in its order.
const OUTCOMES: [&str; 4] = ["success", "failure", "rejected", "ignored"];

/// Hands the current counts and states of every registered breaker to the `metrics`
/// facade now. The background publisher does this every 500 ms; call it where an export
/// must be exact to the moment, e.g. at the top of your own `/metrics` handler.
pub fn publish() {
    for breaker in registry::all() {
        publish_breaker(&breaker);
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
        "Calls through a circuit breaker, by outcome"
    );
    metrics::describe_gauge!(
        "circuit_breaker_state",
        "Circuit breaker state: 0 closed, 1 open, 2 half-open"
    );
    metrics::describe_counter!(
        "circuit_breaker_transitions_total",
        "Circuit breaker state changes"
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
}

pub(crate) fn publish_breaker(breaker: &CircuitBreaker) {
    let handles = handles(breaker);
    let c = breaker.calls();
    for (counter, n) in handles
        .calls
        .iter()
        .zip([c.success, c.failure, c.rejected, c.ignored])
    {
        counter.absolute(n);
    }
    handles.state.set(breaker.state().number() as f64);
    if let (Some([failure, slow]), Some(window)) = (&handles.rates, breaker.window()) {
        // Resilience4j's convention: -1 until the window holds `min_calls` calls.
        failure.set(window.failure_rate.unwrap_or(-1.0));
        slow.set(window.slow_rate.unwrap_or(-1.0));
    }
    if let (Some(gauge), Some(fleet)) = (&handles.fleet, breaker.sinks().fleet_info()) {
        let healthy = fleet.backend == crate::shared::BackendHealth::Healthy;
        gauge.set(if healthy { 1.0 } else { 0.0 });
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

/// A transition, published as it happens.
pub(crate) fn transition(breaker: &CircuitBreaker, from: State, to: State) {
    let handles = handles(breaker);
    if let Some(i) = TRANSITIONS.iter().position(|&pair| pair == (from, to)) {
        handles.transitions[i].increment(1);
    }
    publish_breaker(breaker);
}

impl Counters {
    fn handles(&self, name: &Name, rate: bool, shared: bool) -> Arc<Handles> {
        let recorder = current_recorder();
        let mut bound = lock(&self.handles);
        match &*bound {
            Some((to, handles)) if *to == recorder => Arc::clone(handles),
            _ => {
                describe(recorder);
                let handles = Arc::new(Handles::register(name, rate, shared));
                *bound = Some((recorder, Arc::clone(&handles)));
                handles
            }
        }
    }
}

/// The breaker's handles, bound to the recorder in place now.
fn handles(breaker: &CircuitBreaker) -> Arc<Handles> {
    let rate = breaker.config().is_rate();
    let shared = breaker.sinks().fleet_info().is_some();
    breaker
        .sinks()
        .counters()
        .handles(breaker.name_handle(), rate, shared)
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
