//! What a breaker counts besides its state word: the window of a rate policy, and the
//! failures of a `within` policy.
//!
//! - **Count window** (the last N calls): an exact "last N" needs a global order, so each
//!   outcome takes one shared `fetch_add` for its sequence number; its slot's bit is set
//!   in a failure bitset (and a slow one), and cleared only if it was set. Counting is
//!   a popcount over N/64 words.
//! - **Time window** (D in B buckets aligned to multiples of D/B on the breaker's
//!   clock): successes go to per-thread [`Lanes`] (a load and a store on a line no
//!   other core writes: no shared write per success), failures and slow calls to shared
//!   buckets. Counting sums the buckets of the last B bucket times over every lane.
//! - **`within`**: shared failure buckets, as a time window without successes.
//!
//! A bucket cell packs the bucket's time index (24 bits), the window's era (16 bits)
//! and its count (24 bits): a cell whose tag is not the one expected for its position
//! holds counts of another time or of a cleared window, and reads as zero. Clearing a
//! window is a new era, so it needs no write to any thread's lane.
//!
//! Races that remain are benign by construction: an outcome recorded while another
//! thread clears the window may land in the old era (and is then ignored) or in the new
//! one; a count window with more than N calls in flight may lose one slot's update.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;

use crate::clock::duration_to_nanos;
use crate::config::{Config, Rules, MAX_THROTTLE, THROTTLE_MIN_CALLS};
use crate::lanes::{Lane, Lanes};
use crate::outcome::Verdict;
use crate::policy::{Percent, Window};

mod throttled;

pub(crate) use throttled::{Throttle, Throttling, MILLION};

/// A rate policy's window at one moment, from
/// [`CircuitBreaker::window`](crate::CircuitBreaker::window) (and in the
/// [`registry`](crate::registry)'s snapshots).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct WindowSnapshot {
    /// Calls in the window (successes and failures; neutral outcomes are not counted).
    pub calls: u32,
    /// Failed calls in the window.
    pub failures: u32,
    /// Slow calls in the window (failed or not).
    pub slow: u32,
    /// The failure rate in percent; `None` while the window holds fewer than
    /// `min_calls` calls.
    pub failure_rate: Option<f64>,
    /// The slow-call rate in percent; `None` below `min_calls`.
    pub slow_rate: Option<f64>,
}

/// What a window holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Counts {
    pub(crate) calls: u32,
    pub(crate) failures: u32,
    pub(crate) slow: u32,
}

/// A breaker's counting beyond the state word, chosen by its configuration.
///
/// The windows are boxed: a consecutive breaker (the default, and the many of a keyed
/// set) carries one word here, not the largest variant.
pub(crate) enum Tally {
    /// Consecutive failures: all in the word.
    Consecutive,
    /// `fail_max` failures within a time.
    Within(Box<Within>),
    /// A rate over a window (and a throttle's window, with or without a rate).
    Rate(Box<Rate>),
}

pub(crate) struct Within {
    timeline: Timeline,
    failures: Buckets,
}

pub(crate) struct Rate {
    min_calls: u32,
    window: RateWindow,
    /// A throttle reading the window (a time window).
    throttle: Option<Box<Throttle>>,
}

enum RateWindow {
    Count(CountWindow),
    Time(TimeWindow),
}

