//! Feature `tracing`: a breaker's transitions and rejections as `tracing` events with
//! stable names and OpenTelemetry-style attributes (see [`conventions`]), so that
//! `tracing-opentelemetry` exports them as span events any backend can query by name.
//!
//! Each event has a callsite of its own, named by its [`conventions::events`] constant,
//! and a message equal to that name (tracing-opentelemetry names a span event by its
//! message). No name carries a breaker's name: that is the `circuit_breaker.name`
//! attribute.

#[cfg(feature = "opentelemetry")]
pub(crate) mod otel;

use tracing::Level;

use crate::conventions::{self, open_reason, origin, values};
use crate::outcome::Trigger;
use crate::state::{Phase, Word};
use crate::{CircuitBreaker, CircuitBreakerError};

/// What tripped an opening by a call: the failures and `fail_max`, or the window's
/// rates, their thresholds and its calls.
#[derive(Default)]
pub(crate) struct Counts {
    pub(crate) failures: Option<u32>,
    pub(crate) failure_threshold: Option<u32>,
    pub(crate) failure_rate: Option<f64>,
    pub(crate) failure_rate_threshold: Option<f64>,
    pub(crate) slow_call_rate: Option<f64>,
    pub(crate) slow_call_rate_threshold: Option<f64>,
    pub(crate) window_calls: Option<u32>,
}

impl Counts {
    pub(crate) fn of(breaker: &CircuitBreaker, reason: &str) -> Counts {
        let config = breaker.config();
        match reason {
            values::CONSECUTIVE_FAILURES | values::FAILURES_WITHIN => Counts {
                failures: Some(breaker.fail_counter()),
                failure_threshold: Some(config.fail_max),
                ..Counts::default()
            },
            values::FAILURE_RATE | values::SLOW_CALL_RATE => {
                let window = breaker.window();
                let slow = config.slow_call.is_some();
                Counts {
                    failure_rate: window.and_then(|w| w.failure_rate),
                    failure_rate_threshold: config.failure_rate.map(|p| p.as_f64()),
                    slow_call_rate: window.and_then(|w| w.slow_rate).filter(|_| slow),
                    slow_call_rate_threshold: config
                        .slow_rate
                        .map(|p| p.as_f64())
                        .or(slow.then_some(100.0)),
                    window_calls: window.map(|w| w.calls),
                    ..Counts::default()
                }
            }
            _ => Counts::default(),
        }
    }
}

