//! Every policy key compiles, on sync functions, into the settings it names; the
//! largest values the attribute accepts are ones the runtime accepts too.
use std::time::Duration;

use breaker_runtime::{circuit_breaker, registry, Backoff, Percent, Policy, Window};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[circuit_breaker(name = "policy-count", failure_rate = "50%", window = "100 calls")]
fn count_window() -> Result<(), BoxError> {
    Ok(())
}

#[circuit_breaker(
    name = "policy-time",
    failure_rate = "25.5%",
    window = "30s",
    buckets = 60,
    min_calls = 50,
    slow_call = "2s",
    slow_rate = "80%",
    probes = 255,
    half_open_timeout = "10s"
)]
fn time_window() -> Result<(), BoxError> {
    Ok(())
}

#[circuit_breaker(name = "policy-slow", slow_call = "500ms", window = "65536 calls", min_calls = 1)]
fn slow_only() -> Result<(), BoxError> {
    Ok(())
}

#[circuit_breaker(
    name = "policy-backoff",
    fail_max = 5,
    reset_timeout = "30s",
    backoff = 10.0,
    max_reset_timeout = "10m",
    jitter = "99.99%"
)]
fn backoff() -> Result<(), BoxError> {
    Ok(())
}

#[circuit_breaker(name = "policy-within", fail_max = 5, within = "10s", buckets = 2)]
fn within() -> Result<(), BoxError> {
    Ok(())
}

#[circuit_breaker(name = "policy-throttle", throttle = "50%")]
fn throttled() -> Result<u32, BoxError> {
    Ok(1)
}

#[circuit_breaker(
    name = "policy-throttle-trip",
    throttle = "62.5%",
    max_throttle = "75%",
    fail_max = 10,
    window = "30s",
    min_calls = 50,
    buckets = 30
)]
fn throttled_with_trip() -> Result<u32, BoxError> {
    Ok(1)
}

#[circuit_breaker(
    name = "policy-throttle-rate",
    throttle = "50%",
    failure_rate = "80%",
    window = "60s",
    min_calls = 20
)]
fn throttled_with_rate() -> Result<u32, BoxError> {
    Ok(1)
}

fn main() {
    count_window().unwrap();
    time_window().unwrap();
    slow_only().unwrap();
    backoff().unwrap();
    within().unwrap();
    throttled().unwrap();
    throttled_with_trip().unwrap();
    throttled_with_rate().unwrap();
    let config = |name| *registry::get(name).unwrap().config();

    let c = config("policy-count");
    assert_eq!(c.policy(), Policy::Rate);
    assert_eq!((c.failure_rate, c.window, c.min_calls), (Some(Percent::new(50.0)), Some(Window::Calls(100)), None));

    let c = config("policy-time");
    assert_eq!(c.failure_rate, Some(Percent::from_basis_points(2_550)));
    assert_eq!(c.window, Some(Window::Time(Duration::from_secs(30))));
    assert_eq!((c.buckets, c.min_calls, c.probes), (60, Some(50), 255));
    assert_eq!((c.slow_call, c.slow_rate), (Some(Duration::from_secs(2)), Some(Percent::new(80.0))));
    assert_eq!(c.half_open_timeout, Duration::from_secs(10));

    let c = config("policy-slow");
    assert_eq!((c.failure_rate, c.slow_rate), (None, None));
    assert_eq!(c.window, Some(Window::Calls(65_536)));

    let c = config("policy-backoff");
    assert_eq!(c.policy(), Policy::Consecutive);
    assert_eq!(c.backoff, Some(Backoff::new(10.0)));
    assert_eq!(c.max_reset_timeout, Some(Duration::from_secs(600)));
    assert_eq!(c.jitter, Percent::from_basis_points(9_999));
    assert_eq!(c.half_open_timeout, Duration::from_secs(30), "follows reset_timeout");

    let c = config("policy-within");
    assert_eq!(c.policy(), Policy::Within);
    assert_eq!((c.within, c.buckets), (Some(Duration::from_secs(10)), 2));

    let c = config("policy-throttle");
    assert_eq!(c.policy(), Policy::Throttle);
    assert_eq!((c.throttle, c.max_throttle, c.fail_max), (Some(Percent::new(50.0)), None, 0));
    assert_eq!(c.effective_window(), Some(Window::Time(Duration::from_secs(120))));

    let c = config("policy-throttle-trip");
    assert_eq!(c.policy(), Policy::Consecutive);
    assert_eq!((c.throttle, c.max_throttle), (Some(Percent::new(62.5)), Some(Percent::new(75.0))));
    assert_eq!((c.fail_max, c.min_calls, c.buckets), (10, Some(50), 30));

    let c = config("policy-throttle-rate");
    assert_eq!(c.policy(), Policy::Rate);
    assert_eq!(c.failure_rate, Some(Percent::new(80.0)));
}
