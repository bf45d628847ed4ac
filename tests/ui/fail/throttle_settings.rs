use breaker_runtime::circuit_breaker;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[circuit_breaker(throttle = "0%")]
fn zero() -> Result<(), BoxError> { Ok(()) }

#[circuit_breaker(throttle = "150%")]
fn over_a_hundred() -> Result<(), BoxError> { Ok(()) }

#[circuit_breaker(throttle = 0.5)]
fn a_float() -> Result<(), BoxError> { Ok(()) }

#[circuit_breaker(max_throttle = "80%")]
fn cap_without_throttle() -> Result<(), BoxError> { Ok(()) }

#[circuit_breaker(throttle = "50%", max_throttle = "0%")]
fn zero_cap() -> Result<(), BoxError> { Ok(()) }

#[circuit_breaker(throttle = "50%", window = "100 calls")]
fn count_window() -> Result<(), BoxError> { Ok(()) }

#[circuit_breaker(throttle = "50%", fail_max = 5, within = "10s")]
fn with_within() -> Result<(), BoxError> { Ok(()) }

#[circuit_breaker(throttle = "50%", window = "500ms")]
fn window_too_short() -> Result<(), BoxError> { Ok(()) }

fn main() {}
