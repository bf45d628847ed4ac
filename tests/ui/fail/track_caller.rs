use breaker_runtime::circuit_breaker;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[circuit_breaker]
#[track_caller]
fn located() -> Result<u32, BoxError> {
    Ok(std::panic::Location::caller().line())
}

fn main() {}
