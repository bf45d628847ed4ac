//! The breaker's own questions and bookkeeping, asked directly: what the behaviour tests
//! (`src/tests`) see only through a call's result.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::tests::support::Verdicts;
use crate::{Advice, AdviceSource, ErrorKind, ManualClock, Percent, Window};

const S: fn(u64) -> Duration = Duration::from_secs;

fn manual(name: &'static str, clock: &ManualClock) -> crate::Builder {
    CircuitBreaker::builder(name)
        .clock(clock.clone())
        .unregistered()
}

fn advice(secs: u64) -> Advice {
    Advice::new(S(secs), AdviceSource::RetryAfter).unwrap()
}

#[test]
fn handles_know_their_breaker() {
    let a = CircuitBreaker::builder("handles-a").unregistered().build();
    let b = CircuitBreaker::builder("handles-b").unregistered().build();
    assert!(a.ptr_eq(&a.clone()) && !a.ptr_eq(&b));
    assert_ne!(a.address(), b.address());
    assert_eq!(a.address(), a.clone().address());
    let weak = a.downgrade();
    assert!(weak.is_alive() && weak.points_to(&a) && !weak.points_to(&b));
    assert!(weak.same(&a.downgrade()) && !weak.same(&b.downgrade()));
    weak.touch();
    assert!(weak.upgrade().unwrap().ptr_eq(&a));
    assert_eq!(a.handle_count(), 1, "a weak handle does not count");
    drop(a);
    assert!(!weak.is_alive() && weak.upgrade().is_none());
}

#[test]
fn settings_are_shared_not_copied() {
    let b = CircuitBreaker::builder("shared-config")
        .fail_max(7)
        .unregistered()
        .build();
    assert_eq!(b.shared_config().fail_max, 7);
    assert!(std::ptr::eq(&**b.shared_config(), b.config()));
}

#[test]
fn the_clock_is_the_one_given_and_can_be_replaced_once() {
    let clock = ManualClock::new();
    let b = manual("clock-source", &clock).build();
    assert!(b
        .clock_source()
        .same(&crate::clock::ClockSource::of(clock.clone())));
    let other = ManualClock::new();
    other.advance(S(100));
    assert!(b.set_clock(other.clone()), "the first replacement is taken");
    assert!(!b.set_clock(ManualClock::new()), "the second is refused");
    assert!(b
        .clock_source()
        .same(&crate::clock::ClockSource::of(other.clone())));
    other.advance(S(5));
    assert_eq!(b.since_last_change(), S(5), "measured from the replacement");
}

#[test]
fn counters_say_what_they_count() {
    let clock = ManualClock::new();
    let b = manual("counters", &clock)
        .fail_max(3)
        .success_threshold(2)
        .build();
    b.try_acquire().unwrap().failure();
    b.try_acquire().unwrap().failure();
    assert_eq!(b.fail_counter(), 2);
    b.try_acquire().unwrap().failure();
    assert_eq!((b.state(), b.fail_counter()), (State::Open, 3));
    clock.advance(S(60));
    let probe = b.try_acquire().unwrap();
    assert_eq!(b.probes_in_flight(), 1);
    probe.success();
    assert_eq!((b.probes_in_flight(), b.success_counter()), (0, 1));
    assert_eq!(b.state(), State::HalfOpen);
}

#[test]
fn a_rate_policys_half_open_counter_is_its_failed_probes() {
    let clock = ManualClock::new();
    let b = manual("rate-half-open-counter", &clock)
        .failure_rate(50)
        .window(Window::Calls(4))
        .success_threshold(4)
        .build();
    for _ in 0..4 {
        b.try_acquire().unwrap().failure();
    }
    assert_eq!((b.state(), b.fail_counter()), (State::Open, 4));
    clock.advance(S(60));
    b.try_acquire().unwrap().failure();
    // One failed probe of a period of four: 25 %, under the rate.
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(
        b.fail_counter(),
        1,
        "the period's failed probes, not the window's"
    );
}