impl Tally {
    pub(crate) fn new(config: &Config) -> Tally {
        if let Some(within) = config.within {
            let timeline = Timeline::new(within, config.buckets);
            return Tally::Within(Box::new(Within {
                failures: Buckets::new(&timeline),
                timeline,
            }));
        }
        if config.throttle.is_some() {
            let length = match config.effective_window() {
                Some(Window::Time(length)) => length,
                // Refused by `Config::validate`: a throttle counts over a time.
                _ => crate::config::THROTTLE_WINDOW,
            };
            let default_min = if config.is_rate() {
                1
            } else {
                THROTTLE_MIN_CALLS
            };
            let rate = config.throttle.map_or(0, Percent::basis_points);
            let cap = config.max_throttle.unwrap_or(MAX_THROTTLE).basis_points();
            let timeline = Timeline::new(length, config.buckets);
            let throttle = Throttle::new(&timeline, (rate, cap));
            return Tally::Rate(Box::new(Rate {
                min_calls: config.min_calls.unwrap_or(default_min),
                window: RateWindow::Time(TimeWindow::new(timeline)),
                throttle: Some(Box::new(throttle)),
            }));
        }
        let Some(window) = config.window else {
            return Tally::Consecutive;
        };
        let (window, default_min) = match window {
            Window::Calls(n) => (RateWindow::Count(CountWindow::new(n)), n),
            Window::Time(length) => {
                let timeline = Timeline::new(length, config.buckets);
                (RateWindow::Time(TimeWindow::new(timeline)), 1)
            }
        };
        Tally::Rate(Box::new(Rate {
            min_calls: config.min_calls.unwrap_or(default_min),
            window,
            throttle: None,
        }))
    }

    /// Every outcome is recorded, successes too.
    pub(crate) fn counts_every_call(&self) -> bool {
        matches!(self, Tally::Rate(_))
    }

    /// The throttle, for a breaker that has one, with the window it reads.
    #[inline]
    pub(crate) fn throttle(&self) -> Option<Throttling<'_>> {
        let Tally::Rate(rate) = self else {
            return None;
        };
        match (&rate.throttle, &rate.window) {
            (Some(state), RateWindow::Time(window)) => Some(Throttling {
                window,
                min_calls: rate.min_calls,
                state,
            }),
            _ => None,
        }
    }

    /// Records a closed breaker's outcome at `now`; true when it trips the breaker.
    /// A neutral outcome is not recorded. The rate is checked only after a failure or
    /// a slow call: a plain success only counts.
    pub(crate) fn record(&self, verdict: Verdict, slow: bool, now: u64, rules: &Rules) -> bool {
        let failed = verdict == Verdict::Failure;
        match self {
            Tally::Consecutive => false,
            Tally::Within(w) => {
                if !failed {
                    return false;
                }
                w.timeline.add(&w.failures, now);
                w.timeline.sum(now, |p| w.failures.get(p)) >= rules.fail_max
            }
            Tally::Rate(rate) => {
                if verdict == Verdict::Ignore {
                    return false;
                }
                rate.window.add(failed, slow, now);
                if !(failed || slow) {
                    return false;
                }
                if !rules.has_rate() {
                    return false; // a throttle's window: it never trips
                }
                let c = rate.window.counts(now);
                c.calls >= rate.min_calls && rules.rate_reached(c.failures, c.slow, c.calls)
            }
        }
    }

    /// A closed breaker's plain success (neither slow nor timed out): counted, never a
    /// trip, so nothing is evaluated. `now` is read only by a time window.
    #[inline]
    pub(crate) fn count_success(&self, now: impl FnOnce() -> u64) {
        if let Tally::Rate(rate) = self {
            match &rate.window {
                RateWindow::Count(w) => w.add_success(),
                RateWindow::Time(w) => w.add_success(now()),
            }
        }
    }

    /// Empties the window and the `within` count.
    pub(crate) fn clear(&self) {
        match self {
            Tally::Consecutive => {}
            Tally::Within(w) => w.timeline.clear(),
            Tally::Rate(rate) => {
                rate.window.clear();
                if let Some(throttle) = &rate.throttle {
                    throttle.clear();
                }
            }
        }
    }

    /// The failures counted as of `now`: within the `within` time, or in the rate
    /// policy's window; none for the consecutive policy (its count is in the word).
    pub(crate) fn failures(&self, now: u64) -> u32 {
        match self {
            Tally::Consecutive => 0,
            Tally::Within(w) => w.timeline.sum(now, |p| w.failures.get(p)),
            Tally::Rate(rate) => rate.window.counts(now).failures,
        }
    }

    /// A rate policy's (or a throttle's) window as of `now`, and its `min_calls`.
    pub(crate) fn window(&self, now: u64) -> Option<(Counts, u32)> {
        match self {
            Tally::Rate(rate) => Some((rate.window.counts(now), rate.min_calls)),
            _ => None,
        }
    }
}

