//! One test per rule of the policies beyond consecutive failures (issue 12): rate and
//! slow-call windows, several probes, the half-open timeout, backoff and jitter,
//! `within`. Driven by a manual clock: nothing here waits on real time.

use std::time::Duration;

use crate::tests::support::Recorder;
use breaker_runtime::{
    Builder, CircuitBreaker, ConfigError, ErrorKind, ManualClock, Percent, Policy, State, Window,
};

const SECOND: Duration = Duration::from_secs(1);
const MS: Duration = Duration::from_millis(1);

fn rate(name: &'static str, clock: &ManualClock) -> Builder {
    CircuitBreaker::builder(name)
        .reset_timeout(10 * SECOND)
        .clock(clock.clone())
        .unregistered()
}

fn succeed(b: &CircuitBreaker) {
    b.try_acquire().expect("admitted").success();
}

fn fail(b: &CircuitBreaker) {
    b.try_acquire().expect("admitted").failure();
}

/// A call that takes `took` on the breaker's clock, then succeeds.
fn succeed_after(b: &CircuitBreaker, clock: &ManualClock, took: Duration) {
    let permit = b.try_acquire().expect("admitted");
    clock.advance(took);
    permit.success();
}

fn window(b: &CircuitBreaker) -> (u32, u32, u32) {
    let w = b.window().expect("a rate policy");
    (w.calls, w.failures, w.slow)
}

// Rule 1: outcomes, slowness, rejections.

#[test]
fn a_call_is_slow_only_when_strictly_longer_than_slow_call() {
    let clock = ManualClock::new();
    let b = rate("p1-slow", &clock)
        .slow_call(2 * SECOND)
        .window(Window::Calls(10))
        .build();
    succeed_after(&b, &clock, 2 * SECOND);
    assert_eq!(window(&b), (1, 0, 0), "exactly slow_call is not slow");
    succeed_after(&b, &clock, 2 * SECOND + MS);
    assert_eq!(window(&b), (2, 0, 1));
    let permit = b.try_acquire().unwrap();
    clock.advance(5 * SECOND);
    permit.failure();
    assert_eq!(window(&b), (3, 1, 2), "a slow failure is failed and slow");
}

#[test]
fn a_neutral_outcome_enters_no_window_and_is_never_slow() {
    let clock = ManualClock::new();
    let b = rate("p1-neutral", &clock)
        .failure_rate(50)
        .slow_call(SECOND)
        .window(Window::Calls(4))
        .build();
    let permit = b.try_acquire().unwrap();
    clock.advance(10 * SECOND);
    permit.ignore();
    drop(b.try_acquire().unwrap());
    assert_eq!(window(&b), (0, 0, 0));
}

#[test]
fn rejections_never_enter_a_rate() {
    let clock = ManualClock::new();
    let b = rate("p1-rejections", &clock)
        .failure_rate(50)
        .window(Window::Calls(2))
        .build();
    fail(&b);
    fail(&b);
    assert_eq!(b.state(), State::Open);
    for _ in 0..5 {
        assert_eq!(b.try_acquire().unwrap_err().kind(), ErrorKind::Open);
    }
    assert_eq!(window(&b), (2, 2, 0));
}

// Rule 2: windows.

#[test]
fn a_count_window_holds_the_last_n_completed_calls() {
    let clock = ManualClock::new();
    let b = rate("p2-count", &clock)
        .failure_rate(60)
        .window(Window::Calls(5))
        .build();
    fail(&b);
    for _ in 0..6 {
        succeed(&b);
    }
    assert_eq!(window(&b), (5, 0, 0), "the failure slid out");
    fail(&b);
    fail(&b);
    assert_eq!(window(&b), (5, 2, 0));
    fail(&b);
    assert_eq!(b.state(), State::Open, "3 of the last 5 failed: 60 %");
}

