use breaker_runtime::circuit_breaker;

#[circuit_breaker(call_timeout = "500ms")]
fn blocking() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Ok(())
}

fn main() {}
