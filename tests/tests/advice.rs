//! Listening to the upstream: a failure may carry the upstream's advice of how long to
//! wait (a `Retry-After`, a gRPC `RetryInfo`), and an opening then lasts as long as the
//! latest advice that counted toward it says, capped; with `open_on_retry_after` one
//! advised failure opens at once. On the manual clock.

use std::time::Duration;

use breaker_runtime::conventions::{attributes as key, events, values};
use breaker_runtime::{
    circuit_breaker, Advice, AdviceSource, CircuitBreaker, ManualClock, State, Window,
};
use breaker_tests::{capture_global_events, CapturedEvent, TestError as E};

fn advice(secs: u64) -> Advice {
    Advice::new(Duration::from_secs(secs), AdviceSource::RetryAfter).unwrap()
}

fn breaker(name: &str, clock: &ManualClock) -> breaker_runtime::Builder {
    CircuitBreaker::builder(name.to_string())
        .fail_max(3)
        .reset_timeout(Duration::from_secs(60))
        .clock(clock.clone())
}

#[test]
fn an_opening_lasts_as_long_as_the_latest_advice_that_counted() {
    let clock = ManualClock::new();
    let b = breaker("advice-latest", &clock).build();
    b.try_acquire().unwrap().failure();
    b.try_acquire().unwrap().failure_with_advice(advice(30));
    clock.advance(Duration::from_secs(5));
    // The third failure carries none: the latest advice, 5 s old, still counts.
    b.try_acquire().unwrap().failure();
    assert_eq!(b.state(), State::Open);
    assert_eq!(
        b.retry_after(),
        Some(Duration::from_secs(25)),
        "until the advised time"
    );
    assert_eq!(b.open_period(), Some(Duration::from_secs(25)));
    assert_eq!(
        b.open_advice(),
        Some(Advice::new(Duration::from_secs(25), AdviceSource::RetryAfter).unwrap())
    );
    clock.advance(Duration::from_secs(25));
    assert!(
        b.try_acquire().unwrap().is_probe(),
        "the probe at the advised time"
    );
}

#[test]
fn a_shorter_advice_is_honoured_and_a_longer_one_capped() {
    let clock = ManualClock::new();
    for (secs, cap, open) in [(10, None, 10), (3_600, None, 300), (3_600, Some(600), 600)] {
        let mut builder = breaker(&format!("advice-cap-{secs}-{cap:?}"), &clock);
        if let Some(cap) = cap {
            builder = builder.retry_after_cap(Duration::from_secs(cap));
        }
        let b = builder.build();
        for _ in 0..3 {
            b.try_acquire().unwrap().failure_with_advice(advice(secs));
        }
        assert_eq!(
            b.open_period(),
            Some(Duration::from_secs(open)),
            "{secs} s, cap {cap:?}"
        );
    }
    // The default cap is the larger of reset_timeout and 5 minutes.
    let long = CircuitBreaker::builder("advice-cap-long-reset")
        .fail_max(1)
        .reset_timeout(Duration::from_secs(900))
        .clock(clock.clone())
        .build();
    long.try_acquire()
        .unwrap()
        .failure_with_advice(advice(3_600));
    assert_eq!(long.open_period(), Some(Duration::from_secs(900)));
}

#[test]
fn a_success_forgets_the_advice_and_a_spent_advice_is_none() {
    let clock = ManualClock::new();
    let b = breaker("advice-forgotten", &clock).build();
    b.try_acquire().unwrap().failure_with_advice(advice(30));
    b.try_acquire().unwrap().success();
    for _ in 0..3 {
        b.try_acquire().unwrap().failure();
    }
    assert_eq!(
        b.open_period(),
        Some(Duration::from_secs(60)),
        "reset_timeout"
    );
    assert_eq!(b.open_advice(), None);

    // An advice that ran out before the opening is none.
    let late = breaker("advice-ran-out", &clock).build();
    late.try_acquire().unwrap().failure_with_advice(advice(10));
    clock.advance(Duration::from_secs(11));
    late.try_acquire().unwrap().failure();
    late.try_acquire().unwrap().failure();
    assert_eq!(late.open_period(), Some(Duration::from_secs(60)));
    // No delay is no advice at all.
    assert!(Advice::new(Duration::ZERO, AdviceSource::RetryAfter).is_none());
}

#[test]
fn the_threshold_still_applies_unless_open_on_retry_after() {
    let clock = ManualClock::new();
    let b = breaker("advice-threshold", &clock).build();
    b.try_acquire().unwrap().failure_with_advice(advice(30));
    assert_eq!(b.state(), State::Closed, "one failure of three");
    let traced = capture_global_events();
    {
        let at_once = breaker("advice-at-once", &clock)
            .open_on_retry_after(true)
            .build();
        at_once.try_acquire().unwrap().failure();
        assert_eq!(at_once.state(), State::Closed, "without advice, the rule");
        at_once
            .try_acquire()
            .unwrap()
            .failure_with_advice(advice(30));
        assert_eq!(at_once.state(), State::Open, "at once");
        assert_eq!(at_once.open_period(), Some(Duration::from_secs(30)));
        // A rate policy too, whatever its window holds.
        let rate = CircuitBreaker::builder("advice-at-once-rate")
            .failure_rate(50)
            .window(Window::Calls(100))
            .open_on_retry_after(true)
            .clock(clock.clone())
            .build();
        for _ in 0..10 {
            rate.try_acquire().unwrap().success();
        }
        rate.try_acquire().unwrap().failure_with_advice(advice(20));
        assert_eq!(rate.state(), State::Open);
        assert_eq!(rate.open_period(), Some(Duration::from_secs(20)));
    }
    let opened = openings(&traced, "advice-at-once");
    assert_eq!(opened.len(), 2);
    for event in opened {
        assert_eq!(event.field(key::OPEN_REASON), Some(values::RETRY_AFTER));
        assert_eq!(event.field(key::OPEN_ADVICE_SOURCE), Some("retry_after"));
    }
}

