//! Per-thread counters: a breaker's counts that every call adds to, kept so that adding
//! never writes a cache line another core writes.
//!
//! A set of [`Lanes`] gives each thread that uses it a [`Lane`] of its own: a few
//! `u64` cells, cache-line aligned, written by that thread alone (a plain load and
//! store, no atomic read-modify-write) and read by anyone who sums them. The metrics
//! feature counts calls this way, and a time-window rate policy counts its successes:
//! both on the closed path, where a shared write per call would cost tens of
//! nanoseconds on two cores and far more on many.
//!
//! A thread finds its lane by its **slot**: a small number that no other living thread
//! holds, taken when the thread first counts and given back when it exits. The slot is
//! a thread-local `u32` with nothing to drop, so reading it is one load, and a set keeps
//! its lanes in segments indexed by slot, so the whole lookup inlines into the call
//! path. A thread that takes a slot given back takes over the lanes of the thread that
//! held it, counts and all: the counts stay true (those calls were made), and a program
//! that starts and ends threads keeps as many lanes as it ever ran threads at once.

use std::cell::Cell;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Mutex, OnceLock};

use crate::sync::lock;

/// Eight cells: one cache line, so that no two threads' lanes share one.
#[repr(align(64))]
#[derive(Default)]
struct Line([AtomicU64; 8]);

fn lines(cells: usize) -> Box<[Line]> {
    (0..cells.div_ceil(8)).map(|_| Line::default()).collect()
}

/// A view of one thread's cells.
#[derive(Clone, Copy)]
pub(crate) struct Lane<'a>(&'a [Line]);

impl<'a> Lane<'a> {
    /// Cell `i` (`i` below the width the lanes were made with).
    #[inline(always)]
    pub(crate) fn cell(self, i: usize) -> &'a AtomicU64 {
        &self.0[i / 8].0[i % 8]
    }

    /// Adds one to cell `i`. Only the lane's own thread writes it: a load and a store.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    #[inline(always)]
    pub(crate) fn bump(self, i: usize) {
        let n = self.cell(i);
        n.store(n.load(Relaxed) + 1, Relaxed);
    }
}

/// Segments of lanes by slot: segment `k` holds the `8 · 2^k` slots from
/// `8 · (2^k − 1)`, so six cover 504 threads at once.
const SEGMENTS: usize = 6;
/// Slots from here on share one lane, under a lock.
const SLOTS: u32 = 8 * ((1 << SEGMENTS) - 1);

type Segment = Box<[OnceLock<Box<[Line]>>]>;

/// Every thread's lane of one counting purpose of one breaker.
pub(crate) struct Lanes {
    cells: usize,
    segments: [OnceLock<Segment>; SEGMENTS],
    /// The lane of the threads beyond [`SLOTS`]: correct, not fast.
    overflow: Mutex<Option<Box<[Line]>>>,
}

impl Lanes {
    /// Lanes of `cells` cells each.
    pub(crate) fn new(cells: usize) -> Self {
        Lanes {
            cells,
            segments: Default::default(),
            overflow: Mutex::new(None),
        }
    }

