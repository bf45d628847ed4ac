use breaker_runtime::circuit_breaker;

#[circuit_breaker(fail_max = "5")]
fn call() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Ok(())
}

#[circuit_breaker(success_threshold = LIMIT)]
fn other() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Ok(())
}

fn main() {}
