//! Time sources.
//!
//! The breaker only ever asks "how much time has passed since some fixed origin?", so a
//! clock is a monotonic [`Duration`] counter. Wall-clock time is never used: a system clock
//! stepped backwards must not reopen a breaker, nor one stepped forwards close it.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::sync::AtomicU64;

/// A monotonic time source for a [`CircuitBreaker`](crate::CircuitBreaker).
///
/// Implement it to drive breakers from your own notion of time (a simulation, a test
/// harness); most code uses the default [`MonotonicClock`] or, in tests, a [`ManualClock`].
///
/// # Contract
///
/// [`now`](Clock::now) returns the time elapsed since an origin of the clock's choosing
/// and must never decrease. A consecutive breaker reads its clock only on slow paths:
/// when it is open or half-open, and when a failure opens it; closed, it never reads it.
/// A rate policy over a time window (and `slow_call`) reads it for every outcome it
/// records, the default clock through a recent time kept by a background thread.
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

/// The default clock: the operating system's monotonic clock, never wall-clock time, so
/// suspending the machine or stepping the system clock cannot open or close a breaker by
/// accident.
///
/// On Linux it reads `CLOCK_MONOTONIC_COARSE`: the time of the last kernel tick, a few
/// milliseconds coarse, at a fraction of the cost of a precise read (about 4.5 ns
/// against 24 ns here). A breaker only reads the clock while open or half-open, to
/// compare against `reset_timeout`, where a few milliseconds do not matter and an open
/// breaker's rejections stay cheap. It is read through the C library's
/// `clock_gettime` (rustix's libc backend), which tools such as valgrind understand;
/// rustix's own vDSO parser, 1.5 ns faster, crashes under valgrind. Elsewhere it reads
/// [`Instant`](std::time::Instant).
///
/// With the `tokio-clock` feature it reads `tokio::time::Instant` instead, which follows
/// tokio's paused clock in tests: under `#[tokio::test(start_paused = true)]`,
/// `tokio::time::advance` moves every breaker's time, including those of
/// `#[circuit_breaker]` functions. Enable it for your tests (a dev-dependency feature).
#[derive(Debug, Clone, Copy, Default)]
pub struct MonotonicClock;

impl MonotonicClock {
    /// Nanoseconds since this clock's origin.
    #[inline]
    pub(crate) fn now_nanos() -> u64 {
        platform_now_nanos()
    }
}

#[cfg(all(target_os = "linux", not(feature = "tokio-clock")))]
#[inline]
fn platform_now_nanos() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::MonotonicCoarse);
    // Both fields are non-negative for a monotonic clock; time since boot.
    (t.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(t.tv_nsec as u64)
}

// Named apart from the Linux reading, which the default build compiles: cargo-mutants
// cannot tell cfg'd-out code, and `.cargo/mutants.toml` names these two as such.
#[cfg(any(not(target_os = "linux"), feature = "tokio-clock"))]
use instant_nanos as platform_now_nanos;

#[cfg(any(not(target_os = "linux"), feature = "tokio-clock"))]
fn instant_nanos() -> u64 {
    static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let origin = *ORIGIN.get_or_init(instant_now);
    duration_to_nanos(instant_now().saturating_duration_since(origin))
}

#[cfg(all(not(target_os = "linux"), not(feature = "tokio-clock")))]
fn instant_now() -> std::time::Instant {
    std::time::Instant::now()
}

#[cfg(feature = "tokio-clock")]
fn instant_now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

impl Clock for MonotonicClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(Self::now_nanos())
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
    time: Arc<ManualTime>,
}

/// The time every clone of a [`ManualClock`] shares. A breaker built with a manual
/// clock reads it through this `Arc`, so two breakers given clones of one clock hold the
/// same clock (what the registry compares when a name is built twice).
#[derive(Default)]
struct ManualTime(AtomicU64);

impl Clock for ManualTime {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.0.load(Ordering::Acquire))
    }
}

