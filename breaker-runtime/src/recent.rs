//! Recent time: the default clock as of at most one tick ago, in one atomic, so that a
//! time window's success dates itself with a load instead of a clock read.
//!
//! A success into a time window needs the time (its bucket is that of its completion),
//! and on the closed path a clock read is most of what it costs: the coarse monotonic
//! clock takes 4–5 ns through the C library, a relaxed load of a line that changes once
//! a millisecond well under one. A background thread named `breaker-clock`, started by
//! the first call that needs it, stores the clock every millisecond; it parks once a
//! second of ticks has gone by with no call reading them, and the first call after that
//! wakes it (reading the clock itself meanwhile), so an idle process has no thread
//! waking up.
//!
//! What a caller gets is never ahead of the clock and behind it by one tick plus however
//! long the thread waits to be scheduled: the clock itself, `CLOCK_MONOTONIC_COARSE`,
//! moves in steps of the kernel's tick (4 ms here), so a millisecond more does not
//! change what a window of buckets of 100 ms or more holds.
//!
//! Only the default clock has a recent time; a [`ManualClock`](crate::ManualClock), a
//! custom clock and tokio's clock (`tokio-clock`) are read on every call, so tests stay
//! deterministic.
//!
//! The cell's states, in one `u64`: a time (bit 1 set; bit 0 set once a caller has read
//! it since the thread stored it), or one of the markers below (bit 1 clear).

// Without the coarse clock (other systems, `tokio-clock`, the loom model) there is no
// thread and no recent time: the clock is read.
#![cfg_attr(
    not(all(target_os = "linux", not(feature = "tokio-clock"), not(loom))),
    allow(dead_code)
)]

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;

/// A time, stored by the thread.
const TIME: u64 = 0b10;
/// Set by the first caller that reads the time the thread stored last.
const SEEN: u64 = 0b01;
/// Both marks: a time the thread stored and a caller has read.
const MARKS: u64 = TIME | SEEN;
/// No thread yet.
const STOPPED: u64 = 0;
/// The thread could not be started: every caller reads the clock.
const UNAVAILABLE: u64 = 1 << 2;
/// The thread is parked: the next caller wakes it.
const ASLEEP: u64 = 2 << 2;
/// Being woken (or started): callers read the clock until the thread stores a time.
const WAKING: u64 = 3 << 2;

/// How often the thread stores the time while calls read it.
pub(crate) const TICK: std::time::Duration = std::time::Duration::from_millis(1);
/// Ticks that no caller read before the thread parks: a second's worth.
const IDLE_TICKS: u32 = 1_000;

/// The cell a time is kept in: what a time looks like stored.
#[inline(always)]
fn stamp(nanos: u64) -> u64 {
    (nanos & !MARKS) | TIME
}

/// Reads `cell`: the time it holds (marking it seen), or `None` when it holds none,
/// in which case the caller reads the clock itself and, by `wake`, what the marker asks
/// for is done (start or wake the thread).
#[inline(always)]
fn read(cell: &AtomicU64, wake: impl FnOnce(u64)) -> Option<u64> {
    let value = cell.load(Relaxed);
    if seen_time(value) {
        return Some(value & !MARKS);
    }
    read_unseen(cell, value, wake)
}

/// Whether `value` is a time a caller has read already: the fast path's one test, so
/// that reading stays a load. Any other value takes the cold path, which answers the
/// same for a time (and marks it seen again).
#[inline(always)]
fn seen_time(value: u64) -> bool {
    value & MARKS == MARKS
}

#[cold]
#[inline(never)]
fn read_unseen(cell: &AtomicU64, value: u64, wake: impl FnOnce(u64)) -> Option<u64> {
    if value & TIME != 0 {
        // The first read since the last tick: tells the thread someone is reading.
        cell.fetch_or(SEEN, Relaxed);
        return Some(value & !MARKS);
    }
    if (value == STOPPED || value == ASLEEP)
        && cell
            .compare_exchange(value, WAKING, Relaxed, Relaxed)
            .is_ok()
    {
        wake(value);
    }
    None
}

/// What the thread does after a tick.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    /// Sleep for one tick, then tick again.
    Sleep,
    /// Park until a caller wakes it.
    Park,
}

