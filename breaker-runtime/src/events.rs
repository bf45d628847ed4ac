//! Everything a breaker's events cause outside its state word: listeners, `tracing`
//! events and `metrics` counts. The state machine calls one function here per kind of
//! event (a call admitted, counted, ended or rejected, a state changed) and knows
//! nothing of features; this is the one module that does. A new consumer of events
//! (the fleet backend, say) plugs in here.

use std::sync::{Arc, OnceLock};

use crate::keyed::SetRefs;
use crate::listener::{self, CallOutcome, Listener};
use crate::outcome::{Seen, Trigger};
use crate::shared::{Link, Membership};
use crate::state::Word;
use crate::{CircuitBreaker, CircuitBreakerError, State, Verdict};

/// What one breaker's events reach beyond the global listeners: its own listeners and,
/// with `metrics`, its counters.
pub(crate) struct Sinks {
    listeners: Box<[Arc<dyn Listener>]>,
    /// For a shared breaker: its link to the fleet, once it joined (at build, or when a
    /// backend is installed later).
    fleet: OnceLock<Arc<Link>>,
    /// It asked to be shared: with which quorum, through which backend.
    shared: Option<Membership>,
    /// The keyed sets' entries that hold it (see [`SetRefs`]).
    set_refs: SetRefs,
    /// The span contexts of the latest failures that count toward an opening.
    #[cfg(feature = "opentelemetry")]
    pub(crate) failures: crate::telemetry::otel::Failures,
    /// Its counts: its own, or its keyed set's (which then publishes for it).
    #[cfg(feature = "metrics")]
    counters: Arc<crate::metrics::Counters>,
    /// For a key counted in its set: the state its set counts it in.
    #[cfg(feature = "metrics")]
    tallied: crate::metrics::Tallied,
}

impl Sinks {
    /// A breaker's sinks; with `metrics`, its calls counted in `counters` (a keyed
    /// set's), or in counters of its own.
    pub(crate) fn new(
        listeners: Vec<Arc<dyn Listener>>,
        shared: Option<Membership>,
        #[cfg(feature = "metrics")] counters: Option<Arc<crate::metrics::Counters>>,
    ) -> Self {
        Sinks {
            listeners: listeners.into_boxed_slice(),
            fleet: OnceLock::new(),
            shared,
            set_refs: SetRefs::default(),
            #[cfg(feature = "opentelemetry")]
            failures: crate::telemetry::otel::Failures::default(),
            #[cfg(feature = "metrics")]
            counters: counters.unwrap_or_else(crate::metrics::Counters::new),
            #[cfg(feature = "metrics")]
            tallied: crate::metrics::Tallied::new(),
        }
    }

    /// A shared breaker's place in the fleet; `None` for an unshared one.
    pub(crate) fn fleet_info(&self) -> Option<crate::shared::FleetInfo> {
        self.shared
            .map(|_| crate::shared::FleetInfo::of(self.fleet.get().map(|l| &**l)))
    }

    /// Whether two breakers' events reach the same places: the same listeners (the same
    /// objects, in the same order) and the same fleet membership (shared or not, with
    /// which quorum, through which backend).
    pub(crate) fn same_as(&self, other: &Sinks) -> bool {
        self.shared == other.shared
            && self.listeners.len() == other.listeners.len()
            && self
                .listeners
                .iter()
                .zip(other.listeners.iter())
                .all(|(a, b)| Arc::ptr_eq(a, b))
    }

    /// A shared breaker's link to its fleet, once it joined.
    #[cfg_attr(not(feature = "opentelemetry"), allow(dead_code))]
    pub(crate) fn fleet_link(&self) -> Option<&Link> {
        self.fleet.get().map(|link| &**link)
    }

    pub(crate) fn set_refs(&self) -> &SetRefs {
        &self.set_refs
    }

    /// The breaker joins the fleet through `link`; `false` if it had joined already.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn join(&self, link: Arc<Link>) -> bool {
        self.fleet.set(link).is_ok()
    }

    /// Whether the breaker has listeners of its own (global ones come and go).
    pub(crate) fn has_own_listeners(&self) -> bool {
        !self.listeners.is_empty()
    }

    #[cfg(feature = "metrics")]
    pub(crate) fn counters(&self) -> &crate::metrics::Counters {
        &self.counters
    }

    #[cfg(feature = "metrics")]
    pub(crate) fn tallied(&self) -> &crate::metrics::Tallied {
        &self.tallied
    }
}

/// A call as the counters see it: its verdict, or its rejection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counted {
    Success = 0,
    Failure = 1,
    Rejected = 2,
    Ignored = 3,
    Throttled = 4,
}

impl From<Verdict> for Counted {
    #[inline(always)]
    fn from(verdict: Verdict) -> Self {
        match verdict {
            Verdict::Success => Counted::Success,
            Verdict::Failure => Counted::Failure,
            Verdict::Ignore => Counted::Ignored,
        }
    }
}