impl RateWindow {
    fn add(&self, failed: bool, slow: bool, now: u64) {
        match self {
            RateWindow::Count(w) => w.add(failed, slow),
            RateWindow::Time(w) => w.add(failed, slow, now),
        }
    }

    fn counts(&self, now: u64) -> Counts {
        match self {
            RateWindow::Count(w) => w.counts(),
            RateWindow::Time(w) => w.counts(now),
        }
    }

    fn clear(&self) {
        match self {
            RateWindow::Count(w) => w.clear(),
            RateWindow::Time(w) => w.timeline.clear(),
        }
    }
}

// --- count window -----------------------------------------------------------------

struct CountWindow {
    size: u32,
    /// Outcomes recorded since the breaker was built.
    seq: AtomicU64,
    /// `seq` when the window was last cleared.
    base: AtomicU64,
    failures: Box<[AtomicU64]>,
    slow: Box<[AtomicU64]>,
}

impl CountWindow {
    fn new(size: u32) -> Self {
        let words = (size as usize).div_ceil(64);
        let bits = || (0..words).map(|_| AtomicU64::new(0)).collect();
        CountWindow {
            size,
            seq: AtomicU64::new(0),
            base: AtomicU64::new(0),
            failures: bits(),
            slow: bits(),
        }
    }

    fn add(&self, failed: bool, slow: bool) {
        // The one shared read-modify-write per call that an exact "last N" costs.
        let slot = self.seq.fetch_add(1, Relaxed) % u64::from(self.size);
        set_bit(&self.failures, slot, failed);
        set_bit(&self.slow, slot, slow);
    }

    /// A plain success: out of line, so that a time window's success (inlined where
    /// both are chosen between) stays small.
    #[inline(never)]
    fn add_success(&self) {
        self.add(false, false);
    }

    fn counts(&self) -> Counts {
        let recorded = self
            .seq
            .load(Relaxed)
            .saturating_sub(self.base.load(Relaxed));
        let ones = |bits: &[AtomicU64]| bits.iter().map(|w| w.load(Relaxed).count_ones()).sum();
        Counts {
            calls: recorded.min(u64::from(self.size)) as u32,
            failures: ones(&self.failures),
            slow: ones(&self.slow),
        }
    }

    fn clear(&self) {
        self.base.store(self.seq.load(Relaxed), Relaxed);
        for word in self.failures.iter().chain(self.slow.iter()) {
            word.store(0, Relaxed);
        }
    }
}

/// Sets or clears bit `slot`; a success clears with a write only when the slot held a
/// failure, so a healthy window's successes read the line and leave it alone.
fn set_bit(bits: &[AtomicU64], slot: u64, on: bool) {
    let word = &bits[(slot / 64) as usize];
    let mask = 1u64 << (slot % 64);
    if on {
        word.fetch_or(mask, Relaxed);
    } else if word.load(Relaxed) & mask != 0 {
        word.fetch_and(!mask, Relaxed);
    }
}

// --- time buckets -----------------------------------------------------------------

const COUNT_BITS: u32 = 24;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
const ERA_BITS: u32 = 16;

/// Division by a number fixed when the breaker is built, by a multiplication: a
/// 64-bit `div` takes tens of cycles, and a success into a time window needs two.
#[derive(Clone, Copy)]
struct Divisor {
    d: u64,
    /// ⌊(2⁶⁴ − 1) / d⌋: the estimate it gives is at most two below the quotient.
    m: u64,
}

impl Divisor {
    fn new(d: u64) -> Self {
        let d = d.max(1);
        Divisor { d, m: u64::MAX / d }
    }