/// The thread's side of the cell: stores `nanos`, and decides whether to go on
/// ticking. `idle` counts the ticks since a caller last read one.
fn tick(cell: &AtomicU64, nanos: u64, idle: &mut u32) -> Next {
    let stored = stamp(nanos);
    let before = cell.swap(stored, Relaxed);
    // Read since the last tick, or a caller has just woken the thread: there is demand.
    if before & SEEN != 0 || before == WAKING {
        *idle = 0;
    } else {
        *idle += 1;
    }
    if *idle < IDLE_TICKS {
        return Next::Sleep;
    }
    *idle = 0;
    // Park only if no caller read the time just stored; one that did keeps it ticking.
    match cell.compare_exchange(stored, ASLEEP, Relaxed, Relaxed) {
        Ok(_) => Next::Park,
        Err(_) => Next::Sleep,
    }
}

#[cfg(all(target_os = "linux", not(feature = "tokio-clock"), not(loom)))]
mod thread {
    use std::sync::atomic::AtomicU64;
    use std::sync::atomic::Ordering::Relaxed;
    use std::sync::OnceLock;

    use super::{Next, ASLEEP, TICK, UNAVAILABLE};
    use crate::clock::MonotonicClock;

    pub(super) static RECENT: AtomicU64 = AtomicU64::new(super::STOPPED);
    static THREAD: OnceLock<std::thread::Thread> = OnceLock::new();

    /// Starts the thread (`STOPPED`) or wakes it (`ASLEEP`).
    #[cold]
    pub(super) fn wake(from: u64) {
        if from == ASLEEP {
            if let Some(thread) = THREAD.get() {
                thread.unpark();
            }
            return;
        }
        let spawned = std::thread::Builder::new()
            .name("breaker-clock".into())
            .spawn(run);
        if spawned.is_err() {
            RECENT.store(UNAVAILABLE, Relaxed);
        }
    }

    fn run() {
        // Known before the first tick, so before any caller can see the thread asleep.
        THREAD.get_or_init(std::thread::current);
        let mut idle = 0;
        loop {
            match super::tick(&RECENT, MonotonicClock::now_nanos(), &mut idle) {
                Next::Sleep => std::thread::sleep(TICK),
                Next::Park => {
                    while RECENT.load(Relaxed) == ASLEEP {
                        std::thread::park();
                    }
                }
            }
        }
    }
}

/// The default clock's time in nanoseconds, as of at most about a tick ago.
#[cfg(all(target_os = "linux", not(feature = "tokio-clock"), not(loom)))]
#[inline(always)]
pub(crate) fn now_nanos() -> u64 {
    match read(&thread::RECENT, thread::wake) {
        Some(nanos) => nanos,
        None => clock_nanos(),
    }
}

/// The clock, read while the thread is starting or waking.
#[cfg(all(target_os = "linux", not(feature = "tokio-clock"), not(loom)))]
#[cold]
#[inline(never)]
fn clock_nanos() -> u64 {
    crate::clock::MonotonicClock::now_nanos()
}

// Named apart from the Linux reading above, which the default build compiles:
// cargo-mutants cannot tell cfg'd-out code, and `.cargo/mutants.toml` names this one.
#[cfg(not(all(target_os = "linux", not(feature = "tokio-clock"), not(loom))))]
pub(crate) use clock_now_nanos as now_nanos;

