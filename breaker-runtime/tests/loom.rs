//! A loom model of the concurrent state machine: every interleaving (up to loom's
//! bounds) of a few threads on one breaker. Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p breaker-runtime --test loom --release`.
//!
//! Every racing side runs on a spawned thread: loom interleaves those reliably.
#![cfg(loom)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use breaker_runtime::{Builder, CircuitBreaker, ErrorKind, Listener, ManualClock, State};
use loom::thread;

/// Counts transitions with std atomics: loom runs one thread at a time, and the listener
/// is observation, not part of the model.
#[derive(Default)]
struct Count {
    to_open: AtomicUsize,
    to_half_open: AtomicUsize,
    to_closed: AtomicUsize,
}

impl Listener for Count {
    fn on_state_change(&self, _: &CircuitBreaker, _: State, to: State) {
        let counter = match to {
            State::Open => &self.to_open,
            State::HalfOpen => &self.to_half_open,
            State::Closed => &self.to_closed,
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

fn breaker(fail_max: u32, clock: &ManualClock, count: &Arc<Count>) -> CircuitBreaker {
    CircuitBreaker::builder("loom")
        .fail_max(fail_max)
        .reset_timeout(Duration::from_secs(10))
        .half_open_timeout(Duration::from_secs(100))
        .clock(clock.clone())
        .listener_arc(count.clone())
        .unregistered()
        .build()
}

/// `builder`'s breaker (`fail_max` 1, `reset_timeout` 10 s, listened to by `count`),
/// tripped and past its `reset_timeout`, with its clock.
fn half_open(builder: Builder, count: &Arc<Count>) -> (CircuitBreaker, ManualClock) {
    let clock = ManualClock::new();
    let b = builder
        .fail_max(1)
        .reset_timeout(Duration::from_secs(10))
        .clock(clock.clone())
        .listener_arc(count.clone())
        .unregistered()
        .build();
    b.try_acquire().unwrap().failure();
    clock.advance(Duration::from_secs(10));
    (b, clock)
}

/// `callers` threads ask a half-open breaker for a probe at once, each keeping what it
/// gets (still running when the others ask); returns how many were admitted.
fn race_for_probes(b: &CircuitBreaker, callers: usize) -> usize {
    let admitted = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..callers)
        .map(|_| {
            let (b, admitted) = (b.clone(), admitted.clone());
            thread::spawn(move || match b.try_acquire() {
                Ok(permit) => {
                    assert!(permit.is_probe());
                    admitted.fetch_add(1, Ordering::SeqCst);
                    std::mem::forget(permit);
                }
                Err(e) => assert_eq!(e.kind(), ErrorKind::ProbeInFlight),
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    admitted.load(Ordering::SeqCst)
}

#[test]
fn racing_failures_trip_once_and_lose_no_count() {
    loom::model(|| {
        let clock = ManualClock::new();
        let count = Arc::new(Count::default());
        let b = breaker(2, &clock, &count);
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let b = b.clone();
                thread::spawn(move || b.try_acquire().unwrap().failure())
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(b.state(), State::Open);
        assert_eq!(b.fail_counter(), 2);
        assert_eq!(count.to_open.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn a_caller_racing_the_trip_never_sees_an_expired_deadline() {
    // The deadline is published before the open state: a caller that sees the breaker
    // open must be rejected, never handed a probe at time zero.
    loom::model(|| {
        let clock = ManualClock::new();
        let count = Arc::new(Count::default());
        let b = breaker(1, &clock, &count);
        let tripper = {
            let b = b.clone();
            thread::spawn(move || b.try_acquire().unwrap().failure())
        };
        let caller = {
            let b = b.clone();
            thread::spawn(move || match b.try_acquire() {
                Ok(permit) => {
                    assert!(
                        !permit.is_probe(),
                        "admitted while still closed, never as a probe"
                    );
                    permit.ignore();
                }
                Err(e) => assert_eq!(e.kind(), ErrorKind::Open),
            })
        };
        tripper.join().unwrap();
        caller.join().unwrap();
        assert_eq!(b.state(), State::Open);
        assert_eq!(count.to_half_open.load(Ordering::SeqCst), 0);
    });
}

#[test]
fn half_open_admits_exactly_one_of_two_racing_callers() {
    loom::model(|| {
        let clock = ManualClock::new();
        let count = Arc::new(Count::default());
        let b = breaker(1, &clock, &count);
        b.try_acquire().unwrap().failure();
        clock.advance(Duration::from_secs(10));
        assert_eq!(race_for_probes(&b, 2), 1);
        assert_eq!(
            count.to_half_open.load(Ordering::SeqCst),
            1,
            "one thread reports it"
        );
    });
}

#[test]
fn a_stale_success_cannot_close_what_a_probe_is_deciding() {
    loom::model(|| {
        let clock = ManualClock::new();
        let count = Arc::new(Count::default());
        let b = breaker(1, &clock, &count);
        // Leaked so permits can move into loom's 'static threads.
        let b: &'static CircuitBreaker = Box::leak(Box::new(b));
        let stale = b.try_acquire().unwrap();
        b.open();
        clock.advance(Duration::from_secs(10));
        let prober = thread::spawn(move || {
            if let Ok(probe) = b.try_acquire() {
                probe.failure();
            }
        });
        let late = thread::spawn(move || stale.success());
        prober.join().unwrap();
        late.join().unwrap();
        assert_ne!(
            b.state(),
            State::Closed,
            "only the probe may close it, and it failed"
        );
        assert_eq!(count.to_closed.load(Ordering::SeqCst), 0);
    });
}

#[test]
fn a_probe_verdict_racing_a_new_caller_keeps_one_probe() {
    loom::model(|| {
        let count = Arc::new(Count::default());
        let (b, _) = half_open(
            CircuitBreaker::builder("loom-threshold").success_threshold(2),
            &count,
        );
        let b: &'static CircuitBreaker = Box::leak(Box::new(b));
        let first = b.try_acquire().unwrap();
        let other = thread::spawn(move || b.try_acquire().map(|p| p.success()).is_ok());
        let verdict = thread::spawn(move || first.success());
        verdict.join().unwrap();
        let second_admitted = other.join().unwrap();
        if second_admitted {
            assert_eq!(b.state(), State::Closed);
            assert_eq!(count.to_closed.load(Ordering::SeqCst), 1);
        } else {
            assert_eq!((b.state(), b.success_counter()), (State::HalfOpen, 1));
        }
    });
}

#[test]
fn k_probes_admit_exactly_k_of_more_racing_callers() {
    // Three racing threads: bounded preemptions keep the interleavings enumerable
    // (loom's documented practice; 2 already covers every pairwise race).
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(2);
    model.check(|| {
        let count = Arc::new(Count::default());
        let (b, _) = half_open(CircuitBreaker::builder("loom-probes").probes(2), &count);
        assert_eq!(race_for_probes(&b, 3), 2);
        assert_eq!(b.probes_in_flight(), 2);
        assert_eq!(count.to_half_open.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn a_late_probe_result_racing_the_caller_that_notices_its_timeout_reopens_once() {
    loom::model(|| {
        let count = Arc::new(Count::default());
        let builder =
            CircuitBreaker::builder("loom-timeout").half_open_timeout(Duration::from_secs(5));
        let (b, clock) = half_open(builder, &count);
        let b: &'static CircuitBreaker = Box::leak(Box::new(b));
        let hung = b.try_acquire().unwrap();
        clock.advance(Duration::from_secs(5));
        let late = thread::spawn(move || hung.success());
        let caller = thread::spawn(move || match b.try_acquire() {
            Ok(permit) => panic!("admitted {permit:?} while the timed-out probe reopens it"),
            Err(e) => assert_eq!(e.kind(), ErrorKind::Open),
        });
        late.join().unwrap();
        caller.join().unwrap();
        assert_eq!(b.state(), State::Open);
        assert_eq!(b.retry_after(), Some(Duration::from_secs(10)));
        assert_eq!(count.to_open.load(Ordering::SeqCst), 2, "one reopening");
        assert_eq!(count.to_closed.load(Ordering::SeqCst), 0);
    });
}
