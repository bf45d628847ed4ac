//! The names a breaker gives its telemetry: `tracing` events (the same with or without
//! OpenTelemetry), OpenTelemetry spans, and the attribute keys and values on them.
//!
//! OpenTelemetry has no circuit-breaker convention yet (semantic-conventions#2355 is
//! open), so these follow its general rules: event and span names never carry a
//! breaker's name or key (that is an attribute), keys are lowercase and dotted, and an
//! error is named by `error.type`, a low-cardinality identifier, never by its message.
//! Filter or query on them by these constants rather than by hand-written strings.
//!
//! | event (`tracing` name and message) | level | when |
//! |---|---|---|
//! | [`events::OPENED`] | WARN | the breaker opened (never ERROR: that would fail the caller's span) |
//! | [`events::HALF_OPENED`] | INFO | it let a probe through, or was set half-open |
//! | [`events::CLOSED`] | INFO | it closed |
//! | [`events::FORCED_OPEN`] | INFO | `force_open()` |
//! | [`events::DISABLED`] | INFO | `disable()` |
//! | [`events::REJECTED`] | DEBUG | a call was refused without running |
//! | [`events::THROTTLED`] | DEBUG | the throttle refused a call (the breaker is closed) |
//! | [`events::FLEET_DEGRADED`] | INFO | the fleet backend cannot be reached: breakers carry on locally |
//! | [`events::FLEET_RECOVERED`] | INFO | the fleet backend answers again |

use crate::outcome::Trigger;
use crate::policy::Policy;
use crate::state::{State, Word};
use crate::CircuitBreaker;

/// Event names: the `tracing` callsite name and message of each event, and the name of
/// the span event OpenTelemetry exports.
pub mod events {
    /// The breaker opened.
    pub const OPENED: &str = "circuit_breaker.opened";
    /// The breaker became half-open: a probe was let through, or it was set half-open.
    pub const HALF_OPENED: &str = "circuit_breaker.half_opened";
    /// The breaker closed.
    pub const CLOSED: &str = "circuit_breaker.closed";
    /// The breaker was forced open.
    pub const FORCED_OPEN: &str = "circuit_breaker.forced_open";
    /// The breaker was disabled.
    pub const DISABLED: &str = "circuit_breaker.disabled";
    /// A call was rejected.
    pub const REJECTED: &str = "circuit_breaker.rejected";
    /// The throttle refused a call.
    pub const THROTTLED: &str = "circuit_breaker.throttled";
    /// The fleet backend became unreachable.
    pub const FLEET_DEGRADED: &str = "circuit_breaker.fleet.degraded";
    /// The fleet backend answers again.
    pub const FLEET_RECOVERED: &str = "circuit_breaker.fleet.recovered";
}

/// Span names (feature `opentelemetry`).
pub mod spans {
    /// An opening: the child of the tripping call's span (a root span when there is
    /// none, or when the fleet applied it), linked to the failing calls that counted.
    pub const OPEN: &str = "circuit_breaker.open";
    /// A closing the fleet applied to a replica: a root span linked to the probe that
    /// closed the fleet.
    pub const CLOSE: &str = "circuit_breaker.close";
    /// Any other transition with no span of its own to be recorded in: a root span,
    /// so that no event is lost.
    pub const TRANSITION: &str = "circuit_breaker.transition";
}

