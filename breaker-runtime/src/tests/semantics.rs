//! One test per rule of the state machine (pybreaker's semantics, made concurrent),
//! driven by a manual clock: nothing here waits on real time.

use std::sync::Arc;
use std::time::Duration;

use crate::tests::support::{assert_rejected, Recorder, TestError as E};
use breaker_runtime::{CircuitBreaker, ErrorKind, ManualClock, State};

const SECOND: Duration = Duration::from_secs(1);

fn breaker(name: &'static str, fail_max: u32, clock: &ManualClock) -> CircuitBreaker {
    CircuitBreaker::builder(name)
        .fail_max(fail_max)
        .reset_timeout(60 * SECOND)
        .clock(clock.clone())
        .build()
}

fn fail(b: &CircuitBreaker) -> Result<(), E> {
    b.call(|| Err(E::Down))
}

fn succeed(b: &CircuitBreaker) -> Result<(), E> {
    b.call(|| Ok(()))
}

fn trip(b: &CircuitBreaker) {
    for _ in 0..b.config().fail_max {
        assert_eq!(fail(b), Err(E::Down));
    }
    assert_eq!(b.state(), State::Open);
}

// Rule 1: closed.

#[test]
fn consecutive_failures_are_counted_and_a_success_resets_them() {
    let clock = ManualClock::new();
    let b = breaker("rule1-count", 3, &clock);
    fail(&b).unwrap_err();
    fail(&b).unwrap_err();
    assert_eq!(b.fail_counter(), 2);
    succeed(&b).unwrap();
    assert_eq!(b.fail_counter(), 0);
    fail(&b).unwrap_err();
    fail(&b).unwrap_err();
    assert_eq!(b.state(), State::Closed, "the success broke the streak");
}

#[test]
fn the_failure_that_reaches_fail_max_opens_and_returns_its_own_error() {
    let clock = ManualClock::new();
    let b = breaker("rule1-trip", 2, &clock);
    assert_eq!(fail(&b), Err(E::Down));
    assert_eq!(b.state(), State::Closed);
    assert_eq!(
        fail(&b),
        Err(E::Down),
        "the tripping call returns the body's error"
    );
    assert_eq!(b.state(), State::Open);
    assert_eq!(
        b.fail_counter(),
        2,
        "opening keeps the count, as in pybreaker"
    );
}

// Rule 2: open.

#[test]
fn open_rejects_without_running_the_body_and_keeps_counters() {
    let clock = ManualClock::new();
    let b = breaker("rule2-reject", 1, &clock);
    trip(&b);
    let mut ran = false;
    let result: Result<(), E> = b.call(|| {
        ran = true;
        Ok(())
    });
    assert_eq!(result, Err(E::rejected(ErrorKind::Open, "rule2-reject")));
    assert!(!ran);
    assert_eq!((b.fail_counter(), b.success_counter()), (1, 0));
}

#[test]
fn rejection_says_which_breaker_and_when_to_retry() {
    let clock = ManualClock::new();
    let b = breaker("user-profile", 1, &clock);
    trip(&b);
    clock.advance(19 * SECOND);
    let err = b.try_acquire().unwrap_err();
    assert_eq!(err.name(), "user-profile");
    assert_eq!(err.retry_after(), Some(41 * SECOND));
    assert_eq!(
        err.to_string(),
        "circuit breaker 'user-profile' is open; retry in 41s"
    );
    assert_eq!(b.retry_after(), Some(41 * SECOND));
}

#[test]
fn the_first_call_after_reset_timeout_is_the_probe() {
    let clock = ManualClock::new();
    let b = breaker("rule2-lazy", 1, &clock);
    trip(&b);
    clock.advance(60 * SECOND - Duration::from_nanos(1));
    assert_rejected(b.try_acquire(), ErrorKind::Open, "rule2-lazy"); // one nanosecond early
    assert_eq!(
        b.state(),
        State::Open,
        "no timer: still open until someone calls"
    );
    clock.advance(Duration::from_nanos(1));
    assert_eq!(b.state(), State::Open);
    let probe = b.try_acquire().expect("at exactly reset_timeout");
    assert!(probe.is_probe());
    assert_eq!(b.state(), State::HalfOpen);
    probe.success();
    assert_eq!(b.state(), State::Closed);
}

