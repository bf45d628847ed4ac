use breaker_runtime::circuit_breaker;

#[circuit_breaker(reset_timeout = "sixty seconds")]
fn unparsable() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Ok(())
}

#[circuit_breaker(reset_timeout = "0s")]
fn zero() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Ok(())
}

#[circuit_breaker(reset_timeout = 1.5)]
fn float() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Ok(())
}

#[circuit_breaker(reset_timeout = "600000000h")]
fn too_long() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Ok(())
}

fn main() {}
