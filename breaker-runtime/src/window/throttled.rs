//! A throttle's counts beside its breaker's rate window (a time window: successes in
//! per-thread lanes, failures and slow calls in shared buckets): the calls it refused
//! (shared buckets, written only on a refusal), and the refusal probability as last
//! computed. Its successes are counted on the rate policies' own path, unchanged.
//!
//! The probability is computed from the window on a failure and, while it is above
//! zero, at most every [`REFRESH`] on admission; a success never computes it. So a
//! healthy breaker's calls cost what a rate policy's do, and one that throttles refuses
//! with a probability at most one refresh old.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU32, AtomicU64};

use super::{Buckets, TimeWindow, Timeline};

/// How often, at most, admission computes a throttling breaker's probability again
/// (nanoseconds of the breaker's clock).
pub(crate) const REFRESH: u64 = 100_000_000;

/// One in a million: the unit of a refusal probability.
pub(crate) const MILLION: u32 = 1_000_000;

/// A throttle's state beside its rate window (a time window, whose successes and
/// failures it reads): what it refused, and its probability as last computed.
pub(crate) struct Throttle {
    /// The success rate below which it throttles, and its cap, in basis points.
    rate: u32,
    cap: u32,
    /// Calls refused, per bucket of the window: asked for, never sent.
    refused: Buckets,
    /// The refusal probability in millionths, as last computed.
    probability: AtomicU32,
    /// When it was last computed (the breaker's clock), plus one: 0 is never.
    computed_at: AtomicU64,
}

impl Throttle {
    pub(super) fn new(timeline: &Timeline, (rate, cap): (u32, u32)) -> Self {
        Throttle {
            rate,
            cap,
            refused: Buckets::new(timeline),
            probability: AtomicU32::new(0),
            computed_at: AtomicU64::new(0),
        }
    }

    /// Forgets the probability (the window starts over with it).
    pub(super) fn clear(&self) {
        self.probability.store(0, Relaxed);
        self.computed_at.store(0, Relaxed);
    }
}

/// A breaker's throttle with the window it reads.
#[derive(Clone, Copy)]
pub(crate) struct Throttling<'a> {
    pub(super) window: &'a TimeWindow,
    pub(super) min_calls: u32,
    pub(super) state: &'a Throttle,
}

impl Throttling<'_> {
    /// A call the throttle refused at `now`: it was asked for, so it counts.
    pub(crate) fn refused(&self, now: u64) {
        self.window.timeline.add(&self.state.refused, now);
    }

    /// Calls refused within the window as of `now`.
    pub(crate) fn refusals(&self, now: u64) -> u32 {
        self.window.timeline.sum(now, |p| self.state.refused.get(p))
    }

    /// The refusal probability in millionths, as last computed.
    pub(crate) fn probability(&self) -> u32 {
        self.state.probability.load(Relaxed)
    }

    /// Whether the probability is due to be computed again at `now`.
    pub(crate) fn stale(&self, now: u64) -> bool {
        let at = self.state.computed_at.load(Relaxed);
        at == 0 || now.saturating_add(1).saturating_sub(at) >= REFRESH
    }

    /// Computes the refusal probability as of `now`, keeps it, and returns it.
    pub(crate) fn refresh(&self, now: u64) -> u32 {
        let counts = self.window.counts(now);
        let requests = counts.calls.saturating_add(self.refusals(now));
        let accepts = counts.calls - counts.failures;
        let (rate, cap) = (self.state.rate, self.state.cap);
        let p = refusal_probability(requests, accepts, self.min_calls, rate, cap);
        self.state.probability.store(p, Relaxed);
        self.state.computed_at.store(now.saturating_add(1), Relaxed);
        p
    }
}

