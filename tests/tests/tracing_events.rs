//! Feature `tracing`: state changes and rejections become `tracing` events, with their
//! fields checked as a subscriber receives them.

use std::collections::BTreeMap;
use std::time::Duration;

use breaker_runtime::{CircuitBreaker, ErrorKind, ManualClock};
use breaker_tests::{assert_rejected, capture_events, Recorder};
use tracing::Level;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `(key, value)` pairs as the map a captured event holds.
fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn transitions_are_logged_warn_on_open_info_otherwise_and_rejections_debug() {
    let events = capture_events(|| {
        let b = CircuitBreaker::builder("traced").fail_max(1).build();
        let _ = b.call(|| Err::<(), BoxError>("down".into()));
        assert_rejected(b.try_acquire(), ErrorKind::Open, "traced");
        b.half_open();
    });
    assert_eq!(events.len(), 3, "{events:#?}");
    assert_eq!(events[0].level, Level::WARN);
    assert_eq!(
        events[0].fields,
        fields(&[
            ("message", "circuit breaker 'traced' opened"),
            ("breaker", "traced"),
            ("from", "closed"),
            ("to", "open"),
            // `call` hands the error on in its `Debug` form; no listener, so no duration.
            ("error", "\"down\""),
        ])
    );
    assert_eq!(events[1].level, Level::DEBUG);
    assert_eq!(
        events[1].fields,
        fields(&[
            (
                "message",
                "call rejected by circuit breaker: circuit breaker 'traced' is open; retry in 60s"
            ),
            ("breaker", "traced"),
            ("reason", "Open"),
        ])
    );
    assert_eq!(events[2].level, Level::INFO);
    assert_eq!(
        events[2].fields,
        fields(&[
            ("message", "circuit breaker 'traced' is now half-open"),
            ("breaker", "traced"),
            ("from", "open"),
            ("to", "half-open"),
        ])
    );
}

#[test]
fn a_rejection_is_recorded_inside_the_callers_span() {
    let events = capture_events(|| {
        let b = CircuitBreaker::builder("traced-span").build();
        b.open();
        let span = tracing::info_span!("request", id = 7);
        let _entered = span.enter();
        let rejected = b.call(|| Ok::<(), BoxError>(()));
        assert_eq!(
            rejected.unwrap_err().to_string(),
            "circuit breaker 'traced-span' is open; retry in 60s"
        );
    });
    let rejection = events
        .iter()
        .find(|e| e.field("reason").is_some())
        .expect("a rejection event");
    assert_eq!(rejection.field("breaker"), Some("traced-span"));
    assert_eq!(rejection.field("reason"), Some("Open"));
    assert_eq!(
        rejection.spans,
        [("request".to_string(), fields(&[("id", "7")]))],
        "the event belongs to the caller's span"
    );
}

#[test]
fn the_event_of_a_transition_a_call_caused_carries_its_error_and_duration() {
    let events = capture_events(|| {
        let clock = ManualClock::new();
        let b = CircuitBreaker::builder("traced-cause")
            .fail_max(1)
            .clock(clock.clone())
            // A listener is attached, so the call's duration is measured.
            .listener(Recorder::default())
            .build();
        let _ = b.call(|| {
            clock.advance(Duration::from_millis(120));
            Err::<(), std::io::Error>(std::io::ErrorKind::ConnectionReset.into())
        });
    });
    let opened = events
        .iter()
        .find(|e| e.field("to") == Some("open"))
        .expect("an opening event");
    assert_eq!(opened.field("error"), Some("Kind(ConnectionReset)"));
    assert_eq!(opened.field("elapsed"), Some("120ms"));
}
