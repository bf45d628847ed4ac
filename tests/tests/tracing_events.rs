//! Feature `tracing`: transitions and rejections are `tracing` events with stable names
//! (the callsite name and the message, `breaker_runtime::conventions::events`) and
//! OpenTelemetry-style attributes, checked as a subscriber receives them.

use std::collections::BTreeMap;
use std::time::Duration;

use breaker_runtime::conventions::{attributes as key, events, values};
use breaker_runtime::keyed::Breakers;
use breaker_runtime::{CircuitBreaker, ErrorKind, ManualClock, Window};
use breaker_tests::{assert_rejected, capture_events, CapturedEvent, TestError};
use tracing::Level;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `(key, value)` pairs as the map a captured event holds.
fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The events named `name`, each checked to have the name as its message too.
fn named<'a>(all: &'a [CapturedEvent], name: &str) -> Vec<&'a CapturedEvent> {
    all.iter()
        .filter(|e| e.name == name)
        .inspect(|e| assert_eq!(e.field("message"), Some(name), "{e:?}"))
        .collect()
}

#[test]
fn each_transition_is_an_event_named_by_what_the_breaker_became() {
    let clock = ManualClock::new();
    let all = capture_events(|| {
        let b = CircuitBreaker::builder("traced")
            .fail_max(1)
            .clock(clock.clone())
            .build();
        let _ = b.call(|| Err::<(), TestError>(TestError::Down));
        assert_rejected(b.try_acquire(), ErrorKind::Open, "traced");
        clock.advance(Duration::from_secs(60));
        b.call(|| Ok::<_, TestError>(())).unwrap(); // the probe: half-open, then closed
        b.force_open();
        b.close();
        b.disable();
        b.close();
        b.open();
    });
    let sequence: Vec<(&str, Level)> = all.iter().map(|e| (e.name.as_str(), e.level)).collect();
    assert_eq!(
        sequence,
        [
            (events::OPENED, Level::WARN),
            (events::REJECTED, Level::DEBUG),
            (events::HALF_OPENED, Level::INFO),
            (events::CLOSED, Level::INFO),
            (events::FORCED_OPEN, Level::INFO),
            (events::CLOSED, Level::INFO),
            (events::DISABLED, Level::INFO),
            (events::CLOSED, Level::INFO),
            (events::OPENED, Level::WARN),
        ]
    );
    for event in &all {
        assert_eq!(event.field("message"), Some(event.name.as_str()));
        assert!(
            !event.fields.contains_key("error"),
            "never a field named `error`"
        );
        assert_eq!(event.field(key::NAME), Some("traced"));
    }
    assert_eq!(
        all[0].fields,
        fields(&[
            ("message", events::OPENED),
            (key::NAME, "traced"),
            (key::STATE, values::OPEN),
            (key::PREVIOUS_STATE, values::CLOSED),
            (key::TRANSITION_ORIGIN, values::CALL),
            (key::OPEN_REASON, values::CONSECUTIVE_FAILURES),
            (key::FAILURES, "1"),
            (key::FAILURE_THRESHOLD, "1"),
            (key::RESET_TIMEOUT, "60.0"),
            (key::ERROR_TYPE, "breaker_tests::support::TestError::Down"),
            (key::EXCEPTION_MESSAGE, "Down"),
        ])
    );
    assert_eq!(
        all[1].fields,
        fields(&[
            ("message", events::REJECTED),
            (key::NAME, "traced"),
            (key::STATE, values::OPEN),
            (key::RETRY_AFTER, "60.0"),
            (key::ERROR_TYPE, values::CIRCUIT_BREAKER_OPEN),
        ])
    );
    let origin_and_states = |e: &CapturedEvent| {
        (
            e.field(key::TRANSITION_ORIGIN).unwrap().to_string(),
            e.field(key::PREVIOUS_STATE).unwrap().to_string(),
            e.field(key::STATE).unwrap().to_string(),
        )
    };
    let rest: Vec<_> = all[2..].iter().map(origin_and_states).collect();
    let expect = |o: &str, from: &str, to: &str| (o.to_string(), from.to_string(), to.to_string());
    assert_eq!(
        rest,
        [
            expect(values::CALL, values::OPEN, values::HALF_OPEN),
            expect(values::CALL, values::HALF_OPEN, values::CLOSED),
            expect(values::MANUAL, values::CLOSED, values::FORCED_OPEN),
            expect(values::MANUAL, values::FORCED_OPEN, values::CLOSED),
            expect(values::MANUAL, values::CLOSED, values::DISABLED),
            expect(values::MANUAL, values::DISABLED, values::CLOSED),
            expect(values::MANUAL, values::CLOSED, values::OPEN),
        ]
    );
    assert_eq!(all[8].field(key::OPEN_REASON), Some(values::MANUAL));
    assert_eq!(
        all[8].field(key::FAILURES),
        None,
        "no counts on a manual opening"
    );
}

