use breaker_runtime::circuit_breaker;

type R = Result<u32, Box<dyn std::error::Error + Send + Sync>>;

fn cached((a, b): (u32, u32)) -> R {
    Ok(a + b)
}

#[circuit_breaker(fallback = cached)]
fn sum((a, b): (u32, u32)) -> R {
    Ok(a + b)
}

fn main() {}