#[test]
fn a_time_window_counts_outcomes_in_the_bucket_of_their_completion() {
    let clock = ManualClock::new();
    let b = rate("p2-time", &clock)
        .failure_rate(50)
        .window(Window::Time(10 * SECOND))
        .buckets(10)
        .min_calls(100)
        .build();
    // A call that started at 0.5 s and completes at 9.5 s belongs to bucket 9.
    clock.advance(500 * MS);
    let long = b.try_acquire().unwrap();
    succeed(&b);
    clock.advance(9 * SECOND);
    long.failure();
    assert_eq!(window(&b), (2, 1, 0));
    // At 10.0 s bucket 0 (the success) has left; bucket 9 (the failure) stays until 19 s.
    clock.advance(500 * MS);
    assert_eq!(window(&b), (1, 1, 0));
    clock.advance(8 * SECOND + 999 * MS);
    assert_eq!(window(&b), (1, 1, 0));
    clock.advance(MS);
    assert_eq!(window(&b), (0, 0, 0));
}

#[test]
fn a_time_window_on_the_default_clock_counts_every_threads_successes() {
    // Successes dated by the recent time (the `breaker-clock` thread), failures by the
    // clock: a 60 s window holds all of them, from threads running together and from
    // threads that ran one after another (each taking over a slot given back).
    let b = CircuitBreaker::builder("p2-default-clock")
        .failure_rate(50)
        .window(Window::Time(60 * SECOND))
        .min_calls(100_000)
        .unregistered()
        .build();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| (0..1_000).for_each(|_| succeed(&b)));
        }
    });
    for _ in 0..20 {
        std::thread::scope(|s| {
            s.spawn(|| (0..10).for_each(|_| succeed(&b)));
        });
    }
    fail(&b);
    fail(&b);
    assert_eq!(window(&b), (4_202, 2, 0));
    b.close();
    assert_eq!(window(&b), (0, 0, 0), "closing clears every thread's lane");
    succeed(&b);
    assert_eq!(window(&b), (1, 0, 0), "and counting starts over");
}

#[test]
fn a_time_windows_buckets_are_aligned_to_the_clock() {
    let clock = ManualClock::new();
    let b = rate("p2-aligned", &clock)
        .failure_rate(50)
        .window(Window::Time(2 * SECOND))
        .buckets(2)
        .min_calls(100)
        .build();
    clock.advance(999 * MS);
    succeed(&b); // bucket [0 s, 1 s)
    clock.advance(MS);
    succeed(&b); // bucket [1 s, 2 s)
    clock.advance(SECOND);
    assert_eq!(
        window(&b).0,
        1,
        "at 2 s the first bucket left, 1 ms after its call"
    );
}

// Rule 3: the trip.

#[test]
fn the_rate_trips_at_exactly_the_threshold_in_integers() {
    let clock = ManualClock::new();
    let b = rate("p3-exact", &clock)
        .failure_rate(50)
        .window(Window::Calls(4))
        .build();
    succeed(&b);
    succeed(&b);
    fail(&b);
    assert_eq!(b.state(), State::Closed, "3 calls: below min_calls (4)");
    fail(&b);
    assert_eq!(b.state(), State::Open, "2 of 4 is exactly 50 %");
}

#[test]
fn a_success_that_completes_min_calls_does_not_trip_the_next_failure_does() {
    let clock = ManualClock::new();
    let rec = Recorder::new();
    let b = rate("p3-success", &clock)
        .failure_rate(50)
        .window(Window::Calls(10))
        .min_calls(4)
        .listener_arc(rec.clone())
        .build();
    fail(&b);
    fail(&b);
    fail(&b);
    succeed(&b);
    assert_eq!(
        b.state(),
        State::Closed,
        "75 % failed, but a success never trips"
    );
    assert_eq!(b.window().unwrap().failure_rate, Some(75.0));
    fail(&b);
    assert_eq!(b.state(), State::Open);
    assert_eq!(rec.transitions(), ["closed->open"]);
}

#[test]
fn slow_calls_trip_on_their_own_rate() {
    let clock = ManualClock::new();
    let b = rate("p3-slow", &clock)
        .slow_call(SECOND)
        .slow_rate(50)
        .window(Window::Calls(4))
        .build();
    succeed_after(&b, &clock, 2 * SECOND);
    succeed(&b);
    succeed(&b);
    assert_eq!(b.state(), State::Closed);
    succeed_after(&b, &clock, 2 * SECOND);
    assert_eq!(b.state(), State::Open, "2 of 4 slow, every call a success");
}