#[test]
fn an_opening_says_why_with_the_counts_that_tripped_it() {
    let clock = ManualClock::new();
    let all = capture_events(|| {
        let within = CircuitBreaker::builder("why-within")
            .fail_max(2)
            .within(Duration::from_secs(10))
            .clock(clock.clone())
            .build();
        for _ in 0..2 {
            let _ = within.call(|| Err::<(), TestError>(TestError::Timeout));
        }
        let rate = CircuitBreaker::builder("why-rate")
            .failure_rate(50)
            .window(Window::Calls(4))
            .clock(clock.clone())
            .build();
        for ok in [true, false, true, false] {
            let _ = rate.call(|| {
                if ok {
                    Ok(())
                } else {
                    Err(TestError::Status(503))
                }
            });
        }
        let slow = CircuitBreaker::builder("why-slow")
            .slow_call(Duration::from_secs(1))
            .slow_rate(50)
            .window(Window::Calls(2))
            .clock(clock.clone())
            .build();
        for _ in 0..2 {
            let _ = slow.call(|| {
                clock.advance(Duration::from_secs(2));
                Ok::<_, TestError>(())
            });
        }
        let probe = CircuitBreaker::builder("why-probe")
            .fail_max(1)
            .reset_timeout(Duration::from_secs(5))
            .clock(clock.clone())
            .build();
        let _ = probe.call(|| Err::<(), TestError>(TestError::Down));
        clock.advance(Duration::from_secs(5));
        let _ = probe.call(|| Err::<(), BoxError>("still down".into()));
        let hung = CircuitBreaker::builder("why-hung")
            .fail_max(1)
            .reset_timeout(Duration::from_secs(5))
            .half_open_timeout(Duration::from_secs(3))
            .clock(clock.clone())
            .build();
        hung.try_acquire().unwrap().failure();
        clock.advance(Duration::from_secs(5));
        let _probe = hung.try_acquire().unwrap();
        clock.advance(Duration::from_secs(3));
        let _ = hung.try_acquire(); // finds the probe overdue: it failed
    });
    let opened = named(&all, events::OPENED);
    let of = |breaker: &str| -> Vec<&CapturedEvent> {
        opened
            .iter()
            .copied()
            .filter(|e| e.field(key::NAME) == Some(breaker))
            .collect()
    };
    let within = of("why-within");
    assert_eq!(
        within[0].field(key::OPEN_REASON),
        Some(values::FAILURES_WITHIN)
    );
    assert_eq!(within[0].field(key::FAILURES), Some("2"));
    assert_eq!(within[0].field(key::FAILURE_THRESHOLD), Some("2"));
    assert_eq!(
        within[0].field(key::ERROR_TYPE),
        Some("breaker_tests::support::TestError::Timeout")
    );

    let rate = of("why-rate");
    assert_eq!(rate[0].field(key::OPEN_REASON), Some(values::FAILURE_RATE));
    assert_eq!(rate[0].field(key::FAILURE_RATE), Some("50.0"));
    assert_eq!(rate[0].field(key::FAILURE_RATE_THRESHOLD), Some("50.0"));
    assert_eq!(rate[0].field(key::WINDOW_CALLS), Some("4"));
    assert_eq!(
        rate[0].field(key::ERROR_TYPE),
        Some("breaker_tests::support::TestError::Status"),
        "the variant, never its value"
    );
    assert_eq!(rate[0].field(key::FAILURES), None);

    let slow = of("why-slow");
    assert_eq!(
        slow[0].field(key::OPEN_REASON),
        Some(values::SLOW_CALL_RATE)
    );
    assert_eq!(slow[0].field(key::SLOW_CALL_RATE), Some("100.0"));
    assert_eq!(slow[0].field(key::SLOW_CALL_RATE_THRESHOLD), Some("50.0"));

    let probe = of("why-probe");
    assert_eq!(probe[1].field(key::OPEN_REASON), Some(values::PROBE_FAILED));
    assert_eq!(probe[1].field(key::PREVIOUS_STATE), Some(values::HALF_OPEN));
    assert_eq!(
        probe[1].field(key::ERROR_TYPE),
        Some("_OTHER"),
        "a boxed message names no type: OpenTelemetry's fallback"
    );
    assert_eq!(probe[1].field(key::EXCEPTION_MESSAGE), Some("still down"));

    let hung = of("why-hung");
    assert_eq!(
        hung[1].field(key::OPEN_REASON),
        Some(values::PROBE_TIMED_OUT)
    );
    assert_eq!(hung[1].field(key::ERROR_TYPE), None, "no error caused it");
}