// Rule 3: half-open.

#[test]
fn half_open_admits_one_probe_and_rejects_the_rest_at_once() {
    let clock = ManualClock::new();
    let b = breaker("rule3-one", 1, &clock);
    trip(&b);
    clock.advance(60 * SECOND);
    let probe = b.try_acquire().unwrap();
    for _ in 0..3 {
        let err = b.try_acquire().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ProbeInFlight);
        assert_eq!(err.retry_after(), None);
    }
    probe.ignore();
    let next = b.try_acquire().expect("the slot is free again");
    assert!(next.is_probe());
    next.success();
}

#[test]
fn success_threshold_consecutive_probes_close_and_reset_the_failure_count() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder("rule3-threshold")
        .fail_max(2)
        .success_threshold(3)
        .clock(clock.clone())
        .build();
    trip(&b);
    clock.advance(60 * SECOND);
    succeed(&b).unwrap();
    assert_eq!(
        (b.state(), b.success_counter(), b.fail_counter()),
        (State::HalfOpen, 1, 0)
    );
    succeed(&b).unwrap();
    assert_eq!(b.success_counter(), 2);
    succeed(&b).unwrap();
    assert_eq!(
        (b.state(), b.success_counter(), b.fail_counter()),
        (State::Closed, 0, 0)
    );
}

#[test]
fn a_failed_probe_reopens_and_restarts_the_timer() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder("rule3-reopen")
        .fail_max(1)
        .success_threshold(2)
        .clock(clock.clone())
        .build();
    trip(&b);
    clock.advance(100 * SECOND);
    succeed(&b).unwrap();
    assert_eq!(fail(&b), Err(E::Down), "the probe's own error comes back");
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.fail_counter(), 1);
    assert_eq!(
        b.retry_after(),
        Some(60 * SECOND),
        "timer restarted at the failure"
    );
    clock.advance(59 * SECOND);
    assert_eq!(
        succeed(&b),
        Err(E::rejected(ErrorKind::Open, "rule3-reopen"))
    );
    clock.advance(SECOND);
    succeed(&b).unwrap();
    assert_eq!(
        b.success_counter(),
        1,
        "a new half-open period counts from zero"
    );
}

// Rule 4: generations.

#[test]
fn a_slow_call_admitted_while_closed_cannot_decide_the_half_open_state() {
    let clock = ManualClock::new();
    let b = breaker("rule4-late-success", 1, &clock);
    let slow = b.try_acquire().unwrap();
    trip(&b);
    clock.advance(60 * SECOND);
    let probe = b.try_acquire().unwrap();
    slow.success();
    assert_eq!(b.state(), State::HalfOpen, "the late success is discarded");
    // The probe still holds the slot.
    assert_rejected(
        b.try_acquire(),
        ErrorKind::ProbeInFlight,
        "rule4-late-success",
    );
    probe.failure();
    assert_eq!(b.state(), State::Open);
}

#[test]
fn a_late_failure_from_before_a_reset_does_not_count() {
    let clock = ManualClock::new();
    let b = breaker("rule4-late-failure", 2, &clock);
    let slow = b.try_acquire().unwrap();
    b.open();
    b.close();
    slow.failure();
    assert_eq!(b.fail_counter(), 0);
}

#[test]
fn a_late_result_from_an_expired_probe_is_discarded() {
    let clock = ManualClock::new();
    let b = breaker("rule4-expired-probe", 1, &clock);
    trip(&b);
    clock.advance(60 * SECOND);
    let hung = b.try_acquire().unwrap();
    clock.advance(60 * SECOND);
    assert_eq!(
        b.try_acquire().unwrap_err().kind(),
        ErrorKind::Open,
        "the hung probe timed out: open again"
    );
    clock.advance(60 * SECOND);
    let second = b.try_acquire().expect("the next period's probe");
    hung.failure();
    assert_eq!(b.state(), State::HalfOpen, "the hung probe lost its say");
    second.success();
    assert_eq!(b.state(), State::Closed);
}

