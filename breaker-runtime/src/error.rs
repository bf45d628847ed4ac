//! The errors a breaker returns: a rejected call, and an invalid configuration.

use std::error::Error;
use std::fmt;
use std::time::Duration;

use crate::policy::{Backoff, Percent};
use crate::Name;

/// Why a call did not get through a circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The breaker is open: the dependency failed `fail_max` times in a row and
    /// `reset_timeout` has not yet passed.
    Open,
    /// The breaker is half-open and its single probe call is still running.
    ProbeInFlight,
    /// The call was admitted but ran longer than its `call_timeout` and was abandoned.
    /// It counted as a failure.
    Timeout,
    /// The breaker was forced open ([`CircuitBreaker::force_open`](crate::CircuitBreaker::force_open)),
    /// for maintenance or a test; it stays open until released.
    ForcedOpen,
    /// The breaker is closed but throttling (`throttle`): its upstream has been
    /// accepting too few calls, and this one was refused at random, with the
    /// probability [`CircuitBreakerError::throttle_probability`] says. No retry time:
    /// the next call may go through.
    Throttled,
}

/// A call that the circuit breaker refused to run, or abandoned.
///
/// It says which breaker refused, why, and when a call may get through again. It is
/// `Send + Sync + Clone + 'static` and implements [`std::error::Error`], so it converts
/// into `Box<dyn Error + Send + Sync>` and `anyhow::Error` with `?`; for your own error
/// type, implement `From<CircuitBreakerError>`:
///
/// ```
/// use breaker_runtime::{CircuitBreaker, CircuitBreakerError};
///
/// #[derive(Debug)]
/// enum ProfileError {
///     Unavailable(CircuitBreakerError),
///     NotFound,
/// }
///
/// impl From<CircuitBreakerError> for ProfileError {
///     fn from(e: CircuitBreakerError) -> Self {
///         ProfileError::Unavailable(e)
///     }
/// }
///
/// impl std::fmt::Display for ProfileError {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         match self {
///             ProfileError::Unavailable(e) => write!(f, "profiles unavailable: {e}"),
///             ProfileError::NotFound => f.write_str("no such profile"),
///         }
///     }
/// }
///
/// let clock = breaker_runtime::ManualClock::new();
/// let breaker = CircuitBreaker::builder("user-profile").clock(clock).build();
/// breaker.open();
/// let result: Result<(), ProfileError> = breaker.call(|| Err(ProfileError::NotFound));
/// let Err(ProfileError::Unavailable(e)) = result else { panic!("expected a rejection") };
/// assert_eq!(e.to_string(), "circuit breaker 'user-profile' is open; retry in 60s");
/// assert_eq!(e.retry_after(), Some(std::time::Duration::from_secs(60)));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct CircuitBreakerError {
    name: Name,
    /// The kind in the top three bits; below, for `Open` the time until a probe is
    /// allowed, for `Timeout` the limit the call ran into, in nanoseconds (73 years),
    /// for `Throttled` the refusal probability in millionths. One word, with no narrow
    /// fields: a rejection is built with whole-word stores, so moving it never stalls on
    /// store forwarding, and it does no division (the `Duration`s are made when asked
    /// for).
    bits: u64,
}

const KIND_SHIFT: u32 = 61;
const NANOS: u64 = (1 << KIND_SHIFT) - 1;

impl CircuitBreakerError {
    #[inline(always)]
    fn new(name: Name, kind: ErrorKind, nanos: u64) -> Self {
        let kind = match kind {
            ErrorKind::Open => 0,
            ErrorKind::ProbeInFlight => 1,
            ErrorKind::Timeout => 2,
            ErrorKind::ForcedOpen => 3,
            ErrorKind::Throttled => 4,
        };
        Self {
            name,
            bits: (kind << KIND_SHIFT) | nanos.min(NANOS),
        }
    }

    #[inline(always)]
    pub(crate) fn open(name: Name, retry_after_nanos: u64) -> Self {
        Self::new(name, ErrorKind::Open, retry_after_nanos)
    }

