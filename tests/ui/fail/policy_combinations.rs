use breaker_runtime::circuit_breaker;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[circuit_breaker(fail_max = 5, failure_rate = "50%", window = "10 calls")]
fn fail_max_and_rate() -> Result<(), BoxError> { Ok(()) }

#[circuit_breaker(fail_max = 5, slow_call = "1s", window = "10 calls")]
fn fail_max_and_slow_call() -> Result<(), BoxError> { Ok(()) }

#[circuit_breaker(probes = 3, success_threshold = 2)]
fn probes_and_threshold() -> Result<(), BoxError> { Ok(()) }

#[circuit_breaker(failure_rate = "50%", window = "10 calls", min_calls = 11)]
fn min_calls_over_window() -> Result<(), BoxError> { Ok(()) }

#[circuit_breaker(failure_rate = "50%", window = "60s")]
fn time_window_without_min_calls() -> Result<(), BoxError> { Ok(()) }

#[circuit_breaker(failure_rate = "50%", window = "500ms", min_calls = 5)]
fn window_too_short() -> Result<(), BoxError> { Ok(()) }

#[circuit_breaker(failure_rate = "50%", window = "2s", buckets = 30, min_calls = 5)]
fn buckets_too_short() -> Result<(), BoxError> { Ok(()) }

#[circuit_breaker(slow_rate = "50%")]
fn slow_rate_without_slow_call() -> Result<(), BoxError> { Ok(()) }

#[circuit_breaker(max_reset_timeout = "10m")]
fn cap_without_backoff() -> Result<(), BoxError> { Ok(()) }

#[circuit_breaker(reset_timeout = "30s", backoff = 2.0, max_reset_timeout = "10s")]
fn cap_below_reset() -> Result<(), BoxError> { Ok(()) }

#[circuit_breaker(within = "10s")]
fn within_without_fail_max() -> Result<(), BoxError> { Ok(()) }

#[circuit_breaker(failure_rate = "50%", window = "10 calls", within = "10s")]
fn within_with_rate() -> Result<(), BoxError> { Ok(()) }

#[circuit_breaker(window = "10 calls")]
fn window_without_rate() -> Result<(), BoxError> { Ok(()) }

#[circuit_breaker(failure_rate = "50%")]
fn rate_without_window() -> Result<(), BoxError> { Ok(()) }

#[circuit_breaker(failure_rate = "50%", window = "10 calls", buckets = 5)]
fn buckets_with_count_window() -> Result<(), BoxError> { Ok(()) }

#[circuit_breaker(buckets = 5, min_calls = 3)]
fn buckets_and_min_calls_alone() -> Result<(), BoxError> { Ok(()) }

static SHARED: std::sync::LazyLock<breaker_runtime::CircuitBreaker> =
    std::sync::LazyLock::new(|| breaker_runtime::CircuitBreaker::builder("shared").build());

#[circuit_breaker(breaker = SHARED, probes = 2)]
fn policy_on_a_shared_breaker() -> Result<(), BoxError> { Ok(()) }

fn main() {}