/// The event of a change from `from` to `to`: named by the state it reached (a sticky
/// mode by its own name).
pub(crate) fn transition(breaker: &CircuitBreaker, from: Word, to: Word, trigger: Trigger<'_>) {
    #[cfg(feature = "opentelemetry")]
    let _span = otel::transition_span(breaker, from, to, trigger);
    let name = breaker.name();
    let key = crate::keyed::key_of(breaker);
    let previous = from.phase().as_str();
    let origin = origin(trigger);
    // The error's names are made (allocated) only for an event a subscriber records: the
    // macros evaluate their fields after asking.
    let seen = trigger.outcome().and_then(|outcome| outcome.seen());
    let error_type = || seen.map(|seen| tracing::field::display(seen.error_type()));
    let message = || seen.map(|seen| tracing::field::display(seen.message()));
    match to.phase() {
        Phase::Open => {
            let reason = open_reason(breaker, from, trigger);
            let c = Counts::of(breaker, reason);
            let reset_timeout = breaker.open_period().map(|d| d.as_secs_f64());
            // An upstream's advice that timed this opening (one of the calls' own).
            let advice = match trigger {
                Trigger::Call(_) | Trigger::ProbeTimedOut => breaker.open_advice(),
                Trigger::Manual | Trigger::Fleet(_) => None,
            };
            tracing::event!(
                name: conventions::events::OPENED,
                Level::WARN,
                circuit_breaker.name = name,
                circuit_breaker.key = key,
                circuit_breaker.state = values::OPEN,
                circuit_breaker.previous_state = previous,
                circuit_breaker.transition.origin = origin,
                circuit_breaker.open.reason = reason,
                circuit_breaker.failures = c.failures,
                circuit_breaker.failure_threshold = c.failure_threshold,
                circuit_breaker.failure_rate = c.failure_rate,
                circuit_breaker.failure_rate_threshold = c.failure_rate_threshold,
                circuit_breaker.slow_call_rate = c.slow_call_rate,
                circuit_breaker.slow_call_rate_threshold = c.slow_call_rate_threshold,
                circuit_breaker.window.calls = c.window_calls,
                circuit_breaker.reset_timeout = reset_timeout,
                circuit_breaker.open.advised = advice.map(|a| a.delay().as_secs_f64()),
                circuit_breaker.open.advice_source = advice.map(|a| a.source().as_str()),
                error.type = error_type(),
                exception.message = message(),
                "circuit_breaker.opened"
            );
        }
        Phase::HalfOpen => tracing::event!(
            name: conventions::events::HALF_OPENED,
            Level::INFO,
            circuit_breaker.name = name,
            circuit_breaker.key = key,
            circuit_breaker.state = values::HALF_OPEN,
            circuit_breaker.previous_state = previous,
            circuit_breaker.transition.origin = origin,
            "circuit_breaker.half_opened"
        ),
        Phase::Closed => tracing::event!(
            name: conventions::events::CLOSED,
            Level::INFO,
            circuit_breaker.name = name,
            circuit_breaker.key = key,
            circuit_breaker.state = values::CLOSED,
            circuit_breaker.previous_state = previous,
            circuit_breaker.transition.origin = origin,
            error.type = error_type(),
            exception.message = message(),
            "circuit_breaker.closed"
        ),
        Phase::ForcedOpen => tracing::event!(
            name: conventions::events::FORCED_OPEN,
            Level::INFO,
            circuit_breaker.name = name,
            circuit_breaker.key = key,
            circuit_breaker.state = values::FORCED_OPEN,
            circuit_breaker.previous_state = previous,
            circuit_breaker.transition.origin = origin,
            "circuit_breaker.forced_open"
        ),
        Phase::Disabled => tracing::event!(
            name: conventions::events::DISABLED,
            Level::INFO,
            circuit_breaker.name = name,
            circuit_breaker.key = key,
            circuit_breaker.state = values::DISABLED,
            circuit_breaker.previous_state = previous,
            circuit_breaker.transition.origin = origin,
            "circuit_breaker.disabled"
        ),
    }
}

/// A call refused without running, in the caller's span.
#[cold]
#[inline(never)]
pub(crate) fn rejected(breaker: &CircuitBreaker, error: &CircuitBreakerError, state: Phase) {
    tracing::event!(
        name: conventions::events::REJECTED,
        Level::DEBUG,
        circuit_breaker.name = breaker.name(),
        circuit_breaker.key = crate::keyed::key_of(breaker),
        circuit_breaker.state = state.as_str(),
        circuit_breaker.retry_after = error.retry_after().map(|d| d.as_secs_f64()),
        error.type = values::CIRCUIT_BREAKER_OPEN,
        "circuit_breaker.rejected"
    );
}

/// The throttle refused a call.
pub(crate) fn throttled(breaker: &CircuitBreaker, error: &CircuitBreakerError) {
    tracing::event!(
        name: conventions::events::THROTTLED,
        Level::DEBUG,
        circuit_breaker.name = breaker.name(),
        circuit_breaker.key = crate::keyed::key_of(breaker),
        circuit_breaker.state = values::CLOSED,
        circuit_breaker.throttle.probability = error.throttle_probability(),
        error.type = values::CIRCUIT_BREAKER_THROTTLED,
        "circuit_breaker.throttled"
    );
}

/// The fleet backend cannot be reached: every shared breaker carries on locally.
#[cfg(feature = "redis")]
pub(crate) fn fleet_degraded(channel: &str, reason: &str) {
    tracing::event!(
        name: conventions::events::FLEET_DEGRADED,
        Level::INFO,
        circuit_breaker.fleet.channel = channel,
        circuit_breaker.fleet.reason = reason,
        "circuit_breaker.fleet.degraded"
    );
}

/// The fleet backend answers again: shared breakers follow the fleet.
#[cfg(feature = "redis")]
pub(crate) fn fleet_recovered(channel: &str) {
    tracing::event!(
        name: conventions::events::FLEET_RECOVERED,
        Level::INFO,
        circuit_breaker.fleet.channel = channel,
        "circuit_breaker.fleet.recovered"
    );
}
