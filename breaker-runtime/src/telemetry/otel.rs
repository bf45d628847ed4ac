//! Feature `opentelemetry`: the breaker in the traces of the user's
//! `tracing_opentelemetry::layer()`.
//!
//! - An opening is a span ([`spans::OPEN`]): the child of the tripping call's span when
//!   there is one, a root span otherwise, linked to the spans of the failing calls that
//!   counted toward it (the latest [`FAILURE_LINKS`]). Their span contexts are kept as
//!   the failures happen: nothing is kept, and nothing costs, on a success, or on a
//!   failure with no OpenTelemetry context.
//! - A transition with no span to be recorded in gets a root span of its own, so that
//!   its event is not dropped (tracing-opentelemetry drops events outside spans).
//! - A rejected call's span fails: status Error, `error.type = circuit_breaker_open`,
//!   whatever the level filter, unless a fallback answers the call.

use std::collections::VecDeque;
use std::sync::Mutex;

use opentelemetry::trace::{
    SpanContext, SpanId, Status, TraceContextExt, TraceFlags, TraceId, TraceState,
};
use opentelemetry::KeyValue;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::conventions::{attributes, spans, values};
use crate::outcome::Trigger;
use crate::shared::Link;
use crate::state::{Phase, State, Word};
use crate::sync::lock;
use crate::traceparent::TraceParent;
use crate::CircuitBreaker;

/// The failing calls an opening links to, at most.
pub(crate) const FAILURE_LINKS: usize = 8;

/// The span contexts of a breaker's latest failures that count toward an opening (since
/// it last closed, or since a success reset its failure count), newest last.
#[derive(Default)]
pub(crate) struct Failures(Mutex<VecDeque<SpanContext>>);

impl Failures {
    pub(crate) fn clear(&self) {
        lock(&self.0).clear();
    }

    fn push(&self, context: SpanContext) {
        let mut kept = lock(&self.0);
        if kept.len() == FAILURE_LINKS {
            kept.pop_front();
        }
        kept.push_back(context);
    }

    fn take(&self) -> VecDeque<SpanContext> {
        std::mem::take(&mut *lock(&self.0))
    }
}

/// The span context of the current span, if it is a valid OpenTelemetry one.
fn current_context() -> Option<SpanContext> {
    let span = Span::current();
    if span.is_none() {
        return None;
    }
    let context = span.context().span().span_context().clone();
    context.is_valid().then_some(context)
}

/// Links `span` to the span on another replica where its transition began.
fn link_origin(span: &Span, began: Option<TraceParent>) {
    if let Some(began) = began {
        span.add_link_with_attributes(
            remote(began),
            vec![KeyValue::new(attributes::LINK_TYPE, values::LINK_ORIGIN)],
        );
    }
}

/// `context` as a `traceparent`.
fn traceparent(context: &SpanContext) -> TraceParent {
    TraceParent {
        trace_id: context.trace_id().to_bytes(),
        span_id: context.span_id().to_bytes(),
        flags: context.trace_flags().to_u8(),
    }
}

/// The span context a `traceparent` names: remote, from another replica.
fn remote(at: TraceParent) -> SpanContext {
    SpanContext::new(
        TraceId::from_bytes(at.trace_id),
        SpanId::from_bytes(at.span_id),
        TraceFlags::new(at.flags),
        true,
        TraceState::default(),
    )
}

/// A fleet's probe succeeded here, in the current span: the report that closes the fleet
/// carries it, for the other replicas' closing spans to link to.
pub(crate) fn probe_succeeded(link: &Link) {
    if let Some(context) = current_context() {
        link.probe_succeeded(traceparent(&context));
    }
}

/// A failing call, in whatever span it runs: its span context is kept.
pub(crate) fn remember_failure(failures: &Failures) {
    if let Some(context) = current_context() {
        failures.push(context);
    }
}