/// A call's verdict or rejection, counted on the calling thread (feature `metrics`;
/// nothing otherwise). On the hot path: inlined, and empty without the feature.
#[inline(always)]
pub(crate) fn counted(breaker: &CircuitBreaker, call: Counted) {
    #[cfg(feature = "metrics")]
    breaker.sinks().counters.count(call);
    #[cfg(not(feature = "metrics"))]
    let _ = (breaker, call);
}

/// A call was admitted while listeners are attached: they hear of it, and the call's
/// start time is returned (read after them, in microseconds, for its `elapsed`).
#[cold]
#[inline(never)]
pub(crate) fn admitted(breaker: &CircuitBreaker) -> u64 {
    dispatch(breaker, |l| l.before_call(breaker));
    micros(breaker.now())
}

/// A call ended while listeners were attached at its admission.
#[cold]
#[inline(never)]
pub(crate) fn ended(breaker: &CircuitBreaker, outcome: &CallOutcome<'_>) {
    dispatch(breaker, |l| l.on_outcome(breaker, outcome));
}

/// The outcome of a call that started at `started` (microseconds, from [`admitted`]),
/// as of now. Durations wrap after 50 days: the start is kept in 42 bits so that the
/// permit stays two words.
pub(crate) fn outcome_since<'e>(
    breaker: &CircuitBreaker,
    verdict: Verdict,
    started: u64,
    error: Option<Seen<'e>>,
) -> CallOutcome<'e> {
    let elapsed = micros(breaker.now()).wrapping_sub(started) & MICROS_MASK;
    CallOutcome::new(
        verdict,
        error,
        Some(std::time::Duration::from_micros(elapsed)),
    )
}

/// A call was refused without running. Inlined into the rejection path: without
/// `tracing`, `metrics` or listeners it is nothing. `answered`: a fallback answers the
/// call, so the caller's span does not fail (feature `opentelemetry`).
#[inline(always)]
pub(crate) fn rejected(
    breaker: &CircuitBreaker,
    error: &CircuitBreakerError,
    word: Word,
    now: u64,
    answered: bool,
) {
    counted(breaker, Counted::Rejected);
    if let Some(link) = breaker.sinks().fleet.get() {
        link.rejected(now / 1_000_000);
    }
    #[cfg(feature = "tracing")]
    if tracing::level_enabled!(tracing::Level::DEBUG) {
        crate::telemetry::rejected(breaker, error, word.phase());
    }
    #[cfg(feature = "opentelemetry")]
    if !answered {
        crate::telemetry::otel::fail_callers_span(false);
    }
    #[cfg(not(feature = "opentelemetry"))]
    let _ = answered;
    if word.is_listening() {
        rejection_heard(breaker, error);
    }
}

/// The throttle refused a call (see [`crate::throttle`]): counted, traced, and heard by
/// listeners as a rejection. `answered`: a fallback answers the call.
#[cold]
#[inline(never)]
pub(crate) fn throttled(breaker: &CircuitBreaker, error: &CircuitBreakerError, answered: bool) {
    counted(breaker, Counted::Throttled);
    #[cfg(feature = "tracing")]
    if tracing::level_enabled!(tracing::Level::DEBUG) {
        crate::telemetry::throttled(breaker, error);
    }
    #[cfg(feature = "opentelemetry")]
    if !answered {
        crate::telemetry::otel::fail_callers_span(true);
    }
    #[cfg(not(feature = "opentelemetry"))]
    let _ = answered;
    if breaker.word().is_listening() {
        rejection_heard(breaker, error);
    }
}

#[cold]
#[inline(never)]
fn rejection_heard(breaker: &CircuitBreaker, error: &CircuitBreakerError) {
    dispatch(breaker, |l| l.on_rejected(breaker, error));
}

/// The breaker went from `from` to `to`, announced once, by the thread whose
/// compare-and-swap made the change, for the reason `trigger` gives. A change of state
/// reaches every consumer; a change of sticky mode alone (`disable()` on a closed
/// breaker) only `tracing`, which names modes as states.
#[cold]
pub(crate) fn transition(breaker: &CircuitBreaker, from: Word, to: Word, trigger: Trigger<'_>) {
    let moved = from.state() != to.state();
    // A trip on this replica's own evidence (a call's outcome), not one the fleet told
    // it of, nor a manual transition.
    let tripped_here = moved
        && matches!(trigger, Trigger::Call(Some(_)))
        && from.state() == State::Closed
        && !to.defers_to_fleet();
    #[cfg(feature = "metrics")]
    if from.phase() != to.phase() {
        crate::metrics::transition(breaker, from, to);
    }
    // Before the vote is asked for: an opening's span is where the fleet's opening began.
    #[cfg(feature = "tracing")]
    crate::telemetry::transition(breaker, from, to, trigger);
    #[cfg(feature = "axum")]
    if from.phase() != to.phase() {
        crate::admin::feed::transition(breaker, from, to, trigger);
    }
    if let (Some(link), true) = (breaker.sinks().fleet.get(), tripped_here) {
        link.tripped();
    }
    if moved && to.is_listening() {
        dispatch(breaker, |l| {
            l.on_state_change(breaker, from.state(), to.state())
        });
    }
}

