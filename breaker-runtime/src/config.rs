//! What a breaker is configured with: the public [`Config`], validated by a `const fn`
//! (so an annotated function's settings are checked again at compile time), and the
//! [`Rules`] the state machine applies, in its own units.

use std::time::Duration;

use crate::clock::duration_to_nanos;
use crate::error::ConfigError;
use crate::policy::{Backoff, Percent, Policy, Window};
use crate::state::{MAX_FAIL_MAX, MAX_PROBES, MAX_SUCCESS_THRESHOLD};

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
/// Any of them but `within` may come with **`throttle`**, which acts while the breaker
/// is closed: once the share of calls the upstream accepted over the (time) window
/// falls below `throttle`, each call is refused at random (Google's adaptive
/// throttling). With `throttle` and no other rule, `fail_max: 0` means the throttle
/// alone: the breaker never opens by itself ([`Policy::Throttle`]).
///
/// Build one with the [`Builder`](crate::Builder)'s methods, or write it out from
/// [`Config::DEFAULT`] (`Config { probes: 3, ..Config::DEFAULT }`) and pass it to
/// [`Builder::config`](crate::Builder::config); [`validate`](Config::validate) says what
/// is wrong with it.
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
    /// The longest an upstream's advice ([`Advice`](crate::Advice): a `Retry-After`, a
    /// gRPC `RetryInfo`) keeps the breaker open; `None` for the default, the larger of
    /// `reset_timeout` and 5 minutes.
    pub retry_after_cap: Option<Duration>,
    /// One failure that carries advice opens the breaker at once, whatever the trip
    /// rule, for the advised time (capped).
    pub open_on_retry_after: bool,
    /// Throttle below this success rate: while closed, once the calls the upstream
    /// accepted over the window are fewer than this share of the calls asked for (the
    /// refused ones included), each call is refused with probability
    /// `max(0, (requests − accepts / throttle) / (requests + 1))`. `50 %` is the SRE
    /// book's K = 2. Needs a time window (default 2 minutes) and `min_calls` (default 20).
    pub throttle: Option<Percent>,
    /// The largest share of calls the throttle refuses (default 90 %), so that some
    /// always go and see whether the upstream recovered.
    pub max_throttle: Option<Percent>,
}

