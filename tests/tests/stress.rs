//! Many threads on one breaker, on the real atomics: no transition lost or reported
//! twice, one probe at a time, counters exact. Bounded by iteration counts, not by time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use breaker_runtime::{CircuitBreaker, Listener, ManualClock, State};

const THREADS: usize = 4;

#[derive(Default)]
struct Transitions(Mutex<HashMap<(State, State), usize>>);

impl Listener for Transitions {
    fn on_state_change(&self, _: &CircuitBreaker, from: State, to: State) {
        *self.0.lock().unwrap().entry((from, to)).or_default() += 1;
    }
}

impl Transitions {
    fn count(&self, from: State, to: State) -> usize {
        self.0
            .lock()
            .unwrap()
            .get(&(from, to))
            .copied()
            .unwrap_or(0)
    }

    /// Each transition leaves one state and enters another, so starting closed and ending
    /// in `last`, every state is entered as often as it is left, except those two.
    fn assert_conserved(&self, last: State) {
        let map = self.0.lock().unwrap();
        for s in [State::Closed, State::Open, State::HalfOpen] {
            let entered: usize = map
                .iter()
                .filter(|((_, to), _)| *to == s)
                .map(|(_, n)| n)
                .sum();
            let left: usize = map
                .iter()
                .filter(|((from, _), _)| *from == s)
                .map(|(_, n)| n)
                .sum();
            let expected = i64::from(s == last) - i64::from(s == State::Closed);
            assert_eq!(entered as i64 - left as i64, expected, "{s}: {map:?}");
        }
    }
}

fn run_threads(n: usize, f: impl Fn(usize) + Send + Sync + 'static) {
    let f = Arc::new(f);
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let (f, barrier) = (f.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                f(i)
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn no_failure_count_is_lost() {
    let b = CircuitBreaker::builder("stress-count")
        .fail_max(65_535)
        .unregistered()
        .build();
    let shared = b.clone();
    run_threads(THREADS, move |_| {
        for _ in 0..15_000 {
            shared.try_acquire().unwrap().failure();
        }
    });
    assert_eq!(b.fail_counter(), THREADS as u32 * 15_000);
}

#[test]
fn exactly_one_thread_reports_each_trip() {
    for round in 0..200 {
        let events = Arc::new(Transitions::default());
        let b = CircuitBreaker::builder("stress-trip")
            .fail_max(THREADS as u32)
            .listener_arc(events.clone())
            .unregistered()
            .build();
        let shared = b.clone();
        run_threads(THREADS, move |_| shared.try_acquire().unwrap().failure());
        assert_eq!(b.state(), State::Open, "round {round}");
        assert_eq!(events.count(State::Closed, State::Open), 1, "round {round}");
    }
}

#[test]
fn half_open_never_has_two_probes_and_no_transition_is_lost() {
    let clock = ManualClock::new();
    let events = Arc::new(Transitions::default());
    let b = CircuitBreaker::builder("stress-probe")
        .fail_max(3)
        .success_threshold(2)
        .reset_timeout(Duration::from_micros(50))
        // Longer than the clock ever moves in this test: only verdicts free the slot.
        .half_open_timeout(Duration::from_secs(3600))
        .clock(clock.clone())
        .listener_arc(events.clone())
        .unregistered()
        .build();
    let probes_running = Arc::new(AtomicUsize::new(0));
    let max_probes = Arc::new(AtomicUsize::new(0));
    let admitted = Arc::new(AtomicU32::new(0));
    let (shared, running, max, admitted2) = (
        b.clone(),
        probes_running.clone(),
        max_probes.clone(),
        admitted.clone(),
    );
    // Rejected callers move the clock, so time passes exactly as fast as the threads run.
    run_threads(THREADS, move |t| {
        let mut seed = 0x9E37_79B9_u32.wrapping_mul(t as u32 + 1);
        for _ in 0..30_000 {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let Ok(permit) = shared.try_acquire() else {
                clock.advance(Duration::from_micros(10));
                continue;
            };
            admitted2.fetch_add(1, Ordering::Relaxed);
            let probe = permit.is_probe();
            if probe {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                max.fetch_max(now, Ordering::SeqCst);
            }
            // Decrement before the verdict: the verdict is what frees the slot.
            let verdict = seed % 10;
            if probe {
                running.fetch_sub(1, Ordering::SeqCst);
            }
            match verdict {
                0..=3 => permit.failure(),
                4 => permit.ignore(),
                5 => drop(permit),
                _ => permit.success(),
            }
        }
    });

    assert_eq!(max_probes.load(Ordering::SeqCst), 1, "one probe at a time");
    assert!(admitted.load(Ordering::Relaxed) > 0);
    assert!(
        events.count(State::Closed, State::Open) > 0,
        "the test exercised trips"
    );
    assert!(
        events.count(State::HalfOpen, State::Closed) > 0,
        "and recoveries"
    );
    events.assert_conserved(b.state());
    if b.state() == State::Closed {
        assert!(b.fail_counter() < 3);
    }
}