#[test]
fn slow_call_alone_trips_only_on_slowness() {
    let clock = ManualClock::new();
    let b = rate("p3-slow-only", &clock)
        .slow_call(SECOND)
        .window(Window::Calls(2))
        .build();
    fail(&b);
    fail(&b);
    assert_eq!(b.state(), State::Closed, "failures alone never trip");
    succeed_after(&b, &clock, 2 * SECOND);
    assert_eq!(b.state(), State::Closed, "1 of 2 slow: below 100 %");
    succeed_after(&b, &clock, 2 * SECOND);
    assert_eq!(b.state(), State::Open);
}

#[test]
fn no_verdict_below_min_calls() {
    let clock = ManualClock::new();
    let b = rate("p3-min-calls", &clock)
        .failure_rate(10)
        .window(Window::Time(60 * SECOND))
        .min_calls(5)
        .build();
    for _ in 0..4 {
        fail(&b);
    }
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.window().unwrap().failure_rate, None);
    fail(&b);
    assert_eq!(b.state(), State::Open);
}

// Rule 4: freezing and clearing.

#[test]
fn entering_open_freezes_the_window_and_closing_clears_it() {
    let clock = ManualClock::new();
    let b = rate("p4-freeze", &clock)
        .failure_rate(50)
        .window(Window::Calls(4))
        .build();
    let late = b.try_acquire().unwrap();
    for _ in 0..4 {
        fail(&b);
    }
    assert_eq!(b.state(), State::Open);
    late.success();
    assert_eq!(
        window(&b),
        (4, 4, 0),
        "a late result does not feed a frozen window"
    );
    clock.advance(10 * SECOND);
    let probe = b.try_acquire().unwrap();
    assert_eq!(window(&b), (4, 4, 0), "half-open keeps its own tally");
    probe.success();
    assert_eq!(b.state(), State::Closed);
    assert_eq!(window(&b), (0, 0, 0), "closing cleared it");
}

#[test]
fn close_clears_the_window_within_count_and_backoff_even_when_closed() {
    let clock = ManualClock::new();
    let b = rate("p4-close", &clock)
        .failure_rate(50)
        .window(Window::Calls(10))
        .build();
    fail(&b);
    succeed(&b);
    b.close();
    assert_eq!(window(&b), (0, 0, 0));

    let w = CircuitBreaker::builder("p4-close-within")
        .fail_max(3)
        .within(10 * SECOND)
        .clock(clock.clone())
        .unregistered()
        .build();
    fail(&w);
    fail(&w);
    w.close();
    fail(&w);
    fail(&w);
    assert_eq!((w.state(), w.fail_counter()), (State::Closed, 2));
}

// Rule 5: several probes.

/// `builder`'s breaker (consecutive, `fail_max` 1, `reset_timeout` 10 s), tripped and
/// past its `reset_timeout`: the next callers are its probes.
fn half_open(builder: Builder) -> CircuitBreaker {
    let clock = ManualClock::new();
    let b = builder
        .fail_max(1)
        .reset_timeout(10 * SECOND)
        .clock(clock.clone())
        .unregistered()
        .build();
    fail(&b);
    clock.advance(10 * SECOND);
    b
}

#[test]
fn k_probes_are_let_through_together_and_every_other_caller_is_rejected() {
    let b = half_open(CircuitBreaker::builder("p5-k").probes(3));
    let probes: Vec<_> = (0..3).map(|_| b.try_acquire().unwrap()).collect();
    assert!(probes.iter().all(|p| p.is_probe()));
    assert_eq!(b.probes_in_flight(), 3);
    assert_eq!(
        b.try_acquire().unwrap_err().kind(),
        ErrorKind::ProbeInFlight
    );
    let mut probes = probes.into_iter();
    probes.next().unwrap().ignore();
    let fourth = b
        .try_acquire()
        .expect("a neutral outcome gave its slot back");
    probes.next().unwrap().success();
    assert_eq!(
        b.try_acquire().unwrap_err().kind(),
        ErrorKind::ProbeInFlight,
        "at most K probes per period: a success does not give its slot back"
    );
    probes.next().unwrap().success();
    assert_eq!(b.state(), State::HalfOpen);
    fourth.success();
    assert_eq!(b.state(), State::Closed, "K successes close");
}

#[test]
fn in_consecutive_mode_any_failed_probe_reopens() {
    let b = half_open(CircuitBreaker::builder("p5-any-failure").probes(3));
    let first = b.try_acquire().unwrap();
    let second = b.try_acquire().unwrap();
    first.success();
    second.failure();
    assert_eq!(b.state(), State::Open);
}

