//! The registry's costs, counted rather than timed: the entries its code examines per
//! operation do not grow with the number of breakers, and reading every breaker makes
//! nobody wait.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{mpsc, Arc, Barrier};
use std::time::Duration;

use crate::keyed::Breakers;
use crate::{CircuitBreaker, ManualClock};

thread_local! {
    /// The table entries the registry's code examined on this thread.
    pub(super) static VISITED: Cell<u64> = const { Cell::new(0) };
}

/// The entries `f` made the registry examine on this thread.
fn visits(f: impl FnOnce()) -> u64 {
    let before = VISITED.with(Cell::get);
    f();
    VISITED.with(Cell::get) - before
}

/// The most entries any one of the `keys` cost to create in `set`.
fn most_per_key(set: &Breakers<u64>, keys: std::ops::Range<u64>) -> u64 {
    keys.map(|key| visits(|| set.with_breaker(&key, |_| ())))
        .max()
        .unwrap_or(0)
}

#[test]
fn no_operation_examines_more_entries_with_more_breakers() {
    const KEYS: u64 = 100_000;
    let clock = ManualClock::new();
    let set: Breakers<u64> =
        Breakers::builder(|key: &u64| CircuitBreaker::builder(format!("visits[{key}]")))
            .name("visits")
            .max_keys(KEYS as usize)
            .idle_ttl(Duration::from_secs(60))
            .clock(clock.clone())
            .build();

    // Meanwhile, another thread reads every breaker and looks names up, as an admin
    // endpoint would.
    let done = Arc::new(AtomicBool::new(false));
    let reader = std::thread::spawn({
        let done = Arc::clone(&done);
        move || {
            let mut snapshots = 0;
            while !done.load(Relaxed) || snapshots == 0 {
                let _ = super::all().len();
                let _ = super::get("visits[7]");
                snapshots += 1;
            }
            snapshots
        }
    });

    let first = most_per_key(&set, 0..1_000);
    let mut lookups_first = 0;
    for key in 0..1_000 {
        lookups_first = lookups_first.max(visits(|| drop(super::get(&format!("visits[{key}]")))));
    }
    let _ = most_per_key(&set, 1_000..KEYS - 1_000);
    let last = most_per_key(&set, KEYS - 1_000..KEYS);
    let mut lookups_last = 0;
    for key in KEYS - 1_000..KEYS {
        let name = format!("visits[{key}]");
        lookups_last = lookups_last.max(visits(|| drop(super::get(&name))));
    }
    done.store(true, Relaxed);
    assert!(reader.join().unwrap() > 0, "snapshots ran meanwhile");

    // A key's breaker is one entry examined (two, should its insertion race another
    // thread's), at 1,000 breakers as at 100,000.
    assert!(
        first <= 2 && last <= 2,
        "{first} and {last} entries per build"
    );
    assert_eq!((lookups_first, lookups_last), (1, 1), "a lookup by name");

    // Evicting examines one entry per breaker evicted, and dropping one more each.
    clock.advance(Duration::from_secs(61));
    let swept = visits(|| assert_eq!(set.sweep(), KEYS as usize));
    assert_eq!(swept, 2 * KEYS, "withdrawn, then dropped");
    assert!(super::get("visits[7]").is_none());
}

#[test]
fn reading_every_breaker_makes_no_build_wait() {
    let paused = Arc::new(Barrier::new(2));
    let resume = Arc::new(Barrier::new(2));
    let _first = CircuitBreaker::builder("paused-read-0").build();
    let reader = std::thread::spawn({
        let (paused, resume) = (Arc::clone(&paused), Arc::clone(&resume));
        move || {
            let mut once = true;
            super::each(|_| {
                if std::mem::take(&mut once) {
                    paused.wait();
                    resume.wait();
                }
            });
        }
    });
    // The reader is stopped in the middle of its walk over the table: builds and
    // lookups go on. (Were a lock held across the walk, they would wait for it, and
    // this test would report that instead of hanging.)
    paused.wait();
    let (done, finished) = mpsc::channel();
    let builder = std::thread::spawn(move || {
        let built: Vec<CircuitBreaker> = (1..=1_000)
            .map(|i| CircuitBreaker::builder(format!("paused-read-{i}")).build())
            .collect();
        let found = (1..=1_000)
            .filter(|i| super::get(&format!("paused-read-{i}")).is_some())
            .count();
        drop(built);
        let _ = done.send(found);
    });
    let found = finished.recv_timeout(Duration::from_secs(60));
    resume.wait();
    reader.join().unwrap();
    builder.join().unwrap();
    assert_eq!(
        found,
        Ok(1_000),
        "built and found while the walk was paused"
    );
}

#[test]
fn a_dropped_breaker_leaves_no_entry_behind() {
    let b = CircuitBreaker::builder("dropped-entry")
        .unregistered()
        .build();
    let address = b.address();
    assert!(super::REGISTRY.unlisted.pin().contains_key(&address));
    drop(b);
    // (Another test's breaker may take the address at once: only a dead entry is ours.)
    let stale = super::REGISTRY
        .unlisted
        .pin()
        .get(&address)
        .is_some_and(|weak| !weak.is_alive());
    assert!(
        !stale,
        "forgotten with its last handle, not at a later sweep"
    );
}

#[test]
fn a_dropped_breaker_leaves_the_registry_at_once() {
    let name = "dropped-leaves-the-registry";
    let b = CircuitBreaker::builder(name).build();
    assert!(super::get(name).is_some());
    drop(b);
    // The entry goes with the last handle, so the name is free for other settings.
    assert!(super::get(name).is_none());
    let again = CircuitBreaker::builder(name).fail_max(9).try_build();
    assert!(again.is_ok(), "{:?}", again.err());
}

#[test]
fn the_table_is_made_room_when_its_entries_come_and_go() {
    use super::{churning, CHURN_FROM};
    // Removals as many as a quarter of the entries, and at least `CHURN_FROM`.
    assert!(!churning(1, 0));
    assert!(!churning(CHURN_FROM - 1, 0));
    assert!(churning(CHURN_FROM, 0));
    assert!(churning(CHURN_FROM, 4 * CHURN_FROM + 3));
    assert!(!churning(CHURN_FROM, 4 * CHURN_FROM + 4));
    assert!(!churning(249_999, 1_000_000));
    assert!(churning(250_000, 1_000_000));
}