#[breaker_runtime::circuit_breaker(name = "traced-io-bare", fail_max = 1)]
fn bare() -> Result<(), std::io::Error> {
    Err(std::io::Error::from_raw_os_error(104))
}

#[breaker_runtime::circuit_breaker(name = "traced-io-boxed", fail_max = 1)]
fn boxed() -> Result<(), BoxError> {
    Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer").into())
}

#[breaker_runtime::circuit_breaker(name = "traced-io-anyhow", fail_max = 1)]
async fn with_anyhow() -> anyhow::Result<()> {
    Err(std::io::Error::from(std::io::ErrorKind::ConnectionReset).into())
}

/// `(error.type, exception.message)` of the opening of the breaker called `name`.
fn opening_of<'a>(opened: &[&'a CapturedEvent], name: &str) -> (Option<&'a str>, Option<&'a str>) {
    let event = opened
        .iter()
        .find(|e| e.field(key::NAME) == Some(name))
        .unwrap_or_else(|| panic!("{name} opened"));
    (
        event.field(key::ERROR_TYPE),
        event.field(key::EXCEPTION_MESSAGE),
    )
}

#[test]
fn an_io_error_is_typed_by_its_kind_however_it_is_wrapped() {
    let reset = Some("ConnectionReset");
    // Each of `io::Error`'s representations: an OS error, a kind alone, a kind with a
    // message of its own (`Custom`).
    let os = || std::io::Error::from_raw_os_error(104);
    let simple = || std::io::Error::from(std::io::ErrorKind::ConnectionReset);
    let custom = || std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
    let os_message = os().to_string();
    let all = capture_events(|| {
        // The attribute sees the error's `std::error::Error` side, through a box or an
        // `anyhow::Error` too.
        let _ = bare();
        let _ = boxed();
        let _ = futures_util::FutureExt::now_or_never(with_anyhow());
        // `call` sees any error type through its `Display` and `Debug` forms.
        let call = |name: &str, error: &dyn Fn() -> std::io::Error, boxed: bool| {
            let b = CircuitBreaker::builder(name.to_string())
                .fail_max(1)
                .build();
            if boxed {
                let _ = b.call(|| Err::<(), BoxError>(error().into()));
            } else {
                let _ = b.call(|| Err::<(), std::io::Error>(error()));
            }
        };
        call("traced-io-call-os", &os, false);
        call("traced-io-call-simple", &simple, false);
        call("traced-io-call-custom", &custom, false);
        call("traced-io-call-boxed-os", &os, true);
        call("traced-io-call-boxed-simple", &simple, true);
        call("traced-io-call-boxed-custom", &custom, true);
        // The tower layer and the reqwest middleware box their errors; so does a set.
        let hosts: Breakers<String> = Breakers::builder(|host: &String| {
            CircuitBreaker::builder(format!("traced-io-set[{host}]")).fail_max(1)
        })
        .build();
        let _ = hosts.call("a", || Err::<(), BoxError>(custom().into()));
    });
    let opened = named(&all, events::OPENED);
    assert_eq!(
        opening_of(&opened, "traced-io-bare"),
        (reset, Some(&*os_message))
    );
    assert_eq!(
        opening_of(&opened, "traced-io-boxed"),
        (reset, Some("reset by peer"))
    );
    assert_eq!(
        opening_of(&opened, "traced-io-anyhow"),
        (reset, Some("connection reset"))
    );
    for (name, message) in [
        ("os", &*os_message),
        ("simple", "connection reset"),
        ("custom", "reset by peer"),
    ] {
        for wrapping in ["traced-io-call", "traced-io-call-boxed"] {
            assert_eq!(
                opening_of(&opened, &format!("{wrapping}-{name}")),
                (reset, Some(message)),
                "{wrapping}-{name}: the kind, and the Display form, never the Debug form"
            );
        }
    }
    assert_eq!(
        opening_of(&opened, "traced-io-set[a]"),
        (reset, Some("reset by peer"))
    );
}