// Rule 5: nothing wedges a probe.

#[test]
fn a_dropped_probe_frees_the_slot_without_counting() {
    let clock = ManualClock::new();
    let b = breaker("rule5-drop", 1, &clock);
    trip(&b);
    clock.advance(60 * SECOND);
    drop(b.try_acquire().unwrap());
    assert_eq!(
        (b.state(), b.fail_counter(), b.success_counter()),
        (State::HalfOpen, 1, 0)
    );
    b.try_acquire().expect("slot freed").success();
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn a_panicking_probe_counts_as_a_failure_and_keeps_unwinding() {
    let clock = ManualClock::new();
    let b = breaker("rule5-panic", 1, &clock);
    trip(&b);
    clock.advance(60 * SECOND);
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _: Result<(), E> = b.call(|| panic!("boom"));
    }));
    assert!(unwound.is_err(), "the panic reaches the caller");
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.retry_after(), Some(60 * SECOND));
}

#[test]
fn a_panic_while_closed_counts_as_a_failure() {
    let clock = ManualClock::new();
    let b = breaker("rule5-panic-closed", 3, &clock);
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _: Result<(), E> = b.call(|| panic!("boom"));
    }));
    assert_eq!(b.fail_counter(), 1);
}

#[test]
fn a_hung_probe_fails_at_its_half_open_timeout() {
    let clock = ManualClock::new();
    let rec = Recorder::new();
    let b = CircuitBreaker::builder("rule6-timeout")
        .fail_max(1)
        .reset_timeout(60 * SECOND)
        .half_open_timeout(10 * SECOND)
        .clock(clock.clone())
        .listener_arc(rec.clone())
        .build();
    trip(&b);
    clock.advance(60 * SECOND);
    let hung = b.try_acquire().unwrap();
    clock.advance(10 * SECOND - Duration::from_nanos(1));
    assert_eq!(b.retry_after(), Some(Duration::from_nanos(1)));
    assert_eq!(
        b.try_acquire().unwrap_err().kind(),
        ErrorKind::ProbeInFlight
    );
    // At its deadline the probe has failed: the breaker reopened as of then, for a full
    // reset_timeout, whenever a caller notices.
    clock.advance(Duration::from_nanos(1) + 5 * SECOND);
    let rejected = b.try_acquire().unwrap_err();
    assert_eq!(rejected.kind(), ErrorKind::Open);
    assert_eq!(rejected.retry_after(), Some(55 * SECOND));
    assert_eq!(b.state(), State::Open);
    assert_eq!(
        b.fail_counter(),
        2,
        "the timed-out probe counted as a failure"
    );
    assert_eq!(
        rec.transitions(),
        ["closed->open", "open->half_open", "half_open->open"]
    );
    // Its late result is discarded.
    hung.success();
    assert_eq!(b.state(), State::Open);
    clock.advance(55 * SECOND);
    let probe = b.try_acquire().expect("the next period's probe");
    assert!(probe.is_probe());
    probe.success();
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn a_probe_result_after_its_deadline_is_a_timeout() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder("rule6-late")
        .fail_max(1)
        .reset_timeout(60 * SECOND)
        .half_open_timeout(10 * SECOND)
        .clock(clock.clone())
        .build();
    trip(&b);
    clock.advance(60 * SECOND);
    let slow = b.try_acquire().unwrap();
    clock.advance(12 * SECOND);
    // Nobody noticed the deadline; the probe's own success arrives too late.
    slow.success();
    assert_eq!(b.state(), State::Open);
    assert_eq!(
        b.retry_after(),
        Some(58 * SECOND),
        "open as of the deadline, not as of the late result"
    );
}

