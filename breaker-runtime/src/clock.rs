//! Time sources.
//!
//! The breaker only ever asks "how much time has passed since some fixed origin?", so a
//! clock is a monotonic [`Duration`] counter. Wall-clock time is never used: a system clock
//! stepped backwards must not reopen a breaker, nor one stepped forwards close it.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::sync::AtomicU64;

/// A monotonic time source for a [`CircuitBreaker`](crate::CircuitBreaker).
///
/// Implement it to drive breakers from your own notion of time (a simulation, a test
/// harness); most code uses the default [`MonotonicClock`] or, in tests, a [`ManualClock`].
///
/// # Contract
///
/// [`now`](Clock::now) returns the time elapsed since an origin of the clock's choosing
/// and must never decrease. A breaker reads its clock only on slow paths: when it is open
/// or half-open, and when a failure opens it. A closed breaker never reads it.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use breaker_runtime::Clock;
///
/// /// A clock that is always one hour after its origin.
/// struct Frozen;
///
/// impl Clock for Frozen {
///     fn now(&self) -> Duration {
///         Duration::from_secs(3600)
///     }
/// }
///
/// let breaker = breaker_runtime::CircuitBreaker::builder("frozen").clock(Frozen).build();
/// # let _ = breaker;
/// ```
pub trait Clock: Send + Sync + 'static {
    /// Time elapsed since this clock's origin; never decreases.
    fn now(&self) -> Duration;
}

/// The default clock: [`Instant`], measured from the first time any breaker reads it.
///
/// `Instant` is monotonic on every platform Rust supports, so suspending the machine or
/// stepping the system clock cannot open or close a breaker by accident.
///
/// With the `tokio` feature it reads `tokio::time::Instant`, which is the same clock in
/// production and follows tokio's paused clock in tests: under
/// `#[tokio::test(start_paused = true)]`, `tokio::time::advance` moves every breaker's
/// time, including those of `#[circuit_breaker]` functions.
#[derive(Debug, Clone, Copy, Default)]
pub struct MonotonicClock;

#[cfg(not(feature = "tokio"))]
fn instant_now() -> Instant {
    Instant::now()
}

#[cfg(feature = "tokio")]
fn instant_now() -> Instant {
    tokio::time::Instant::now().into_std()
}

impl MonotonicClock {
    fn origin() -> Instant {
        static ORIGIN: OnceLock<Instant> = OnceLock::new();
        *ORIGIN.get_or_init(instant_now)
    }
}

impl Clock for MonotonicClock {
    fn now(&self) -> Duration {
        instant_now().saturating_duration_since(Self::origin())
    }
}

/// A clock that moves only when told to: the way to test open and half-open behaviour
/// without sleeping.
///
/// Clones share one time, so a test can keep a clone, hand another to the breaker's
/// builder, and [`advance`](ManualClock::advance) it at will.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use breaker_runtime::{CircuitBreaker, ManualClock, State};
///
/// let clock = ManualClock::new();
/// let breaker = CircuitBreaker::builder("manual-clock-doc")
///     .fail_max(1)
///     .reset_timeout(Duration::from_secs(30))
///     .clock(clock.clone())
///     .build();
///
/// breaker.try_acquire().unwrap().failure();
/// assert_eq!(breaker.state(), State::Open);
/// assert_eq!(breaker.retry_after(), Some(Duration::from_secs(30)));
///
/// clock.advance(Duration::from_secs(30));
/// // The first call after `reset_timeout` is the half-open probe.
/// let probe = breaker.try_acquire().unwrap();
/// assert_eq!(breaker.state(), State::HalfOpen);
/// probe.success();
/// assert_eq!(breaker.state(), State::Closed);
/// ```
#[derive(Clone, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock standing at its origin (zero).
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves this clock, and every clone of it, forwards by `by`.
    pub fn advance(&self, by: Duration) {
        self.nanos
            .fetch_add(duration_to_nanos(by), Ordering::AcqRel);
    }

    /// The time elapsed since the origin: the sum of every [`advance`](Self::advance).
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::Acquire))
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        self.elapsed()
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("elapsed", &self.elapsed())
            .finish()
    }
}

/// The clock a breaker was built with. The default variant calls `Instant` directly
/// rather than through a trait object, since the open-state rejection path reads it.
#[derive(Clone, Default)]
pub(crate) enum ClockSource {
    #[default]
    Monotonic,
    Custom(Arc<dyn Clock>),
}

impl ClockSource {
    /// Nanoseconds since the clock's origin, saturating far beyond any process lifetime.
    #[inline]
    pub(crate) fn now_nanos(&self) -> u64 {
        duration_to_nanos(match self {
            ClockSource::Monotonic => MonotonicClock.now(),
            ClockSource::Custom(clock) => clock.now(),
        })
    }
}

impl fmt::Debug for ClockSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClockSource::Monotonic => f.write_str("MonotonicClock"),
            ClockSource::Custom(_) => f.write_str("Custom"),
        }
    }
}

/// Durations are kept as `u64` nanoseconds (584 years) so they fit in one atomic.
pub(crate) fn duration_to_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