#[test]
fn the_window_has_a_rate_from_min_calls_on() {
    let b = CircuitBreaker::builder("window-rate")
        .failure_rate(50)
        .window(Window::Calls(10))
        .min_calls(2)
        .unregistered()
        .build();
    assert_eq!(b.window().unwrap().failure_rate, None, "no calls");
    b.try_acquire().unwrap().failure();
    assert_eq!(b.window().unwrap().failure_rate, None, "one call of two");
    b.try_acquire().unwrap().success();
    let w = b.window().unwrap();
    assert_eq!((w.calls, w.failures, w.slow), (2, 1, 0));
    assert_eq!((w.failure_rate, w.slow_rate), (Some(50.0), Some(0.0)));
    let c = CircuitBreaker::builder("window-none")
        .unregistered()
        .build();
    assert!(c.window().is_none(), "consecutive failures have no window");
}

#[test]
fn the_open_period_is_known_only_while_open_by_a_rule() {
    let clock = ManualClock::new();
    let b = manual("open-period", &clock).fail_max(1).build();
    assert_eq!(b.open_period(), None, "closed");
    b.try_acquire().unwrap().failure();
    clock.advance(S(10));
    assert_eq!(b.open_period(), Some(S(60)));
    clock.advance(S(50));
    let probe = b.try_acquire().unwrap();
    assert_eq!(b.open_period(), None, "half-open");
    probe.failure();
    assert_eq!(b.open_period(), Some(S(60)), "reopened");
    b.force_open();
    assert_eq!(b.open_period(), None, "forced open: no period ends it");
}

#[test]
fn refusal_answers_what_a_call_would_get() {
    let clock = ManualClock::new();
    let b = manual("refusal", &clock).fail_max(1).build();
    assert!(b.refusal().is_none(), "closed");
    b.try_acquire().unwrap().failure();
    let open = b.refusal().unwrap();
    assert_eq!(
        (open.kind(), open.retry_after()),
        (ErrorKind::Open, Some(S(60)))
    );
    assert_eq!(b.state(), State::Open);
    clock.advance(S(60));
    assert!(b.refusal().is_none(), "the probe is due");
    assert_eq!(b.state(), State::Open, "asking grants nothing");
    let probe = b.try_acquire().unwrap();
    assert_eq!(b.refusal().unwrap().kind(), ErrorKind::ProbeInFlight);
    clock.advance(S(60));
    assert!(
        b.refusal().is_none(),
        "the probe is overdue: the next call decides"
    );
    drop(probe);
    b.force_open();
    assert_eq!(b.refusal().unwrap().kind(), ErrorKind::ForcedOpen);
}