    /// `n / d`, exactly.
    #[inline(always)]
    fn div(self, n: u64) -> u64 {
        let mut q = ((u128::from(n) * u128::from(self.m)) >> 64) as u64;
        while n - q * self.d >= self.d {
            q += 1;
        }
        q
    }
}

/// A window of `buckets` buckets of `width` nanoseconds, aligned to multiples of the
/// width on the breaker's clock.
#[derive(Clone, Copy)]
struct Grid {
    width: Divisor,
    buckets: Divisor,
}

impl Grid {
    fn new(length: std::time::Duration, buckets: u32) -> Self {
        let buckets = u64::from(buckets.max(1));
        Grid {
            width: Divisor::new(duration_to_nanos(length) / buckets),
            buckets: Divisor::new(buckets),
        }
    }

    /// The number of buckets.
    fn len(&self) -> u64 {
        self.buckets.d
    }

    /// The bucket time `now` falls in.
    #[inline(always)]
    fn index(&self, now: u64) -> u64 {
        self.width.div(now)
    }

    /// The cell of bucket time `index`.
    #[inline(always)]
    fn position(&self, index: u64) -> usize {
        (index - self.buckets.div(index) * self.buckets.d) as usize
    }
}

/// The time base of a bucketed window (a rate policy's time window, `within`): its grid
/// and its era, which together tag every bucket cell. Clearing the window is a new era.
struct Timeline {
    grid: Grid,
    era: AtomicU64,
}

impl Timeline {
    fn new(length: std::time::Duration, buckets: u32) -> Self {
        Timeline {
            grid: Grid::new(length, buckets),
            era: AtomicU64::new(0),
        }
    }

    /// The cell position of `now`'s bucket, and the tag its count must carry.
    #[inline(always)]
    fn slot(&self, now: u64) -> (usize, u64) {
        let index = self.grid.index(now);
        (
            self.grid.position(index),
            tag(index, self.era.load(Relaxed)),
        )
    }

    /// Counts one outcome at `now` in shared `cells`.
    fn add(&self, cells: &Buckets, now: u64) {
        let (position, tag) = self.slot(now);
        let _ = cells.0[position].fetch_update(Relaxed, Relaxed, |v| Some(bumped(v, tag)));
    }

    /// The counts of the cells (read by `cell`, by position) whose tag is current at
    /// `now`: the cell of each of the last `buckets` bucket times, of this era.
    fn sum(&self, now: u64, cell: impl Fn(usize) -> u64) -> u32 {
        let (grid, era) = (&self.grid, self.era.load(Relaxed));
        let index = grid.index(now);
        let (current, n) = (grid.position(index) as u64, grid.len());
        let mut total = 0u32;
        for position in 0..n {
            let back = (current + n - position) % n;
            let value = cell(position as usize);
            if back <= index && value & !COUNT_MASK == tag(index - back, era) {
                total = total.saturating_add((value & COUNT_MASK) as u32);
            }
        }
        total
    }

    fn clear(&self) {
        self.era.fetch_add(1, Relaxed);
    }
}

fn tag(index: u64, era: u64) -> u64 {
    // The index keeps its low 24 bits: the shift drops the rest.
    let era = era & ((1 << ERA_BITS) - 1);
    (index << (COUNT_BITS + ERA_BITS)) | (era << COUNT_BITS)
}

/// The cell's count once the breaker's tally `tag` is current, or one more than it
/// held: saturating, so a count never spills into the tag.
fn bumped(cell: u64, tag: u64) -> u64 {
    if cell & !COUNT_MASK == tag {
        if cell & COUNT_MASK == COUNT_MASK {
            cell
        } else {
            cell + 1
        }
    } else {
        tag | 1
    }
}

/// Shared bucket counts (failures, slow calls): written only on those outcomes.
struct Buckets(Box<[AtomicU64]>);

