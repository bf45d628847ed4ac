//! The hot paths, counted in instructions: `closed_path <case> <calls>` makes `calls`
//! calls of one case, for `valgrind --tool=callgrind` to count. Two runs with different
//! call counts give the instructions of one call, whatever the setup costs:
//! `benches/closed_path.sh` does that for every case.
//!
//! Cases: `bare` (the function without a breaker), `annotated` (with
//! `#[circuit_breaker]`, closed), `call` (through `CircuitBreaker::call`, closed),
//! `rejected` (an annotated function whose breaker is open), and the policies of issue
//! 12 on annotated functions, closed: `time_window`, `count_window`, `within`,
//! `slow_window` (a time window that also times each call); issue 28's `throttle` (the
//! same time window with a throttle and no trip rule, its upstream healthy) and
//! `throttled` (a throttle refusing about 99 % of calls). Issue 13's: `owned`
//! (`try_acquire_owned` and a success), `tower_bare` (the harness's service without a
//! layer), `tower` (behind `CircuitBreakerLayer::new`) and `tower_static` (behind
//! `CircuitBreakerLayer::from_static`). Issue 27's, a `503` failure through the layer
//! (`from_static`, `ServerErrors`), each beside its answer without the layer:
//! `fail_503`, `fail_retry_after` (`Retry-After: 30`), `fail_http_date` (`Retry-After`
//! as an HTTP-date), and `fail_503_bare`, `fail_retry_after_bare`, `fail_http_date_bare`.

use std::hint::black_box;

use breaker_runtime::CircuitBreaker;
use tower::Layer;

use breaker_benches::tower_harness::{failures, one_call, Echo, Failing};
use breaker_benches::{
    annotated, annotated_count_window, annotated_open, annotated_slow_window, annotated_throttle,
    annotated_time_window, annotated_within, bare,
};

fn main() {
    let mut args = std::env::args().skip(1);
    let case = args.next().unwrap_or_default();
    let calls: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(1_000);
    let through = CircuitBreaker::builder("closed-path-call")
        .unregistered()
        .build();
    let layered = std::cell::RefCell::new(
        breaker_runtime::tower::CircuitBreakerLayer::new(through.clone()).layer(Echo),
    );
    let pinned: &'static CircuitBreaker = Box::leak(Box::new(
        CircuitBreaker::builder("closed-path-static")
            .unregistered()
            .build(),
    ));
    let layered_static = std::cell::RefCell::new(
        breaker_runtime::tower::CircuitBreakerLayer::from_static(pinned).layer(Echo),
    );
    let echo = std::cell::RefCell::new(Echo);
    // A throttle refusing about 99 % of calls (nothing accepted, no cap), on a clock
    // that stands still: a refusal, and now and then an admission let go.
    let throttling = CircuitBreaker::builder("closed-path-throttling")
        .throttle(50)
        .max_throttle(100)
        .clock(breaker_runtime::ManualClock::new())
        .unregistered()
        .build();
    for _ in 0..100 {
        if let Ok(permit) = throttling.try_acquire() {
            permit.failure();
        }
    }
    // A 503 answer through a layer whose breaker counts up to 65,535 failures.
    let [plain, seconds, date] = failures();
    let failing = |name: &'static str, service: Failing| {
        let pinned: &'static CircuitBreaker = Box::leak(Box::new(
            CircuitBreaker::builder(name)
                .fail_max(65_535)
                .unregistered()
                .build(),
        ));
        std::cell::RefCell::new(
            breaker_runtime::tower::CircuitBreakerLayer::from_static(pinned)
                .classify(breaker_runtime::tower::ServerErrors::new())
                .layer(service),
        )
    };
    let (plain_bare, seconds_bare, date_bare) = (
        std::cell::RefCell::new(plain.clone()),
        std::cell::RefCell::new(seconds.clone()),
        std::cell::RefCell::new(date.clone()),
    );
    let (fail_plain, fail_seconds, fail_date) = (
        failing("closed-path-503", plain),
        failing("closed-path-503-seconds", seconds),
        failing("closed-path-503-date", date),
    );
    let run: &dyn Fn(u64) -> bool = match case.as_str() {
        "bare" => &|i| bare(i).is_ok(),
        "annotated" => &|i| annotated(i).is_ok(),
        "call" => &|i| through.call(|| bare(i)).is_ok(),
        "owned" => &|i| match through.try_acquire_owned() {
            Ok(permit) => {
                let ok = bare(i).is_ok();
                permit.success();
                ok
            }
            Err(_) => false,
        },
        "tower_bare" => &|i| one_call(&mut *echo.borrow_mut(), i),
        "tower" => &|i| one_call(&mut *layered.borrow_mut(), i),
        "tower_static" => &|i| one_call(&mut *layered_static.borrow_mut(), i),
        "fail_503_bare" => &|i| one_call(&mut *plain_bare.borrow_mut(), i),
        "fail_retry_after_bare" => &|i| one_call(&mut *seconds_bare.borrow_mut(), i),
        "fail_http_date_bare" => &|i| one_call(&mut *date_bare.borrow_mut(), i),
        "fail_503" => &|i| one_call(&mut *fail_plain.borrow_mut(), i),
        "fail_retry_after" => &|i| one_call(&mut *fail_seconds.borrow_mut(), i),
        "fail_http_date" => &|i| one_call(&mut *fail_date.borrow_mut(), i),
        "time_window" => &|i| annotated_time_window(i).is_ok(),
        "throttle" => &|i| annotated_throttle(i).is_ok(),
        "throttled" => &|_| throttling.try_acquire().is_ok(),
        "count_window" => &|i| annotated_count_window(i).is_ok(),
        "within" => &|i| annotated_within(i).is_ok(),
        "slow_window" => &|i| annotated_slow_window(i).is_ok(),
        "rejected" => {
            breaker_runtime::registry::get("bench-open")
                .expect("listed from program start")
                .open();
            &|i| annotated_open(i).is_ok()
        }
        other => {
            eprintln!(
                "unknown case {other:?}: bare, annotated, call, rejected, time_window, count_window, within, slow_window, throttle, throttled, owned, tower_bare, tower, tower_static, fail_503(_bare), fail_retry_after(_bare) or fail_http_date(_bare)"
            );
            std::process::exit(2);
        }
    };
    // A first call builds the breaker (and, for a time window, starts the thread that
    // keeps the recent time); the pause lets that thread store its first tick, so the
    // calls counted below take the path they take in a running service.
    black_box(run(0));
    std::thread::sleep(std::time::Duration::from_millis(100));
    let mut ok = 0u64;
    for i in 0..calls {
        ok += u64::from(black_box(run(black_box(i))));
    }
    black_box(ok);
}
