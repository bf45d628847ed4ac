//! Configuration of a breaker, validated when it is built.

use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{duration_to_nanos, ClockCell, ClockSource};
use crate::events::Sinks;
use crate::policy::{Backoff, IntoPercent, Percent, Policy, Window};
use crate::registry::{self, Enrolled};
use crate::shared::Sharing;
use crate::state::{MAX_FAIL_MAX, MAX_PROBES, MAX_SUCCESS_THRESHOLD};
use crate::{CircuitBreaker, Clock, ConfigError, Listener, Name};

/// The settings of a breaker: pybreaker's (`fail_max`, `reset_timeout`), and the
/// policies beyond them (see the crate's README, "Policies").
///
/// The breaker trips on one of three rules, chosen by which fields are set:
///
/// - **consecutive failures** (the default): `fail_max` failures in a row;
/// - **failures within a time**: `within` set, `fail_max` failures whose completion
///   times lie within the last `within`, successes notwithstanding;
/// - **a rate over a window**: `failure_rate` and/or `slow_call` set, with a `window`;
///   `fail_max` is then unused.
///
/// Build one with the [`Builder`]'s methods, or write it out from
/// [`Config::DEFAULT`] (`Config { probes: 3, ..Config::DEFAULT }`) and pass it to
/// [`Builder::config`]; [`validate`](Config::validate) says what is wrong with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Consecutive failures that open the breaker (with `within`: failures within that
    /// time).
    pub fail_max: u32,
    /// How long the breaker stays open before a probe call is let through (the first
    /// time: see `backoff`).
    pub reset_timeout: Duration,
    /// Consecutive successful probes, one at a time, that close a half-open breaker.
    pub success_threshold: u32,
    /// A half-open probe still running after this long counts as a failure: the
    /// breaker reopens, and the probe's late result is discarded.
    pub half_open_timeout: Duration,
    /// Calls a half-open breaker lets through together; all of them must succeed (or,
    /// for a rate policy, stay below the rate) to close it.
    pub probes: u32,
    /// `fail_max` failures within this sliding time open the breaker, instead of
    /// `fail_max` in a row.
    pub within: Option<Duration>,
    /// Trip when at least this share of the window's calls failed.
    pub failure_rate: Option<Percent>,
    /// A call that takes strictly longer is slow.
    pub slow_call: Option<Duration>,
    /// Trip when at least this share of the window's calls were slow (default 100 %
    /// when `slow_call` is set).
    pub slow_rate: Option<Percent>,
    /// The calls a rate is computed over.
    pub window: Option<Window>,
    /// Buckets a time window (or `within`) is split into; default 10.
    pub buckets: u32,
    /// No verdict until the window holds this many calls (default for a count window:
    /// its size; required for a time window).
    pub min_calls: Option<u32>,
    /// Each reopening from half-open multiplies the open duration by this.
    pub backoff: Option<Backoff>,
    /// The cap of a backed-off open duration (default 10 × `reset_timeout`).
    pub max_reset_timeout: Option<Duration>,
    /// Each open duration is shortened by a random share of up to this much.
    pub jitter: Percent,
}

/// The most calls a count window holds.
pub(crate) const MAX_WINDOW_CALLS: u32 = 65_536;
/// The shortest time window (or `within`), and the shortest bucket.
const MIN_WINDOW: Duration = Duration::from_secs(1);
const MIN_BUCKET: Duration = Duration::from_millis(100);

impl Config {
    /// pybreaker's defaults: 5 consecutive failures, 60 seconds, 1 probe; the half-open
    /// timeout equals `reset_timeout`; no backoff, no jitter.
    pub const DEFAULT: Config = Config {
        fail_max: 5,
        reset_timeout: Duration::from_secs(60),
        success_threshold: 1,
        half_open_timeout: Duration::from_secs(60),
        probes: 1,
        within: None,
        failure_rate: None,
        slow_call: None,
        slow_rate: None,
        window: None,
        buckets: 10,
        min_calls: None,
        backoff: None,
        max_reset_timeout: None,
        jitter: Percent::ZERO,
    };

    /// True when the breaker trips on a rate (`failure_rate` or `slow_call` set).
    pub const fn is_rate(&self) -> bool {
        self.failure_rate.is_some() || self.slow_call.is_some()
    }

    /// The rule the breaker trips on.
    pub const fn policy(&self) -> Policy {
        if self.is_rate() {
            Policy::Rate
        } else if self.within.is_some() {
            Policy::Within
        } else {
            Policy::Consecutive
        }
    }

