//! Listeners: what they see, and that they cannot hurt the breaker or the caller.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use breaker_runtime::listener::{add_global_listener_arc, remove_global_listener};
use breaker_runtime::{CircuitBreaker, CircuitBreakerError, ErrorKind, Listener, State};
use breaker_tests::{assert_rejected, Recorder};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Panics;

impl Listener for Panics {
    fn before_call(&self, _: &CircuitBreaker) {
        panic!("listener bug in before_call");
    }
    fn on_failure(&self, _: &CircuitBreaker) {
        panic!("listener bug in on_failure");
    }
    fn on_state_change(&self, _: &CircuitBreaker, _: State, _: State) {
        panic!("listener bug in on_state_change");
    }
}

#[test]
fn a_panicking_listener_changes_neither_the_result_nor_the_state() {
    let rec = Recorder::new();
    let b = CircuitBreaker::builder("listener-panics")
        .fail_max(2)
        .listener(Panics)
        .listener_arc(rec.clone())
        .build();
    assert_eq!(b.call(|| Ok::<_, BoxError>(7)).unwrap(), 7);
    let err = b.call(|| Err::<(), BoxError>("down".into())).unwrap_err();
    assert_eq!(err.to_string(), "down");
    let err = b.call(|| Err::<(), BoxError>("down".into())).unwrap_err();
    assert_eq!(err.to_string(), "down");
    assert_eq!(
        b.state(),
        State::Open,
        "the transition happened despite the panics"
    );
    assert_eq!(b.fail_counter(), 2);
    assert!(
        rec.events().contains(&"closed->open".to_string()),
        "later listeners still ran: {:?}",
        rec.events()
    );
}

#[test]
fn a_listener_may_call_the_breaker_it_listens_to() {
    struct Reentrant(AtomicU32);
    impl Listener for Reentrant {
        fn on_state_change(&self, breaker: &CircuitBreaker, _: State, to: State) {
            // Reading and even driving the breaker from inside a listener must not deadlock.
            assert_eq!(breaker.state(), to);
            if to == State::Open && self.0.fetch_add(1, Ordering::SeqCst) == 0 {
                breaker.close();
            }
        }
    }
    let listener = Arc::new(Reentrant(AtomicU32::new(0)));
    let b = CircuitBreaker::builder("listener-reentrant")
        .fail_max(1)
        .listener_arc(listener.clone())
        .build();
    let _ = b.call(|| Err::<(), BoxError>("down".into()));
    assert_eq!(b.state(), State::Closed, "the listener closed it again");
    assert_eq!(listener.0.load(Ordering::SeqCst), 1);
}

#[test]
fn rejections_and_ignored_calls_reach_listeners() {
    let rec = Recorder::new();
    let b = CircuitBreaker::builder("listener-rejected")
        .listener_arc(rec.clone())
        .build();
    b.try_acquire().unwrap().ignore();
    drop(b.try_acquire().unwrap());
    b.open();
    assert_rejected(b.try_acquire(), ErrorKind::Open, "listener-rejected");
    assert_eq!(
        rec.events(),
        [
            "before",
            "ignored",
            "before",
            "ignored",
            "closed->open",
            "rejected"
        ]
    );
}

#[test]
fn global_listeners_see_every_breaker_until_removed() {
    struct Count(AtomicU32);
    impl Listener for Count {
        fn on_rejected(&self, b: &CircuitBreaker, e: &CircuitBreakerError) {
            if b.name().starts_with("global-seen") {
                assert_eq!(e.name(), b.name());
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    let count = Arc::new(Count(AtomicU32::new(0)));
    let built_before = CircuitBreaker::builder("global-seen-1").build();
    let id = add_global_listener_arc(count.clone());
    let built_after = CircuitBreaker::builder("global-seen-2").build();
    for b in [&built_before, &built_after] {
        b.open();
        assert_rejected(b.try_acquire(), ErrorKind::Open, b.name());
    }
    assert_eq!(count.0.load(Ordering::SeqCst), 2);

    // Other threads see it too.
    let b = built_after.clone();
    std::thread::spawn(move || assert_rejected(b.try_acquire(), ErrorKind::Open, "global-seen-2"))
        .join()
        .unwrap();
    assert_eq!(count.0.load(Ordering::SeqCst), 3);

    assert!(remove_global_listener(id));
    assert!(!remove_global_listener(id), "already removed");
    assert_rejected(built_after.try_acquire(), ErrorKind::Open, "global-seen-2");
    assert_eq!(
        count.0.load(Ordering::SeqCst),
        3,
        "removed listeners hear nothing"
    );
}
