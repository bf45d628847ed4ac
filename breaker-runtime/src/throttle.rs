//! Adaptive throttling between closed and open: Google's client-side throttling (the SRE
//! book, "Handling Overload"), as a breaker's `throttle` setting.
//!
//! A breaker with `throttle = rate` counts, over its time window (two minutes unless
//! told), the calls asked for (those it refused included) and the calls its upstream
//! accepted (the successes). While it is closed and the window holds at least
//! `min_calls` requests, each call is refused with probability
//!
//! ```text
//! max(0, (requests − accepts / rate) / (requests + 1))      capped by max_throttle
//! ```
//!
//! so a client sends about `1 / rate` times what the upstream accepts, and no more:
//! `rate = 50 %` is the book's K = 2. A refused call fails at once with
//! [`ErrorKind::Throttled`](crate::ErrorKind::Throttled). As successes come back the
//! probability falls to zero on its own; a trip rule beside it (consecutive failures,
//! a failure rate) still opens the breaker.
//!
//! ```
//! use std::time::Duration;
//! use breaker_runtime::{CircuitBreaker, ErrorKind, ManualClock};
//!
//! breaker_runtime::throttle::seed_this_thread(7); // reproducible draws, for the doc
//! let breaker = CircuitBreaker::builder("throttle-doc")
//!     .throttle(50)
//!     .clock(ManualClock::new())
//!     .build();
//! // The upstream accepts 1 call in 5: the breaker starts refusing some.
//! for n in 0..100 {
//!     if let Ok(permit) = breaker.try_acquire() {
//!         if n % 5 == 0 { permit.success() } else { permit.failure() }
//!     }
//! }
//! let p = breaker.throttle_probability().unwrap();
//! assert!(p > 0.3 && p <= 0.9, "{p}");
//! let refused = (0..1_000)
//!     .filter(|_| matches!(breaker.try_acquire(), Err(e) if e.kind() == ErrorKind::Throttled))
//!     .count();
//! assert!(refused > 200, "{refused}");
//! ```
//!
//! Draws come from a generator per thread: no lock, and no write another thread reads.

use std::cell::Cell;

use crate::window::MILLION;

thread_local! {
    /// This thread's generator state (SplitMix64); 0 until first used.
    static STATE: Cell<u64> = const { Cell::new(0) };
}

/// Seeds this thread's generator, which decides the throttle's refusals made on this
/// thread: for a simulation or a test that must refuse the same calls on every run. A
/// thread that never calls it is seeded from the clock and its own address.
///
/// ```
/// breaker_runtime::throttle::seed_this_thread(42);
/// ```
pub fn seed_this_thread(seed: u64) {
    // Never 0, which means "not seeded".
    STATE.with(|state| state.set(seed | 1 << 63));
}

/// A number in [0, 1,000,000): a probability in millionths is refused when the draw
/// falls below it.
pub(crate) fn draw() -> u32 {
    STATE.with(|state| {
        let mut s = state.get();
        if s == 0 {
            s = crate::backoff::seed() | 1 << 63;
        }
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        state.set(s);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // Lemire's multiply-shift: unbiased enough for a probability in millionths.
        ((u64::from(z as u32) * u64::from(MILLION)) >> 32) as u32
    })
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_seeded_thread_draws_the_same_and_draws_spread() {
        seed_this_thread(3);
        let first: Vec<u32> = (0..5).map(|_| draw()).collect();
        seed_this_thread(3);
        let again: Vec<u32> = (0..5).map(|_| draw()).collect();
        assert_eq!(first, again);
        let below_a_quarter = (0..100_000).filter(|_| draw() < MILLION / 4).count();
        assert!(
            (24_000..26_000).contains(&below_a_quarter),
            "{below_a_quarter}"
        );
        assert!((0..1_000).map(|_| draw()).all(|d| d < MILLION));
    }
}
