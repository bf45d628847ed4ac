use std::sync::LazyLock;

use breaker_runtime::{circuit_breaker, CircuitBreaker};

static SHARED: LazyLock<CircuitBreaker> = LazyLock::new(|| CircuitBreaker::builder("shared").build());

#[circuit_breaker(breaker = SHARED, fail_max = 3)]
fn call() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Ok(())
}

fn main() {}