#[test]
fn a_cancelled_probe_frees_its_slot_at_once() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder("rule6-cancel")
        .fail_max(1)
        .reset_timeout(60 * SECOND)
        .clock(clock.clone())
        .build();
    trip(&b);
    clock.advance(60 * SECOND);
    drop(b.try_acquire().unwrap());
    assert_eq!(b.state(), State::HalfOpen);
    assert!(b.try_acquire().expect("the slot is free again").is_probe());
}

#[test]
fn the_half_open_timeout_defaults_to_reset_timeout() {
    let b = CircuitBreaker::builder("rule6-timeout-default")
        .reset_timeout(7 * SECOND)
        .build();
    assert_eq!(b.config().half_open_timeout, 7 * SECOND);
    let b = CircuitBreaker::builder("rule6-timeout-set")
        .half_open_timeout(3 * SECOND)
        .reset_timeout(7 * SECOND)
        .build();
    assert_eq!(
        b.config().half_open_timeout,
        3 * SECOND,
        "an explicit timeout wins"
    );
}

#[test]
fn an_ignored_call_counts_nothing() {
    let clock = ManualClock::new();
    let b = breaker("ignore-neutral", 2, &clock);
    fail(&b).unwrap_err();
    b.try_acquire().unwrap().ignore();
    assert_eq!(b.fail_counter(), 1, "neither reset nor incremented");
    fail(&b).unwrap_err();
    assert_eq!(b.state(), State::Open);
}

// Rule 6 (single-threaded side; the concurrent side is in stress.rs and the loom model).

#[test]
fn each_transition_is_reported_once_in_order() {
    let clock = ManualClock::new();
    let rec = Recorder::new();
    let b = CircuitBreaker::builder("rule6-events")
        .fail_max(1)
        .clock(clock.clone())
        .listener_arc(rec.clone())
        .build();
    fail(&b).unwrap_err();
    let _ = succeed(&b);
    clock.advance(60 * SECOND);
    succeed(&b).unwrap();
    assert_eq!(
        rec.events(),
        [
            "before",
            "failure",
            "closed->open", // the tripping call
            "rejected",     // while open
            "open->half_open",
            "before",
            "success",
            "half_open->closed", // the probe
        ]
    );
}

// Manual control.

#[test]
fn manual_open_restarts_the_timer_even_when_already_open() {
    let clock = ManualClock::new();
    let rec = Recorder::new();
    let b = CircuitBreaker::builder("manual-open")
        .clock(clock.clone())
        .listener_arc(rec.clone())
        .build();
    b.open();
    clock.advance(50 * SECOND);
    b.open();
    assert_eq!(b.retry_after(), Some(60 * SECOND));
    assert_eq!(
        rec.transitions(),
        ["closed->open"],
        "opening twice is one transition"
    );
}

#[test]
fn manual_close_resets_both_counters() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder("manual-close")
        .fail_max(1)
        .success_threshold(3)
        .clock(clock.clone())
        .build();
    trip(&b);
    clock.advance(60 * SECOND);
    succeed(&b).unwrap();
    b.close();
    assert_eq!(
        (b.state(), b.fail_counter(), b.success_counter()),
        (State::Closed, 0, 0)
    );
    b.close();
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn manual_half_open_lets_the_next_call_probe() {
    let b = CircuitBreaker::builder("manual-half-open")
        .fail_max(1)
        .build();
    trip(&b);
    b.half_open();
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(b.retry_after(), Some(Duration::ZERO));
    succeed(&b).unwrap();
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn manual_open_discards_a_running_probe() {
    let clock = ManualClock::new();
    let b = breaker("manual-open-probe", 1, &clock);
    trip(&b);
    clock.advance(60 * SECOND);
    let probe = b.try_acquire().unwrap();
    b.open();
    probe.success();
    assert_eq!(b.state(), State::Open);
}

// Configuration.

#[test]
fn invalid_settings_are_named() {
    use breaker_runtime::ConfigError;
    let err = |b: breaker_runtime::Builder| b.try_build().unwrap_err();
    assert_eq!(
        err(CircuitBreaker::builder("c").fail_max(0)),
        ConfigError::FailMax(0)
    );
    assert_eq!(
        err(CircuitBreaker::builder("c").success_threshold(0)),
        ConfigError::SuccessThreshold(0)
    );
    assert_eq!(
        err(CircuitBreaker::builder("c").reset_timeout(Duration::ZERO)),
        ConfigError::ZeroResetTimeout
    );
    assert_eq!(
        err(CircuitBreaker::builder("c").half_open_timeout(Duration::ZERO)),
        ConfigError::ZeroHalfOpenTimeout
    );
    assert_eq!(err(CircuitBreaker::builder("")), ConfigError::EmptyName);
    assert_eq!(
        err(CircuitBreaker::builder("c").fail_max(u32::MAX)),
        ConfigError::FailMax(u32::MAX)
    );
}

#[test]
#[should_panic(
    expected = "invalid configuration for circuit breaker 'zero': fail_max must be between 1 and"
)]
fn build_panics_with_the_setting_named() {
    let _ = CircuitBreaker::builder("zero").fail_max(0).build();
}

