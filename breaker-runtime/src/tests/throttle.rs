//! Adaptive throttling: the refusal probability is the SRE book's formula at chosen
//! counts, on the manual clock (the window slides, and the probability falls back to
//! zero as successes return); `max_throttle` and `min_calls` hold; refused calls count
//! as requests; over 100,000 calls the refused share is what the probabilities say; the
//! throttle composes with a trip rule, which still opens the breaker.

use std::time::Duration;

use breaker_runtime::{
    throttle, CircuitBreaker, CircuitBreakerError, ErrorKind, ManualClock, Policy, State, Window,
};

const EXACT: f64 = 1e-6;

fn close_to(p: Option<f64>, expected: f64) -> bool {
    p.is_some_and(|p| (p - expected).abs() <= EXACT)
}

/// The book's formula, with K = 1 / rate.
fn formula(requests: f64, accepts: f64, rate: f64, cap: f64) -> f64 {
    ((requests - accepts / rate) / (requests + 1.0)).clamp(0.0, cap)
}

/// A throttle of 50 % over 10 s (10 buckets), `min_calls` 10, on `clock`.
fn throttled(name: &str, clock: &ManualClock) -> breaker_runtime::Builder {
    CircuitBreaker::builder(name.to_string())
        .throttle(50)
        .window(Window::Time(Duration::from_secs(10)))
        .min_calls(10)
        .clock(clock.clone())
        .unregistered()
}

/// Bounds a loop that waits on the throttle's draws (or on a state it leads to): no
/// probability here makes 10,000 rounds in a row anywhere near likely, so a loop that
/// gets there is a breaker that never decides, said at once rather than hung.
fn bounded(rounds: &mut u32) {
    *rounds += 1;
    assert!(
        *rounds <= 10_000,
        "10,000 rounds and the throttle never decided"
    );
}

/// `successes` then `failures`, each asked for until admitted; the refusals on the
/// way.
fn outcomes(breaker: &CircuitBreaker, successes: u32, failures: u32) -> u32 {
    let mut refused = 0;
    for n in 0..successes + failures {
        let mut rounds = 0;
        let permit = loop {
            bounded(&mut rounds);
            match breaker.try_acquire() {
                Ok(permit) => break permit,
                Err(_) => refused += 1,
            }
        };
        if n < successes {
            permit.success()
        } else {
            permit.failure()
        }
    }
    refused
}

#[test]
fn the_probability_is_the_formula_and_falls_back_to_zero_as_the_window_slides() {
    let clock = ManualClock::new();
    let b = throttled("throttle-formula", &clock).build();
    assert_eq!(b.config().policy(), Policy::Throttle);
    assert_eq!(b.throttle_probability(), Some(0.0));
    // 2 accepted of 10 asked: (10 - 4) / 11.
    outcomes(&b, 2, 8);
    let p = b.throttle_probability();
    assert!(close_to(p, formula(10.0, 2.0, 0.5, 0.9)), "{p:?}");
    assert!(close_to(p, 6.0 / 11.0), "{p:?}");
    assert_eq!(b.state(), State::Closed, "the throttle never opens it");

    // Half the window on, successes come back; the refusals meanwhile are requests
    // too. A failure computes the probability again: 23 accepted of all those asked.
    clock.advance(Duration::from_secs(5));
    let (mut sent, mut refused) = (0, 0u32);
    let mut rounds = 0;
    while sent < 20 {
        bounded(&mut rounds);
        match b.try_acquire() {
            Ok(permit) => {
                permit.success();
                sent += 1;
            }
            Err(_) => refused += 1,
        }
    }
    assert!(refused > 0, "it was refusing about half");
    let requests = f64::from(30 + refused);
    clock.advance(Duration::from_millis(100));
    // The refresh at the next admission (100 ms of the clock after the last) reads it.
    let _ = b.try_acquire();
    let p = b.throttle_probability();
    let expected = formula(requests, 22.0, 0.5, 0.9);
    assert!(close_to(p, expected), "{p:?} against {expected}");
    // More successes: the probability reaches zero, and admission is quiet again.
    outcomes(&b, 80, 0);
    clock.advance(Duration::from_millis(100));
    let _ = b.try_acquire();
    assert_eq!(
        b.throttle_probability(),
        Some(0.0),
        "102 accepted, more than half of all asked"
    );

    // The failures again, alone, once the successes have left the window.
    outcomes(&b, 0, 0);
    clock.advance(Duration::from_secs(5));
    let failures_only = throttled("throttle-formula-2", &clock).build();
    outcomes(&failures_only, 0, 10);
    assert!(
        close_to(failures_only.throttle_probability(), 0.9),
        "capped at 90 %"
    );
    // Ten seconds on, the window is empty: the probability is 0 at the next admission.
    clock.advance(Duration::from_secs(10));
    let mut admitted = false;
    for _ in 0..100 {
        admitted |= failures_only.try_acquire().is_ok();
        if failures_only.throttle_probability() == Some(0.0) {
            break;
        }
    }
    assert!(admitted);
    assert_eq!(failures_only.throttle_probability(), Some(0.0));
}

