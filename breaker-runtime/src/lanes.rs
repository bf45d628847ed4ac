//! Per-thread counters: a breaker's counts that every call adds to, kept so that adding
//! never writes a cache line another core writes.
//!
//! A set of [`Lanes`] gives each thread that uses it a [`Lane`] of its own: a few
//! `u64` cells, cache-line aligned, written by that thread alone (a plain load and
//! store, no atomic read-modify-write) and read by anyone who sums them. The metrics
//! feature counts calls this way, and a time-window rate policy counts its successes:
//! both on the closed path, where a shared write per call would cost tens of
//! nanoseconds on two cores and far more on many.

use std::cell::RefCell;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};

use crate::sync::lock;

/// Eight cells: one cache line, so that no two threads' lanes share one.
#[repr(align(64))]
#[derive(Default)]
struct Line([AtomicU64; 8]);

/// One thread's cells for one set of lanes.
pub(crate) struct Lane(Box<[Line]>);

impl Lane {
    fn new(cells: usize) -> Self {
        Lane((0..cells.div_ceil(8)).map(|_| Line::default()).collect())
    }

    /// Cell `i` (`i` below the width the lanes were made with).
    #[inline(always)]
    pub(crate) fn cell(&self, i: usize) -> &AtomicU64 {
        &self.0[i / 8].0[i % 8]
    }

    /// Adds one to cell `i`. Only the lane's own thread writes it: a load and a store.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    #[inline(always)]
    pub(crate) fn bump(&self, i: usize) {
        let n = self.cell(i);
        n.store(n.load(Relaxed) + 1, Relaxed);
    }
}

/// Every thread's lane of one counting purpose of one breaker.
pub(crate) struct Lanes {
    id: u64,
    cells: usize,
    /// Locked when a thread first counts here, and when the lanes are summed.
    all: Mutex<Vec<Arc<Lane>>>,
}

impl Lanes {
    /// Lanes of `cells` cells each.
    pub(crate) fn new(cells: usize) -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        Lanes {
            id: NEXT_ID.fetch_add(1, Relaxed),
            cells,
            all: Mutex::new(Vec::new()),
        }
    }

    /// Runs `f` on this thread's lane (made on first use). A thread that is exiting has
    /// no lane any more: `f` is not run, and what it would have counted is lost.
    #[inline(always)]
    pub(crate) fn with(&self, f: impl FnOnce(&Lane)) {
        let _ = LOCAL.try_with(|local| {
            let mut local = local.borrow_mut();
            let lane = match &local.recent[0] {
                Some((id, lane)) if *id == self.id => lane,
                _ => local.switch_to(self),
            };
            f(lane);
        });
    }

    /// Runs `f` on every thread's lane.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn each(&self, mut f: impl FnMut(&Lane)) {
        for lane in lock(&self.all).iter() {
            f(lane);
        }
    }

    /// Runs `f` on every thread's lane, and forgets the lanes of threads that have
    /// exited once `f` says they hold nothing that still counts: a program that starts
    /// and ends threads does not keep a lane per thread it ever ran.
    pub(crate) fn each_forgetting(&self, mut f: impl FnMut(&Lane) -> bool) {
        // A lane's own thread holds the other reference, in its thread-local cache.
        lock(&self.all).retain(|lane| f(lane) || Arc::strong_count(lane) > 1);
    }
}

/// This thread's lanes: the two used last (a breaker with metrics and a time window
/// uses two sets on every call), and the others by id.
struct Local {
    recent: [Option<(u64, Arc<Lane>)>; 2],
    all: Vec<(u64, Arc<Lane>)>,
}

thread_local! {
    static LOCAL: RefCell<Local> = const {
        RefCell::new(Local { recent: [None, None], all: Vec::new() })
    };
}

impl Local {
    /// Makes `lanes`' lane of this thread the most recent (the other recent one, or
    /// found, or made) and returns it.
    #[cold]
    fn switch_to(&mut self, lanes: &Lanes) -> &Arc<Lane> {
        if matches!(&self.recent[1], Some((id, _)) if *id == lanes.id) {
            self.recent.swap(0, 1);
            return &self.recent[0].as_ref().expect("just swapped in").1;
        }
        let lane = match self.all.iter().find(|(id, _)| *id == lanes.id) {
            Some((_, lane)) => Arc::clone(lane),
            None => {
                // Forget lanes whose breaker is gone (only this thread still holds them).
                self.all.retain(|(_, lane)| Arc::strong_count(lane) > 1);
                let lane = Arc::new(Lane::new(lanes.cells));
                lock(&lanes.all).push(Arc::clone(&lane));
                self.all.push((lanes.id, Arc::clone(&lane)));
                lane
            }
        };
        self.recent.swap(0, 1);
        self.recent[0] = Some((lanes.id, lane));
        &self.recent[0].as_ref().expect("just set").1
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn each_thread_counts_in_its_own_lane_and_the_sum_sees_all() {
        let lanes = Arc::new(Lanes::new(10));
        let other = Lanes::new(3);
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let lanes = Arc::clone(&lanes);
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        lanes.with(|l| l.bump(9));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // Alternating between two sets keeps both in this thread's recent pair.
        for _ in 0..5 {
            lanes.with(|l| l.bump(0));
            other.with(|l| l.bump(2));
        }
        let mut sums = [0u64; 2];
        lanes.each(|l| {
            sums[0] += l.cell(0).load(Relaxed);
            sums[1] += l.cell(9).load(Relaxed);
        });
        assert_eq!(sums, [5, 3000]);
        let mut n = 0;
        other.each(|l| n += l.cell(2).load(Relaxed));
        assert_eq!(n, 5);
    }

    #[test]
    fn the_lanes_of_exited_threads_are_forgotten_once_empty() {
        let lanes = Arc::new(Lanes::new(1));
        let shared = Arc::clone(&lanes);
        std::thread::spawn(move || shared.with(|l| l.bump(0)))
            .join()
            .unwrap();
        lanes.with(|l| l.bump(0));
        let mut seen = 0;
        lanes.each_forgetting(|l| {
            seen += 1;
            l.cell(0).load(Relaxed) > 0 // both still hold a count: both kept
        });
        assert_eq!(seen, 2);
        lanes.each_forgetting(|_| false); // nothing counts any more
        let mut left = 0;
        lanes.each(|_| left += 1);
        assert_eq!(
            left, 1,
            "this thread's lane stays, the exited thread's goes"
        );
    }
}