/// A failure that counts toward an opening (feature `opentelemetry`: the failing call's
/// span context is kept, for the opening to link to).
#[cold]
pub(crate) fn failed(breaker: &CircuitBreaker) {
    #[cfg(feature = "opentelemetry")]
    crate::telemetry::otel::remember_failure(&breaker.sinks().failures);
    #[cfg(not(feature = "opentelemetry"))]
    let _ = breaker;
}

/// A success reset the failure count: the failures kept for an opening are forgotten.
#[cold]
pub(crate) fn failures_forgotten(breaker: &CircuitBreaker) {
    #[cfg(feature = "opentelemetry")]
    breaker.sinks().failures.clear();
    #[cfg(not(feature = "opentelemetry"))]
    let _ = breaker;
}

/// A manual transition, applied here, to pass on to the fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Manual {
    Open,
    HalfOpen,
    Close,
    ForceOpen,
    Disable,
}

/// A manual transition of a breaker: a shared one passes it on to the whole fleet.
pub(crate) fn manual(breaker: &CircuitBreaker, transition: Manual) {
    if let Some(link) = breaker.sinks().fleet.get() {
        link.manual(transition);
    }
}

/// A breaker's last handle went (from its drop, `address` being where it lived): the
/// registry forgets it.
#[cold]
pub(crate) fn dropped(name: &str, address: usize) {
    crate::registry::dropped(name, address);
}

/// Whether a caller of a fleet-held breaker may probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProbeTurn {
    /// The fleet granted this replica the probe: this call is it.
    Granted,
    /// Asked for; reject this call.
    Wait,
    /// The fleet cannot be reached: probe on the local clock, as an unshared breaker.
    Local,
}

/// A caller of a breaker the fleet holds found its probe due: whether it may probe.
#[cold]
pub(crate) fn fleet_probe_turn(breaker: &CircuitBreaker) -> ProbeTurn {
    match breaker.sinks().fleet.get() {
        Some(link) => link.probe_turn(),
        None => ProbeTurn::Local,
    }
}

/// A claimed fleet ticket went unused (the probe's compare-and-swap lost).
#[cold]
pub(crate) fn fleet_probe_unclaimed(breaker: &CircuitBreaker) {
    if let Some(link) = breaker.sinks().fleet.get() {
        link.unclaim();
    }
}

/// The fleet's probe that ran here ended (on the probe's thread, in its span).
#[cold]
pub(crate) fn fleet_probe_settled(breaker: &CircuitBreaker, verdict: Verdict) {
    if let Some(link) = breaker.sinks().fleet.get() {
        #[cfg(feature = "opentelemetry")]
        if verdict == Verdict::Success {
            crate::telemetry::otel::probe_succeeded(link);
        }
        link.settled(verdict);
    }
}

/// The bits of a call's start time a permit keeps: 42 bits of microseconds, 50 days.
pub(crate) const MICROS_MASK: u64 = (1 << crate::permit::START_BITS) - 1;

/// A clock reading in microseconds, wrapping at 42 bits (50 days).
#[inline]
pub(crate) fn micros(nanos: u64) -> u64 {
    (nanos / 1_000) & MICROS_MASK
}

/// Calls `event` on the breaker's own listeners, then on the global ones, containing
/// any panic so it neither escapes into the caller nor skips the other listeners.
fn dispatch(breaker: &CircuitBreaker, event: impl Fn(&dyn Listener)) {
    for listener in breaker.sinks().listeners.iter() {
        contain(|| event(&**listener));
    }
    if listener::any_global() {
        for listener in listener::global_snapshot().iter() {
            contain(|| event(&**listener));
        }
    }
}

fn contain(f: impl FnOnce()) {
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err() {
        #[cfg(feature = "tracing")]
        tracing::error!("a circuit breaker listener panicked; the panic was contained");
    }
}

#[cfg(all(test, not(loom)))]
mod footprint {
    /// A breaker's sinks: its listeners, fleet link and keyed-set counts (48 bytes),
    /// and with `metrics` a handle on its counters (its own, or its keyed set's: a key
    /// counted per set costs no counters of its own) and its place in its set's tally.
    /// Part of the memory per breaker BENCHMARKS.md reports (see `breaker.rs`).
    #[test]
    fn the_sinks_stay_as_documented() {
        let metrics = if cfg!(feature = "metrics") { 16 } else { 0 };
        // With `opentelemetry`, the latest failures' span contexts (none kept inline).
        let otel = if cfg!(feature = "opentelemetry") {
            48
        } else {
            0
        };
        assert!(std::mem::size_of::<super::Sinks>() <= 48 + metrics + otel);
    }
}
