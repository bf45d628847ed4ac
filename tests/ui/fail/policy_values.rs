use breaker_runtime::circuit_breaker;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[circuit_breaker(failure_rate = 50, window = "10 calls")]
fn bare_percent() -> Result<(), BoxError> { Ok(()) }

#[circuit_breaker(failure_rate = 0.5, window = "10 calls")]
fn ratio() -> Result<(), BoxError> { Ok(()) }

#[circuit_breaker(failure_rate = "0%", slow_call = "1s", slow_rate = "100.5%", window = "10 calls")]
fn out_of_range() -> Result<(), BoxError> { Ok(()) }

#[circuit_breaker(failure_rate = "12.345%", window = "10 calls")]
fn three_decimals() -> Result<(), BoxError> { Ok(()) }

#[circuit_breaker(failure_rate = "50%", window = 100)]
fn bare_window() -> Result<(), BoxError> { Ok(()) }

#[circuit_breaker(failure_rate = "50%", window = "0 calls")]
fn empty_window() -> Result<(), BoxError> { Ok(()) }

#[circuit_breaker(jitter = "100%", backoff = 11.0, probes = 256)]
fn too_much() -> Result<(), BoxError> { Ok(()) }

#[circuit_breaker(fail_max = 3, within = "10s", buckets = 1)]
fn one_bucket() -> Result<(), BoxError> { Ok(()) }

#[circuit_breaker(backoff = "2x")]
fn backoff_string() -> Result<(), BoxError> { Ok(()) }

fn main() {}