impl Buckets {
    fn new(timeline: &Timeline) -> Self {
        Buckets(
            (0..timeline.grid.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
        )
    }

    fn get(&self, position: usize) -> u64 {
        self.0[position].load(Relaxed)
    }
}

struct TimeWindow {
    timeline: Timeline,
    /// Each thread's successes: the bucket it counted in last ([`FROM`], [`KEY`]), then
    /// a cell per bucket.
    successes: Lanes,
    failures: Buckets,
    slow: Buckets,
}

/// In a thread's success lane: the start time of the bucket it counted in last, that
/// bucket's [`key`], and the first of its bucket cells.
const FROM: usize = 0;
const KEY: usize = 1;
const CELLS: usize = 2;
/// Set in a key that was written (a fresh lane's zero is no key).
const KEYED: u64 = 1 << (COUNT_BITS - 1);
const ERA_FIELD: u64 = ((1 << ERA_BITS) - 1) << COUNT_BITS;

/// What a thread remembers of the bucket it counted in last: its tag (bucket time and
/// era), and its cell in the low bits, so that the next success into the same bucket
/// needs no division and no tag check.
fn key(tag: u64, position: usize) -> u64 {
    tag | KEYED | (CELLS + position) as u64
}

/// Whether a thread's success at `now` belongs in the bucket its lane counted in last
/// (`key`, a bucket that starts at `from` and lasts `width`): a key written in this
/// `era`, and a time within that bucket. Otherwise the success finds its bucket by
/// division, which would count it right too, only slower.
#[inline(always)]
fn in_last_bucket(key: u64, from: u64, era: u64, now: u64, width: u64) -> bool {
    key & (ERA_FIELD | KEYED) == tag(0, era) | KEYED && now.wrapping_sub(from) < width
}

impl TimeWindow {
    fn new(timeline: Timeline) -> Self {
        TimeWindow {
            successes: Lanes::new(CELLS + timeline.grid.len() as usize),
            failures: Buckets::new(&timeline),
            slow: Buckets::new(&timeline),
            timeline,
        }
    }

    fn add(&self, failed: bool, slow: bool, now: u64) {
        if failed {
            self.timeline.add(&self.failures, now);
        } else {
            self.add_success(now);
        }
        if slow {
            self.timeline.add(&self.slow, now);
        }
    }

    /// A success at `now`, in this thread's lane. Calls that keep to one bucket (all
    /// but the first in a bucket's worth of time) compare the time with the bucket the
    /// thread counted in last and add one there.
    #[inline(always)]
    fn add_success(&self, now: u64) {
        let era = self.timeline.era.load(Relaxed);
        let Some(lane) = self.successes.get() else {
            return self.add_success_new(now, era);
        };
        let key = lane.cell(KEY).load(Relaxed);
        let from = lane.cell(FROM).load(Relaxed);
        if in_last_bucket(key, from, era, now, self.timeline.grid.width.d) {
            // Single writer: a plain load and store, saturating below the tag.
            let cell = lane.cell((key & 0x3f) as usize);
            let count = cell.load(Relaxed);
            if count & COUNT_MASK != COUNT_MASK {
                cell.store(count + 1, Relaxed);
            }
        } else {
            self.add_success_elsewhere(lane, now, era);
        }
    }

    /// A success of a thread without a lane in this window yet.
    #[cold]
    #[inline(never)]
    fn add_success_new(&self, now: u64, era: u64) {
        self.successes
            .with_new(|lane| self.add_success_elsewhere(lane, now, era));
    }

    /// A success into another bucket than the thread's last (or after a clear): found
    /// by division, and remembered.
    #[cold]
    #[inline(never)]
    fn add_success_elsewhere(&self, lane: Lane<'_>, now: u64, era: u64) {
        let grid = &self.timeline.grid;
        let index = grid.index(now);
        let (position, tag) = (grid.position(index), tag(index, era));
        let cell = lane.cell(CELLS + position);
        cell.store(bumped(cell.load(Relaxed), tag), Relaxed);
        lane.cell(FROM).store(index * grid.width.d, Relaxed);
        lane.cell(KEY).store(key(tag, position), Relaxed);
    }

