use breaker_runtime::{circuit_breaker, CircuitBreakerError};

enum E {
    Status(u16),
    Rejected,
}

impl From<CircuitBreakerError> for E {
    fn from(_: CircuitBreakerError) -> Self {
        E::Rejected
    }
}

#[circuit_breaker(exclude = [E::Status("404")])]
fn call() -> Result<(), E> {
    Ok(())
}

fn main() {}
