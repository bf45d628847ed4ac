//! The attribute adds a permit to an async function's future and nothing else: no box, and
//! a small, fixed growth whatever the arguments.

use std::mem::size_of_val;

use breaker_runtime::{circuit_breaker, CircuitBreakerError};

#[derive(Debug)]
struct E;

impl From<CircuitBreakerError> for E {
    fn from(_: CircuitBreakerError) -> Self {
        E
    }
}

async fn step() {
    tokio::task::yield_now().await
}

async fn bare_small(id: u64) -> Result<u64, E> {
    step().await;
    Ok(id)
}

#[circuit_breaker]
async fn guarded_small(id: u64) -> Result<u64, E> {
    step().await;
    Ok(id)
}

async fn bare_large(buffer: [u8; 256], n: usize) -> Result<u8, E> {
    step().await;
    Ok(buffer[n])
}

#[circuit_breaker]
async fn guarded_large(buffer: [u8; 256], n: usize) -> Result<u8, E> {
    step().await;
    Ok(buffer[n])
}

#[test]
fn an_annotated_async_fn_grows_by_at_most_32_bytes() {
    let small = (size_of_val(&bare_small(1)), size_of_val(&guarded_small(1)));
    let large = (
        size_of_val(&bare_large([0; 256], 0)),
        size_of_val(&guarded_large([0; 256], 0)),
    );
    println!(
        "small: {} -> {} bytes; large: {} -> {} bytes",
        small.0, small.1, large.0, large.1
    );
    assert!(small.1 <= small.0 + 32, "small: {small:?}");
    assert!(large.1 <= large.0 + 32, "large: {large:?}");
}