    #[inline(always)]
    pub(crate) fn forced_open(name: Name) -> Self {
        Self::new(name, ErrorKind::ForcedOpen, 0)
    }

    #[inline(always)]
    pub(crate) fn probe_in_flight(name: Name) -> Self {
        Self::new(name, ErrorKind::ProbeInFlight, 0)
    }

    /// A call refused by the throttle, whose refusal probability was `millionths`.
    pub(crate) fn throttled(name: Name, millionths: u32) -> Self {
        Self::new(name, ErrorKind::Throttled, u64::from(millionths))
    }

    /// The error for a call through breaker `name` abandoned after `after`: what a
    /// `call_timeout` returns.
    pub fn timeout(name: impl Into<Name>, after: Duration) -> Self {
        Self::new(
            name.into(),
            ErrorKind::Timeout,
            crate::clock::duration_to_nanos(after),
        )
    }

    fn nanos(&self) -> u64 {
        self.bits & NANOS
    }

    /// The name of the breaker that refused the call.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Why the call did not get through.
    pub fn kind(&self) -> ErrorKind {
        match self.bits >> KIND_SHIFT {
            0 => ErrorKind::Open,
            1 => ErrorKind::ProbeInFlight,
            2 => ErrorKind::Timeout,
            3 => ErrorKind::ForcedOpen,
            _ => ErrorKind::Throttled,
        }
    }

    /// True when the breaker was open (on its own, or forced).
    pub fn is_open(&self) -> bool {
        matches!(self.kind(), ErrorKind::Open | ErrorKind::ForcedOpen)
    }

    /// True when the call ran past its `call_timeout`.
    pub fn is_timeout(&self) -> bool {
        self.kind() == ErrorKind::Timeout
    }

    /// True when the throttle refused the call (the breaker is closed; see
    /// [`ErrorKind::Throttled`]).
    pub fn is_throttled(&self) -> bool {
        self.kind() == ErrorKind::Throttled
    }

    /// For a [`Throttled`](ErrorKind::Throttled) refusal: the probability, in [0, 1],
    /// with which the breaker was refusing calls when it refused this one.
    pub fn throttle_probability(&self) -> Option<f64> {
        self.is_throttled()
            .then(|| self.nanos() as f64 / 1_000_000.0)
    }

    /// How long until the breaker lets a probe call through, when it was open: the
    /// value for an HTTP `Retry-After` header. `None` for the other kinds.
    pub fn retry_after(&self) -> Option<Duration> {
        (self.kind() == ErrorKind::Open).then(|| Duration::from_nanos(self.nanos()))
    }

    /// For a [`Timeout`](ErrorKind::Timeout): how long the call ran before it was abandoned.
    pub fn elapsed(&self) -> Option<Duration> {
        (self.kind() == ErrorKind::Timeout).then(|| Duration::from_nanos(self.nanos()))
    }
}

impl fmt::Display for CircuitBreakerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = &self.name;
        match self.kind() {
            ErrorKind::Open if self.nanos() == 0 => {
                write!(f, "circuit breaker '{name}' is open; retry now")
            }
            ErrorKind::Open => {
                let wait = Rounded(Duration::from_nanos(self.nanos()));
                write!(f, "circuit breaker '{name}' is open; retry in {wait}")
            }
            ErrorKind::ForcedOpen => write!(
                f,
                "circuit breaker '{name}' is forced open (maintenance); it stays open until released"
            ),
            ErrorKind::ProbeInFlight => write!(
                f,
                "circuit breaker '{name}' is half-open and its probe call is still running; retry shortly"
            ),
            ErrorKind::Timeout => {
                let limit = Rounded(Duration::from_nanos(self.nanos()));
                write!(f, "call through circuit breaker '{name}' timed out after {limit}")
            }
            ErrorKind::Throttled => write!(
                f,
                "circuit breaker '{name}' throttled the call (refusing {:.1}% of calls while its upstream accepts too few); retry now",
                self.nanos() as f64 / 10_000.0
            ),
        }
    }
}