/// The `opened` events of the breakers whose names start with `prefix`, from every
/// thread (a global subscriber: other tests run beside this one).
fn openings(
    events: &std::sync::Arc<std::sync::Mutex<Vec<CapturedEvent>>>,
    prefix: &str,
) -> Vec<CapturedEvent> {
    events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.name == events::OPENED)
        .filter(|e| e.field(key::NAME).is_some_and(|n| n.starts_with(prefix)))
        .cloned()
        .collect()
}

#[test]
fn a_failed_probe_with_new_advice_reopens_for_it_and_the_backoff_advances() {
    let clock = ManualClock::new();
    let b = breaker("advice-probe", &clock).backoff(2.0).build();
    for _ in 0..3 {
        b.try_acquire().unwrap().failure_with_advice(advice(30));
    }
    assert_eq!(
        (b.open_period(), b.attempt()),
        (Some(Duration::from_secs(30)), 1)
    );
    clock.advance(Duration::from_secs(30));
    let probe = b.try_acquire().unwrap();
    assert!(probe.is_probe());
    probe.failure_with_advice(advice(7));
    assert_eq!(b.state(), State::Open);
    assert_eq!(
        b.open_period(),
        Some(Duration::from_secs(7)),
        "the new advice"
    );
    assert_eq!(b.attempt(), 2, "the backoff's count advanced");
    clock.advance(Duration::from_secs(7));
    b.try_acquire().unwrap().failure();
    assert_eq!(
        b.open_period(),
        Some(Duration::from_secs(240)),
        "no advice: the backoff's third step, 60 × 2²"
    );
}

#[test]
fn an_advice_while_open_changes_nothing() {
    let clock = ManualClock::new();
    let b = breaker("advice-while-open", &clock).fail_max(1).build();
    let late = b.try_acquire().unwrap();
    b.try_acquire().unwrap().failure();
    assert_eq!(b.open_period(), Some(Duration::from_secs(60)));
    // A call admitted before the opening reports now, with advice: discarded.
    late.failure_with_advice(advice(5));
    assert_eq!(b.open_period(), Some(Duration::from_secs(60)));
    assert_eq!(b.open_advice(), None);
    // Opened by hand: timed by reset_timeout, advice or not.
    let by_hand = breaker("advice-by-hand", &clock).build();
    by_hand
        .try_acquire()
        .unwrap()
        .failure_with_advice(advice(5));
    by_hand.open();
    assert_eq!(by_hand.open_period(), Some(Duration::from_secs(60)));
    assert_eq!(by_hand.open_advice(), None);
}

#[test]
fn the_opened_event_says_how_long_advice_kept_it_open_and_from_where() {
    let clock = ManualClock::new();
    let traced = capture_global_events();
    let b = breaker("advice-traced", &clock).build();
    for _ in 0..3 {
        b.try_acquire().unwrap().failure_with_advice(
            Advice::new(Duration::from_millis(2_500), AdviceSource::GrpcPushback).unwrap(),
        );
    }
    let opened = &openings(&traced, "advice-traced")[0];
    assert_eq!(
        opened.field(key::OPEN_REASON),
        Some(values::CONSECUTIVE_FAILURES),
        "the rule opened it; the advice timed it"
    );
    assert_eq!(opened.field(key::OPEN_ADVISED), Some("2.5"));
    assert_eq!(opened.field(key::OPEN_ADVICE_SOURCE), Some("grpc_pushback"));
    assert_eq!(opened.field(key::RESET_TIMEOUT), Some("2.5"));
}

/// The advice a `Retry-After` would give, as the attribute's `retry_after` reads it from
/// an error.
fn retry_after_of(error: &E) -> Option<Duration> {
    match error {
        E::Status(503) => Some(Duration::from_secs(45)),
        _ => None,
    }
}

#[circuit_breaker(name = "advice-attribute", fail_max = 2, retry_after = retry_after_of)]
fn fetch(status: u16) -> Result<(), E> {
    Err(E::Status(status))
}

#[circuit_breaker(
    name = "advice-attribute-async",
    fail_max = 5,
    retry_after = retry_after_of,
    retry_after_cap = "40s",
    open_on_retry_after
)]
async fn fetch_async(status: u16) -> Result<(), E> {
    Err(E::Status(status))
}

#[tokio::test]
async fn the_attribute_reads_advice_with_its_function() {
    let clock = ManualClock::new();
    let sync = breaker_runtime::registry::get("advice-attribute").unwrap();
    assert!(sync.set_clock(clock.clone()));
    let _ = fetch(500);
    let _ = fetch(503);
    assert_eq!(sync.state(), State::Open);
    assert_eq!(sync.open_period(), Some(Duration::from_secs(45)));
    assert_eq!(
        sync.open_advice().map(|a| a.source()),
        Some(AdviceSource::Function)
    );

    let asynchronous = breaker_runtime::registry::get("advice-attribute-async").unwrap();
    assert!(asynchronous.set_clock(clock.clone()));
    let _ = fetch_async(500).await;
    assert_eq!(
        asynchronous.state(),
        State::Closed,
        "no advice, the rule: 1 of 5"
    );
    let _ = fetch_async(503).await;
    assert_eq!(asynchronous.state(), State::Open, "open_on_retry_after");
    assert_eq!(
        asynchronous.open_period(),
        Some(Duration::from_secs(40)),
        "capped by retry_after_cap"
    );
    assert_eq!(
        asynchronous.config().retry_after_cap,
        Some(Duration::from_secs(40))
    );
    assert!(asynchronous.config().open_on_retry_after);
}