#[test]
fn max_throttle_and_min_calls_hold() {
    let clock = ManualClock::new();
    let capped = throttled("throttle-capped", &clock)
        .max_throttle(25)
        .build();
    outcomes(&capped, 0, 10);
    assert!(close_to(capped.throttle_probability(), 0.25));

    let quiet = throttled("throttle-min-calls", &clock).build();
    outcomes(&quiet, 0, 9);
    assert_eq!(quiet.throttle_probability(), Some(0.0), "9 of min_calls 10");
    outcomes(&quiet, 0, 1);
    assert!(close_to(quiet.throttle_probability(), 0.9));

    // The attribute's defaults: two minutes, min_calls 20, max_throttle 90 %.
    let defaults = CircuitBreaker::builder("throttle-defaults")
        .throttle(50)
        .clock(clock.clone())
        .unregistered()
        .build();
    assert_eq!(
        defaults.config().effective_window(),
        Some(Window::Time(Duration::from_secs(120)))
    );
    outcomes(&defaults, 0, 19);
    assert_eq!(defaults.throttle_probability(), Some(0.0), "19 of 20");
    outcomes(&defaults, 0, 1);
    assert!(close_to(defaults.throttle_probability(), 0.9));
}

#[test]
fn refused_calls_count_as_requests() {
    throttle::seed_this_thread(11);
    let clock = ManualClock::new();
    let b = throttled("throttle-refused-count", &clock).build();
    outcomes(&b, 3, 7);
    // 10 asked, 3 accepted: (10 - 6) / 11.
    assert!(close_to(b.throttle_probability(), 4.0 / 11.0));
    let mut refused = 0u32;
    let mut rounds = 0;
    while refused < 5 {
        bounded(&mut rounds);
        match b.try_acquire() {
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Throttled);
                assert!(e.is_throttled() && !e.is_open());
                assert_eq!(e.retry_after(), None, "no retry time");
                assert!((e.throttle_probability().unwrap() - 4.0 / 11.0).abs() <= EXACT);
                refused += 1;
            }
            // Admitted calls are dropped: neutral, they count neither way.
            Ok(permit) => drop(permit),
        }
    }
    // A failure computes the probability again, with the refusals among the requests.
    let mut rounds = 0;
    loop {
        bounded(&mut rounds);
        match b.try_acquire() {
            Ok(permit) => break permit.failure(),
            Err(_) => refused += 1,
        }
    }
    let requests = f64::from(11 + refused);
    let p = b.throttle_probability();
    assert!(
        close_to(p, formula(requests, 3.0, 0.5, 0.9)),
        "{p:?} after {refused} refusals"
    );
}