#[test]
fn a_message_is_never_taken_for_a_variant() {
    let all = capture_events(|| {
        for (name, message) in [
            ("traced-text-lower", "refused"),
            ("traced-text-upper", "Connection refused"),
        ] {
            let b = CircuitBreaker::builder(name).fail_max(1).build();
            let _ = b.call(|| Err::<(), BoxError>(message.into()));
        }
        let b = CircuitBreaker::builder("traced-text-anyhow")
            .fail_max(1)
            .build();
        let _ = b.call(|| Err::<(), anyhow::Error>(anyhow::anyhow!("Refused by upstream")));
    });
    let opened = named(&all, events::OPENED);
    assert_eq!(
        opening_of(&opened, "traced-text-lower"),
        (Some("_OTHER"), Some("refused"))
    );
    assert_eq!(
        opening_of(&opened, "traced-text-upper"),
        (Some("_OTHER"), Some("Connection refused"))
    );
    assert_eq!(
        opening_of(&opened, "traced-text-anyhow"),
        (Some("anyhow::Error"), Some("Refused by upstream"))
    );
}

#[test]
fn a_keyed_breaker_names_its_key_and_no_name_carries_it() {
    let all = capture_events(|| {
        let hosts: Breakers<String> = Breakers::builder(|host: &String| {
            CircuitBreaker::builder(format!("traced-hosts[{host}]")).fail_max(1)
        })
        .build();
        let _ = hosts.call("api.example", || Err::<(), TestError>(TestError::Down));
        let _ = hosts.call("api.example", || Ok::<(), TestError>(()));
    });
    for event in &all {
        assert!(event.name.starts_with("circuit_breaker."), "{}", event.name);
        assert!(!event.name.contains("api.example"));
        assert_eq!(event.field(key::KEY), Some("api.example"), "{event:?}");
        assert_eq!(event.field(key::NAME), Some("traced-hosts[api.example]"));
    }
    assert_eq!(all.len(), 2, "opened and rejected");
}

#[test]
fn a_rejection_is_recorded_inside_the_callers_span() {
    let all = capture_events(|| {
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
    let rejection = named(&all, events::REJECTED)[0];
    assert_eq!(rejection.field(key::NAME), Some("traced-span"));
    assert_eq!(
        rejection.spans,
        [("request".to_string(), fields(&[("id", "7")]))],
        "the event belongs to the caller's span"
    );
}