/// The most calls a count window holds.
pub(crate) const MAX_WINDOW_CALLS: u32 = 65_536;
/// The default cap of an advised open period is at least this.
pub(crate) const RETRY_AFTER_CAP: Duration = Duration::from_secs(300);
/// A throttle's window when none is given: the SRE book's two minutes.
pub(crate) const THROTTLE_WINDOW: Duration = Duration::from_secs(120);
/// A throttle's `min_calls` when none is given.
pub(crate) const THROTTLE_MIN_CALLS: u32 = 20;
/// A throttle's cap when none is given.
pub(crate) const MAX_THROTTLE: Percent = Percent::from_basis_points(9_000);
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
        retry_after_cap: None,
        open_on_retry_after: false,
        throttle: None,
        max_throttle: None,
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
        } else if self.throttle.is_some() && self.fail_max == 0 {
            Policy::Throttle
        } else {
            Policy::Consecutive
        }
    }

    /// The window outcomes are counted over: `window`, or a throttle's two minutes.
    pub const fn effective_window(&self) -> Option<Window> {
        match (self.window, self.throttle) {
            (Some(window), _) => Some(window),
            (None, Some(_)) => Some(Window::Time(THROTTLE_WINDOW)),
            (None, None) => None,
        }
    }

    /// Checks every setting, naming the first one that is out of range or that does
    /// not go with the others. A `const fn`, so that an annotated function's settings
    /// are checked again when it is compiled.
    pub const fn validate(&self) -> Result<(), ConfigError> {
        // 0 is the throttle alone (no consecutive rule), only with a throttle.
        let throttle_alone = self.fail_max == 0 && self.throttle.is_some();
        if (self.fail_max < 1 && !throttle_alone) || self.fail_max > MAX_FAIL_MAX {
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
        if let Some(cap) = self.retry_after_cap {
            if cap.is_zero() {
                return Err(ConfigError::ZeroRetryAfterCap);
            }
        }
        Ok(())
    }

    /// The longest advice is trusted for: `retry_after_cap`, or the larger of
    /// `reset_timeout` and 5 minutes.
    pub const fn advice_cap(&self) -> Duration {
        match self.retry_after_cap {
            Some(cap) => cap,
            None if self.reset_timeout.as_nanos() > RETRY_AFTER_CAP.as_nanos() => {
                self.reset_timeout
            }
            None => RETRY_AFTER_CAP,
        }
    }

    /// The throttle's settings.
    const fn validate_throttle(&self) -> Result<(), ConfigError> {
        if let Some(max) = self.max_throttle {
            if self.throttle.is_none() {
                return Err(ConfigError::MaxThrottleWithoutThrottle);
            }
            if !max.is_rate() {
                return Err(ConfigError::MaxThrottle(max));
            }
        }
        let Some(rate) = self.throttle else {
            return Ok(());
        };
        if !rate.is_rate() {
            return Err(ConfigError::Throttle(rate));
        }
        if self.within.is_some() {
            return Err(ConfigError::ThrottleWithWithin);
        }
        if let Some(Window::Calls(_)) = self.window {
            return Err(ConfigError::ThrottleWithCountWindow);
        }
        Ok(())
    }

    /// The trip rule's settings.
    const fn validate_policy(&self) -> Result<(), ConfigError> {
        if let Err(e) = self.validate_throttle() {
            return Err(e);
        }
        let throttled = self.throttle.is_some();
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
            // A throttle's own window (a count window and `within` are refused above).
            (false, Some(Window::Time(d)), None) if throttled => Some(("window", d)),
            (false, None, None) if throttled => Some(("window", THROTTLE_WINDOW)),
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
        if self.min_calls.is_some() && self.window.is_none() && !throttled {
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
    /// The longest an advice keeps the breaker open.
    pub(crate) advice_cap: u64,
    /// One advised failure opens the breaker.
    pub(crate) open_on_advice: bool,
    /// The window (a rate, `within`, or a throttle alone) decides when the breaker
    /// trips; otherwise consecutive failures do, counted in the word (with or without
    /// a throttle's window beside them).
    pub(crate) window_trips: bool,
}

impl Rules {
    /// Whether `failures` failed and `slow` slow calls out of `calls` reach a rate.
    pub(crate) fn rate_reached(&self, failures: u32, slow: u32, calls: u32) -> bool {
        let reached = |n: u32, rate: u32| {
            rate != u32::MAX && u64::from(n) * 10_000 >= u64::from(rate) * u64::from(calls)
        };
        calls > 0 && (reached(failures, self.failure_rate) || reached(slow, self.slow_rate))
    }

    /// Whether a window's rate decides the trip (a rate policy), rather than
    /// consecutive failures.
    pub(crate) fn has_rate(&self) -> bool {
        self.failure_rate != u32::MAX || self.slow_rate != u32::MAX
    }

    /// Whether a counted breaker's half-open probes reopen it: by its rate, or, without
    /// one (consecutive failures or the throttle alone), at the first failed probe.
    pub(crate) fn probes_reopen(&self, failures: u32, slow: u32, period: u32) -> bool {
        if self.has_rate() {
            self.rate_reached(failures, slow, period)
        } else {
            failures > 0
        }
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
            advice_cap: duration_to_nanos(c.advice_cap()),
            open_on_advice: c.open_on_retry_after,
            window_trips: c.policy() != Policy::Consecutive,
        }
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

    const MS: fn(u64) -> Duration = Duration::from_millis;
    const S: fn(u64) -> Duration = Duration::from_secs;
    const D: Config = Config::DEFAULT;

    fn pc(bp: u32) -> Percent {
        Percent::from_basis_points(bp)
    }

    /// Each bound of each setting, on both sides: the last value accepted and the first
    /// refused, with the error that names it.
    #[test]
    fn every_bound_is_where_the_docs_put_it() {
        use ConfigError as E;
        let rate = |window| Config {
            failure_rate: Some(pc(5_000)),
            window: Some(window),
            min_calls: Some(1),
            ..D
        };
        let cases: Vec<(&str, Config, Result<(), ConfigError>)> = vec![
            (
                "no throttle, fail_max 0",
                Config { fail_max: 0, ..D },
                Err(E::FailMax(0)),
            ),
            (
                "a throttle alone",
                Config {
                    fail_max: 0,
                    throttle: Some(pc(5_000)),
                    ..D
                },
                Ok(()),
            ),
            ("probes 0", Config { probes: 0, ..D }, Err(E::Probes(0))),
            (
                "probes max",
                Config {
                    probes: MAX_PROBES,
                    ..D
                },
                Ok(()),
            ),
            (
                "probes over",
                Config {
                    probes: MAX_PROBES + 1,
                    ..D
                },
                Err(E::Probes(256)),
            ),
            (
                "probes and success_threshold",
                Config {
                    probes: 2,
                    success_threshold: 2,
                    ..D
                },
                Err(E::ProbesWithSuccessThreshold),
            ),
            (
                "probes, threshold 1",
                Config {
                    probes: 2,
                    success_threshold: 1,
                    ..D
                },
                Ok(()),
            ),
            (
                "threshold, probes 1",
                Config {
                    probes: 1,
                    success_threshold: 2,
                    ..D
                },
                Ok(()),
            ),
            (
                "half_open_timeout zero",
                Config {
                    half_open_timeout: Duration::ZERO,
                    ..D
                },
                Err(E::ZeroHalfOpenTimeout),
            ),
            (
                "backoff 1",
                Config {
                    backoff: Some(Backoff::new(1.0)),
                    ..D
                },
                Ok(()),
            ),
            (
                "backoff 10",
                Config {
                    backoff: Some(Backoff::new(10.0)),
                    ..D
                },
                Ok(()),
            ),
            (
                "backoff under 1",
                Config {
                    backoff: Some(Backoff::new(0.999)),
                    ..D
                },
                Err(E::Backoff(Backoff::new(0.999))),
            ),
            (
                "backoff over 10",
                Config {
                    backoff: Some(Backoff::new(10.001)),
                    ..D
                },
                Err(E::Backoff(Backoff::new(10.001))),
            ),
            (
                "max_reset_timeout without backoff",
                Config {
                    max_reset_timeout: Some(S(600)),
                    ..D
                },
                Err(E::MaxResetWithoutBackoff),
            ),
            (
                "max_reset_timeout at reset_timeout",
                Config {
                    backoff: Some(Backoff::new(2.0)),
                    max_reset_timeout: Some(S(60)),
                    ..D
                },
                Ok(()),
            ),
            (
                "max_reset_timeout below",
                Config {
                    backoff: Some(Backoff::new(2.0)),
                    max_reset_timeout: Some(S(60) - Duration::from_nanos(1)),
                    ..D
                },
                Err(E::MaxResetBelowReset {
                    max: S(60) - Duration::from_nanos(1),
                    reset_timeout: S(60),
                }),
            ),
            (
                "jitter 99.99 %",
                Config {
                    jitter: pc(9_999),
                    ..D
                },
                Ok(()),
            ),
            (
                "jitter 100 %",
                Config {
                    jitter: pc(10_000),
                    ..D
                },
                Err(E::Jitter(pc(10_000))),
            ),
            (
                "retry_after_cap zero",
                Config {
                    retry_after_cap: Some(Duration::ZERO),
                    ..D
                },
                Err(E::ZeroRetryAfterCap),
            ),
            (
                "retry_after_cap 1 ns",
                Config {
                    retry_after_cap: Some(Duration::from_nanos(1)),
                    ..D
                },
                Ok(()),
            ),
            // Rates.
            ("failure_rate 100 %", rate(Window::Calls(10)), Ok(())),
            (
                "failure_rate 0",
                Config {
                    failure_rate: Some(pc(0)),
                    ..rate(Window::Calls(10))
                },
                Err(E::FailureRate(pc(0))),
            ),
            (
                "failure_rate over 100 %",
                Config {
                    failure_rate: Some(pc(10_001)),
                    ..rate(Window::Calls(10))
                },
                Err(E::FailureRate(pc(10_001))),
            ),
            (
                "a rate without a window",
                Config {
                    failure_rate: Some(pc(5_000)),
                    ..D
                },
                Err(E::MissingWindow),
            ),
            (
                "a rate with within",
                Config {
                    within: Some(S(10)),
                    ..rate(Window::Calls(10))
                },
                Err(E::WithinWithRate),
            ),
            (
                "a time window without a rate",
                Config {
                    window: Some(Window::Time(S(10))),
                    ..D
                },
                Err(E::WindowWithoutRate),
            ),
            (
                "window without a rate",
                Config {
                    window: Some(Window::Calls(10)),
                    ..D
                },
                Err(E::WindowWithoutRate),
            ),
            ("window of 1 call", rate(Window::Calls(1)), Ok(())),
            (
                "window of 0 calls",
                rate(Window::Calls(0)),
                Err(E::WindowCalls(0)),
            ),
            (
                "window at the limit",
                rate(Window::Calls(MAX_WINDOW_CALLS)),
                Ok(()),
            ),
            (
                "window over the limit",
                rate(Window::Calls(MAX_WINDOW_CALLS + 1)),
                Err(E::WindowCalls(MAX_WINDOW_CALLS + 1)),
            ),
            (
                "min_calls = window",
                Config {
                    min_calls: Some(10),
                    ..rate(Window::Calls(10))
                },
                Ok(()),
            ),
            (
                "min_calls over the window",
                Config {
                    min_calls: Some(11),
                    ..rate(Window::Calls(10))
                },
                Err(E::MinCallsOverWindow {
                    min_calls: 11,
                    calls: 10,
                }),
            ),
            (
                "min_calls 0",
                Config {
                    min_calls: Some(0),
                    ..rate(Window::Calls(10))
                },
                Err(E::ZeroMinCalls),
            ),
            (
                "a time window without min_calls",
                Config {
                    min_calls: None,
                    ..rate(Window::Time(S(10)))
                },
                Err(E::TimeWindowWithoutMinCalls),
            ),
            (
                "a count window without min_calls",
                Config {
                    min_calls: None,
                    ..rate(Window::Calls(10))
                },
                Ok(()),
            ),
            (
                "min_calls without a window",
                Config {
                    min_calls: Some(3),
                    ..D
                },
                Err(E::MinCallsWithoutWindow),
            ),
            ("a time window of 1 s", rate(Window::Time(S(1))), Ok(())),
            (
                "a time window under 1 s",
                rate(Window::Time(MS(999))),
                Err(E::TimeTooShort {
                    setting: "window",
                    length: MS(999),
                }),
            ),
            (
                "2 buckets",
                Config {
                    buckets: 2,
                    ..rate(Window::Time(S(10)))
                },
                Ok(()),
            ),
            (
                "1 bucket",
                Config {
                    buckets: 1,
                    ..rate(Window::Time(S(10)))
                },
                Err(E::Buckets(1)),
            ),
            (
                "60 buckets",
                Config {
                    buckets: 60,
                    ..rate(Window::Time(S(10)))
                },
                Ok(()),
            ),
            (
                "61 buckets",
                Config {
                    buckets: 61,
                    ..rate(Window::Time(S(10)))
                },
                Err(E::Buckets(61)),
            ),
            (
                "buckets of 100 ms",
                Config {
                    buckets: 10,
                    ..rate(Window::Time(S(1)))
                },
                Ok(()),
            ),
            (
                "buckets under 100 ms",
                Config {
                    buckets: 11,
                    ..rate(Window::Time(S(1)))
                },
                Err(E::BucketTooShort {
                    length: S(1),
                    buckets: 11,
                }),
            ),
            (
                "buckets without a time window",
                Config {
                    buckets: 5,
                    ..rate(Window::Calls(10))
                },
                Err(E::BucketsWithoutTimeWindow),
            ),
            (
                "buckets alone",
                Config { buckets: 5, ..D },
                Err(E::BucketsWithoutTimeWindow),
            ),
            (
                "within 1 s",
                Config {
                    within: Some(S(1)),
                    ..D
                },
                Ok(()),
            ),
            (
                "within under 1 s",
                Config {
                    within: Some(MS(999)),
                    ..D
                },
                Err(E::TimeTooShort {
                    setting: "within",
                    length: MS(999),
                }),
            ),
            // Slow calls.
            (
                "slow_call alone",
                Config {
                    slow_call: Some(S(1)),
                    window: Some(Window::Calls(10)),
                    ..D
                },
                Ok(()),
            ),
            (
                "slow_call zero",
                Config {
                    slow_call: Some(Duration::ZERO),
                    window: Some(Window::Calls(10)),
                    ..D
                },
                Err(E::ZeroSlowCall),
            ),
            (
                "slow_rate without slow_call",
                Config {
                    slow_rate: Some(pc(5_000)),
                    ..D
                },
                Err(E::SlowRateWithoutSlowCall),
            ),
            (
                "slow_rate 0",
                Config {
                    slow_call: Some(S(1)),
                    slow_rate: Some(pc(0)),
                    window: Some(Window::Calls(10)),
                    ..D
                },
                Err(E::SlowRate(pc(0))),
            ),
            // Throttles.
            (
                "throttle 100 %",
                Config {
                    throttle: Some(pc(10_000)),
                    ..D
                },
                Ok(()),
            ),
            (
                "throttle 0",
                Config {
                    throttle: Some(pc(0)),
                    ..D
                },
                Err(E::Throttle(pc(0))),
            ),
            (
                "throttle over 100 %",
                Config {
                    throttle: Some(pc(10_001)),
                    ..D
                },
                Err(E::Throttle(pc(10_001))),
            ),
            (
                "max_throttle without throttle",
                Config {
                    max_throttle: Some(pc(5_000)),
                    ..D
                },
                Err(E::MaxThrottleWithoutThrottle),
            ),
            (
                "max_throttle 0",
                Config {
                    throttle: Some(pc(5_000)),
                    max_throttle: Some(pc(0)),
                    ..D
                },
                Err(E::MaxThrottle(pc(0))),
            ),
            (
                "max_throttle 100 %",
                Config {
                    throttle: Some(pc(5_000)),
                    max_throttle: Some(pc(10_000)),
                    ..D
                },
                Ok(()),
            ),
            (
                "a throttle with within",
                Config {
                    throttle: Some(pc(5_000)),
                    within: Some(S(10)),
                    ..D
                },
                Err(E::ThrottleWithWithin),
            ),
            (
                "a throttle with a count window",
                Config {
                    throttle: Some(pc(5_000)),
                    ..rate(Window::Calls(10))
                },
                Err(E::ThrottleWithCountWindow),
            ),
            (
                "a throttle with a time window of its own",
                Config {
                    throttle: Some(pc(5_000)),
                    window: Some(Window::Time(S(10))),
                    ..D
                },
                Ok(()),
            ),
            (
                "a throttle's window under 1 s",
                Config {
                    throttle: Some(pc(5_000)),
                    window: Some(Window::Time(MS(999))),
                    ..D
                },
                Err(E::TimeTooShort {
                    setting: "window",
                    length: MS(999),
                }),
            ),
            (
                "a throttle's own window in 60 buckets",
                Config {
                    throttle: Some(pc(5_000)),
                    buckets: 60,
                    ..D
                },
                Ok(()),
            ),
            (
                "a throttle's own window in 61",
                Config {
                    throttle: Some(pc(5_000)),
                    buckets: 61,
                    ..D
                },
                Err(E::Buckets(61)),
            ),
            (
                "min_calls with a throttle's own window",
                Config {
                    throttle: Some(pc(5_000)),
                    min_calls: Some(5),
                    ..D
                },
                Ok(()),
            ),
        ];
        for (what, config, expected) in cases {
            assert_eq!(config.validate(), expected, "{what}");
        }
    }

    #[test]
    fn the_policy_is_the_rule_that_trips() {
        let rate = Config {
            failure_rate: Some(pc(5_000)),
            ..D
        };
        let slow = Config {
            slow_call: Some(S(1)),
            ..D
        };
        let within = Config {
            within: Some(S(1)),
            ..D
        };
        let throttle = Config {
            throttle: Some(pc(5_000)),
            fail_max: 0,
            ..D
        };
        let beside = Config {
            throttle: Some(pc(5_000)),
            ..D
        };
        assert!(rate.is_rate() && slow.is_rate());
        assert!(!D.is_rate() && !within.is_rate() && !throttle.is_rate());
        assert_eq!(rate.policy(), Policy::Rate);
        assert_eq!(slow.policy(), Policy::Rate);
        assert_eq!(within.policy(), Policy::Within);
        assert_eq!(throttle.policy(), Policy::Throttle);
        assert_eq!(
            beside.policy(),
            Policy::Consecutive,
            "fail_max beside a throttle"
        );
        assert_eq!(D.policy(), Policy::Consecutive);
    }

    #[test]
    fn advice_is_trusted_for_the_cap_or_the_longer_of_reset_and_five_minutes() {
        let at = |reset_timeout, retry_after_cap| Config {
            reset_timeout,
            retry_after_cap,
            ..D
        };
        assert_eq!(at(S(60), None).advice_cap(), S(300));
        assert_eq!(at(S(300), None).advice_cap(), S(300));
        assert_eq!(at(S(301), None).advice_cap(), S(301));
        assert_eq!(at(S(301), Some(S(7))).advice_cap(), S(7));
        assert_eq!(at(S(60), Some(S(700))).advice_cap(), S(700));
    }

    #[test]
    fn rules_carry_the_settings_in_their_units() {
        let r = Rules::from(&Config {
            reset_timeout: S(2),
            half_open_timeout: MS(5),
            success_threshold: 3,
            jitter: pc(250),
            ..D
        });
        assert_eq!(
            (r.reset_timeout, r.half_open_timeout),
            (2_000_000_000, 5_000_000)
        );
        assert_eq!((r.success_threshold, r.probes), (3, 1));
        assert_eq!((r.backoff, r.max_reset_timeout), (1_000, 20_000_000_000));
        assert_eq!((r.jitter, r.slow_call), (250, u64::MAX));
        assert_eq!((r.failure_rate, r.slow_rate), (u32::MAX, u32::MAX));
        assert!(!r.has_rate() && !r.window_trips && !r.open_on_advice);
        let r = Rules::from(&Config { probes: 4, ..D });
        assert_eq!(
            (r.success_threshold, r.probes),
            (4, 4),
            "every probe decides"
        );
        let r = Rules::from(&Config {
            slow_call: Some(MS(1)),
            failure_rate: Some(pc(2_500)),
            window: Some(Window::Calls(4)),
            ..D
        });
        assert_eq!(
            (r.slow_call, r.slow_rate, r.failure_rate),
            (1_000_000, 10_000, 2_500)
        );
        assert!(r.has_rate() && r.window_trips);
        let r = Rules::from(&Config {
            slow_rate: Some(pc(10)),
            ..D
        });
        assert_eq!(
            r.slow_rate,
            u32::MAX,
            "a slow rate is nothing without slow_call"
        );
    }

    #[test]
    fn a_rate_is_reached_at_its_threshold_and_not_before() {
        let r = Rules::from(&Config {
            failure_rate: Some(pc(5_000)),
            slow_call: Some(S(1)),
            slow_rate: Some(pc(2_500)),
            window: Some(Window::Calls(8)),
            ..D
        });
        assert!(!r.rate_reached(0, 0, 0), "no calls, no rate");
        assert!(r.rate_reached(4, 0, 8) && !r.rate_reached(3, 0, 8));
        assert!(r.rate_reached(0, 2, 8) && !r.rate_reached(0, 1, 8));
        assert!(r.probes_reopen(1, 0, 2) && !r.probes_reopen(1, 0, 3));
        let consecutive = Rules::from(&D);
        assert!(!consecutive.rate_reached(8, 8, 8), "no rate is a rule");
        assert!(consecutive.probes_reopen(1, 0, 100) && !consecutive.probes_reopen(0, 9, 1));
    }
}