/// A rate breaker (50 % of the last 2 calls, 4 probes), tripped and past its
/// `reset_timeout`: the next four callers are its probes.
fn half_open_with_four_probes(name: &'static str) -> CircuitBreaker {
    let clock = ManualClock::new();
    let b = rate(name, &clock)
        .failure_rate(50)
        .window(Window::Calls(2))
        .probes(4)
        .build();
    fail(&b);
    fail(&b);
    clock.advance(10 * SECOND);
    b
}

#[test]
fn in_rate_mode_probes_reopen_once_their_failures_alone_reach_the_rate() {
    let b = half_open_with_four_probes("p5-rate");
    let probes: Vec<_> = (0..4).map(|_| b.try_acquire().unwrap()).collect();
    let mut probes = probes.into_iter();
    probes.next().unwrap().failure();
    assert_eq!(b.state(), State::HalfOpen, "1 of 4 is below 50 %");
    probes.next().unwrap().failure();
    assert_eq!(
        b.state(),
        State::Open,
        "2 of 4 reach 50 % before the other two finish"
    );
}

#[test]
fn in_rate_mode_probes_close_when_all_are_recorded_below_the_rate() {
    let b = half_open_with_four_probes("p5-rate-close");
    let probes: Vec<_> = (0..4).map(|_| b.try_acquire().unwrap()).collect();
    let mut probes = probes.into_iter();
    probes.next().unwrap().failure();
    probes.next().unwrap().success();
    probes.next().unwrap().success();
    assert_eq!(b.state(), State::HalfOpen, "the verdict waits for all four");
    probes.next().unwrap().success();
    assert_eq!(b.state(), State::Closed);
    assert_eq!(window(&b), (0, 0, 0), "closed with a fresh window");
}

// Rule 6: the half-open timeout (consecutive mode: semantics.rs).

#[test]
fn a_hung_probe_of_several_fails_at_the_timeout_and_the_others_results_are_discarded() {
    let clock = ManualClock::new();
    let b = rate("p6-timeout", &clock)
        .failure_rate(50)
        .window(Window::Calls(2))
        .probes(2)
        .half_open_timeout(5 * SECOND)
        .build();
    fail(&b);
    fail(&b);
    clock.advance(10 * SECOND);
    let done = b.try_acquire().unwrap();
    let hung = b.try_acquire().unwrap();
    done.success();
    clock.advance(5 * SECOND);
    assert_eq!(b.try_acquire().unwrap_err().kind(), ErrorKind::Open);
    assert_eq!(b.attempt(), 2);
    hung.success();
    assert_eq!(b.state(), State::Open, "the late result is discarded");
    assert_eq!(
        b.retry_after(),
        Some(10 * SECOND),
        "open as of the deadline"
    );
}

// Rule 7: open duration.

#[test]
fn each_reopening_backs_off_up_to_the_cap_and_closing_starts_over() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder("p7-backoff")
        .fail_max(1)
        .reset_timeout(10 * SECOND)
        .backoff(2.0)
        .max_reset_timeout(30 * SECOND)
        .clock(clock.clone())
        .unregistered()
        .build();
    fail(&b);
    let mut opened_for = Vec::new();
    for _ in 0..4 {
        assert_eq!(b.state(), State::Open);
        let d = b.retry_after().unwrap();
        let rejection = b.try_acquire().unwrap_err();
        assert_eq!(rejection.retry_after(), Some(d), "the rejection reports it");
        opened_for.push(d.as_secs());
        clock.advance(d);
        fail(&b); // the probe fails: reopen
    }
    assert_eq!(opened_for, [10, 20, 30, 30]);
    assert_eq!(b.attempt(), 5);
    clock.advance(b.retry_after().unwrap());
    succeed(&b);
    assert_eq!((b.state(), b.attempt()), (State::Closed, 0));
    fail(&b);
    assert_eq!(b.retry_after(), Some(10 * SECOND), "back to reset_timeout");
}

#[test]
fn backoff_without_a_cap_stops_at_ten_times_reset_timeout() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder("p7-default-cap")
        .fail_max(1)
        .reset_timeout(SECOND)
        .backoff(10.0)
        .clock(clock.clone())
        .unregistered()
        .build();
    fail(&b);
    for _ in 0..3 {
        clock.advance(b.retry_after().unwrap());
        fail(&b);
    }
    assert_eq!(b.retry_after(), Some(10 * SECOND));
}

