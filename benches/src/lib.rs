//! Benchmarks of `breaker-runtime` against its peers live in `benches/`; see BENCHMARKS.md.
//! This library holds what the criterion benches and the callgrind counter
//! (`src/bin/closed_path.rs`) measure alike: the dependency and its annotated twins.

pub mod tower_harness;

/// The measurement every bench uses: short warm-up, 2 s of samples, 40 of them (this
/// 2-core machine is noisy; compare within one run).
pub fn criterion() -> criterion::Criterion {
    criterion::Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2))
        .sample_size(40)
}

use std::hint::black_box;

use breaker_runtime::{circuit_breaker, CircuitBreakerError};

/// The dependency's error.
#[derive(Debug)]
pub struct E;

impl From<CircuitBreakerError> for E {
    fn from(_: CircuitBreakerError) -> Self {
        E
    }
}

impl std::fmt::Display for E {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the dependency failed")
    }
}

/// The dependency: as cheap as a call gets, so the breaker's cost is what shows.
#[inline(never)]
pub fn bare(x: u64) -> Result<u64, E> {
    Ok(black_box(x))
}

/// `bare` under `#[circuit_breaker]`, closed.
#[inline(never)]
#[circuit_breaker(name = "bench-closed")]
pub fn annotated(x: u64) -> Result<u64, E> {
    Ok(black_box(x))
}

/// `bare` under `#[circuit_breaker]`, for a breaker kept open: open it before timing.
#[inline(never)]
#[circuit_breaker(name = "bench-open", fail_max = 1, reset_timeout = "1h")]
pub fn annotated_open(x: u64) -> Result<u64, E> {
    Ok(black_box(x))
}

/// `bare` under a failure rate over a 60 s time window (issue 12's policies).
#[inline(never)]
#[circuit_breaker(
    name = "bench-time-window",
    failure_rate = "50%",
    window = "60s",
    min_calls = 100
)]
pub fn annotated_time_window(x: u64) -> Result<u64, E> {
    Ok(black_box(x))
}

/// `bare` under a throttle over the same 60 s window, its upstream healthy (issue 28).
#[inline(never)]
#[circuit_breaker(
    name = "bench-throttle",
    throttle = "50%",
    window = "60s",
    min_calls = 100
)]
pub fn annotated_throttle(x: u64) -> Result<u64, E> {
    Ok(black_box(x))
}

/// `bare` under a failure rate over the last 100 calls.
#[inline(never)]
#[circuit_breaker(
    name = "bench-count-window",
    failure_rate = "50%",
    window = "100 calls"
)]
pub fn annotated_count_window(x: u64) -> Result<u64, E> {
    Ok(black_box(x))
}

/// `bare` under `fail_max` failures within 10 s.
#[inline(never)]
#[circuit_breaker(name = "bench-within", fail_max = 5, within = "10s")]
pub fn annotated_within(x: u64) -> Result<u64, E> {
    Ok(black_box(x))
}

/// `bare` under a time window that also measures slow calls.
#[inline(never)]
#[circuit_breaker(
    name = "bench-slow-window",
    failure_rate = "50%",
    slow_call = "1s",
    window = "60s",
    min_calls = 100
)]
pub fn annotated_slow_window(x: u64) -> Result<u64, E> {
    Ok(black_box(x))
}