impl ManualClock {
    /// A clock standing at its origin (zero).
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves this clock, and every clone of it, forwards by `by`.
    pub fn advance(&self, by: Duration) {
        self.time
            .0
            .fetch_add(duration_to_nanos(by), Ordering::AcqRel);
    }

    /// The time elapsed since the origin: the sum of every [`advance`](Self::advance).
    pub fn elapsed(&self) -> Duration {
        self.time.now()
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

/// The clock a breaker was built with. The default variant reads the monotonic clock
/// directly rather than through a trait object, since the open-state rejection path
/// reads it.
#[derive(Clone, Default)]
pub(crate) enum ClockSource {
    #[default]
    Monotonic,
    Custom(Arc<dyn Clock>),
}

impl ClockSource {
    /// The source for `clock`: the default one for [`MonotonicClock`], the shared time
    /// of a [`ManualClock`] (so that clones of one manual clock are one source), any
    /// other clock behind a new `Arc`.
    pub(crate) fn of<C: Clock>(clock: C) -> Self {
        let any: &dyn std::any::Any = &clock;
        if any.is::<MonotonicClock>() {
            ClockSource::Monotonic
        } else if let Some(manual) = any.downcast_ref::<ManualClock>() {
            ClockSource::Custom(Arc::clone(&manual.time) as Arc<dyn Clock>)
        } else {
            ClockSource::Custom(Arc::new(clock))
        }
    }

    /// Whether both read the same clock: both the default one, or one clock object.
    pub(crate) fn same(&self, other: &ClockSource) -> bool {
        match (self, other) {
            (ClockSource::Monotonic, ClockSource::Monotonic) => true,
            (ClockSource::Custom(a), ClockSource::Custom(b)) => {
                std::ptr::addr_eq(Arc::as_ptr(a), Arc::as_ptr(b))
            }
            _ => false,
        }
    }

    /// Nanoseconds since the clock's origin, saturating far beyond any process lifetime.
    #[inline(always)]
    pub(crate) fn now_nanos(&self) -> u64 {
        match self {
            ClockSource::Monotonic => MonotonicClock::now_nanos(),
            ClockSource::Custom(clock) => duration_to_nanos(clock.now()),
        }
    }
}

impl ClockSource {
    /// The time a time window dates a success with: the default clock's recent time
    /// (one load, at most about a millisecond behind), any other clock read as it is.
    #[inline(always)]
    pub(crate) fn recent_nanos(&self) -> u64 {
        match self {
            ClockSource::Monotonic => crate::recent::now_nanos(),
            ClockSource::Custom(clock) => duration_to_nanos(clock.now()),
        }
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

/// A breaker's clock: the one it was built with, or the one a test installed later
/// ([`CircuitBreaker::set_clock`](crate::CircuitBreaker::set_clock)).
pub(crate) struct ClockCell {
    built: ClockSource,
    replaced: OnceLock<ClockSource>,
}

impl ClockCell {
    pub(crate) fn new(built: ClockSource) -> Self {
        ClockCell {
            built,
            replaced: OnceLock::new(),
        }
    }

    /// Nanoseconds since the clock's origin.
    #[inline(always)]
    pub(crate) fn now_nanos(&self) -> u64 {
        match self.replaced.get() {
            Some(clock) => clock.now_nanos(),
            None => self.built.now_nanos(),
        }
    }

    /// The clock's recent time (see [`ClockSource::recent_nanos`]).
    #[inline(always)]
    pub(crate) fn recent_nanos(&self) -> u64 {
        match self.replaced.get() {
            Some(clock) => clock.recent_nanos(),
            None => self.built.recent_nanos(),
        }
    }

    /// Installs `clock` in place of the built one; `false` if that was done already.
    pub(crate) fn replace(&self, clock: impl Clock) -> bool {
        self.replaced.set(ClockSource::of(clock)).is_ok()
    }

    /// The clock read now: the installed one, or the one it was built with.
    pub(crate) fn source(&self) -> &ClockSource {
        self.replaced.get().unwrap_or(&self.built)
    }
}

/// Durations are kept as `u64` nanoseconds (584 years) so they fit in one atomic.
pub(crate) fn duration_to_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_default_clock_never_goes_backwards() {
        let mut last = MonotonicClock::now_nanos();
        for _ in 0..10_000 {
            let now = MonotonicClock::now_nanos();
            assert!(now >= last);
            last = now;
        }
    }

    #[test]
    fn the_default_clock_keeps_step_with_instant() {
        // Compares two clocks over 50 ms of busy work; nothing here waits on a timeout.
        let (start, coarse_start) = (std::time::Instant::now(), MonotonicClock::now_nanos());
        while start.elapsed() < Duration::from_millis(50) {
            std::hint::spin_loop();
        }
        let before = duration_to_nanos(start.elapsed());
        let coarse = MonotonicClock::now_nanos() - coarse_start;
        let after = duration_to_nanos(start.elapsed());
        // Each coarse reading is up to a kernel tick (a few milliseconds) stale, so the
        // difference of two is within a tick of the precise one, read on either side.
        const TICK: u64 = 10_000_000;
        assert!(
            coarse + TICK >= before && coarse <= after + TICK,
            "{before} <= {coarse} <= {after}"
        );
    }

    #[test]
    fn manual_clock_clones_share_one_time() {
        let clock = ManualClock::new();
        let other = clock.clone();
        other.advance(Duration::from_millis(1500));
        assert_eq!(clock.now(), Duration::from_millis(1500));
        assert_eq!(format!("{clock:?}"), "ManualClock { elapsed: 1.5s }");
    }

    #[test]
    fn the_default_clock_reads_the_platform() {
        // Time since boot: never zero, and what the trait reads is what breakers read.
        let before = MonotonicClock::now_nanos();
        let now = duration_to_nanos(MonotonicClock.now());
        let after = MonotonicClock::now_nanos();
        assert!(
            before > 1 && before <= now && now <= after,
            "{before} {now} {after}"
        );
    }

    #[test]
    fn a_source_is_the_same_as_itself_and_its_clones_only() {
        let manual = ManualClock::new();
        let a = ClockSource::of(manual.clone());
        let b = ClockSource::of(manual.clone());
        let other = ClockSource::of(ManualClock::new());
        let mono = ClockSource::of(MonotonicClock);
        assert!(a.same(&b), "clones of one manual clock are one source");
        assert!(!a.same(&other), "two manual clocks are two");
        assert!(mono.same(&ClockSource::Monotonic));
        assert!(!mono.same(&a) && !a.same(&mono));
        assert_eq!(format!("{mono:?}/{a:?}"), "MonotonicClock/Custom");
        manual.advance(Duration::from_nanos(7));
        assert_eq!((a.now_nanos(), a.recent_nanos()), (7, 7));
    }

    #[test]
    fn a_cell_takes_one_replacement() {
        let cell = ClockCell::new(ClockSource::Monotonic);
        assert!(cell.source().same(&ClockSource::Monotonic));
        let manual = ManualClock::new();
        manual.advance(Duration::from_secs(3));
        assert!(
            cell.replace(manual.clone()),
            "the first replacement is taken"
        );
        assert!(!cell.replace(ManualClock::new()), "the second is refused");
        assert!(cell.source().same(&ClockSource::of(manual.clone())));
        assert_eq!(cell.now_nanos(), 3_000_000_000);
        assert_eq!(cell.recent_nanos(), 3_000_000_000);
    }

    #[test]
    fn durations_saturate_at_584_years() {
        assert_eq!(duration_to_nanos(Duration::from_nanos(5)), 5);
        assert_eq!(duration_to_nanos(Duration::MAX), u64::MAX);
    }
}