impl fmt::Debug for CircuitBreakerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("CircuitBreakerError");
        d.field("name", &self.name).field("kind", &self.kind());
        match self.kind() {
            ErrorKind::Open => d.field("retry_after", &Duration::from_nanos(self.nanos())),
            ErrorKind::Timeout => d.field("elapsed", &Duration::from_nanos(self.nanos())),
            ErrorKind::Throttled => d.field("probability", &(self.nanos() as f64 / 1e6)),
            _ => &mut d,
        };
        d.finish()
    }
}

impl Error for CircuitBreakerError {}

/// So that functions returning `std::io::Result` can be guarded as they are: a timeout
/// becomes [`TimedOut`](std::io::ErrorKind::TimedOut), a rejection
/// [`Other`](std::io::ErrorKind::Other); the `CircuitBreakerError` stays inside
/// (`get_ref()` and `downcast`).
impl From<CircuitBreakerError> for std::io::Error {
    fn from(error: CircuitBreakerError) -> Self {
        let kind = match error.kind() {
            ErrorKind::Timeout => std::io::ErrorKind::TimedOut,
            _ => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, error)
    }
}

/// A duration for people: whole seconds (rounded up, as `Retry-After` wants) from one
/// second on, whole milliseconds (rounded up) below.
struct Rounded(Duration);

impl fmt::Display for Rounded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.as_nanos();
        if nanos >= 1_000_000_000 {
            write!(f, "{}s", nanos.div_ceil(1_000_000_000))
        } else {
            write!(f, "{}ms", nanos.div_ceil(1_000_000).max(1))
        }
    }
}

