use breaker_runtime::circuit_breaker;

#[circuit_breaker(call_timeout = "1s")]
async fn fetch() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Ok(())
}

fn main() {}