#[cfg(not(all(target_os = "linux", not(feature = "tokio-clock"), not(loom))))]
#[inline(always)]
pub(crate) fn clock_now_nanos() -> u64 {
    crate::clock::MonotonicClock::now_nanos()
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn the_first_caller_starts_the_thread_and_the_others_read_the_clock_meanwhile() {
        let cell = AtomicU64::new(STOPPED);
        let mut woken = Vec::new();
        assert_eq!(read(&cell, |from| woken.push(from)), None);
        assert_eq!(read(&cell, |from| woken.push(from)), None, "still starting");
        assert_eq!(woken, [STOPPED], "started once");
        let mut idle = 0;
        assert_eq!(tick(&cell, 5 * MS + 3, &mut idle), Next::Sleep);
        assert_eq!(
            read(&cell, |_| unreachable!()),
            Some(5 * MS),
            "low bits dropped"
        );
        assert_eq!(read(&cell, |_| unreachable!()), Some(5 * MS));
    }

    #[test]
    fn the_thread_parks_after_a_second_unread_and_a_caller_wakes_it() {
        let cell = AtomicU64::new(WAKING);
        let mut idle = 0;
        let mut nanos = 0;
        let mut ticks = 0;
        // Read at every tick: it never parks.
        for _ in 0..3 * IDLE_TICKS {
            nanos += MS;
            assert_eq!(tick(&cell, nanos, &mut idle), Next::Sleep);
            assert_eq!(read(&cell, |_| unreachable!()), Some(nanos));
        }
        // Unread: it parks at the thousandth tick, not before.
        for _ in 0..=2 * IDLE_TICKS {
            nanos += MS;
            ticks += 1;
            if tick(&cell, nanos, &mut idle) == Next::Park {
                break;
            }
        }
        // The first of them still saw the last read: a second of unread ticks follows.
        assert_eq!(ticks, IDLE_TICKS + 1);
        let mut woken = Vec::new();
        assert_eq!(read(&cell, |from| woken.push(from)), None);
        assert_eq!(read(&cell, |from| woken.push(from)), None);
        assert_eq!(woken, [ASLEEP], "one caller wakes it");
        // Woken: its next tick has demand, and callers have the time again.
        assert_eq!(tick(&cell, nanos + MS, &mut idle), Next::Sleep);
        assert_eq!(idle, 0);
        assert_eq!(read(&cell, |_| unreachable!()), Some(nanos + MS));
    }

    #[cfg(all(target_os = "linux", not(feature = "tokio-clock")))]
    #[test]
    fn while_the_thread_starts_callers_read_the_clock() {
        let before = crate::clock::MonotonicClock::now_nanos();
        let read = clock_nanos();
        assert!(read >= before && read > 1, "{before} {read}");
    }

    #[test]
    fn a_stored_time_keeps_its_marks_apart() {
        // The low two bits are the marks: a time loses them, and reads back without.
        assert_eq!(stamp(0b1111), 0b1110);
        assert_eq!(stamp(0b1000), 0b1010);
        let cell = AtomicU64::new(stamp(0b1111));
        let never = |_| panic!("a stored time wakes nothing");
        assert_eq!(read(&cell, never), Some(0b1100));
        assert_eq!(cell.load(Relaxed), 0b1111, "seen");
        assert_eq!(read(&cell, never), Some(0b1100), "and read again as it was");
    }

    #[test]
    fn a_thread_that_cannot_start_leaves_every_caller_on_the_clock() {
        let cell = AtomicU64::new(UNAVAILABLE);
        for _ in 0..3 {
            assert_eq!(read(&cell, |_| unreachable!()), None);
        }
    }

    #[cfg(all(target_os = "linux", not(feature = "tokio-clock")))]
    #[test]
    fn the_recent_time_is_never_ahead_of_the_clock_and_keeps_up_with_it() {
        use crate::clock::MonotonicClock;
        // Waits (bounded) for the thread to store its first time; nothing here waits
        // for a timeout of the breaker's.
        let started = std::time::Instant::now();
        let mut fresh = false;
        // (Three seconds: the thread stores a time within a millisecond of starting,
        // and a mutant that stops it fails here rather than at cargo-mutants' timeout.)
        while started.elapsed() < std::time::Duration::from_secs(3) {
            let recent = now_nanos();
            let clock = MonotonicClock::now_nanos();
            assert!(recent <= clock, "{recent} > {clock}");
            // Within a coarse tick (4 ms here) and a few of ours of the clock.
            if clock - recent < 20 * MS && thread::RECENT.load(Relaxed) & TIME != 0 {
                fresh = true;
                break;
            }
            std::hint::spin_loop();
        }
        assert!(fresh, "the breaker-clock thread never stored a time");
        let named = std::fs::read_dir("/proc/self/task").unwrap().any(|task| {
            let comm = task.unwrap().path().join("comm");
            std::fs::read_to_string(comm).is_ok_and(|name| name.trim() == "breaker-clock")
        });
        assert!(named, "a thread named breaker-clock");
    }
}
