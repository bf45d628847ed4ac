//! Feature `opentelemetry`, through `tracing_opentelemetry::layer()` and the SDK's
//! in-memory exporter, as a user's service exports its traces: the opening's span, its
//! parent and its links to the failing calls, a rejected call's span failed (unless a
//! fallback answered), the probe's events on the probe's trace, and no transition lost
//! outside a span.

use std::time::Duration;

mod otel;

use breaker_runtime::conventions::{attributes as key, events, spans, values};
use breaker_runtime::{circuit_breaker, CircuitBreaker, ManualClock};
use breaker_tests::TestError;
use opentelemetry::trace::{SpanId, Status};
use opentelemetry::Value;
use otel::{attribute, event, named, string, traced};

fn down() -> Result<(), TestError> {
    Err(TestError::Down)
}

fn up() -> Result<(), TestError> {
    Ok(())
}

#[test]
fn an_opening_is_a_child_of_the_tripping_call_linked_to_the_failures_that_counted() {
    let spans = traced(|| {
        let b = CircuitBreaker::builder("otel-trip").fail_max(3).build();
        for (n, ok) in [false, true, false, false, false].into_iter().enumerate() {
            let request = tracing::info_span!("request", n);
            let _entered = request.enter();
            let _ = b.call(if ok { up } else { down });
        }
    });
    let requests = named(&spans, "request");
    let open = named(&spans, spans::OPEN);
    assert_eq!(open.len(), 1);
    let open = open[0];
    let tripping = requests[4];
    assert_eq!(
        open.parent_span_id,
        tripping.span_context.span_id(),
        "the tripping call's child"
    );
    assert_eq!(
        open.span_context.trace_id(),
        tripping.span_context.trace_id()
    );
    // The three failures after the success, not the one before it.
    let linked: Vec<SpanId> = open
        .links
        .iter()
        .map(|l| l.span_context.span_id())
        .collect();
    let expected: Vec<SpanId> = requests[2..]
        .iter()
        .map(|r| r.span_context.span_id())
        .collect();
    assert_eq!(linked, expected);
    for link in open.links.iter() {
        assert_eq!(
            string(attribute(&link.attributes, key::LINK_TYPE)),
            Some(values::LINK_FAILURE.to_string())
        );
    }
    let opened = event(open, events::OPENED).expect("the opened event is on the opening's span");
    assert_eq!(
        string(attribute(&opened.attributes, key::OPEN_REASON)),
        Some(values::CONSECUTIVE_FAILURES.to_string())
    );
    assert_eq!(
        attribute(&opened.attributes, key::RESET_TIMEOUT),
        Some(&Value::F64(60.0)),
        "a number, not a string"
    );
    assert_eq!(
        string(attribute(&opened.attributes, key::ERROR_TYPE)),
        Some("breaker_tests::support::TestError::Down".to_string())
    );
    assert_eq!(
        tripping.status,
        Status::Unset,
        "opening is WARN, never fails the caller's span"
    );
    assert_eq!(
        string(attribute(&open.attributes, key::NAME)),
        Some("otel-trip".to_string())
    );
}

#[test]
fn an_advised_opening_links_to_the_advised_call_and_says_how_long_and_from_where() {
    use breaker_runtime::{Advice, AdviceSource};
    let spans = traced(|| {
        let b = CircuitBreaker::builder("otel-advised")
            .fail_max(5)
            .open_on_retry_after(true)
            .clock(ManualClock::new())
            .build();
        let request = tracing::info_span!("request");
        let _entered = request.enter();
        let advice = Advice::new(Duration::from_secs(12), AdviceSource::UpstreamBreaker).unwrap();
        b.try_acquire().unwrap().failure_with_advice(advice);
    });
    let request = named(&spans, "request")[0];
    let open = named(&spans, spans::OPEN)[0];
    let linked: Vec<SpanId> = open
        .links
        .iter()
        .map(|l| l.span_context.span_id())
        .collect();
    assert_eq!(linked, [request.span_context.span_id()], "the advised call");
    assert_eq!(open.parent_span_id, request.span_context.span_id());
    let opened = event(open, events::OPENED).unwrap();
    assert_eq!(
        string(attribute(&opened.attributes, key::OPEN_REASON)),
        Some(values::RETRY_AFTER.to_string())
    );
    // On the span and on its event alike.
    for attributes in [&open.attributes[..], &opened.attributes[..]] {
        assert_eq!(
            attribute(attributes, key::OPEN_ADVISED),
            Some(&Value::F64(12.0))
        );
        assert_eq!(
            string(attribute(attributes, key::OPEN_ADVICE_SOURCE)),
            Some("upstream_breaker".to_string())
        );
    }
}