    fn counts(&self, now: u64) -> Counts {
        let timeline = &self.timeline;
        let failures = timeline.sum(now, |p| self.failures.get(p));
        let mut successes = 0u32;
        self.successes.each(|lane| {
            let n = timeline.sum(now, |p| lane.cell(CELLS + p).load(Relaxed));
            successes = successes.saturating_add(n);
        });
        Counts {
            calls: successes.saturating_add(failures),
            failures,
            slow: timeline.sum(now, |p| self.slow.get(p)),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::time::Duration;

    use super::*;

    const MS: u64 = 1_000_000;

    fn rules(config: &Config) -> Rules {
        Rules::from(config)
    }

    #[test]
    fn a_time_window_slides_bucket_by_bucket() {
        let config = Config {
            failure_rate: Some(crate::Percent::new(50.0)),
            window: Some(Window::Time(Duration::from_secs(1))),
            buckets: 10,
            min_calls: Some(4),
            ..Config::DEFAULT
        };
        let (tally, rules) = (Tally::new(&config), rules(&config));
        // Three successes in bucket 0, one failure in bucket 9: 1 of 4 failed.
        for _ in 0..3 {
            assert!(!tally.record(Verdict::Success, false, 50 * MS, &rules));
        }
        assert!(!tally.record(Verdict::Failure, false, 950 * MS, &rules));
        assert_eq!(
            tally.window(950 * MS).unwrap().0,
            Counts {
                calls: 4,
                failures: 1,
                slow: 0
            }
        );
        // At 1.0 s bucket 0 has left the window: one call, a failure.
        assert_eq!(tally.window(1_000 * MS).unwrap().0.calls, 1);
        // A second failure at 1.05 s: 2 calls, both failed, but below min_calls.
        assert!(!tally.record(Verdict::Failure, false, 1_050 * MS, &rules));
        tally.clear();
        assert_eq!(tally.window(1_050 * MS).unwrap().0, Counts::default());
    }

    #[test]
    fn a_threads_successes_count_once_each_in_their_bucket_and_era() {
        // A thread of its own: its success lane starts fresh, at the clock's origin.
        std::thread::spawn(|| {
            let config = Config {
                failure_rate: Some(crate::Percent::new(50.0)),
                window: Some(Window::Time(Duration::from_secs(1))),
                buckets: 10,
                min_calls: Some(100),
                ..Config::DEFAULT
            };
            let (tally, rules) = (Tally::new(&config), rules(&config));
            let calls = |at: u64| tally.window(at).unwrap().0.calls;
            let succeed = |at: u64| tally.record(Verdict::Success, false, at, &rules);
            for _ in 0..3 {
                succeed(0);
            }
            assert_eq!(calls(0), 3, "a fresh lane at time zero");
            succeed(50 * MS);
            succeed(99 * MS);
            assert_eq!(calls(99 * MS), 5, "the same bucket");
            succeed(100 * MS);
            assert_eq!(calls(100 * MS), 6, "the next bucket");
            tally.record(Verdict::Failure, false, 120 * MS, &rules);
            assert_eq!(calls(120 * MS), 7);
            tally.clear();
            assert_eq!(calls(120 * MS), 0, "cleared");
            succeed(130 * MS);
            assert_eq!(calls(130 * MS), 1, "a new era in the bucket the lane knows");
            assert_eq!(calls(1_099 * MS), 1);
            assert_eq!(calls(1_100 * MS), 0, "the bucket left the window");
            succeed(1_100 * MS);
            succeed(1_150 * MS);
            assert_eq!(calls(1_150 * MS), 2);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_success_takes_the_fast_way_exactly_when_its_bucket_is_the_last_one() {
        const W: u64 = 100 * MS;
        let (from, era) = (7 * W, 3);
        let last = key(tag(7, era), 2);
        assert!(in_last_bucket(last, from, era, from, W));
        assert!(in_last_bucket(last, from, era, from + W - 1, W));
        assert!(
            !in_last_bucket(last, from, era, from + W, W),
            "the next bucket"
        );
        assert!(
            !in_last_bucket(last, from, era + 1, from, W),
            "cleared since"
        );
        assert!(!in_last_bucket(0, 0, 0, 0, W), "a lane's zero is no key");
        assert_eq!(last & 0x3f, (CELLS + 2) as u64, "the cell it names");
    }

    #[test]
    fn a_lane_remembers_the_bucket_it_counted_in() {
        std::thread::spawn(|| {
            let config = Config {
                failure_rate: Some(crate::Percent::new(50.0)),
                window: Some(Window::Time(Duration::from_secs(1))),
                buckets: 10,
                min_calls: Some(1),
                ..Config::DEFAULT
            };
            let Tally::Rate(rate) = Tally::new(&config) else {
                unreachable!("a rate policy")
            };
            let RateWindow::Time(window) = &rate.window else {
                unreachable!("a time window")
            };
            window.add(false, false, 150 * MS);
            let lane = window.successes.get().expect("made by the success");
            assert_eq!(
                lane.cell(FROM).load(Relaxed),
                100 * MS,
                "bucket 1 starts at 100 ms"
            );
            let position = window.timeline.grid.position(1);
            assert_eq!(lane.cell(KEY).load(Relaxed), key(tag(1, 0), position));
            // A cell one short of full: the fast way fills it, and then keeps it full
            // rather than spill into its tag.
            let cell = lane.cell(CELLS + position);
            cell.store(tag(1, 0) | (COUNT_MASK - 1), Relaxed);
            window.add(false, false, 160 * MS);
            window.add(false, false, 170 * MS);
            assert_eq!(cell.load(Relaxed), tag(1, 0) | COUNT_MASK);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_count_window_holds_exactly_the_last_n() {
        let config = Config {
            failure_rate: Some(crate::Percent::new(50.0)),
            window: Some(Window::Calls(3)),
            ..Config::DEFAULT
        };
        let (tally, rules) = (Tally::new(&config), rules(&config));
        assert!(!tally.record(Verdict::Failure, false, 0, &rules), "1 of 3");
        assert!(!tally.record(Verdict::Success, false, 0, &rules));
        // Third call completes min_calls (3) with 2 of 3 failed: trips.
        assert!(tally.record(Verdict::Failure, false, 0, &rules));
        // The first failure slides out.
        assert!(!tally.record(Verdict::Success, true, 0, &rules));
        assert_eq!(
            tally.window(0).unwrap().0,
            Counts {
                calls: 3,
                failures: 1,
                slow: 1
            }
        );
    }

    #[test]
    fn division_by_multiplication_is_exact() {
        let divisors = [
            1,
            2,
            3,
            7,
            10,
            60,
            100_000_000,
            333_333_333,
            6_000_000_000,
            u64::MAX,
        ];
        for d in divisors {
            let divisor = Divisor::new(d);
            let mut n = 1u64;
            for _ in 0..2_000 {
                for probe in [n - 1, n, n.wrapping_add(d), u64::MAX - n] {
                    assert_eq!(divisor.div(probe), probe / d, "{probe} / {d}");
                }
                n = n.wrapping_mul(3).wrapping_add(d | 1);
            }
            assert_eq!(divisor.div(u64::MAX), u64::MAX / d);
        }
    }

    #[test]
    fn cells_saturate_and_stale_tags_read_as_zero() {
        let t = tag(5, 1);
        assert_eq!(bumped(t | COUNT_MASK, t), t | COUNT_MASK);
        assert_eq!(bumped(tag(4, 1) | 9, t), t | 1);
        assert_eq!(bumped(tag(5, 0) | 9, t), t | 1, "a cleared era starts over");
    }
}