    /// Checks every setting, naming the first one that is out of range or that does
    /// not go with the others. A `const fn`, so that an annotated function's settings
    /// are checked again when it is compiled.
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
        if self.half_open_timeout.is_zero() {
            return Err(ConfigError::ZeroHalfOpenTimeout);
        }
        if self.probes < 1 || self.probes > MAX_PROBES {
            return Err(ConfigError::Probes(self.probes));
        }
        if self.probes > 1 && self.success_threshold > 1 {
            return Err(ConfigError::ProbesWithSuccessThreshold);
        }
        if let Err(e) = self.validate_policy() {
            return Err(e);
        }
        if let Some(backoff) = self.backoff {
            if backoff.thousandths() < 1_000 || backoff.thousandths() > 10_000 {
                return Err(ConfigError::Backoff(backoff));
            }
        }
        if let Some(max) = self.max_reset_timeout {
            if self.backoff.is_none() {
                return Err(ConfigError::MaxResetWithoutBackoff);
            }
            if max.as_nanos() < self.reset_timeout.as_nanos() {
                return Err(ConfigError::MaxResetBelowReset {
                    max,
                    reset_timeout: self.reset_timeout,
                });
            }
        }
        if self.jitter.basis_points() >= 10_000 {
            return Err(ConfigError::Jitter(self.jitter));
        }
        Ok(())
    }

    /// The trip rule's settings.
    const fn validate_policy(&self) -> Result<(), ConfigError> {
        if let Some(rate) = self.failure_rate {
            if !rate.is_rate() {
                return Err(ConfigError::FailureRate(rate));
            }
        }
        if let Some(slow) = self.slow_call {
            if slow.is_zero() {
                return Err(ConfigError::ZeroSlowCall);
            }
        }
        if let Some(rate) = self.slow_rate {
            if self.slow_call.is_none() {
                return Err(ConfigError::SlowRateWithoutSlowCall);
            }
            if !rate.is_rate() {
                return Err(ConfigError::SlowRate(rate));
            }
        }
        let timed = match (self.is_rate(), self.window, self.within) {
            (true, _, Some(_)) => return Err(ConfigError::WithinWithRate),
            (true, None, None) => return Err(ConfigError::MissingWindow),
            (false, Some(_), _) => return Err(ConfigError::WindowWithoutRate),
            (true, Some(Window::Calls(n)), None) => {
                if n < 1 || n > MAX_WINDOW_CALLS {
                    return Err(ConfigError::WindowCalls(n));
                }
                if let Some(min_calls) = self.min_calls {
                    if min_calls > n {
                        return Err(ConfigError::MinCallsOverWindow {
                            min_calls,
                            calls: n,
                        });
                    }
                }
                None
            }
            (true, Some(Window::Time(d)), None) => {
                if self.min_calls.is_none() {
                    return Err(ConfigError::TimeWindowWithoutMinCalls);
                }
                Some(("window", d))
            }
            (false, None, Some(d)) => Some(("within", d)),
            (false, None, None) => None,
        };
        if let Some(0) = self.min_calls {
            return Err(ConfigError::ZeroMinCalls);
        }
        if self.min_calls.is_some() && self.window.is_none() {
            return Err(ConfigError::MinCallsWithoutWindow);
        }
        match timed {
            Some((setting, length)) => {
                if length.as_nanos() < MIN_WINDOW.as_nanos() {
                    return Err(ConfigError::TimeTooShort { setting, length });
                }
                if self.buckets < 2 || self.buckets > 60 {
                    return Err(ConfigError::Buckets(self.buckets));
                }
                let bucket = length.as_nanos() / self.buckets as u128;
                if bucket < MIN_BUCKET.as_nanos() {
                    return Err(ConfigError::BucketTooShort {
                        length,
                        buckets: self.buckets,
                    });
                }
            }
            None if self.buckets != Config::DEFAULT.buckets => {
                return Err(ConfigError::BucketsWithoutTimeWindow)
            }
            None => {}
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
    /// Probes recorded (successes, or outcomes for a rate policy) that close.
    pub(crate) success_threshold: u32,
    /// Probes let through at a time.
    pub(crate) probes: u32,
    pub(crate) reset_timeout: u64,
    pub(crate) half_open_timeout: u64,
    /// In thousandths; 1,000 when there is no backoff.
    pub(crate) backoff: u32,
    pub(crate) max_reset_timeout: u64,
    pub(crate) jitter: u32,
    /// A call slower than this is slow; `u64::MAX` when slowness is not measured.
    pub(crate) slow_call: u64,
    /// The rate policy's thresholds in basis points (`u32::MAX`: not a trip rule).
    pub(crate) failure_rate: u32,
    pub(crate) slow_rate: u32,
}

impl Rules {
    /// Whether `failures` failed and `slow` slow calls out of `calls` reach a rate.
    pub(crate) fn rate_reached(&self, failures: u32, slow: u32, calls: u32) -> bool {
        let reached = |n: u32, rate: u32| {
            rate != u32::MAX && u64::from(n) * 10_000 >= u64::from(rate) * u64::from(calls)
        };
        calls > 0 && (reached(failures, self.failure_rate) || reached(slow, self.slow_rate))
    }
}

impl From<&Config> for Rules {
    fn from(c: &Config) -> Self {
        let reset_timeout = duration_to_nanos(c.reset_timeout);
        let (success_threshold, probes) = if c.probes > 1 {
            (c.probes, c.probes)
        } else {
            (c.success_threshold, 1)
        };
        Rules {
            fail_max: c.fail_max,
            success_threshold,
            probes,
            reset_timeout,
            half_open_timeout: duration_to_nanos(c.half_open_timeout),
            backoff: c.backoff.map_or(1_000, Backoff::thousandths),
            max_reset_timeout: match c.max_reset_timeout {
                Some(max) => duration_to_nanos(max),
                None => reset_timeout.saturating_mul(10),
            },
            jitter: c.jitter.basis_points(),
            slow_call: c.slow_call.map_or(u64::MAX, duration_to_nanos),
            failure_rate: c.failure_rate.map_or(u32::MAX, Percent::basis_points),
            slow_rate: match (c.slow_call, c.slow_rate) {
                (None, _) => u32::MAX,
                (Some(_), rate) => rate.unwrap_or(Percent::HUNDRED).basis_points(),
            },
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
    name: Name,
    config: Config,
    /// Settings given explicitly (`EXPLICIT_*`), for the combinations refused only when
    /// both were asked for.
    explicit: u8,
    clock: ClockSource,
    listeners: Vec<Arc<dyn Listener>>,
    listed: bool,
    sharing: Option<Sharing>,
    quorum: u32,
}

impl Builder {
    pub(crate) fn new(name: Name) -> Self {
        Builder {
            name,
            config: Config::DEFAULT,
            explicit: 0,
            clock: ClockSource::Monotonic,
            listeners: Vec::new(),
            listed: true,
            sharing: None,
            quorum: 1,
        }
    }

    /// The same settings under another name (a keyed set's overflow breaker).
    pub(crate) fn renamed(mut self, name: Name) -> Self {
        self.name = name;
        self
    }

    /// Consecutive failures that open the breaker (default 5; 1 to 65,535). With
    /// [`within`](Self::within): failures within that time.
    pub fn fail_max(mut self, fail_max: u32) -> Self {
        self.config.fail_max = fail_max;
        self.explicit |= EXPLICIT_FAIL_MAX;
        self
    }

    /// How long the breaker stays open before it lets a probe through (default 60 s;
    /// more than zero). Measured from the moment it last opened. Also the default
    /// [`half_open_timeout`](Self::half_open_timeout).
    pub fn reset_timeout(mut self, reset_timeout: Duration) -> Self {
        self.config.reset_timeout = reset_timeout;
        if self.explicit & EXPLICIT_HALF_OPEN_TIMEOUT == 0 {
            self.config.half_open_timeout = reset_timeout;
        }
        self
    }

    /// Consecutive successful probes, one at a time, that close a half-open breaker
    /// (default 1). Not with [`probes`](Self::probes).
    pub fn success_threshold(mut self, success_threshold: u32) -> Self {
        self.config.success_threshold = success_threshold;
        self.explicit |= EXPLICIT_SUCCESS_THRESHOLD;
        self
    }

    /// Calls a half-open breaker lets through together (default 1; at most 255): any
    /// failed probe reopens it (for a rate policy: as soon as the failed or slow probes
    /// alone reach the rate over `probes`), and it closes once all of them have
    /// succeeded. A probe with a neutral outcome gives its slot back. Not with
    /// [`success_threshold`](Self::success_threshold).
    pub fn probes(mut self, probes: u32) -> Self {
        self.config.probes = probes;
        self.explicit |= EXPLICIT_PROBES;
        self
    }

    /// How long a half-open probe may run (default: `reset_timeout`). A probe still
    /// running after this long counts as a failure: the breaker reopens (as of that
    /// deadline), the backoff advances, and the probe's late result is discarded. This
    /// is what keeps a hung probe from wedging the breaker. With several probes, the
    /// time runs from the last one let through.
    pub fn half_open_timeout(mut self, half_open_timeout: Duration) -> Self {
        self.config.half_open_timeout = half_open_timeout;
        self.explicit |= EXPLICIT_HALF_OPEN_TIMEOUT;
        self
    }

    /// Counts `fail_max` failures within this sliding time instead of in a row:
    /// successes do not reset the count (at least 1 s; split into
    /// [`buckets`](Self::buckets)). Needs [`fail_max`](Self::fail_max).
    pub fn within(mut self, within: Duration) -> Self {
        self.config.within = Some(within);
        self
    }

    /// Trips on the failure rate over the [`window`](Self::window) instead of on
    /// consecutive failures: when the window holds at least
    /// [`min_calls`](Self::min_calls) calls and at least this share of them failed.
    /// Takes a whole number of percent (`50` is 50 %) or a [`Percent`]
    /// (`Percent::new(12.5)`); a bare float such as `0.5` does not compile (see
    /// [`IntoPercent`]).
    pub fn failure_rate(mut self, rate: impl IntoPercent) -> Self {
        self.config.failure_rate = Some(rate.into_percent());
        self
    }

    /// The calls a rate is computed over: [`Window::Calls`] (the last N) or
    /// [`Window::Time`] (at least 1 s, with [`min_calls`](Self::min_calls)).
    pub fn window(mut self, window: Window) -> Self {
        self.config.window = Some(window);
        self
    }

    /// How many buckets a time window (or [`within`](Self::within)) is split into
    /// (default 10; 2 to 60; each at least 100 ms). More buckets slide more smoothly.
    pub fn buckets(mut self, buckets: u32) -> Self {
        self.config.buckets = buckets;
        self
    }

    /// No verdict until the window holds this many calls: for a count window at most
    /// its size (the default), for a time window required.
    pub fn min_calls(mut self, min_calls: u32) -> Self {
        self.config.min_calls = Some(min_calls);
        self
    }

    /// A call that takes strictly longer than this (on the breaker's clock) is slow;
    /// the breaker trips when [`slow_rate`](Self::slow_rate) of the window's calls are.
    pub fn slow_call(mut self, slow_call: Duration) -> Self {
        self.config.slow_call = Some(slow_call);
        self
    }

    /// The share of slow calls that trips the breaker (default 100 %). Needs
    /// [`slow_call`](Self::slow_call).
    pub fn slow_rate(mut self, rate: impl IntoPercent) -> Self {
        self.config.slow_rate = Some(rate.into_percent());
        self
    }

    /// Each reopening from half-open multiplies the open duration by this factor (1.0
    /// to 10.0), up to [`max_reset_timeout`](Self::max_reset_timeout) (default 10 ×
    /// `reset_timeout`). Closing starts over from `reset_timeout`.
    pub fn backoff(mut self, factor: f64) -> Self {
        self.config.backoff = Some(Backoff::new(factor));
        self
    }

    /// The cap of the backed-off open duration (at least `reset_timeout`). Needs
    /// [`backoff`](Self::backoff).
    pub fn max_reset_timeout(mut self, max: Duration) -> Self {
        self.config.max_reset_timeout = Some(max);
        self
    }

    /// Shortens each open duration by a random share of up to this much (0 % to below
    /// 100 %), so that many breakers opened together do not probe together. The
    /// duration never exceeds the cap, and keeps its spread at the cap.
    pub fn jitter(mut self, jitter: impl IntoPercent) -> Self {
        self.config.jitter = jitter.into_percent();
        self
    }

    /// All settings at once, e.g. from a configuration file.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self.explicit = FROM_CONFIG | EXPLICIT_HALF_OPEN_TIMEOUT;
        self
    }

    /// The time source: a [`ManualClock`](crate::ManualClock) in tests, or any
    /// [`Clock`]. The default is [`MonotonicClock`](crate::MonotonicClock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = ClockSource::of(clock);
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
    /// **A name stands for one breaker.** When a live registered breaker already bears
    /// this name, `build` hands that breaker back, as Resilience4j's registry does,
    /// provided this builder asks for nothing different: the same [`Config`], clock
    /// (clones of one [`ManualClock`](crate::ManualClock) are one clock), listeners (the
    /// same `Arc`s, see [`listener_arc`](Self::listener_arc)) and fleet membership. Two
    /// keyed sets made from one template, or two clients from one factory, thus share
    /// each key's breaker. A breaker built [`unregistered`](Self::unregistered) is
    /// private: it never shares, and its name need not be unique.
    ///
    /// ```
    /// use breaker_runtime::{CircuitBreaker, ConfigError};
    ///
    /// let first = CircuitBreaker::builder("build-doc").fail_max(3).build();
    /// let again = CircuitBreaker::builder("build-doc").fail_max(3).build();
    /// assert!(again.ptr_eq(&first));
    ///
    /// let other = CircuitBreaker::builder("build-doc").fail_max(4).try_build();
    /// assert_eq!(other.unwrap_err(), ConfigError::NameTaken);
    /// ```
    ///
    /// # Panics
    ///
    /// When a setting is out of range, with a message that names it, or when a live
    /// breaker bears the name with other settings ([`ConfigError::NameTaken`]); use
    /// [`try_build`](Self::try_build) to handle that as a value.
    #[track_caller]
    pub fn build(self) -> CircuitBreaker {
        let name = self.name.clone();
        self.try_build()
            .unwrap_or_else(|e| panic!("invalid configuration for circuit breaker '{name}': {e}"))
    }

    /// Builds the breaker (or hands back the live one of its name: see
    /// [`build`](Self::build)), or says which setting is invalid.
    pub fn try_build(self) -> Result<CircuitBreaker, ConfigError> {
        if self.name.is_empty() {
            return Err(ConfigError::EmptyName);
        }
        self.check_combinations()?;
        self.config.validate()?;
        if self.quorum == 0 {
            return Err(ConfigError::ZeroQuorum);
        }
        let built = CircuitBreaker::new(
            self.name,
            self.config,
            ClockCell::new(self.clock),
            Sinks::new(
                self.listeners,
                self.sharing.as_ref().and(NonZeroU32::new(self.quorum)),
            ),
        );
        match registry::enroll(built, self.listed)? {
            Enrolled::Existing(breaker) => Ok(breaker),
            Enrolled::New(breaker) => {
                if let Some(sharing) = self.sharing {
                    crate::shared::join(sharing, &breaker, self.quorum);
                }
                Ok(breaker)
            }
        }
    }
}

/// Whether `built` would be `existing` in all but identity: its settings, clock,
/// listeners and fleet membership. Building a name a live breaker bears hands that
/// breaker back only then.
pub(crate) fn same_settings(built: &CircuitBreaker, existing: &CircuitBreaker) -> bool {
    built.config() == existing.config()
        && built.clock_source().same(existing.clock_source())
        && built.sinks().same_as(existing.sinks())
}

const EXPLICIT_FAIL_MAX: u8 = 1;
const EXPLICIT_SUCCESS_THRESHOLD: u8 = 2;
const EXPLICIT_PROBES: u8 = 4;
const EXPLICIT_HALF_OPEN_TIMEOUT: u8 = 8;
/// The settings came as one [`Config`]: nothing to tell from defaults.
const FROM_CONFIG: u8 = 16;

impl Builder {
    /// The combinations refused because both settings were asked for, which a
    /// [`Config`] cannot tell from its defaults.
    fn check_combinations(&self) -> Result<(), ConfigError> {
        let asked = |bits: u8| self.explicit & bits == bits;
        if asked(FROM_CONFIG) {
            return Ok(());
        }
        if asked(EXPLICIT_FAIL_MAX) && self.config.is_rate() {
            return Err(ConfigError::FailMaxWithRate);
        }
        if asked(EXPLICIT_PROBES | EXPLICIT_SUCCESS_THRESHOLD) {
            return Err(ConfigError::ProbesWithSuccessThreshold);
        }
        if self.config.within.is_some() && !self.config.is_rate() && !asked(EXPLICIT_FAIL_MAX) {
            return Err(ConfigError::WithinWithoutFailMax);
        }
        Ok(())
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
        assert_eq!(at(65_535, 4_095).validate(), Ok(()));
        assert_eq!(at(65_536, 1).validate(), Err(ConfigError::FailMax(65_536)));
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
