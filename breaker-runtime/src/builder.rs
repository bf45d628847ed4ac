//! Configuration of a breaker, validated when it is built.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{duration_to_nanos, ClockCell, ClockSource};
use crate::events::Sinks;
use crate::shared::Sharing;
use crate::state::{MAX_FAIL_MAX, MAX_SUCCESS_THRESHOLD};
use crate::{registry, CircuitBreaker, Clock, ConfigError, Listener};

/// The settings of a breaker, as pybreaker names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Consecutive failures that open the breaker.
    pub fail_max: u32,
    /// How long the breaker stays open before a probe call is let through.
    pub reset_timeout: Duration,
    /// Consecutive successful probes that close a half-open breaker.
    pub success_threshold: u32,
    /// How long a half-open probe may run before the next caller may probe instead.
    pub probe_lease: Duration,
}

impl Config {
    /// pybreaker's defaults: 5 failures, 60 seconds, 1 success; the lease equals
    /// `reset_timeout`.
    pub const DEFAULT: Config = Config {
        fail_max: 5,
        reset_timeout: Duration::from_secs(60),
        success_threshold: 1,
        probe_lease: Duration::from_secs(60),
    };

    /// Checks every setting, naming the first one that is out of range. A `const fn`, so
    /// that an annotated function's settings are checked again when it is compiled.
    pub const fn validate(&self) -> Result<(), ConfigError> {
        if self.fail_max < 1 || self.fail_max > MAX_FAIL_MAX {
            return Err(ConfigError::FailMax(self.fail_max));
        }
        if self.success_threshold < 1 || self.success_threshold > MAX_SUCCESS_THRESHOLD {
            return Err(ConfigError::SuccessThreshold(self.success_threshold));
        }
        if self.reset_timeout.is_zero() {
            return Err(ConfigError::ZeroResetTimeout);
        }
        if self.probe_lease.is_zero() {
            return Err(ConfigError::ZeroProbeLease);
        }
        Ok(())
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::DEFAULT
    }
}

/// The settings as the state machine applies them: counts, and durations in the
/// clock's nanoseconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rules {
    pub(crate) fail_max: u32,
    pub(crate) success_threshold: u32,
    pub(crate) reset_timeout: u64,
    pub(crate) probe_lease: u64,
}

impl From<&Config> for Rules {
    fn from(c: &Config) -> Self {
        Rules {
            fail_max: c.fail_max,
            success_threshold: c.success_threshold,
            reset_timeout: duration_to_nanos(c.reset_timeout),
            probe_lease: duration_to_nanos(c.probe_lease),
        }
    }
}

/// Builds a [`CircuitBreaker`]; start with [`CircuitBreaker::builder`].
///
/// ```
/// use std::time::Duration;
/// use breaker_runtime::CircuitBreaker;
///
/// let breaker = CircuitBreaker::builder("user-profile")
///     .fail_max(3)
///     .reset_timeout(Duration::from_secs(30))
///     .success_threshold(2)
///     .build();
/// assert_eq!(breaker.config().fail_max, 3);
/// ```
///
/// Invalid settings are refused by [`build`](Builder::build) (which panics with a message
/// naming the setting) and [`try_build`](Builder::try_build) (which returns it):
///
/// ```
/// use breaker_runtime::{CircuitBreaker, ConfigError};
///
/// let err = CircuitBreaker::builder("bad").fail_max(0).try_build().unwrap_err();
/// assert_eq!(err, ConfigError::FailMax(0));
/// assert!(err.to_string().starts_with("fail_max must be between 1 and"));
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder {
    name: &'static str,
    config: Config,
    lease_set: bool,
    clock: ClockSource,
    listeners: Vec<Arc<dyn Listener>>,
    listed: bool,
    sharing: Option<Sharing>,
    quorum: u32,
}

impl Builder {
    pub(crate) fn new(name: &'static str) -> Self {
        Builder {
            name,
            config: Config::DEFAULT,
            lease_set: false,
            clock: ClockSource::Monotonic,
            listeners: Vec::new(),
            listed: true,
            sharing: None,
            quorum: 1,
        }
    }

    /// Consecutive failures that open the breaker (default 5; at least 1).
    pub fn fail_max(mut self, fail_max: u32) -> Self {
        self.config.fail_max = fail_max;
        self
    }

    /// How long the breaker stays open before it lets a probe through (default 60 s;
    /// more than zero). Measured from the moment it last opened.
    pub fn reset_timeout(mut self, reset_timeout: Duration) -> Self {
        self.config.reset_timeout = reset_timeout;
        if !self.lease_set {
            self.config.probe_lease = reset_timeout;
        }
        self
    }

    /// Consecutive successful probes that close a half-open breaker (default 1).
    pub fn success_threshold(mut self, success_threshold: u32) -> Self {
        self.config.success_threshold = success_threshold;
        self
    }

