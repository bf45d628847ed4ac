use std::time::Duration;

use breaker_runtime::circuit_breaker;

#[derive(Debug)]
struct MyError;

impl std::fmt::Display for MyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("my error")
    }
}

impl From<breaker_runtime::CircuitBreakerError> for MyError {
    fn from(_: breaker_runtime::CircuitBreakerError) -> Self {
        MyError
    }
}

#[derive(Debug)]
struct OtherError;

// The wait itself, not whether there is one.
fn always(_: &MyError) -> Duration {
    Duration::from_secs(30)
}

// Another error type.
fn of_another(_: &OtherError) -> Option<Duration> {
    None
}

// Takes the error by value.
fn by_value(_: MyError) -> Option<Duration> {
    None
}

#[circuit_breaker(retry_after = always)]
fn answers_a_duration() -> Result<(), MyError> {
    Ok(())
}

#[circuit_breaker(retry_after = of_another)]
fn reads_another_error() -> Result<(), MyError> {
    Ok(())
}

#[circuit_breaker(retry_after = by_value)]
async fn takes_the_error() -> Result<(), MyError> {
    Ok(())
}

#[circuit_breaker(retry_after = "30s")]
fn a_duration_not_a_function() -> Result<(), MyError> {
    Ok(())
}

fn main() {}
