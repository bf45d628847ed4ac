use breaker_runtime::circuit_breaker;

static NOT_A_BREAKER: u32 = 5;

#[circuit_breaker(breaker = NOT_A_BREAKER)]
fn call() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Ok(())
}

fn main() {}
