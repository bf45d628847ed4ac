use breaker_runtime::{circuit_breaker, CircuitBreakerError};

enum E {
    NotFound,
    Rejected,
}

impl From<CircuitBreakerError> for E {
    fn from(_: CircuitBreakerError) -> Self {
        E::Rejected
    }
}

#[circuit_breaker(exclude = E::NotFound)]
fn call() -> Result<(), E> {
    Ok(())
}

fn main() {}
