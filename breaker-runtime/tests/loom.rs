//! A loom model of the concurrent state machine: every interleaving (up to loom's
//! bounds) of a few threads on one breaker. Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p breaker-runtime --test loom --release`.
//!
//! Every racing side runs on a spawned thread: loom interleaves those reliably.
#![cfg(loom)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use breaker_runtime::{CircuitBreaker, ErrorKind, Listener, ManualClock, State};
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
        .probe_lease(Duration::from_secs(100))
        .clock(clock.clone())
        .listener_arc(count.clone())
        .unregistered()
        .build()
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
        let admitted = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (b, admitted) = (b.clone(), admitted.clone());
                thread::spawn(move || match b.try_acquire() {
                    Ok(permit) => {
                        assert!(permit.is_probe());
                        admitted.fetch_add(1, Ordering::SeqCst);
                        std::mem::forget(permit); // still running when the other asks
                    }
                    Err(e) => assert_eq!(e.kind(), ErrorKind::ProbeInFlight),
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(admitted.load(Ordering::SeqCst), 1);
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
        let clock = ManualClock::new();
        let count = Arc::new(Count::default());
        let b = CircuitBreaker::builder("loom-threshold")
            .fail_max(1)
            .success_threshold(2)
            .reset_timeout(Duration::from_secs(10))
            .clock(clock.clone())
            .listener_arc(count.clone())
            .unregistered()
            .build();
        b.try_acquire().unwrap().failure();
        clock.advance(Duration::from_secs(10));
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