#[test]
fn over_100_000_draws_the_refused_share_is_the_probability() {
    throttle::seed_this_thread(2026);
    let clock = ManualClock::new();
    let b = throttled("throttle-draws", &clock).build();
    outcomes(&b, 3, 7);
    // The clock stands still and no call fails: the probability stays (10 - 6) / 11.
    let p = 4.0 / 11.0;
    let refused = (0..100_000).filter(|_| b.try_acquire().is_err()).count();
    let share = refused as f64 / 100_000.0;
    assert!(
        (share - p).abs() <= 0.01,
        "refused {share}, the formula {p}"
    );
}

#[test]
fn at_a_fixed_success_rate_the_throttle_settles_where_the_formula_says() {
    throttle::seed_this_thread(7);
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder("throttle-settles")
        .throttle(50)
        .window(Window::Time(Duration::from_secs(60)))
        .min_calls(20)
        .clock(clock.clone())
        .unregistered()
        .build();
    // The upstream accepts one call in four it is sent, whatever the load: refusing
    // does not raise its success rate, so the formula's fixed point is past the cap,
    // and the throttle settles at 90 %. A millisecond between calls: 100 s in all.
    let (mut sent, mut refused_late) = (0u64, 0u32);
    for n in 0..100_000 {
        clock.advance(Duration::from_millis(1));
        match b.try_acquire() {
            Ok(permit) => {
                sent += 1;
                if sent % 4 == 0 {
                    permit.success()
                } else {
                    permit.failure()
                }
            }
            Err(e) => {
                assert!(e.is_throttled());
                // After the first window, a minute of calls.
                if n >= 60_000 {
                    refused_late += 1;
                }
            }
        }
    }
    let share = f64::from(refused_late) / 40_000.0;
    assert!(
        (share - 0.9).abs() <= 0.01,
        "refused {share} of the last 40,000"
    );
    assert!(close_to(b.throttle_probability(), 0.9));
}

#[test]
fn with_a_trip_rule_the_throttle_acts_while_closed_and_the_rule_still_opens_it() {
    throttle::seed_this_thread(5);
    let clock = ManualClock::new();
    // Consecutive failures beside the throttle.
    let b = throttled("throttle-with-fail-max", &clock)
        .fail_max(12)
        .reset_timeout(Duration::from_secs(30))
        .build();
    assert_eq!(b.config().policy(), Policy::Consecutive);
    outcomes(&b, 1, 9);
    // 10 asked, 1 accepted: (10 - 2) / 11: throttling, closed.
    assert!(close_to(b.throttle_probability(), 8.0 / 11.0));
    assert_eq!(b.fail_counter(), 9, "in a row");
    let mut failures = 9;
    let mut rounds = 0;
    while b.state() == State::Closed {
        bounded(&mut rounds);
        if let Ok(permit) = b.try_acquire() {
            permit.failure();
            failures += 1;
        }
    }
    assert_eq!(failures, 12, "fail_max in a row opened it");
    assert_eq!(
        b.throttle_probability(),
        Some(0.0),
        "open: it rejects, not throttles"
    );
    let rejected = b.try_acquire().unwrap_err();
    assert_eq!(rejected.kind(), ErrorKind::Open);
    // The probe: a failure reopens it at once, as a consecutive breaker does.
    clock.advance(Duration::from_secs(30));
    b.try_acquire().expect("the probe").failure();
    assert_eq!(b.state(), State::Open);
    clock.advance(Duration::from_secs(30));
    b.try_acquire().expect("the probe").success();
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.throttle_probability(), Some(0.0), "a fresh window");

    // A success breaks the run: consecutive failures start over.
    let run = throttled("throttle-run", &clock).fail_max(3).build();
    outcomes(&run, 0, 2);
    outcomes(&run, 1, 0);
    outcomes(&run, 0, 2);
    assert_eq!(run.state(), State::Closed);
    assert_eq!(run.fail_counter(), 2);

    // A failure rate over the same window.
    let rate = CircuitBreaker::builder("throttle-with-rate")
        .throttle(50)
        .failure_rate(95)
        .window(Window::Time(Duration::from_secs(10)))
        .min_calls(10)
        .clock(clock.clone())
        .unregistered()
        .build();
    assert_eq!(rate.config().policy(), Policy::Rate);
    outcomes(&rate, 1, 9);
    assert_eq!(rate.state(), State::Closed, "90 % < 95 %");
    assert!(close_to(rate.throttle_probability(), 8.0 / 11.0));
    let mut rounds = 0;
    while rate.state() == State::Closed {
        bounded(&mut rounds);
        if let Ok(permit) = rate.try_acquire() {
            permit.failure();
        }
    }
    assert_eq!(rate.try_acquire().unwrap_err().kind(), ErrorKind::Open);
}

