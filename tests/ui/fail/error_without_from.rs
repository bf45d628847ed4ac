use breaker_runtime::circuit_breaker;

#[derive(Debug)]
struct MyError;

#[circuit_breaker(fail_max = 3)]
fn call() -> Result<u32, MyError> {
    Ok(1)
}

fn main() {}
