use breaker_runtime::circuit_breaker;

#[circuit_breaker(fail_mx = 3)]
fn call() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Ok(())
}

fn main() {}