/// The caller's span fails: its call was refused, by an open breaker
/// (`error.type = circuit_breaker_open`) or the throttle (`circuit_breaker_throttled`).
#[cold]
#[inline(never)]
pub(crate) fn fail_callers_span(throttled: bool) {
    let span = Span::current();
    if span.is_none() {
        return;
    }
    let (message, error_type) = if throttled {
        (
            "circuit breaker throttled",
            values::CIRCUIT_BREAKER_THROTTLED,
        )
    } else {
        ("circuit breaker open", values::CIRCUIT_BREAKER_OPEN)
    };
    span.set_status(Status::error(message));
    span.set_attribute(attributes::ERROR_TYPE, error_type);
}

/// The call being classified was refused by an upstream service's breaker: its span
/// says which hop refused.
#[cold]
#[inline(never)]
#[cfg_attr(
    not(any(feature = "tower", feature = "reqwest", feature = "tonic")),
    allow(dead_code)
)]
pub(crate) fn mark_upstream_refusal() {
    let span = Span::current();
    if !span.is_none() {
        span.set_attribute(
            attributes::ERROR_TYPE,
            values::UPSTREAM_CIRCUIT_BREAKER_OPEN,
        );
    }
}

/// The span the event of a transition from `from` to `to` is recorded in, entered: an
/// opening's own span, or a root span when there is no span to record it in; `None`
/// when the event goes into the current span.
pub(crate) fn transition_span(
    breaker: &CircuitBreaker,
    from: Word,
    to: Word,
    trigger: Trigger<'_>,
) -> Option<tracing::span::EnteredSpan> {
    let failures = &breaker.sinks().failures;
    // What counts toward the next opening starts over when the breaker closes, and when
    // it lets probes through: a reopening links to the probes that failed.
    if to.state() == State::Closed || from.state() == State::Open && to.state() != State::Open {
        let _ = failures.take();
    }
    let name = breaker.name();
    let origin = super::origin(trigger);
    let key = crate::keyed::key_of(breaker);
    // The fleet's transitions run on the fleet's thread: root spans, linked to the span
    // where the transition began on another replica.
    let began = match trigger {
        Trigger::Fleet(began) => Some(began),
        _ => None,
    };
    let span = match (to.phase(), began) {
        (Phase::Open, Some(began)) => {
            let span = tracing::warn_span!(
                parent: None,
                "circuit_breaker.open",
                circuit_breaker.name = name,
                circuit_breaker.key = key,
                circuit_breaker.transition.origin = origin,
            );
            link_origin(&span, began);
            span
        }
        (Phase::Closed, Some(began)) => {
            let span = tracing::info_span!(
                parent: None,
                "circuit_breaker.close",
                circuit_breaker.name = name,
                circuit_breaker.key = key,
                circuit_breaker.transition.origin = origin,
            );
            link_origin(&span, began);
            span
        }
        (Phase::Open, None) => {
            let span = tracing::warn_span!(
                "circuit_breaker.open",
                circuit_breaker.name = name,
                circuit_breaker.key = key,
                circuit_breaker.transition.origin = origin,
            );
            // An upstream's advice that timed the opening: on the span too, for a query
            // over spans rather than their events.
            if let Some(advice) = breaker.open_advice() {
                span.set_attribute(attributes::OPEN_ADVISED, advice.delay().as_secs_f64());
                span.set_attribute(attributes::OPEN_ADVICE_SOURCE, advice.source().as_str());
            }
            if let Trigger::Call(_) = trigger {
                for context in failures.take() {
                    span.add_link_with_attributes(
                        context,
                        vec![KeyValue::new(attributes::LINK_TYPE, values::LINK_FAILURE)],
                    );
                }
                // Where the fleet's opening begins, if this replica's vote opens it.
                if let Some(link) = breaker.sinks().fleet_link() {
                    let context = span.context().span().span_context().clone();
                    if context.is_valid() {
                        link.opening_began(traceparent(&context));
                    }
                }
            }
            span
        }
        _ if Span::current().is_none() => tracing::info_span!(
            parent: None,
            "circuit_breaker.transition",
            circuit_breaker.name = name,
            circuit_breaker.key = key,
            circuit_breaker.transition.origin = origin,
        ),
        _ => return None,
    };
    debug_assert!(matches!(
        span.metadata().map(|m| m.name()),
        None | Some(spans::OPEN) | Some(spans::CLOSE) | Some(spans::TRANSITION)
    ));
    Some(span.entered())
}