/// A setting a [`Builder`](crate::Builder) refused, with the reason and the valid range.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// `fail_max` was 0 or larger than the packed counter holds.
    FailMax(u32),
    /// `success_threshold` was 0 or larger than the packed counter holds.
    SuccessThreshold(u32),
    /// `reset_timeout` was zero.
    ZeroResetTimeout,
    /// `half_open_timeout` was zero.
    ZeroHalfOpenTimeout,
    /// `probes` was 0 or more than 255.
    Probes(u32),
    /// Both `probes` and `success_threshold` were set.
    ProbesWithSuccessThreshold,
    /// `fail_max` was set together with `failure_rate` or `slow_call`.
    FailMaxWithRate,
    /// `failure_rate` was not more than 0 % and at most 100 %.
    FailureRate(Percent),
    /// `slow_rate` was not more than 0 % and at most 100 %.
    SlowRate(Percent),
    /// `slow_call` was zero.
    ZeroSlowCall,
    /// `slow_rate` was set without `slow_call`.
    SlowRateWithoutSlowCall,
    /// `failure_rate` or `slow_call` was set without a `window`.
    MissingWindow,
    /// A `window` was set without `failure_rate` or `slow_call`.
    WindowWithoutRate,
    /// A count window of 0 or more than 65,536 calls.
    WindowCalls(u32),
    /// `min_calls` was more than a count window holds.
    MinCallsOverWindow {
        /// The `min_calls` asked for.
        min_calls: u32,
        /// The window's size.
        calls: u32,
    },
    /// `min_calls` was zero.
    ZeroMinCalls,
    /// A time window was set without `min_calls`.
    TimeWindowWithoutMinCalls,
    /// `min_calls` was set without a `window`.
    MinCallsWithoutWindow,
    /// A time window or `within` was shorter than 1 s.
    TimeTooShort {
        /// `window` or `within`.
        setting: &'static str,
        /// Its length.
        length: Duration,
    },
    /// `buckets` was not between 2 and 60.
    Buckets(u32),
    /// A bucket (the window divided by `buckets`) was shorter than 100 ms.
    BucketTooShort {
        /// The window's (or `within`'s) length.
        length: Duration,
        /// The buckets asked for.
        buckets: u32,
    },
    /// `buckets` was set without a time window or `within`.
    BucketsWithoutTimeWindow,
    /// `within` was set together with `failure_rate` or `slow_call`.
    WithinWithRate,
    /// `within` was set without `fail_max`.
    WithinWithoutFailMax,
    /// `backoff` was not between 1.0 and 10.0.
    Backoff(Backoff),
    /// `max_reset_timeout` was set without `backoff`.
    MaxResetWithoutBackoff,
    /// `max_reset_timeout` was below `reset_timeout`.
    MaxResetBelowReset {
        /// The cap asked for.
        max: Duration,
        /// The breaker's `reset_timeout`.
        reset_timeout: Duration,
    },
    /// `jitter` was 100 % or more.
    Jitter(Percent),
    /// The name was empty.
    EmptyName,
    /// A shared breaker's quorum was zero.
    ZeroQuorum,
    /// A keyed set's `max_keys` was zero.
    ZeroMaxKeys,
    /// A live registered breaker already bears this name, with other settings: another
    /// configuration, clock, listeners or fleet membership. A name stands for one
    /// breaker, so building it again hands back that breaker only when nothing about
    /// it would differ.
    NameTaken,
    /// `retry_after_cap` is zero.
    ZeroRetryAfterCap,
    /// `throttle` was not more than 0 % and at most 100 %.
    Throttle(Percent),
    /// `max_throttle` was not more than 0 % and at most 100 %.
    MaxThrottle(Percent),
    /// `max_throttle` was set without `throttle`.
    MaxThrottleWithoutThrottle,
    /// `throttle` was set with a count window: it counts calls over a time.
    ThrottleWithCountWindow,
    /// `throttle` was set with `within`.
    ThrottleWithWithin,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::state::{MAX_FAIL_MAX, MAX_PROBES, MAX_SUCCESS_THRESHOLD};
        match self {
            ConfigError::FailMax(n) => write!(
                f,
                "fail_max must be between 1 and {MAX_FAIL_MAX}, got {n}: it is the number of consecutive failures that opens the breaker (0 only with throttle, for a breaker that only throttles)"
            ),
            ConfigError::SuccessThreshold(n) => write!(
                f,
                "success_threshold must be between 1 and {MAX_SUCCESS_THRESHOLD}, got {n}: it is the number of successful half-open probes that close the breaker"
            ),
            ConfigError::ZeroResetTimeout => f.write_str(
                "reset_timeout must be greater than zero: it is how long the breaker stays open before a probe, e.g. Duration::from_secs(60)",
            ),
            ConfigError::ZeroHalfOpenTimeout => f.write_str(
                "half_open_timeout must be greater than zero: it is how long a half-open probe may run before it counts as a failure",
            ),
            ConfigError::Probes(n) => write!(
                f,
                "probes must be between 1 and {MAX_PROBES}, got {n}: it is how many calls a half-open breaker lets through together"
            ),
            ConfigError::ProbesWithSuccessThreshold => f.write_str(
                "probes and success_threshold cannot both be set: probes = K lets K calls through together and closes when all succeed, success_threshold = N lets one through at a time N times; keep one",
            ),
            ConfigError::FailMaxWithRate => f.write_str(
                "fail_max cannot be combined with failure_rate or slow_call: a breaker trips on consecutive failures or on a rate over a window, not both; remove fail_max",
            ),
            ConfigError::FailureRate(p) => write!(
                f,
                "failure_rate must be more than 0% and at most 100%, got {p}: write e.g. Percent::new(50.0)"
            ),
            ConfigError::SlowRate(p) => write!(
                f,
                "slow_rate must be more than 0% and at most 100%, got {p}: write e.g. Percent::new(80.0)"
            ),
            ConfigError::ZeroSlowCall => f.write_str(
                "slow_call must be greater than zero: it is the duration above which a call is slow, e.g. Duration::from_secs(2)",
            ),
            ConfigError::SlowRateWithoutSlowCall => f.write_str(
                "slow_rate needs slow_call: set the duration above which a call is slow",
            ),
            ConfigError::MissingWindow => f.write_str(
                "failure_rate and slow_call need a window: the last N calls (Window::Calls(100)) or a time (Window::Time(Duration::from_secs(60))) with min_calls",
            ),
            ConfigError::WindowWithoutRate => f.write_str(
                "a window is only used by failure_rate or slow_call: set one of them, or remove the window",
            ),
            ConfigError::WindowCalls(n) => write!(
                f,
                "a count window must hold between 1 and 65536 calls, got {n}"
            ),
            ConfigError::MinCallsOverWindow { min_calls, calls } => write!(
                f,
                "min_calls ({min_calls}) cannot be more than the window's {calls} calls: the window would never hold enough calls to trip; lower min_calls or widen the window"
            ),
            ConfigError::ZeroMinCalls => f.write_str(
                "min_calls must be at least 1: it is how many calls the window must hold before it can trip",
            ),
            ConfigError::TimeWindowWithoutMinCalls => f.write_str(
                "a time window needs min_calls: how many calls it must hold before it can trip (e.g. 20); without it a quiet breaker would trip on its first failure",
            ),
            ConfigError::MinCallsWithoutWindow => f.write_str(
                "min_calls is only used with a window: set failure_rate or slow_call and a window, or remove min_calls",
            ),
            ConfigError::TimeTooShort { setting, length } => write!(
                f,
                "{setting} must be at least 1s, got {length:?}"
            ),
            ConfigError::Buckets(n) => write!(f, "buckets must be between 2 and 60, got {n}"),
            ConfigError::BucketTooShort { length, buckets } => write!(
                f,
                "each bucket must be at least 100ms, but {length:?} in {buckets} buckets makes {:?}: use fewer buckets or a longer window",
                *length / *buckets
            ),
            ConfigError::BucketsWithoutTimeWindow => f.write_str(
                "buckets only applies to a time window or within: remove it, or set window to a duration",
            ),
            ConfigError::WithinWithRate => f.write_str(
                "within counts fail_max failures within a time and cannot be combined with failure_rate or slow_call; use window with a rate instead",
            ),
            ConfigError::WithinWithoutFailMax => f.write_str(
                "within needs fail_max: the number of failures within that time that opens the breaker",
            ),
            ConfigError::Backoff(b) => write!(
                f,
                "backoff must be between 1.0 and 10.0, got {b}: it multiplies the open duration at each reopening"
            ),
            ConfigError::MaxResetWithoutBackoff => f.write_str(
                "max_reset_timeout caps a backoff: set backoff too (e.g. 2.0), or remove max_reset_timeout",
            ),
            ConfigError::MaxResetBelowReset { max, reset_timeout } => write!(
                f,
                "max_reset_timeout ({max:?}) must be at least reset_timeout ({reset_timeout:?})"
            ),
            ConfigError::Jitter(p) => write!(
                f,
                "jitter must be at least 0% and below 100%, got {p}"
            ),
            ConfigError::ZeroQuorum => f.write_str(
                "quorum must be at least 1: it is how many replicas must trip for the fleet to open",
            ),
            ConfigError::ZeroMaxKeys => f.write_str(
                "max_keys must be at least 1: it is how many keys get a breaker of their own before new keys share the overflow breaker",
            ),
            ConfigError::NameTaken => f.write_str(
                "a live breaker already has this name with other settings (configuration, clock, listeners or fleet membership): a name stands for one breaker in the registry, so give this one a name of its own, build it with the same settings to share that breaker, or build it `.unregistered()`",
            ),
            ConfigError::ZeroRetryAfterCap => f.write_str(
                "retry_after_cap must be greater than zero: it is the longest an upstream's Retry-After keeps the breaker open; leave it unset for the larger of reset_timeout and 5 minutes",
            ),
            ConfigError::Throttle(p) => write!(
                f,
                "throttle must be more than 0% and at most 100%, got {p}: it is the success rate below which calls are refused at random, e.g. 50 (Google's K = 2)"
            ),
            ConfigError::MaxThrottle(p) => write!(
                f,
                "max_throttle must be more than 0% and at most 100%, got {p}: it caps the share of calls the throttle refuses, e.g. 90"
            ),
            ConfigError::MaxThrottleWithoutThrottle => f.write_str(
                "max_throttle caps a throttle: set throttle too (e.g. 50), or remove max_throttle",
            ),
            ConfigError::ThrottleWithCountWindow => f.write_str(
                "throttle counts the calls asked for and accepted over a time, not over the last N calls: give it a time window (Window::Time(Duration::from_secs(120)), the default) or none",
            ),
            ConfigError::ThrottleWithWithin => f.write_str(
                "throttle cannot be combined with within: pair it with fail_max (consecutive failures) or a failure_rate over its window instead",
            ),
            ConfigError::EmptyName => f.write_str(
                "a circuit breaker needs a non-empty name: it appears in errors, logs, metrics and the registry",
            ),
        }
    }
}

