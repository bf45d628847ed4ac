use breaker_runtime::circuit_breaker;

#[circuit_breaker]
fn call() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let x = ;
    Ok(())
}

fn main() {}
