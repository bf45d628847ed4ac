use breaker_runtime::circuit_breaker;

// One over the runtime's packed counters: the limits `ui/pass/limits.rs` reaches.
#[circuit_breaker(fail_max = 1048576, success_threshold = 4096)]
fn call() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Ok(())
}

fn main() {}
