//! Feature `metrics`: every call counted exactly, from any number of threads, without a
//! shared write on the closed path.

use std::thread;

use breaker_runtime::{CircuitBreaker, CircuitBreakerError};

#[derive(Debug)]
struct E;

impl From<CircuitBreakerError> for E {
    fn from(_: CircuitBreakerError) -> Self {
        E
    }
}

impl std::fmt::Display for E {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("failed")
    }
}

#[test]
fn counts_from_many_threads_add_up_exactly() {
    let b = CircuitBreaker::builder("metrics-threads")
        .fail_max(65_535)
        .unregistered()
        .build();
    thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for i in 0..10_000u32 {
                    match i % 4 {
                        0 => drop(b.call(|| Err::<(), E>(E))),
                        1 => b.try_acquire().unwrap().ignore(),
                        _ => drop(b.call(|| Ok::<(), E>(()))),
                    }
                }
            });
        }
    });
    let calls = b.calls();
    assert_eq!(
        (calls.success, calls.failure, calls.ignored, calls.rejected),
        (20_000, 10_000, 10_000, 0)
    );
}

#[test]
fn rejections_cancellations_and_panics_are_counted() {
    let b = CircuitBreaker::builder("metrics-outcomes")
        .fail_max(1)
        .unregistered()
        .build();
    drop(b.try_acquire().unwrap()); // a cancelled call: neutral
    let _ = std::panic::catch_unwind(|| b.call(|| -> Result<(), E> { panic!("boom") }));
    let _ = b.call(|| Ok::<(), E>(()));
    let _ = b.call(|| Ok::<(), E>(()));
    let calls = b.calls();
    assert_eq!(
        (calls.ignored, calls.failure, calls.rejected, calls.success),
        (1, 1, 2, 0)
    );
}

#[test]
fn a_thread_that_ended_keeps_its_counts() {
    let b = CircuitBreaker::builder("metrics-ended")
        .unregistered()
        .build();
    thread::scope(|s| {
        s.spawn(|| b.call(|| Ok::<(), E>(())).unwrap());
    });
    assert_eq!(b.calls().success, 1);
}
