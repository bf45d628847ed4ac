//! The counts of a breaker that throttles: its time window (successes in per-thread
//! lanes, failures and slow calls in shared buckets, as a rate policy's), the calls the
//! throttle refused (shared buckets, written only on a refusal), the consecutive
//! failures when that is also its trip rule, and the refusal probability as last
//! computed.
//!
//! The probability is computed from the window on a failure and, while it is above
//! zero, at most every [`REFRESH`] on admission; a success never computes it. So a
//! healthy breaker's calls cost what a rate policy's do, and one that throttles refuses
//! with a probability at most one refresh old.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU32, AtomicU64};

use super::{Buckets, Counts, TimeWindow, Timeline};
use crate::config::Rules;
use crate::outcome::Verdict;

/// How often, at most, admission computes a throttling breaker's probability again
/// (nanoseconds of the breaker's clock).
pub(crate) const REFRESH: u64 = 100_000_000;

/// One in a million: the unit of a refusal probability.
pub(crate) const MILLION: u32 = 1_000_000;

pub(crate) struct Throttled {
    pub(super) window: TimeWindow,
    pub(super) min_calls: u32,
    /// The success rate below which it throttles, and its cap, in basis points.
    rate: u32,
    cap: u32,
    /// Consecutive failures, when they are the breaker's trip rule too: reset by a
    /// success (read, and written only when not already zero).
    consecutive: Option<AtomicU32>,
    /// Calls refused by the throttle, per bucket: asked for, never sent.
    refused: Buckets,
    /// The refusal probability in millionths, as last computed.
    probability: AtomicU32,
    /// When it was last computed (the breaker's clock), plus one: 0 is never.
    computed_at: AtomicU64,
}

impl Throttled {
    pub(super) fn new(
        timeline: Timeline,
        min_calls: u32,
        (rate, cap): (u32, u32),
        consecutive: bool,
    ) -> Self {
        let refused = Buckets::new(&timeline);
        Throttled {
            window: TimeWindow::new(timeline),
            min_calls,
            rate,
            cap,
            consecutive: consecutive.then(|| AtomicU32::new(0)),
            refused,
            probability: AtomicU32::new(0),
            computed_at: AtomicU64::new(0),
        }
    }

    /// Records a closed breaker's outcome at `now`; true when it trips the breaker (its
    /// rate, or `fail_max` consecutive failures).
    pub(super) fn record(&self, verdict: Verdict, slow: bool, now: u64, rules: &Rules) -> bool {
        if verdict == Verdict::Ignore {
            return false;
        }
        let failed = verdict == Verdict::Failure;
        self.window.add(failed, slow, now);
        let mut trips = false;
        if let Some(consecutive) = &self.consecutive {
            if failed {
                trips = consecutive.fetch_add(1, Relaxed).saturating_add(1) >= rules.fail_max;
            } else {
                self.reset_consecutive(consecutive);
            }
        }
        if (failed || slow) && rules.has_rate() {
            let c = self.window.counts(now);
            trips |= c.calls >= self.min_calls && rules.rate_reached(c.failures, c.slow, c.calls);
        }
        trips
    }

    /// A plain success: into this thread's lane, and the end of a run of failures.
    #[inline(always)]
    pub(super) fn count_success(&self, now: u64) {
        self.window.add_success(now);
        if let Some(consecutive) = &self.consecutive {
            self.reset_consecutive(consecutive);
        }
    }

    #[inline(always)]
    fn reset_consecutive(&self, consecutive: &AtomicU32) {
        if consecutive.load(Relaxed) != 0 {
            consecutive.store(0, Relaxed);
        }
    }

    /// The window's counts as of `now`.
    pub(super) fn counts(&self, now: u64) -> Counts {
        self.window.counts(now)
    }

    /// The failures that count toward an opening: the consecutive ones, or the window's.
    pub(super) fn failures(&self, now: u64) -> u32 {
        match &self.consecutive {
            Some(consecutive) => consecutive.load(Relaxed),
            None => self.window.counts(now).failures,
        }
    }

    pub(super) fn clear(&self) {
        self.window.timeline.clear();
        if let Some(consecutive) = &self.consecutive {
            consecutive.store(0, Relaxed);
        }
        self.probability.store(0, Relaxed);
        self.computed_at.store(0, Relaxed);
    }

    /// A call the throttle refused at `now`: it was asked for, so it counts.
    pub(crate) fn refused(&self, now: u64) {
        self.window.timeline.add(&self.refused, now);
    }

    /// Calls refused within the window as of `now`.
    pub(crate) fn refusals(&self, now: u64) -> u32 {
        self.window.timeline.sum(now, |p| self.refused.get(p))
    }

    /// The refusal probability in millionths, as last computed.
    pub(crate) fn probability(&self) -> u32 {
        self.probability.load(Relaxed)
    }

    /// Whether the probability is due to be computed again at `now`.
    pub(crate) fn stale(&self, now: u64) -> bool {
        let at = self.computed_at.load(Relaxed);
        at == 0 || now.saturating_add(1).saturating_sub(at) >= REFRESH
    }

    /// Computes the refusal probability as of `now`, keeps it, and returns it.
    pub(crate) fn refresh(&self, now: u64) -> u32 {
        let counts = self.window.counts(now);
        let requests = counts.calls.saturating_add(self.refusals(now));
        let accepts = counts.calls - counts.failures;
        let p = refusal_probability(requests, accepts, self.min_calls, self.rate, self.cap);
        self.probability.store(p, Relaxed);
        self.computed_at.store(now.saturating_add(1), Relaxed);
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
            ..crate::Config::DEFAULT
        };
        let rules = Rules::from(&config);
        let t = Throttled::new(Timeline::new(Duration::from_secs(10), 10), 4, HALF, false);
        let s = 1_000_000_000u64;
        for _ in 0..2 {
            t.record(Verdict::Success, false, s, &rules);
        }
        for _ in 0..8 {
            t.record(Verdict::Failure, false, s, &rules);
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
}