#[test]
fn jitter_shortens_every_open_duration_and_keeps_its_spread_at_the_cap() {
    let clock = ManualClock::new();
    let mut at_cap = Vec::new();
    for _ in 0..40 {
        let b = CircuitBreaker::builder("p7-jitter")
            .fail_max(1)
            .reset_timeout(10 * SECOND)
            .backoff(4.0)
            .max_reset_timeout(20 * SECOND)
            .jitter(50)
            .clock(clock.clone())
            .unregistered()
            .build();
        fail(&b);
        let first = b.retry_after().unwrap();
        assert!(first > 5 * SECOND && first <= 10 * SECOND, "{first:?}");
        clock.advance(first);
        fail(&b);
        let capped = b.retry_after().unwrap();
        assert!(capped > 10 * SECOND && capped <= 20 * SECOND, "{capped:?}");
        at_cap.push(capped);
    }
    at_cap.sort();
    at_cap.dedup();
    assert!(at_cap.len() > 30, "spread at the cap: {at_cap:?}");
    assert!(at_cap[0] < 15 * SECOND && at_cap[at_cap.len() - 1] > 15 * SECOND);
}

// Rule 8: `within`.

#[test]
fn within_counts_failures_in_a_sliding_time_and_successes_do_not_reset_them() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder("p8-within")
        .fail_max(3)
        .within(10 * SECOND)
        .clock(clock.clone())
        .unregistered()
        .build();
    assert_eq!(b.config().policy(), Policy::Within);
    fail(&b);
    succeed(&b);
    clock.advance(5 * SECOND);
    fail(&b);
    succeed(&b);
    assert_eq!((b.state(), b.fail_counter()), (State::Closed, 2));
    clock.advance(5 * SECOND);
    assert_eq!(b.fail_counter(), 1, "the first failure slid out");
    fail(&b);
    assert_eq!(b.state(), State::Closed, "two within the last 10 s");
    fail(&b);
    assert_eq!(b.state(), State::Open, "three within the last 10 s");
}

// Rule 9: laziness.

#[test]
fn open_becomes_half_open_only_when_a_call_arrives() {
    let clock = ManualClock::new();
    let b = rate("p9-lazy", &clock)
        .failure_rate(100)
        .window(Window::Calls(1))
        .build();
    fail(&b);
    clock.advance(60 * SECOND);
    assert_eq!(b.state(), State::Open, "no timer moved it");
    assert_eq!(b.retry_after(), Some(Duration::ZERO));
    assert!(b.try_acquire().unwrap().is_probe());
    assert_eq!(b.state(), State::HalfOpen);
}

// Reporting.

#[test]
fn the_snapshot_shows_the_policy_and_the_window() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder("p-snapshot")
        .failure_rate(50)
        .window(Window::Calls(4))
        .clock(clock.clone())
        .build();
    fail(&b);
    let info = breaker_runtime::registry::BreakerInfo::of(&b);
    assert_eq!(info.policy, Policy::Rate);
    let w = info.window.unwrap();
    assert_eq!((w.calls, w.failures, w.failure_rate), (1, 1, None));
    for _ in 0..3 {
        succeed(&b);
    }
    let info = breaker_runtime::registry::BreakerInfo::of(&b);
    assert_eq!(info.window.unwrap().failure_rate, Some(25.0));
    let table = breaker_runtime::registry::snapshot().to_string();
    let line = table.lines().find(|l| l.starts_with("p-snapshot")).unwrap();
    assert!(
        line.contains("rate: 1 failure in 4 calls (25.0%)"),
        "{line}"
    );
    let consecutive = CircuitBreaker::builder("p-snapshot-plain").build();
    let info = breaker_runtime::registry::BreakerInfo::of(&consecutive);
    assert_eq!((info.policy, info.window), (Policy::Consecutive, None));
}

// The builder refuses what the attribute refuses.

