//! The largest settings the attribute accepts are ones the runtime accepts too: its
//! limits and the runtime's cannot drift apart without this failing (to compile, or at
//! the first call). Unset settings take the runtime's defaults.
use std::time::Duration;

use breaker_runtime::{circuit_breaker, registry, Config};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[circuit_breaker(
    name = "limits-max",
    fail_max = 65535,
    success_threshold = 4095,
    reset_timeout = "18446744073s"
)]
fn at_the_limits() -> Result<(), BoxError> {
    Ok(())
}

#[circuit_breaker(name = "limits-defaults")]
fn defaults() -> Result<(), BoxError> {
    Ok(())
}

fn main() {
    at_the_limits().unwrap();
    let config = *registry::get("limits-max").unwrap().config();
    assert_eq!(config.fail_max, 65_535);
    assert_eq!(config.success_threshold, 4_095);
    assert_eq!(config.reset_timeout, Duration::from_secs(18_446_744_073));
    defaults().unwrap();
    assert_eq!(*registry::get("limits-defaults").unwrap().config(), Config::DEFAULT);
}
