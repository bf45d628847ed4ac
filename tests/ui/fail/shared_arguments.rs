use breaker_runtime::{circuit_breaker, CircuitBreaker};
use std::sync::LazyLock;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

static SHARED: LazyLock<CircuitBreaker> = LazyLock::new(|| CircuitBreaker::builder("x").build());

#[circuit_breaker(shared = true)]
fn with_a_value() -> Result<(), BoxError> {
    Ok(())
}

#[circuit_breaker(shared(quorum = 0))]
fn zero_quorum() -> Result<(), BoxError> {
    Ok(())
}

#[circuit_breaker(shared(quorm = 2))]
fn unknown_option() -> Result<(), BoxError> {
    Ok(())
}

#[circuit_breaker(shared, breaker = SHARED)]
fn with_a_breaker() -> Result<(), BoxError> {
    Ok(())
}

fn main() {}
