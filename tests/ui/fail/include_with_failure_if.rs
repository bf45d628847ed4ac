use breaker_runtime::{circuit_breaker, CircuitBreakerError};

enum E {
    Timeout,
    Rejected,
}

impl From<CircuitBreakerError> for E {
    fn from(_: CircuitBreakerError) -> Self {
        E::Rejected
    }
}

#[circuit_breaker(include = [E::Timeout], failure_if = |e| matches!(e, E::Rejected))]
fn call() -> Result<(), E> {
    Ok(())
}

fn main() {}