    /// This thread's lane, if it has one in this set already: the fast path, a
    /// thread-local load and a few in the set.
    #[inline(always)]
    pub(crate) fn get(&self) -> Option<Lane<'_>> {
        self.lane(SLOT.with(Cell::get)).map(Lane)
    }

    /// Runs `f` on this thread's lane (made on first use). A thread that is exiting
    /// has no lane any more: `f` is not run, and what it would have counted is lost.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    #[inline(always)]
    pub(crate) fn with(&self, f: impl FnOnce(Lane<'_>)) {
        match self.get() {
            Some(lane) => f(lane),
            None => self.with_new(f),
        }
    }

    /// The lane of `slot`, if it has been made.
    #[inline(always)]
    fn lane(&self, slot: u32) -> Option<&[Line]> {
        // The markers (`NO_SLOT`, `EXITED`) fall far beyond the segments.
        let k = (slot / 8 + 1).ilog2();
        let segment = self.segments.get(k as usize)?.get()?;
        let first = 8 * ((1 << k) - 1);
        segment.get((slot - first) as usize)?.get().map(|b| &**b)
    }

    /// `with` for a thread without a slot yet, or without a lane in this set, or
    /// beyond the slots that have lanes of their own.
    #[cold]
    #[inline(never)]
    pub(crate) fn with_new(&self, f: impl FnOnce(Lane<'_>)) {
        let slot = match SLOT.with(Cell::get) {
            NO_SLOT => take_slot(),
            slot => slot,
        };
        self.with_slot(slot, f);
    }

    fn with_slot(&self, slot: u32, f: impl FnOnce(Lane<'_>)) {
        if slot == EXITED {
            return;
        }
        if slot >= SLOTS {
            let mut overflow = lock(&self.overflow);
            return f(Lane(overflow.get_or_insert_with(|| lines(self.cells))));
        }
        let k = (slot / 8 + 1).ilog2();
        let size = 8usize << k;
        let segment =
            self.segments[k as usize].get_or_init(|| (0..size).map(|_| OnceLock::new()).collect());
        let lane = segment[(slot - 8 * ((1 << k) - 1)) as usize].get_or_init(|| lines(self.cells));
        f(Lane(lane));
    }

    /// Runs `f` on every thread's lane.
    pub(crate) fn each(&self, mut f: impl FnMut(Lane<'_>)) {
        for segment in self.segments.iter().filter_map(OnceLock::get) {
            for lane in segment.iter().filter_map(OnceLock::get) {
                f(Lane(lane));
            }
        }
        if let Some(lane) = &*lock(&self.overflow) {
            f(Lane(lane));
        }
    }
}

/// No slot taken yet.
const NO_SLOT: u32 = u32::MAX;
/// The thread is exiting: it counts nothing any more. (Beside `NO_SLOT`, both beyond
/// any slot a process can hold.)
const EXITED: u32 = 0xFFFF_FFFE;

thread_local! {
    /// This thread's slot. Nothing to drop, so it stays readable while the thread's
    /// other thread-locals are destroyed (a permit dropped then still finds it says
    /// `EXITED`).
    static SLOT: Cell<u32> = const { Cell::new(NO_SLOT) };
    /// Gives the slot back when the thread exits.
    static LEASE: Lease = const { Lease };
}

/// Slots given back, and the next never taken.
struct Pool {
    next: u32,
    free: Vec<u32>,
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    next: 0,
    free: Vec::new(),
});

/// This thread's slot, taken now: the lowest given back, else a new one. A thread that
/// is already exiting (its `LEASE` cannot be set up) takes none.
fn take_slot() -> u32 {
    if LEASE.try_with(|_| ()).is_err() {
        SLOT.with(|slot| slot.set(EXITED));
        return EXITED;
    }
    let slot = {
        let mut pool = lock(&POOL);
        match pool.free.iter().enumerate().min_by_key(|(_, slot)| **slot) {
            Some((i, _)) => pool.free.swap_remove(i),
            None => {
                let slot = pool.next;
                pool.next += 1;
                slot
            }
        }
    };
    SLOT.with(|cell| cell.set(slot));
    slot
}

struct Lease;

impl Drop for Lease {
    fn drop(&mut self) {
        // Only `take_slot` sets the lease up, right before it gives the thread its
        // slot: there is one to give back. The lanes are the next holder's from here:
        // this thread writes no more.
        let slot = SLOT.with(|slot| slot.replace(EXITED));
        lock(&POOL).free.push(slot);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

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
    fn a_slot_given_back_is_taken_again_and_its_counts_carried_on() {
        let lanes = Arc::new(Lanes::new(1));
        // One thread after another: each takes the slot the last gave back, so the
        // set keeps no more lanes than threads ran at once.
        for _ in 0..20 {
            let lanes = Arc::clone(&lanes);
            std::thread::spawn(move || lanes.with(|l| l.bump(0)))
                .join()
                .unwrap();
        }
        let (mut kept, mut sum) = (0, 0);
        lanes.each(|l| {
            kept += 1;
            sum += l.cell(0).load(Relaxed);
        });
        assert_eq!(sum, 20, "no count lost to a slot changing hands");
        // Other tests' threads may hold slots at the same time: a few lanes, not 20.
        assert!(kept < 20, "{kept} lanes for 20 threads run one at a time");
    }

    #[test]
    fn slots_index_segments_without_gaps_or_overlaps() {
        let lanes = Lanes::new(1);
        let mut seen = std::collections::HashSet::new();
        // Every slot up to the last with a lane of its own maps to one segment entry.
        for slot in 0..SLOTS {
            let k = (slot / 8 + 1).ilog2() as usize;
            let first = 8 * ((1u32 << k) - 1);
            assert!(k < SEGMENTS && slot - first < 8 << k, "slot {slot}");
            assert!(seen.insert((k, slot - first)));
        }
        // Beyond them, and for the markers, there is no lane: the slow path decides.
        assert!(lanes.lane(SLOTS).is_none());
        assert!(lanes.lane(NO_SLOT).is_none());
        assert!(lanes.lane(EXITED).is_none());
    }

    #[test]
    fn every_slot_finds_the_lane_it_made() {
        let lanes = Lanes::new(1);
        for slot in 0..SLOTS {
            assert!(lanes.lane(slot).is_none(), "slot {slot} has no lane yet");
            lanes.with_slot(slot, |l| l.cell(0).store(u64::from(slot) + 1, Relaxed));
        }
        // 504 slots have lanes of their own (six segments), each its own.
        assert_eq!(SLOTS, 504);
        for slot in 0..SLOTS {
            let lane = Lane(lanes.lane(slot).expect("made"));
            assert_eq!(
                lane.cell(0).load(Relaxed),
                u64::from(slot) + 1,
                "slot {slot}"
            );
        }
        let mut lanes_seen = 0;
        lanes.each(|_| lanes_seen += 1);
        assert_eq!(lanes_seen, SLOTS);
    }

    #[test]
    fn a_thread_finds_its_lane_again_without_making_one() {
        std::thread::spawn(|| {
            let lanes = Lanes::new(9);
            assert!(lanes.get().is_none());
            lanes.with(|l| l.bump(8));
            lanes.with(|l| l.bump(8));
            let lane = lanes.get().expect("made by the first count");
            assert_eq!(lane.cell(8).load(Relaxed), 2);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn threads_alive_together_hold_different_slots() {
        let barrier = Arc::new(std::sync::Barrier::new(4));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    Lanes::new(1).with(|l| l.bump(0));
                    let slot = SLOT.with(Cell::get);
                    barrier.wait(); // every thread holds its slot here
                    slot
                })
            })
            .collect();
        let slots: std::collections::HashSet<u32> =
            threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(slots.len(), 4, "{slots:?}");
        assert!(slots.iter().all(|s| *s < EXITED));
    }

    #[test]
    fn threads_beyond_the_slots_share_the_overflow_lane_and_lose_nothing() {
        let lanes = Lanes::new(2);
        for _ in 0..3 {
            lanes.with_slot(SLOTS + 7, |l| l.bump(1));
        }
        let mut n = 0;
        lanes.each(|l| n += l.cell(1).load(Relaxed));
        assert_eq!(n, 3);
    }
}
