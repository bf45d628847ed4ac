//! The policy keys on annotated functions, sync and async: the breaker each function
//! gets follows the policy (driven through the registry with a manual clock).

use std::time::Duration;

use breaker_runtime::{circuit_breaker, registry, ErrorKind, ManualClock, State};
use breaker_tests::TestError as E;

fn clock_of(name: &str) -> ManualClock {
    let clock = ManualClock::new();
    assert!(registry::get(name).unwrap().set_clock(clock.clone()));
    clock
}

fn rejected(kind: ErrorKind, name: &str) -> E {
    E::rejected(kind, name)
}

#[circuit_breaker(
    name = "attr-rate-sync",
    failure_rate = "50%",
    window = "4 calls",
    reset_timeout = "10s"
)]
fn rate_sync(up: bool) -> Result<u32, E> {
    if up {
        Ok(1)
    } else {
        Err(E::Down)
    }
}

#[test]
fn a_sync_function_trips_on_its_failure_rate() {
    let clock = clock_of("attr-rate-sync");
    for up in [true, false, true] {
        let _ = rate_sync(up);
    }
    assert_eq!(rate_sync(false), Err(E::Down), "2 of 4 failed: trips");
    assert_eq!(
        rate_sync(true),
        Err(rejected(ErrorKind::Open, "attr-rate-sync"))
    );
    clock.advance(Duration::from_secs(10));
    assert_eq!(rate_sync(true), Ok(1), "the probe");
    assert_eq!(
        registry::get("attr-rate-sync").unwrap().state(),
        State::Closed
    );
}

#[circuit_breaker(
    name = "attr-slow-async",
    slow_call = "1s",
    slow_rate = "50%",
    window = "2 calls",
    probes = 2,
    reset_timeout = "10s"
)]
async fn slow_async(clock: &ManualClock, took: Duration) -> Result<(), E> {
    clock.advance(took);
    Ok(())
}

#[tokio::test]
async fn an_async_function_trips_on_slow_calls_and_probes_twice() {
    let clock = clock_of("attr-slow-async");
    let breaker = registry::get("attr-slow-async").unwrap();
    slow_async(&clock, Duration::from_millis(10)).await.unwrap();
    slow_async(&clock, Duration::from_secs(2)).await.unwrap();
    assert_eq!(breaker.state(), State::Open, "1 of 2 slow: 50 %");
    assert_eq!(breaker.window().unwrap().slow, 1);
    clock.advance(Duration::from_secs(10));
    // Two probes: the first success leaves it half-open, the second closes it.
    slow_async(&clock, Duration::ZERO).await.unwrap();
    assert_eq!(breaker.state(), State::HalfOpen);
    slow_async(&clock, Duration::ZERO).await.unwrap();
    assert_eq!(breaker.state(), State::Closed);
}

#[circuit_breaker(
    name = "attr-backoff-async",
    fail_max = 1,
    reset_timeout = "10s",
    backoff = 3.0,
    max_reset_timeout = "60s",
    half_open_timeout = "5s"
)]
async fn backoff_async(up: bool) -> Result<(), E> {
    if up {
        Ok(())
    } else {
        Err(E::Down)
    }
}

#[tokio::test]
async fn an_async_function_backs_off() {
    let clock = clock_of("attr-backoff-async");
    let breaker = registry::get("attr-backoff-async").unwrap();
    let _ = backoff_async(false).await;
    let mut durations = Vec::new();
    for _ in 0..3 {
        let d = breaker.retry_after().unwrap();
        durations.push(d.as_secs());
        clock.advance(d);
        let _ = backoff_async(false).await;
    }
    assert_eq!(durations, [10, 30, 60]);
    assert_eq!(breaker.config().half_open_timeout, Duration::from_secs(5));
}

#[circuit_breaker(name = "attr-within", fail_max = 2, within = "10s")]
fn within_sync(up: bool) -> Result<(), E> {
    if up {
        Ok(())
    } else {
        Err(E::Down)
    }
}

#[test]
fn within_ignores_successes_between_failures() {
    let _clock = clock_of("attr-within");
    let _ = within_sync(false);
    within_sync(true).unwrap();
    let _ = within_sync(false);
    assert_eq!(
        within_sync(true),
        Err(rejected(ErrorKind::Open, "attr-within"))
    );
}