/// The SRE book's client-side throttling, with the rate for 1/K: the probability, in
/// millionths, of refusing a call when `requests` were asked for (refused ones
/// included) and `accepts` accepted over the window:
/// `max(0, (requests − accepts / rate) / (requests + 1))`, capped by `cap` (both in
/// basis points); nothing below `min_calls` requests.
pub(crate) fn refusal_probability(
    requests: u32,
    accepts: u32,
    min_calls: u32,
    rate: u32,
    cap: u32,
) -> u32 {
    if requests < min_calls || rate == 0 {
        return 0;
    }
    let requests = f64::from(requests);
    let allowed = f64::from(accepts) * 10_000.0 / f64::from(rate);
    let p = ((requests - allowed) / (requests + 1.0)).max(0.0);
    let cap = f64::from(cap) / 10_000.0;
    (p.min(cap) * f64::from(MILLION)).round() as u32
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::time::Duration;

    use super::*;

    const HALF: (u32, u32) = (5_000, 9_000);

    #[test]
    fn the_formula_is_the_books() {
        let p = |requests, accepts, (rate, cap): (u32, u32)| {
            refusal_probability(requests, accepts, 20, rate, cap)
        };
        // K = 2: 100 asked, 30 accepted: (100 - 60) / 101.
        assert_eq!(p(100, 30, HALF), 396_040);
        // Accepting half or more: nothing refused.
        assert_eq!(p(100, 50, HALF), 0);
        assert_eq!(p(100, 90, HALF), 0);
        // Nothing accepted: capped at 90 %, or at what the cap says.
        assert_eq!(p(1_000, 0, HALF), 900_000);
        assert_eq!(p(1_000, 0, (5_000, 2_500)), 250_000);
        // Below min_calls: nothing.
        assert_eq!(p(19, 0, HALF), 0);
        // throttle = 80 %: K = 1.25; 100 asked, 40 accepted: (100 - 50) / 101.
        assert_eq!(p(100, 40, (8_000, 9_000)), 495_050);
    }

    #[test]
    fn refusals_count_as_requests_and_the_window_slides() {
        let config = crate::Config {
            throttle: Some(crate::Percent::new(50.0)),
            fail_max: 0,
            window: Some(crate::Window::Time(Duration::from_secs(10))),
            min_calls: Some(4),
            ..crate::Config::DEFAULT
        };
        let (tally, rules) = (
            super::super::Tally::new(&config),
            crate::config::Rules::from(&config),
        );
        let t = tally.throttle().unwrap();
        let s = 1_000_000_000u64;
        for _ in 0..2 {
            tally.record(crate::Verdict::Success, false, s, &rules);
        }
        for _ in 0..8 {
            tally.record(crate::Verdict::Failure, false, s, &rules);
        }
        // 10 asked, 2 accepted: (10 - 4) / 11.
        assert_eq!(t.refresh(s), 545_455);
        for _ in 0..5 {
            t.refused(s);
        }
        // 15 asked, 2 accepted: (15 - 4) / 16.
        assert_eq!(t.refresh(s), 687_500);
        assert!(!t.stale(s + REFRESH - 1));
        assert!(t.stale(s + REFRESH));
        // Ten seconds on, all of it has left the window.
        assert_eq!(t.refresh(11 * s), 0);
    }

    #[test]
    fn a_cleared_throttle_forgets_its_probability() {
        let config = crate::Config {
            throttle: Some(crate::Percent::new(50.0)),
            fail_max: 0,
            min_calls: Some(2),
            ..crate::Config::DEFAULT
        };
        let (tally, rules) = (
            super::super::Tally::new(&config),
            crate::config::Rules::from(&config),
        );
        let s = 1_000_000_000u64;
        for _ in 0..4 {
            tally.record(crate::Verdict::Failure, false, s, &rules);
        }
        let t = tally.throttle().unwrap();
        assert!(t.refresh(s) > 0 && !t.stale(s));
        tally.clear();
        assert_eq!(t.probability(), 0);
        assert!(t.stale(s), "computed again at the next call");
    }
}