/// Attribute keys.
pub mod attributes {
    /// The breaker's name.
    pub const NAME: &str = "circuit_breaker.name";
    /// For a breaker of a keyed set (named `<set>[<key>]`): the key.
    pub const KEY: &str = "circuit_breaker.key";
    /// The state after the event: one of [`values`](super::values)' states.
    pub const STATE: &str = "circuit_breaker.state";
    /// The state before a transition.
    pub const PREVIOUS_STATE: &str = "circuit_breaker.previous_state";
    /// What made a transition: `call`, `manual` or `fleet`.
    pub const TRANSITION_ORIGIN: &str = "circuit_breaker.transition.origin";
    /// Why it opened: one of [`values`](super::values)' reasons.
    pub const OPEN_REASON: &str = "circuit_breaker.open.reason";
    /// On an opening by failures: the failures counted (in a row, or within the time).
    pub const FAILURES: &str = "circuit_breaker.failures";
    /// On an opening by failures: `fail_max`.
    pub const FAILURE_THRESHOLD: &str = "circuit_breaker.failure_threshold";
    /// On an opening by a rate: the failure rate of the window, in percent.
    pub const FAILURE_RATE: &str = "circuit_breaker.failure_rate";
    /// On an opening by a rate: the failure rate that trips, in percent.
    pub const FAILURE_RATE_THRESHOLD: &str = "circuit_breaker.failure_rate_threshold";
    /// On an opening by a rate counting slow calls: their rate, in percent.
    pub const SLOW_CALL_RATE: &str = "circuit_breaker.slow_call_rate";
    /// On an opening by a rate counting slow calls: the slow-call rate that trips.
    pub const SLOW_CALL_RATE_THRESHOLD: &str = "circuit_breaker.slow_call_rate_threshold";
    /// On an opening by a rate: the calls in the window.
    pub const WINDOW_CALLS: &str = "circuit_breaker.window.calls";
    /// On an opening: how long it stays open, in seconds (`reset_timeout`, backed off
    /// and jittered as configured).
    pub const RESET_TIMEOUT: &str = "circuit_breaker.reset_timeout";
    /// On an opening whose time an upstream's advice set (a `Retry-After`, a gRPC
    /// `RetryInfo` or pushback, an upstream breaker's marker): that time, in seconds (as
    /// capped by `retry_after_cap`).
    pub const OPEN_ADVISED: &str = "circuit_breaker.open.advised";
    /// With [`OPEN_ADVISED`]: where the advice came from, one of
    /// [`AdviceSource::as_str`](crate::AdviceSource::as_str)'s values.
    pub const OPEN_ADVICE_SOURCE: &str = "circuit_breaker.open.advice_source";
    /// On a throttled call: the probability, 0 to 1, with which the throttle was
    /// refusing calls.
    pub const THROTTLE_PROBABILITY: &str = "circuit_breaker.throttle.probability";
    /// On a rejection: when a call may go through again, in seconds (absent while
    /// forced open).
    pub const RETRY_AFTER: &str = "circuit_breaker.retry_after";
    /// On a span link: `failure` (a failing call that counted toward an opening) or
    /// `origin` (where the fleet's transition began).
    pub const LINK_TYPE: &str = "circuit_breaker.link.type";
    /// OpenTelemetry's: the kind of error that caused the event, or that a span failed
    /// with. Never a field named `error`: `tracing-opentelemetry` turns that into an
    /// exception event that fails the span.
    pub const ERROR_TYPE: &str = "error.type";
    /// OpenTelemetry's: the message of the error that caused the event.
    pub const EXCEPTION_MESSAGE: &str = "exception.message";
}

/// Attribute values.
pub mod values {
    /// States: [`STATE`](super::attributes::STATE) and
    /// [`PREVIOUS_STATE`](super::attributes::PREVIOUS_STATE).
    pub const CLOSED: &str = "closed";
    /// The open state.
    pub const OPEN: &str = "open";
    /// The half-open state.
    pub const HALF_OPEN: &str = "half_open";
    /// Open by `force_open()`.
    pub const FORCED_OPEN: &str = "forced_open";
    /// Disabled by `disable()`.
    pub const DISABLED: &str = "disabled";

