use std::sync::LazyLock;

use breaker_runtime::{circuit_breaker, CircuitBreaker};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

static SHARED: LazyLock<CircuitBreaker> = LazyLock::new(|| CircuitBreaker::builder("shared").build());

#[circuit_breaker(breaker = SHARED, per = host)]
fn with_breaker(host: &str) -> Result<(), BoxError> {
    let _ = host;
    Ok(())
}

#[circuit_breaker(fail_max = 3, max_keys = 100)]
fn max_keys_alone(host: &str) -> Result<(), BoxError> {
    let _ = host;
    Ok(())
}

#[circuit_breaker(per = host, max_keys = 0)]
fn no_keys(host: &str) -> Result<(), BoxError> {
    let _ = host;
    Ok(())
}

#[circuit_breaker(fail_max = 3, metrics_per_key)]
fn per_key_metrics_alone(host: &str) -> Result<(), BoxError> {
    let _ = host;
    Ok(())
}

#[circuit_breaker(per = host, metrics_per_key = true)]
fn per_key_metrics_valued(host: &str) -> Result<(), BoxError> {
    let _ = host;
    Ok(())
}

fn main() {}