#[test]
fn a_whole_number_is_a_number_of_percent_and_a_float_needs_percent_new() {
    let rate = |r: Builder| r.window(Window::Calls(10)).unregistered().try_build();
    let b = || CircuitBreaker::builder("p-percent");
    let fifty = rate(b().failure_rate(50)).unwrap();
    assert_eq!(fifty.config().failure_rate, Some(Percent::new(50.0)));
    assert_eq!(Percent::new(50.0).basis_points(), 5_000);
    // Half a percent must be asked for by name (`.failure_rate(0.5)` does not compile:
    // tests/ui/fail/builder_float_percent.rs).
    let half = rate(b().failure_rate(Percent::new(0.5))).unwrap();
    assert_eq!(
        half.config().failure_rate,
        Some(Percent::from_basis_points(50))
    );
    assert_eq!(
        rate(b().failure_rate(101)).unwrap_err(),
        ConfigError::FailureRate(Percent::from_basis_points(10_100))
    );
    let negative = rate(b().failure_rate(-5)).unwrap_err();
    assert!(
        negative.to_string().contains("not a percentage"),
        "{negative}"
    );
    let jittered = b().jitter(20u32).unregistered().build();
    assert_eq!(jittered.config().jitter, Percent::new(20.0));
}

#[test]
fn the_builder_refuses_every_combination_with_a_reason() {
    let b = || CircuitBreaker::builder("refused").unregistered();
    let refused = |builder: Builder| builder.try_build().unwrap_err();
    let cases = [
        (
            refused(b().fail_max(5).failure_rate(50).window(Window::Calls(10))),
            ConfigError::FailMaxWithRate,
        ),
        (
            refused(b().fail_max(5).slow_call(SECOND).window(Window::Calls(10))),
            ConfigError::FailMaxWithRate,
        ),
        (
            refused(b().probes(2).success_threshold(2)),
            ConfigError::ProbesWithSuccessThreshold,
        ),
        (
            refused(b().failure_rate(50).window(Window::Calls(10)).min_calls(11)),
            ConfigError::MinCallsOverWindow {
                min_calls: 11,
                calls: 10,
            },
        ),
        (
            refused(b().failure_rate(50).window(Window::Time(60 * SECOND))),
            ConfigError::TimeWindowWithoutMinCalls,
        ),
        (
            refused(
                b().failure_rate(50)
                    .window(Window::Time(999 * MS))
                    .min_calls(1),
            ),
            ConfigError::TimeTooShort {
                setting: "window",
                length: 999 * MS,
            },
        ),
        (
            refused(
                b().failure_rate(50)
                    .window(Window::Time(SECOND))
                    .buckets(20)
                    .min_calls(1),
            ),
            ConfigError::BucketTooShort {
                length: SECOND,
                buckets: 20,
            },
        ),
        (
            refused(b().slow_rate(50)),
            ConfigError::SlowRateWithoutSlowCall,
        ),
        (
            refused(b().max_reset_timeout(SECOND)),
            ConfigError::MaxResetWithoutBackoff,
        ),
        (
            refused(b().backoff(2.0).max_reset_timeout(SECOND)),
            ConfigError::MaxResetBelowReset {
                max: SECOND,
                reset_timeout: 60 * SECOND,
            },
        ),
        (
            refused(b().within(10 * SECOND)),
            ConfigError::WithinWithoutFailMax,
        ),
        (
            refused(b().window(Window::Calls(10))),
            ConfigError::WindowWithoutRate,
        ),
        (refused(b().failure_rate(50)), ConfigError::MissingWindow),
        (
            refused(b().failure_rate(0).window(Window::Calls(10))),
            ConfigError::FailureRate(Percent::ZERO),
        ),
        (
            refused(b().jitter(100)),
            ConfigError::Jitter(Percent::HUNDRED),
        ),
        (
            refused(b().backoff(11.0)),
            ConfigError::Backoff(breaker_runtime::Backoff::new(11.0)),
        ),
        (refused(b().probes(256)), ConfigError::Probes(256)),
        (
            refused(b().buckets(5)),
            ConfigError::BucketsWithoutTimeWindow,
        ),
        (
            refused(b().fail_max(3).within(10 * SECOND).buckets(61)),
            ConfigError::Buckets(61),
        ),
    ];
    for (error, expected) in cases {
        assert_eq!(error, expected);
        assert!(!error.to_string().is_empty());
    }
    assert!(ConfigError::TimeWindowWithoutMinCalls
        .to_string()
        .contains("min_calls"));
}
