use breaker_runtime::circuit_breaker;

#[circuit_breaker]
const fn call() -> Result<(), ()> {
    Ok(())
}

fn main() {}