    /// Reasons ([`OPEN_REASON`](super::attributes::OPEN_REASON)): `fail_max` failures in
    /// a row.
    pub const CONSECUTIVE_FAILURES: &str = "consecutive_failures";
    /// `fail_max` failures within the `within` time.
    pub const FAILURES_WITHIN: &str = "failures_within";
    /// The window's failure rate reached `failure_rate`.
    pub const FAILURE_RATE: &str = "failure_rate";
    /// The window's slow-call rate reached `slow_rate`.
    pub const SLOW_CALL_RATE: &str = "slow_call_rate";
    /// A half-open probe failed.
    pub const PROBE_FAILED: &str = "probe_failed";
    /// An upstream's advice opened it at once (`open_on_retry_after`), whatever the
    /// trip rule.
    pub const RETRY_AFTER: &str = "retry_after";
    /// A half-open probe outlived `half_open_timeout`.
    pub const PROBE_TIMED_OUT: &str = "probe_timed_out";
    /// The fleet opened it (also a [`TRANSITION_ORIGIN`](super::attributes::TRANSITION_ORIGIN)).
    pub const FLEET: &str = "fleet";
    /// Opened by hand (also an origin).
    pub const MANUAL: &str = "manual";
    /// Origin: a call's outcome or admission.
    pub const CALL: &str = "call";

    /// [`ERROR_TYPE`](super::attributes::ERROR_TYPE) of a call this process's breaker
    /// rejected.
    pub const CIRCUIT_BREAKER_OPEN: &str = "circuit_breaker_open";
    /// `error.type` of a call this process's throttle refused.
    pub const CIRCUIT_BREAKER_THROTTLED: &str = "circuit_breaker_throttled";
    /// `error.type` of a call that an upstream service's breaker rejected (its 503 with
    /// `circuit-breaker: open`, or its gRPC status with reason `CIRCUIT_BREAKER_OPEN`).
    pub const UPSTREAM_CIRCUIT_BREAKER_OPEN: &str = "upstream_circuit_breaker_open";

    /// Link types ([`LINK_TYPE`](super::attributes::LINK_TYPE)).
    pub const LINK_FAILURE: &str = "failure";
    /// A link to where the fleet's transition began.
    pub const LINK_ORIGIN: &str = "origin";
}

// What a transition's trigger is called, for `tracing` and the admin router's feed alike.

/// `call`, `manual` or `fleet`.
#[cfg_attr(not(any(feature = "tracing", feature = "axum")), allow(dead_code))]
pub(crate) fn origin(trigger: Trigger<'_>) -> &'static str {
    match trigger {
        Trigger::Call(_) | Trigger::ProbeTimedOut => values::CALL,
        Trigger::Manual => values::MANUAL,
        Trigger::Fleet(_) => values::FLEET,
    }
}

/// Why a breaker that was `from` opened.
#[cfg_attr(not(any(feature = "tracing", feature = "axum")), allow(dead_code))]
pub(crate) fn open_reason(
    breaker: &CircuitBreaker,
    from: Word,
    trigger: Trigger<'_>,
) -> &'static str {
    match trigger {
        Trigger::Manual => values::MANUAL,
        Trigger::Fleet(_) => values::FLEET,
        Trigger::ProbeTimedOut => values::PROBE_TIMED_OUT,
        Trigger::Call(_) if from.state() == State::HalfOpen => values::PROBE_FAILED,
        Trigger::Call(_) if breaker.opened_by_advice() => values::RETRY_AFTER,
        Trigger::Call(_) => match breaker.config().policy() {
            Policy::Consecutive => values::CONSECUTIVE_FAILURES,
            Policy::Within => values::FAILURES_WITHIN,
            // The throttle alone never opens by itself: only advice opens it.
            Policy::Throttle => values::RETRY_AFTER,
            Policy::Rate => {
                let config = breaker.config();
                let failed = breaker
                    .window()
                    .and_then(|w| w.failure_rate)
                    .zip(config.failure_rate)
                    .is_some_and(|(rate, threshold)| rate >= threshold.as_f64());
                if failed || config.slow_call.is_none() {
                    values::FAILURE_RATE
                } else {
                    values::SLOW_CALL_RATE
                }
            }
        },
    }
}