impl Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_time_rounds_up_like_retry_after() {
        let e = CircuitBreakerError::open("p".into(), 40_001_000_000);
        assert_eq!(e.to_string(), "circuit breaker 'p' is open; retry in 41s");
        let e = CircuitBreakerError::open("p".into(), 1_000);
        assert_eq!(e.to_string(), "circuit breaker 'p' is open; retry in 1ms");
        let e = CircuitBreakerError::open("p".into(), 0);
        assert_eq!(e.to_string(), "circuit breaker 'p' is open; retry now");
    }

    #[test]
    fn timeout_reports_elapsed_not_retry() {
        let e = CircuitBreakerError::timeout("p", Duration::from_millis(500));
        assert!(e.is_timeout() && !e.is_open());
        assert_eq!(e.retry_after(), None);
        assert_eq!(e.elapsed(), Some(Duration::from_millis(500)));
        assert_eq!(
            e.to_string(),
            "call through circuit breaker 'p' timed out after 500ms"
        );
    }

    #[test]
    fn probe_in_flight_names_the_breaker() {
        let e = CircuitBreakerError::probe_in_flight("user-profile".into());
        assert_eq!(e.kind(), ErrorKind::ProbeInFlight);
        assert!(e.to_string().contains("'user-profile' is half-open"));
    }

    #[test]
    fn each_kind_answers_its_own_questions() {
        let open = CircuitBreakerError::open("a".into(), 2_000_000_000);
        let forced = CircuitBreakerError::forced_open("b".into());
        let probe = CircuitBreakerError::probe_in_flight("c".into());
        let timeout = CircuitBreakerError::timeout("d", Duration::from_millis(3));
        let throttled = CircuitBreakerError::throttled("e".into(), 250_000);
        let all = [&open, &forced, &probe, &timeout, &throttled];
        let kinds: Vec<ErrorKind> = all.iter().map(|e| e.kind()).collect();
        use ErrorKind::*;
        assert_eq!(kinds, [Open, ForcedOpen, ProbeInFlight, Timeout, Throttled]);
        let names: Vec<&str> = all.iter().map(|e| e.name()).collect();
        assert_eq!(names, ["a", "b", "c", "d", "e"]);
        let ask =
            |f: fn(&CircuitBreakerError) -> bool| all.iter().map(|e| f(e)).collect::<Vec<_>>();
        assert_eq!(ask(|e| e.is_open()), [true, true, false, false, false]);
        assert_eq!(ask(|e| e.is_timeout()), [false, false, false, true, false]);
        assert_eq!(
            ask(|e| e.is_throttled()),
            [false, false, false, false, true]
        );
        assert_eq!(open.retry_after(), Some(Duration::from_secs(2)));
        assert!(all[1..].iter().all(|e| e.retry_after().is_none()));
        assert_eq!(timeout.elapsed(), Some(Duration::from_millis(3)));
        assert!(open.elapsed().is_none() && throttled.elapsed().is_none());
        assert_eq!(throttled.throttle_probability(), Some(0.25));
        assert!(open.throttle_probability().is_none());
    }

    #[test]
    fn a_wait_too_long_to_hold_saturates_without_changing_the_kind() {
        let e = CircuitBreakerError::open("p".into(), u64::MAX);
        assert_eq!(e.kind(), ErrorKind::Open);
        assert_eq!(e.retry_after(), Some(Duration::from_nanos(NANOS)));
        let e = CircuitBreakerError::timeout("p", Duration::MAX);
        assert_eq!(e.kind(), ErrorKind::Timeout);
    }

    #[test]
    fn messages_say_what_happened_and_what_to_do() {
        let shown = |e: CircuitBreakerError| e.to_string();
        assert_eq!(
            shown(CircuitBreakerError::forced_open("m".into())),
            "circuit breaker 'm' is forced open (maintenance); it stays open until released"
        );
        assert_eq!(
            shown(CircuitBreakerError::probe_in_flight("m".into())),
            "circuit breaker 'm' is half-open and its probe call is still running; retry shortly"
        );
        assert_eq!(
            shown(CircuitBreakerError::throttled("m".into(), 125_000)),
            "circuit breaker 'm' throttled the call (refusing 12.5% of calls while its upstream accepts too few); retry now"
        );
        assert_eq!(
            shown(CircuitBreakerError::open("m".into(), 1_000_000_000)),
            "circuit breaker 'm' is open; retry in 1s"
        );
        assert_eq!(
            shown(CircuitBreakerError::open("m".into(), 999_999_999)),
            "circuit breaker 'm' is open; retry in 1000ms"
        );
        assert_eq!(
            shown(CircuitBreakerError::timeout("m", Duration::ZERO)),
            "call through circuit breaker 'm' timed out after 1ms"
        );
    }

    #[test]
    fn debug_names_the_kind_and_its_figure() {
        let debug = |e: CircuitBreakerError| format!("{e:?}");
        assert_eq!(
            debug(CircuitBreakerError::open("d".into(), 1_500_000_000)),
            r#"CircuitBreakerError { name: "d", kind: Open, retry_after: 1.5s }"#
        );
        assert_eq!(
            debug(CircuitBreakerError::timeout("d", Duration::from_millis(2))),
            r#"CircuitBreakerError { name: "d", kind: Timeout, elapsed: 2ms }"#
        );
        assert_eq!(
            debug(CircuitBreakerError::throttled("d".into(), 500_000)),
            r#"CircuitBreakerError { name: "d", kind: Throttled, probability: 0.5 }"#
        );
        assert_eq!(
            debug(CircuitBreakerError::forced_open("d".into())),
            r#"CircuitBreakerError { name: "d", kind: ForcedOpen }"#
        );
    }

    #[test]
    fn an_io_error_keeps_the_rejection_inside() {
        let timed_out: std::io::Error =
            CircuitBreakerError::timeout("io", Duration::from_secs(1)).into();
        assert_eq!(timed_out.kind(), std::io::ErrorKind::TimedOut);
        let open: std::io::Error = CircuitBreakerError::open("io".into(), 5).into();
        assert_eq!(open.kind(), std::io::ErrorKind::Other);
        let inner = open
            .get_ref()
            .unwrap()
            .downcast_ref::<CircuitBreakerError>();
        assert_eq!(inner.unwrap().kind(), ErrorKind::Open);
    }

    #[test]
    fn every_config_error_names_its_setting() {
        use ConfigError as E;
        let p = crate::Percent::new(150.0);
        let d = Duration::from_millis(500);
        let cases: Vec<(ConfigError, &str)> = vec![
            (E::FailMax(0), "fail_max must be between 1 and 65535, got 0"),
            (
                E::SuccessThreshold(0),
                "success_threshold must be between 1 and 4095, got 0",
            ),
            (
                E::ZeroResetTimeout,
                "reset_timeout must be greater than zero",
            ),
            (
                E::ZeroHalfOpenTimeout,
                "half_open_timeout must be greater than zero",
            ),
            (E::Probes(0), "probes must be between 1 and 255, got 0"),
            (
                E::ProbesWithSuccessThreshold,
                "probes and success_threshold cannot both be set",
            ),
            (
                E::FailMaxWithRate,
                "fail_max cannot be combined with failure_rate",
            ),
            (
                E::FailureRate(p),
                "failure_rate must be more than 0% and at most 100%, got 150%",
            ),
            (
                E::SlowRate(p),
                "slow_rate must be more than 0% and at most 100%, got 150%",
            ),
            (E::ZeroSlowCall, "slow_call must be greater than zero"),
            (E::SlowRateWithoutSlowCall, "slow_rate needs slow_call"),
            (E::MissingWindow, "failure_rate and slow_call need a window"),
            (
                E::WindowWithoutRate,
                "a window is only used by failure_rate or slow_call",
            ),
            (
                E::WindowCalls(0),
                "a count window must hold between 1 and 65536 calls, got 0",
            ),
            (
                E::MinCallsOverWindow {
                    min_calls: 9,
                    calls: 4,
                },
                "min_calls (9) cannot be more than the window's 4 calls",
            ),
            (E::ZeroMinCalls, "min_calls must be at least 1"),
            (
                E::TimeWindowWithoutMinCalls,
                "a time window needs min_calls",
            ),
            (
                E::MinCallsWithoutWindow,
                "min_calls is only used with a window",
            ),
            (
                E::TimeTooShort {
                    setting: "within",
                    length: d,
                },
                "within must be at least 1s, got 500ms",
            ),
            (E::Buckets(1), "buckets must be between 2 and 60, got 1"),
            (
                E::BucketTooShort {
                    length: d,
                    buckets: 10,
                },
                "500ms in 10 buckets makes 50ms",
            ),
            (
                E::BucketsWithoutTimeWindow,
                "buckets only applies to a time window or within",
            ),
            (
                E::WithinWithRate,
                "within counts fail_max failures within a time",
            ),
            (E::WithinWithoutFailMax, "within needs fail_max"),
            (
                E::Backoff(crate::Backoff::new(11.0)),
                "backoff must be between 1.0 and 10.0, got 11",
            ),
            (
                E::MaxResetWithoutBackoff,
                "max_reset_timeout caps a backoff",
            ),
            (
                E::MaxResetBelowReset {
                    max: d,
                    reset_timeout: Duration::from_secs(1),
                },
                "max_reset_timeout (500ms) must be at least reset_timeout (1s)",
            ),
            (
                E::Jitter(p),
                "jitter must be at least 0% and below 100%, got 150%",
            ),
            (E::ZeroQuorum, "quorum must be at least 1"),
            (E::ZeroMaxKeys, "max_keys must be at least 1"),
            (
                E::NameTaken,
                "a live breaker already has this name with other settings",
            ),
            (
                E::ZeroRetryAfterCap,
                "retry_after_cap must be greater than zero",
            ),
            (
                E::Throttle(p),
                "throttle must be more than 0% and at most 100%, got 150%",
            ),
            (
                E::MaxThrottle(p),
                "max_throttle must be more than 0% and at most 100%, got 150%",
            ),
            (
                E::MaxThrottleWithoutThrottle,
                "max_throttle caps a throttle",
            ),
            (
                E::ThrottleWithCountWindow,
                "throttle counts the calls asked for and accepted over a time",
            ),
            (
                E::ThrottleWithWithin,
                "throttle cannot be combined with within",
            ),
            (E::EmptyName, "a circuit breaker needs a non-empty name"),
        ];
        for (error, says) in cases {
            let shown = error.to_string();
            assert!(shown.contains(says), "{error:?}: {shown}");
        }
    }

    #[test]
    fn is_a_thread_safe_static_error() {
        fn assert_error<E: Error + Send + Sync + Clone + 'static>() {}
        assert_error::<CircuitBreakerError>();
        let boxed: Box<dyn Error + Send + Sync> =
            CircuitBreakerError::probe_in_flight("x".into()).into();
        assert!(boxed.downcast_ref::<CircuitBreakerError>().is_some());
    }
}