#[test]
fn a_half_open_breaker_with_a_free_slot_refuses_nothing() {
    let clock = ManualClock::new();
    let b = manual("refusal-slot", &clock).fail_max(1).probes(2).build();
    b.try_acquire().unwrap().failure();
    clock.advance(S(60));
    let first = b.try_acquire().unwrap();
    assert_eq!(b.state(), State::HalfOpen);
    assert!(b.refusal().is_none(), "one slot of two is free");
    assert_eq!(b.retry_after(), Some(Duration::ZERO));
    let second = b.try_acquire().unwrap();
    assert_eq!(b.refusal().unwrap().kind(), ErrorKind::ProbeInFlight);
    assert_eq!(b.retry_after(), Some(S(60)), "the running probes' timeout");
    first.success();
    second.success();
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn a_rate_policys_recorded_probes_take_their_slots() {
    let clock = ManualClock::new();
    let b = manual("rate-slots", &clock)
        .failure_rate(50)
        .window(Window::Calls(2))
        .probes(3)
        .build();
    b.try_acquire().unwrap().failure();
    b.try_acquire().unwrap().failure();
    assert_eq!(b.state(), State::Open);
    clock.advance(S(60));
    b.try_acquire().unwrap().success();
    b.try_acquire().unwrap().failure();
    assert_eq!(
        b.state(),
        State::HalfOpen,
        "one failure in three is under 50 %"
    );
    // Two of the period's three probes are recorded: one slot is left.
    let last = b.try_acquire().unwrap();
    assert_eq!(
        b.try_acquire().unwrap_err().kind(),
        ErrorKind::ProbeInFlight
    );
    last.success();
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn a_listened_success_of_a_rate_policy_is_heard() {
    let heard = Verdicts::new();
    let b = CircuitBreaker::builder("rate-heard")
        .failure_rate(50)
        .window(Window::Calls(4))
        .listener_arc(heard.clone())
        .unregistered()
        .build();
    b.try_acquire().unwrap().success();
    assert_eq!(heard.heard(), [Verdict::Success]);
    assert_eq!(b.window().unwrap().calls, 1, "and counted");
}

#[test]
fn global_listening_follows_listen() {
    let b = CircuitBreaker::builder("listen").unregistered().build();
    b.listen(false);
    assert!(!b.word().is_listening());
    b.listen(true);
    assert!(b.word().is_listening());
    b.listen(false);
    assert!(!b.word().is_listening());
    let own = CircuitBreaker::builder("listen-own")
        .listener_arc(Verdicts::new())
        .unregistered()
        .build();
    own.listen(false);
    assert!(own.word().is_listening(), "its own listeners still listen");
}

#[test]
fn an_advised_opening_lasts_what_the_upstream_said() {
    let clock = ManualClock::new();
    clock.advance(S(100));
    let b = manual("advised-period", &clock).fail_max(1).build();
    b.try_acquire().unwrap().failure_with_advice(advice(10));
    assert_eq!(b.retry_after(), Some(S(10)));
    let advised = b.open_advice().unwrap();
    assert_eq!(
        (advised.delay(), advised.source()),
        (S(10), AdviceSource::RetryAfter)
    );
    assert!(!b.opened_by_advice(), "the trip rule opened it");
    b.open();
    assert!(
        b.open_advice().is_none(),
        "an opening by hand is timed by reset_timeout"
    );
    assert_eq!(b.retry_after(), Some(S(60)));
}

#[test]
fn advice_that_ran_out_before_the_opening_is_not_followed() {
    let clock = ManualClock::new();
    let b = manual("advice-ran-out", &clock).fail_max(2).build();
    b.try_acquire().unwrap().failure_with_advice(advice(10));
    clock.advance(S(10));
    b.try_acquire().unwrap().failure();
    assert_eq!(b.state(), State::Open);
    assert_eq!(
        b.retry_after(),
        Some(S(60)),
        "reset_timeout, not a period of zero"
    );
    assert!(b.open_advice().is_none());
}

#[test]
fn an_advised_failure_opens_at_once_when_asked() {
    let clock = ManualClock::new();
    let b = manual("advice-at-once", &clock)
        .fail_max(5)
        .open_on_retry_after(true)
        .build();
    b.try_acquire().unwrap().failure_with_advice(advice(20));
    assert_eq!(b.state(), State::Open);
    assert!(b.opened_by_advice());
    assert_eq!(b.retry_after(), Some(S(20)));
    b.forget_advised();
    assert!(b.open_advice().is_none() && !b.opened_by_advice());
}

#[test]
fn the_throttle_flag_is_set_only_while_it_refuses() {
    let clock = ManualClock::new();
    let b = manual("throttle-flag", &clock)
        .fail_max(0)
        .throttle(50)
        .min_calls(4)
        .build();
    b.try_acquire().unwrap().failure();
    // Under min_calls: the probability is zero, admission stays quiet.
    assert!(!b.word().is_throttling());
    assert_eq!(b.throttle_probability(), Some(0.0));
    for _ in 0..9 {
        b.try_acquire().map(|p| p.failure()).ok();
    }
    assert!(b.word().is_throttling());
    assert!(b.throttle_probability().unwrap() > 0.0);
}

#[test]
fn throttling_is_a_flag_of_a_closed_word_only() {
    let clock = ManualClock::new();
    let b = manual("throttle-closed-only", &clock).throttle(50).build();
    b.open();
    let open = b.word();
    b.set_throttling(open, true);
    assert_eq!(b.word(), open, "an open breaker does not throttle");
    b.close();
    let closed = b.word();
    b.set_throttling(closed, true);
    assert!(b.word().is_throttling());
    b.set_throttling(b.word(), false);
    assert!(!b.word().is_throttling());
    let plain = CircuitBreaker::builder("no-throttle")
        .unregistered()
        .build();
    assert_eq!(plain.throttle_probability(), None);
}

#[test]
fn debug_shows_the_state_and_counters() {
    let b = CircuitBreaker::builder("debug-breaker")
        .unregistered()
        .build();
    b.try_acquire().unwrap().failure();
    let shown = format!("{b:?}");
    assert!(shown.starts_with("CircuitBreaker { name: "), "{shown}");
    for part in [
        "debug-breaker",
        "state: Closed",
        "fail_counter: 1",
        "success_counter: 0",
        "fail_max: 5",
    ] {
        assert!(shown.contains(part), "{part} in {shown}");
    }
}

#[test]
fn percent_settings_reach_the_rules() {
    let b = CircuitBreaker::builder("percent-rules")
        .failure_rate(Percent::new(12.5))
        .window(Window::Calls(8))
        .unregistered()
        .build();
    assert_eq!(b.inner.rules.failure_rate, 1_250);
}

/// A clock that counts its readings: the state machine reads it only when something
/// needs the time (the hot path's rule).
#[derive(Clone, Default)]
struct CountingClock(Arc<std::sync::atomic::AtomicU64>);

impl crate::Clock for CountingClock {
    fn now(&self) -> Duration {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Duration::ZERO
    }
}

impl CountingClock {
    fn reads(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[test]
fn a_call_reads_the_clock_only_where_it_needs_the_time() {
    let clock = CountingClock::default();
    let quiet = CircuitBreaker::builder("clock-reads-quiet")
        .clock(clock.clone())
        .unregistered()
        .build();
    let built = clock.reads();
    quiet.try_acquire().unwrap().success();
    quiet.try_acquire().unwrap().ignore();
    assert_eq!(
        clock.reads(),
        built,
        "a closed breaker's calls read nothing"
    );
    let heard = CircuitBreaker::builder("clock-reads-heard")
        .clock(clock.clone())
        .listener_arc(Verdicts::new())
        .unregistered()
        .build();
    let built = clock.reads();
    heard.try_acquire().unwrap().success();
    assert_eq!(
        clock.reads(),
        built + 2,
        "a listened call: its start and its end"
    );
    heard.try_acquire().unwrap().ignore();
    assert_eq!(clock.reads(), built + 4);
}

#[test]
fn a_disabled_breaker_counts_nothing() {
    for timed in [false, true] {
        let mut builder = CircuitBreaker::builder("disabled-counts")
            .failure_rate(50)
            .window(Window::Calls(4))
            .unregistered();
        if timed {
            builder = builder.slow_call(S(1));
        }
        let b = builder.build();
        b.disable();
        for _ in 0..4 {
            b.try_acquire().unwrap().failure();
            b.try_acquire().unwrap().success();
        }
        assert_eq!(b.window().unwrap().calls, 0, "timed: {timed}");
        assert_eq!(b.state(), State::Closed);
        assert!(b.is_disabled());
    }
}

#[test]
fn a_late_verdict_of_a_timed_policy_is_discarded() {
    let clock = ManualClock::new();
    let b = manual("late-timed", &clock)
        .failure_rate(50)
        .slow_call(S(1))
        .window(Window::Calls(4))
        .build();
    let late = b.try_acquire().unwrap();
    b.open();
    b.close();
    late.success();
    assert_eq!(
        b.window().unwrap().calls,
        0,
        "granted before the breaker moved on"
    );
}

#[test]
fn a_timed_policys_probe_decides() {
    let clock = ManualClock::new();
    let b = manual("timed-probe", &clock)
        .failure_rate(50)
        .slow_call(S(1))
        .window(Window::Calls(2))
        .build();
    b.try_acquire().unwrap().failure();
    b.try_acquire().unwrap().failure();
    assert_eq!(b.state(), State::Open);
    clock.advance(S(60));
    b.try_acquire().unwrap().success();
    assert_eq!(
        b.state(),
        State::Closed,
        "a quick probe's success closes it"
    );
}

#[test]
fn a_late_advice_does_not_time_the_next_opening() {
    let clock = ManualClock::new();
    let b = manual("late-advice", &clock).fail_max(1).build();
    let late = b.try_acquire().unwrap();
    b.open();
    b.close();
    late.failure_with_advice(advice(10));
    assert_eq!(
        b.state(),
        State::Closed,
        "a late failure counts for nothing"
    );
    b.try_acquire().unwrap().failure();
    assert_eq!(b.retry_after(), Some(S(60)));
    assert!(b.open_advice().is_none());
}

#[test]
fn an_advice_that_says_so_opens_at_once_by_itself() {
    let clock = ManualClock::new();
    let b = manual("advice-says-at-once", &clock).fail_max(5).build();
    b.try_acquire().unwrap().failure_with_advice(advice(20));
    assert_eq!(b.state(), State::Closed, "one failure of five");
    b.try_acquire()
        .unwrap()
        .failure_with_advice(advice(20).at_once());
    assert_eq!(b.state(), State::Open);
    assert!(b.opened_by_advice());
}

#[test]
fn a_throttle_beside_fail_max_opens_on_consecutive_failures() {
    let clock = ManualClock::new();
    let b = manual("throttle-beside", &clock)
        .throttle(50)
        .fail_max(3)
        .min_calls(100)
        .build();
    for _ in 0..3 {
        b.try_acquire().unwrap().failure();
    }
    assert_eq!(b.state(), State::Open);
}

#[test]
fn the_fleet_moves_the_open_deadline_as_it_says() {
    let clock = ManualClock::new();
    let b = manual("fleet-deadline", &clock).build();
    b.open();
    assert_eq!(b.retry_after(), Some(S(60)));
    b.extend_open_until(90_000_000_000);
    assert_eq!(b.retry_after(), Some(S(90)), "extended");
    b.extend_open_until(30_000_000_000);
    assert_eq!(
        b.retry_after(),
        Some(S(90)),
        "never shortened by an extension"
    );
    b.set_open_until(30_000_000_000);
    assert_eq!(b.retry_after(), Some(S(30)), "set, whatever it was");
}

#[test]
fn the_failures_advice_times_their_opening_until_a_success_resets_them() {
    let clock = ManualClock::new();
    let b = manual("advice-kept", &clock).fail_max(3).build();
    b.try_acquire().unwrap().failure_with_advice(advice(10));
    b.try_acquire().unwrap().failure();
    b.try_acquire().unwrap().failure();
    assert_eq!(
        b.retry_after(),
        Some(S(10)),
        "plain failures keep the advice"
    );
    let reset = manual("advice-forgotten", &clock).fail_max(3).build();
    reset.try_acquire().unwrap().failure_with_advice(advice(10));
    reset.try_acquire().unwrap().success();
    for _ in 0..3 {
        reset.try_acquire().unwrap().failure();
    }
    assert_eq!(reset.retry_after(), Some(S(60)), "a success forgot it");
    assert!(reset.open_advice().is_none());
}

#[test]
fn a_slow_probe_reopens_a_slow_call_policy() {
    let clock = ManualClock::new();
    let b = manual("slow-probe", &clock)
        .failure_rate(50)
        .slow_call(S(1))
        .window(Window::Calls(2))
        .build();
    b.try_acquire().unwrap().failure();
    b.try_acquire().unwrap().failure();
    clock.advance(S(60));
    let probe = b.try_acquire().unwrap();
    clock.advance(S(2));
    probe.success();
    assert_eq!(
        b.state(),
        State::Open,
        "a slow probe counts against the slow rate"
    );
    clock.advance(S(60));
    let probe = b.try_acquire().unwrap();
    clock.advance(Duration::from_millis(500));
    probe.success();
    assert_eq!(b.state(), State::Closed, "a quick one closes it");
}
