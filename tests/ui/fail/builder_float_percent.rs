// The builder's percentages take a whole number of percent or a `Percent`: a bare float
// would be 50 % to some readers and half a percent to others, so it does not compile.
use breaker_runtime::{CircuitBreaker, Window};

fn main() {
    let _ = CircuitBreaker::builder("rate")
        .failure_rate(0.5)
        .window(Window::Calls(100))
        .build();
    let _ = CircuitBreaker::builder("jittered").jitter(0.2).build();
}