#[test]
fn a_throttled_call_is_told_and_its_error_says_so() {
    throttle::seed_this_thread(9);
    let clock = ManualClock::new();
    let b = throttled("throttle-error", &clock)
        .max_throttle(100)
        .min_calls(30)
        .build();
    assert_eq!(outcomes(&b, 0, 30), 0, "nothing refused below min_calls");
    // Nothing accepted, no cap: (30 - 0) / 31.
    let mut rounds = 0;
    let e: CircuitBreakerError = loop {
        bounded(&mut rounds);
        if let Err(e) = b.try_acquire() {
            break e;
        }
    };
    assert_eq!(e.name(), "throttle-error");
    assert_eq!(
        e.to_string(),
        "circuit breaker 'throttle-error' throttled the call (refusing 96.8% of calls while its upstream accepts too few); retry now"
    );
    assert!(format!("{e:?}").contains("Throttled"));
    // A call through `call` gets the same error, converted as a rejection is.
    let mut refusal = None;
    for _ in 0..50 {
        let result: Result<(), CircuitBreakerError> = b.call(|| Ok(()));
        if let Err(e) = result {
            refusal = Some(e);
            break;
        }
    }
    assert!(refusal.expect("refused within 50 calls").is_throttled());
    // As an io::Error: Other, the breaker's error inside.
    let io: std::io::Error = e.into();
    assert_eq!(io.kind(), std::io::ErrorKind::Other);
}

#[test]
fn refused_settings_say_what_is_wrong() {
    use breaker_runtime::ConfigError;
    let build = |b: breaker_runtime::Builder| b.unregistered().try_build().unwrap_err();
    assert_eq!(
        build(CircuitBreaker::builder("t1").throttle(0)),
        ConfigError::Throttle(breaker_runtime::Percent::ZERO)
    );
    assert_eq!(
        build(CircuitBreaker::builder("t2").max_throttle(50)),
        ConfigError::MaxThrottleWithoutThrottle
    );
    assert_eq!(
        build(
            CircuitBreaker::builder("t3")
                .throttle(50)
                .window(Window::Calls(100))
        ),
        ConfigError::ThrottleWithCountWindow
    );
    assert_eq!(
        build(
            CircuitBreaker::builder("t4")
                .throttle(50)
                .fail_max(3)
                .within(Duration::from_secs(10))
        ),
        ConfigError::ThrottleWithWithin
    );
    assert_eq!(
        build(CircuitBreaker::builder("t5").throttle(50).max_throttle(101)),
        ConfigError::MaxThrottle(breaker_runtime::Percent::new(101.0))
    );
    assert!(ConfigError::ThrottleWithCountWindow
        .to_string()
        .contains("Window::Time"));
    // fail_max 0 is the throttle alone, and nothing else.
    let zero = breaker_runtime::Config {
        fail_max: 0,
        ..breaker_runtime::Config::DEFAULT
    };
    assert_eq!(zero.validate(), Err(ConfigError::FailMax(0)));
}