#[test]
fn an_opening_links_to_the_latest_eight_failures() {
    let spans = traced(|| {
        let b = CircuitBreaker::builder("otel-eight").fail_max(12).build();
        for n in 0..12 {
            let request = tracing::info_span!("request", n);
            let _entered = request.enter();
            let _ = b.call(down);
        }
    });
    let requests = named(&spans, "request");
    let open = named(&spans, spans::OPEN)[0];
    let linked: Vec<SpanId> = open
        .links
        .iter()
        .map(|l| l.span_context.span_id())
        .collect();
    let latest: Vec<SpanId> = requests[4..]
        .iter()
        .map(|r| r.span_context.span_id())
        .collect();
    assert_eq!(linked, latest, "the tripping call included");
}

#[test]
fn a_rejected_calls_span_fails_with_the_breakers_error_type() {
    let spans = traced(|| {
        let b = CircuitBreaker::builder("otel-rejected").build();
        b.open();
        let request = tracing::info_span!("request");
        let _entered = request.enter();
        assert!(b.call(up).is_err());
    });
    let request = named(&spans, "request")[0];
    assert!(
        matches!(request.status, Status::Error { .. }),
        "{:?}",
        request.status
    );
    assert_eq!(
        string(attribute(&request.attributes, key::ERROR_TYPE)),
        Some(values::CIRCUIT_BREAKER_OPEN.to_string())
    );
}

#[circuit_breaker(name = "otel-fallback", fail_max = 1, fallback = cached)]
fn with_fallback(id: u32) -> Result<u32, TestError> {
    let _ = id;
    Err(TestError::Down)
}

fn cached(id: u32) -> Result<u32, TestError> {
    Ok(id)
}

#[circuit_breaker(name = "otel-no-fallback", fail_max = 1)]
fn without_fallback() -> Result<u32, TestError> {
    Err(TestError::Down)
}

#[test]
fn a_fallback_that_answers_leaves_the_callers_span_unset() {
    let spans = traced(|| {
        let _ = with_fallback(1); // opens it
        let answered = tracing::info_span!("answered");
        let entered = answered.enter();
        assert_eq!(with_fallback(2), Ok(2), "the fallback answered");
        drop(entered);
        let _ = without_fallback(); // opens it
        let refused = tracing::info_span!("refused");
        let _entered = refused.enter();
        assert!(without_fallback().is_err());
    });
    assert_eq!(named(&spans, "answered")[0].status, Status::Unset);
    assert!(matches!(
        named(&spans, "refused")[0].status,
        Status::Error { .. }
    ));
}

#[test]
fn the_probe_carries_the_half_opened_and_closed_events() {
    let clock = ManualClock::new();
    let spans = traced(|| {
        let b = CircuitBreaker::builder("otel-probe")
            .fail_max(1)
            .clock(clock.clone())
            .build();
        let _ = b.call(down);
        clock.advance(Duration::from_secs(60));
        let probe = tracing::info_span!("probe");
        let _entered = probe.enter();
        b.call(up).unwrap();
    });
    let probe = named(&spans, "probe")[0];
    let names: Vec<&str> = probe.events.iter().map(|e| e.name.as_ref()).collect();
    assert_eq!(names, [events::HALF_OPENED, events::CLOSED]);
    let closed = event(probe, events::CLOSED).unwrap();
    assert_eq!(
        string(attribute(&closed.attributes, key::PREVIOUS_STATE)),
        Some(values::HALF_OPEN.to_string())
    );
}

#[test]
fn a_transition_outside_any_span_gets_a_root_span_of_its_own() {
    let spans = traced(|| {
        let b = CircuitBreaker::builder("otel-rootless").fail_max(1).build();
        let _ = b.call(down); // no span around the call
        b.force_open();
        b.close();
    });
    let open = named(&spans, spans::OPEN)[0];
    assert_eq!(open.parent_span_id, SpanId::INVALID, "a root span");
    assert!(
        open.links.is_empty(),
        "the failure ran in no span: nothing to link"
    );
    assert!(event(open, events::OPENED).is_some());
    let roots = named(&spans, spans::TRANSITION);
    let names: Vec<&str> = roots
        .iter()
        .flat_map(|s| s.events.iter().map(|e| e.name.as_ref()))
        .collect();
    assert_eq!(names, [events::FORCED_OPEN, events::CLOSED]);
    assert!(roots.iter().all(|s| s.parent_span_id == SpanId::INVALID));
}