    /// How long a half-open probe may run before the breaker stops waiting for it and
    /// lets the next caller probe (default: `reset_timeout`). This is what keeps a hung
    /// probe from wedging the breaker; the hung call's late result is then discarded.
    pub fn probe_lease(mut self, probe_lease: Duration) -> Self {
        self.config.probe_lease = probe_lease;
        self.lease_set = true;
        self
    }

    /// All settings at once, e.g. from a configuration file.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self.lease_set = true;
        self
    }

    /// The time source: a [`ManualClock`](crate::ManualClock) in tests, or any
    /// [`Clock`]. The default is [`MonotonicClock`](crate::MonotonicClock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = ClockSource::Custom(Arc::new(clock));
        self
    }

    /// Attaches a listener to this breaker.
    pub fn listener(self, listener: impl Listener) -> Self {
        self.listener_arc(Arc::new(listener))
    }

    /// Attaches a listener you keep a reference to (to read what it recorded).
    pub fn listener_arc(mut self, listener: Arc<dyn Listener>) -> Self {
        self.listeners.push(listener);
        self
    }

    /// Keeps this breaker out of the [`registry`](crate::registry) (it registers itself
    /// by default).
    pub fn unregistered(mut self) -> Self {
        self.listed = false;
        self
    }

    /// Joins the fleet breaker of this name on `backend` (feature `redis`): the replicas
    /// sharing it open together, send one probe for the fleet, and close together, while
    /// every call stays local. See [`shared`](crate::shared).
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn shared(mut self, backend: &crate::shared::RedisBackend) -> Self {
        self.sharing = Some(Sharing::With(backend.clone()));
        self
    }

    /// Joins the fleet breaker of this name through the backend
    /// [`install`](crate::shared)ed for the process, if there is one when the breaker is
    /// built; otherwise it runs locally and says so once (a `tracing` warning).
    pub fn shared_installed(mut self) -> Self {
        self.sharing = Some(Sharing::Installed);
        self
    }

    /// For a shared breaker: how many distinct replicas must trip within `reset_timeout`
    /// for the fleet to open (default 1). With 2 or more, one bad replica alone does not
    /// open the fleet.
    pub fn quorum(mut self, quorum: u32) -> Self {
        self.quorum = quorum;
        self
    }

    /// Builds the breaker, closed.
    ///
    /// # Panics
    ///
    /// When a setting is out of range, with a message that names it; use
    /// [`try_build`](Self::try_build) to handle that as a value.
    #[track_caller]
    pub fn build(self) -> CircuitBreaker {
        let name = self.name;
        self.try_build()
            .unwrap_or_else(|e| panic!("invalid configuration for circuit breaker '{name}': {e}"))
    }

    /// Builds the breaker, or says which setting is invalid.
    pub fn try_build(self) -> Result<CircuitBreaker, ConfigError> {
        if self.name.is_empty() {
            return Err(ConfigError::EmptyName);
        }
        self.config.validate()?;
        if self.quorum == 0 {
            return Err(ConfigError::ZeroQuorum);
        }
        let breaker = CircuitBreaker::new(
            self.name,
            self.config,
            ClockCell::new(self.clock),
            Sinks::new(self.listeners, self.sharing.is_some()),
        );
        registry::enroll(&breaker, self.listed);
        if let Some(sharing) = self.sharing {
            crate::shared::join(sharing, &breaker, self.quorum);
        }
        Ok(breaker)
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("name", &self.name)
            .field("config", &self.config)
            .field("clock", &self.clock)
            .field("listeners", &self.listeners.len())
            .field("listed", &self.listed)
            .field("shared", &self.sharing.is_some())
            .field("quorum", &self.quorum)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same numbers as the attribute's (`breaker-macros/src/args.rs`, pinned there
    /// by `tests/ui/pass/limits.rs` and `tests/ui/fail/counts_over_the_limit.rs`).
    #[test]
    fn the_limits_are_the_attributes() {
        let at = |fail_max, success_threshold| Config {
            fail_max,
            success_threshold,
            ..Config::DEFAULT
        };
        assert_eq!(at(1_048_575, 4_095).validate(), Ok(()));
        assert_eq!(
            at(1_048_576, 1).validate(),
            Err(ConfigError::FailMax(1_048_576))
        );
        assert_eq!(
            at(1, 4_096).validate(),
            Err(ConfigError::SuccessThreshold(4_096))
        );
        assert_eq!(at(0, 1).validate(), Err(ConfigError::FailMax(0)));
        assert_eq!(at(1, 0).validate(), Err(ConfigError::SuccessThreshold(0)));
        let zero = Config {
            reset_timeout: Duration::ZERO,
            ..Config::DEFAULT
        };
        assert_eq!(zero.validate(), Err(ConfigError::ZeroResetTimeout));
        // `validate` is a `const fn`: the attribute's settings are checked at compile time.
        const { assert!(Config::DEFAULT.validate().is_ok()) };
    }
}
