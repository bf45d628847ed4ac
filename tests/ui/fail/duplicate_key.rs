use breaker_runtime::circuit_breaker;

#[circuit_breaker(fail_max = 3, reset_timeout = "10s", fail_max = 4)]
fn call() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Ok(())
}

fn main() {}
