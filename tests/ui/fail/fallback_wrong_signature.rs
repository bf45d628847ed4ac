use breaker_runtime::circuit_breaker;

#[derive(Debug)]
struct MyError;

fn cached(id: String) -> Result<u32, MyError> {
    Ok(id.len() as u32)
}

#[circuit_breaker(fallback = cached)]
fn fetch(id: u64) -> Result<u32, MyError> {
    Ok(id as u32)
}

fn main() {}
