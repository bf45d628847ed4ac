//! Every breaker in the process, by name: for health endpoints, dashboards, tests and
//! manual control.
//!
//! Breakers register themselves when they are built (unless built
//! [`unregistered`](crate::Builder::unregistered)); the breaker behind a
//! `#[circuit_breaker]` function registers on the function's first call. The registry
//! holds them weakly: a dropped breaker disappears from it.
//!
//! ```
//! use breaker_runtime::{registry, CircuitBreaker, State};
//!
//! let breaker = CircuitBreaker::builder("registry-doc").build();
//!
//! // Somewhere else (an admin endpoint, a test), by name:
//! let handle = registry::get("registry-doc").expect("registered when built");
//! handle.open();
//! assert_eq!(breaker.state(), State::Open);
//!
//! let info = registry::list().into_iter().find(|b| b.name == "registry-doc").unwrap();
//! assert_eq!(info.state, State::Open);
//! ```

use std::sync::{Mutex, PoisonError, Weak};
use std::time::Duration;

use crate::breaker::Inner;
use crate::{CircuitBreaker, Config, State};

/// Names beside weak handles, so a lookup by name upgrades only the breakers it returns.
static BREAKERS: Mutex<Vec<(&'static str, Weak<Inner>)>> = Mutex::new(Vec::new());

pub(crate) fn register(breaker: &CircuitBreaker) {
    let mut all = BREAKERS.lock().unwrap_or_else(PoisonError::into_inner);
    all.retain(|(_, weak)| weak.strong_count() > 0);
    all.push((breaker.name(), breaker.downgrade()));
}

fn live(filter: impl Fn(&str) -> bool) -> Vec<CircuitBreaker> {
    let all = BREAKERS.lock().unwrap_or_else(PoisonError::into_inner);
    all.iter()
        .filter(|(name, _)| filter(name))
        .filter_map(|(_, weak)| weak.upgrade())
        .map(CircuitBreaker::from_inner)
        .collect()
}

/// The breaker registered under `name`.
///
/// Returns `None` when there is none, and also when several live breakers share the
/// name: the registry never guesses which one you meant. (Names from
/// `#[circuit_breaker]` include the module and type path, so they do not collide.)
pub fn get(name: &str) -> Option<CircuitBreaker> {
    let mut found = live(|each| each == name).into_iter();
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

/// Every live registered breaker, in registration order.
pub fn all() -> Vec<CircuitBreaker> {
    live(|_| true)
}

/// A point-in-time view of one breaker, from [`list`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BreakerInfo {
    /// The breaker's name.
    pub name: &'static str,
    /// Its state.
    pub state: State,
    /// Consecutive failures counted.
    pub fail_counter: u32,
    /// Successful probes in the current half-open period.
    pub success_counter: u32,
    /// Time until a probe is allowed (see [`CircuitBreaker::retry_after`]).
    pub retry_after: Option<Duration>,
    /// Time since its last state change.
    pub since_last_change: Duration,
    /// Its settings.
    pub config: Config,
}

impl BreakerInfo {
    /// Reads `breaker` now.
    pub fn of(breaker: &CircuitBreaker) -> Self {
        BreakerInfo {
            name: breaker.name(),
            state: breaker.state(),
            fail_counter: breaker.fail_counter(),
            success_counter: breaker.success_counter(),
            retry_after: breaker.retry_after(),
            since_last_change: breaker.since_last_change(),
            config: *breaker.config(),
        }
    }
}

/// Every live registered breaker with its state and counters.
pub fn list() -> Vec<BreakerInfo> {
    all().iter().map(BreakerInfo::of).collect()
}
