use breaker_runtime::circuit_breaker;

#[circuit_breaker(fail_max = 0, success_threshold = 0)]
fn call() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Ok(())
}

fn main() {}
