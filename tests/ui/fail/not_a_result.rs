use breaker_runtime::circuit_breaker;

#[circuit_breaker]
fn count() -> u32 {
    1
}

#[circuit_breaker]
fn nothing() {}

fn main() {}