#[test]
fn defaults_are_pybreakers() {
    let b = CircuitBreaker::builder("defaults").build();
    let c = b.config();
    assert_eq!(
        (c.fail_max, c.reset_timeout, c.success_threshold),
        (5, 60 * SECOND, 1)
    );
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.retry_after(), None);
}

#[test]
fn the_breaker_is_send_sync_and_static() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<CircuitBreaker>();
    static SHARED: std::sync::LazyLock<CircuitBreaker> =
        std::sync::LazyLock::new(|| CircuitBreaker::builder("static").build());
    assert_eq!(SHARED.state(), State::Closed);
    let clone = SHARED.clone();
    assert!(clone.ptr_eq(&SHARED));
    let _ = Arc::new(clone);
}

// Sticky modes, for maintenance windows and tests.

#[test]
fn force_open_rejects_past_reset_timeout_until_released() {
    let clock = ManualClock::new();
    let rec = Recorder::new();
    let b = CircuitBreaker::builder("sticky-force-open")
        .clock(clock.clone())
        .listener_arc(rec.clone())
        .build();
    b.force_open();
    assert!(b.is_forced_open());
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.retry_after(), None, "no probe is coming");
    clock.advance(3600 * SECOND);
    let err = b.try_acquire().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ForcedOpen);
    assert!(err.is_open());
    assert_eq!(err.to_string(), "circuit breaker 'sticky-force-open' is forced open (maintenance); it stays open until released");
    b.force_open();
    b.close();
    assert!(!b.is_forced_open());
    succeed(&b).unwrap();
    assert_eq!(rec.transitions(), ["closed->open", "open->closed"]);
}

#[test]
fn open_after_force_open_is_an_ordinary_open() {
    let clock = ManualClock::new();
    let b = breaker("sticky-then-open", 1, &clock);
    b.force_open();
    b.open();
    assert!(!b.is_forced_open());
    clock.advance(60 * SECOND);
    succeed(&b).unwrap();
    assert_eq!(b.state(), State::Closed, "the timer applies again");
}

#[test]
fn disable_admits_everything_and_counts_nothing_until_close() {
    let clock = ManualClock::new();
    let b = breaker("sticky-disable", 1, &clock);
    b.disable();
    assert!(b.is_disabled());
    for _ in 0..10 {
        assert_eq!(fail(&b), Err(E::Down));
    }
    assert_eq!((b.state(), b.fail_counter()), (State::Closed, 0));
    b.close();
    assert!(!b.is_disabled());
    assert_eq!(fail(&b), Err(E::Down));
    assert_eq!(b.state(), State::Open, "counting again");
}

#[test]
fn disable_lets_calls_through_an_open_breaker() {
    let clock = ManualClock::new();
    let b = breaker("sticky-disable-open", 1, &clock);
    trip(&b);
    b.disable();
    assert_eq!(b.state(), State::Closed);
    assert_eq!(succeed(&b), Ok(()));
    b.force_open();
    assert!(
        !b.is_disabled() && b.is_forced_open(),
        "the modes exclude each other"
    );
}
