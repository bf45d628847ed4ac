//! breaker against failsafe and recloser, in one process and one run.
//!
//! `cargo bench -p breaker-benches` (about two minutes). Every contender wraps the same
//! `#[inline(never)]` function, so the numbers differ only by what the breaker adds.

use std::future::Future;
use std::hint::black_box;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use breaker_runtime::{circuit_breaker, registry, CircuitBreaker};
use criterion::{criterion_group, criterion_main, Criterion};
use failsafe::CircuitBreaker as _;

use breaker_benches::{
    annotated, annotated_count_window, annotated_open, annotated_slow_window, annotated_throttle,
    annotated_time_window, annotated_within, bare, E,
};

/// The dependency failing for one call in a hundred.
#[inline(never)]
fn one_percent(x: u64) -> Result<u64, E> {
    if black_box(x) % 100 == 99 {
        Err(E)
    } else {
        Ok(x)
    }
}

#[inline(never)]
#[circuit_breaker(name = "bench-mixed", fail_max = 1000)]
fn annotated_mixed(x: u64) -> Result<u64, E> {
    if black_box(x) % 100 == 99 {
        Err(E)
    } else {
        Ok(x)
    }
}

async fn bare_async(x: u64) -> Result<u64, E> {
    Ok(black_box(x))
}

#[circuit_breaker(name = "bench-async")]
async fn annotated_async(x: u64) -> Result<u64, E> {
    Ok(black_box(x))
}

fn ours(name: &'static str, fail_max: u32) -> CircuitBreaker {
    CircuitBreaker::builder(name)
        .fail_max(fail_max)
        .reset_timeout(Duration::from_secs(3600))
        .unregistered()
        .build()
}

type Failsafe<P> = failsafe::StateMachine<P, ()>;
type FailsafeConsecutive =
    failsafe::failure_policy::ConsecutiveFailures<failsafe::backoff::Constant>;

fn failsafe_consecutive() -> Failsafe<FailsafeConsecutive> {
    let policy = failsafe::failure_policy::consecutive_failures(
        5,
        failsafe::backoff::constant(Duration::from_secs(3600)),
    );
    failsafe::Config::new().failure_policy(policy).build()
}

fn failsafe_default() -> impl failsafe::CircuitBreaker + Sync {
    failsafe::Config::new().build()
}

fn recloser() -> recloser::Recloser {
    recloser::Recloser::custom()
        .open_wait(Duration::from_secs(3600))
        .build()
}

/// Runs `f` `iters` times on this thread while a second thread does the same, and
/// returns this thread's time: the per-call cost when two cores share one breaker.
fn two_threads(iters: u64, f: impl Fn(u64) + Sync) -> Duration {
    let barrier = Barrier::new(2);
    thread::scope(|s| {
        s.spawn(|| {
            barrier.wait();
            for i in 0..iters {
                f(i);
            }
        });
        barrier.wait();
        let start = Instant::now();
        for i in 0..iters {
            f(i);
        }
        start.elapsed()
    })
}

/// A named contender: one call through it with argument `i`.
type Case<'a> = (&'static str, Box<dyn Fn(u64) + Sync + 'a>);

fn contenders(c: &mut Criterion, group_name: &str, threads: usize, cases: Vec<Case<'_>>) {
    // Runs with the `metrics` feature get their own groups, not compared with the others.
    let suffix = if cfg!(feature = "metrics") {
        ", metrics on"
    } else {
        ""
    };
    let mut group = c.benchmark_group(format!("{group_name}{suffix}"));
    for (name, f) in &cases {
        if threads == 1 {
            group.bench_function(*name, |b| {
                let mut i = 0u64;
                b.iter(|| {
                    i = i.wrapping_add(1);
                    f(i)
                })
            });
        } else {
            group.bench_function(*name, |b| b.iter_custom(|iters| two_threads(iters, f)));
        }
    }
    group.finish();
}

fn closed(c: &mut Criterion) {
    let ours_breaker = ours("bench-call", 5);
    let fs = failsafe_consecutive();
    let fs_default = failsafe_default();
    let rc = recloser();
    annotated(0).unwrap(); // builds and registers its breaker before timing
    for threads in [1, 2] {
        let cases: Vec<Case<'_>> = vec![
            ("bare call", Box::new(|i| drop(black_box(bare(i))))),
            (
                "#[circuit_breaker]",
                Box::new(|i| drop(black_box(annotated(i)))),
            ),
            (
                "CircuitBreaker::call",
                Box::new(|i| drop(black_box(ours_breaker.call(|| bare(i))))),
            ),
            (
                "failsafe consecutive_failures(5)",
                Box::new(|i| drop(black_box(fs.call(|| bare(i))))),
            ),
            (
                "failsafe default policy",
                Box::new(|i| drop(black_box(fs_default.call(|| bare(i))))),
            ),
            (
                "recloser",
                Box::new(|i| drop(black_box(rc.call(|| bare(i))))),
            ),
        ];
        contenders(
            c,
            &format!("closed success/{threads} thread(s)"),
            threads,
            cases,
        );
    }
}

fn open(c: &mut Criterion) {
    let ours_breaker = ours("bench-call-open", 1);
    ours_breaker.open();
    let _ = annotated_open(0);
    registry::get("bench-open").expect("registered").open();
    let fs = failsafe_consecutive();
    for _ in 0..5 {
        let _ = fs.call(|| Err::<(), E>(E));
    }
    let rc = recloser();
    for _ in 0..200 {
        let _ = rc.call(|| Err::<(), E>(E));
    }
    assert!(
        fs.call(|| bare(1)).is_err() && rc.call(|| bare(1)).is_err(),
        "peers are open"
    );
    assert!(
        annotated_open(1).is_err() && ours_breaker.call(|| bare(1)).is_err(),
        "ours are open"
    );
    for threads in [1, 2] {
        let cases: Vec<Case<'_>> = vec![
            (
                "#[circuit_breaker]",
                Box::new(|i| drop(black_box(annotated_open(i)))),
            ),
            (
                "CircuitBreaker::call",
                Box::new(|i| drop(black_box(ours_breaker.call(|| bare(i))))),
            ),
            (
                "failsafe consecutive_failures(5)",
                Box::new(|i| drop(black_box(fs.call(|| bare(i))))),
            ),
            (
                "recloser",
                Box::new(|i| drop(black_box(rc.call(|| bare(i))))),
            ),
        ];
        contenders(
            c,
            &format!("open rejection/{threads} thread(s)"),
            threads,
            cases,
        );
    }
}

fn mixed(c: &mut Criterion) {
    let ours_breaker = ours("bench-call-mixed", 1000);
    // failsafe and recloser would open on 1% errors with their defaults; these settings
    // keep every contender closed so the failure path's cost is what is measured.
    let fs = {
        let policy = failsafe::failure_policy::consecutive_failures(
            1000,
            failsafe::backoff::constant(Duration::from_secs(3600)),
        );
        failsafe::Config::new().failure_policy(policy).build()
    };
    let rc = recloser::Recloser::custom()
        .error_rate(0.9)
        .open_wait(Duration::from_secs(3600))
        .build();
    let _ = annotated_mixed(0);
    for threads in [1, 2] {
        let cases: Vec<Case<'_>> = vec![
            ("bare call", Box::new(|i| drop(black_box(one_percent(i))))),
            (
                "#[circuit_breaker]",
                Box::new(|i| drop(black_box(annotated_mixed(i)))),
            ),
            (
                "CircuitBreaker::call",
                Box::new(|i| drop(black_box(ours_breaker.call(|| one_percent(i))))),
            ),
            (
                "failsafe consecutive_failures(1000)",
                Box::new(|i| drop(black_box(fs.call(|| one_percent(i))))),
            ),
            (
                "recloser",
                Box::new(|i| drop(black_box(rc.call(|| one_percent(i))))),
            ),
        ];
        contenders(
            c,
            &format!("1% failures/{threads} thread(s)"),
            threads,
            cases,
        );
    }
}

/// The policies of issue 12 (and issue 28's throttle) on a closed breaker (every call
/// succeeds), beside the
/// consecutive default and the peers' rate policies: failsafe's success rate over a time
/// window, recloser's failure rate over its last calls.
fn policies(c: &mut Criterion) {
    let fs = {
        let policy = failsafe::failure_policy::success_rate_over_time_window(
            0.5,
            100,
            Duration::from_secs(60),
            failsafe::backoff::constant(Duration::from_secs(3600)),
        );
        failsafe::Config::new().failure_policy(policy).build()
    };
    let rc = recloser::Recloser::custom()
        .error_rate(0.5)
        .closed_len(100)
        .open_wait(Duration::from_secs(3600))
        .build();
    // Build and register every breaker before timing.
    let _ = (
        annotated(0),
        annotated_time_window(0),
        annotated_count_window(0),
    );
    let _ = (
        annotated_within(0),
        annotated_slow_window(0),
        annotated_throttle(0),
    );
    for threads in [1, 2] {
        let cases: Vec<Case<'_>> = vec![
            ("bare call", Box::new(|i| drop(black_box(bare(i))))),
            (
                "consecutive (default)",
                Box::new(|i| drop(black_box(annotated(i)))),
            ),
            (
                "failure_rate, window = 60s",
                Box::new(|i| drop(black_box(annotated_time_window(i)))),
            ),
            (
                "throttle = 50%, window = 60s (healthy)",
                Box::new(|i| drop(black_box(annotated_throttle(i)))),
            ),
            (
                "failure_rate, window = 100 calls",
                Box::new(|i| drop(black_box(annotated_count_window(i)))),
            ),
            (
                "fail_max, within = 10s",
                Box::new(|i| drop(black_box(annotated_within(i)))),
            ),
            (
                "failure_rate + slow_call, window = 60s",
                Box::new(|i| drop(black_box(annotated_slow_window(i)))),
            ),
            (
                "failsafe success_rate_over_time_window",
                Box::new(|i| drop(black_box(fs.call(|| bare(i))))),
            ),
            (
                "recloser error_rate, 100 calls",
                Box::new(|i| drop(black_box(rc.call(|| bare(i))))),
            ),
        ];
        contenders(
            c,
            &format!("policies, closed success/{threads} thread(s)"),
            threads,
            cases,
        );
    }
}

fn size_of_future<F: Future>(f: F) -> usize {
    std::mem::size_of_val(&f)
}

fn asynchronous(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    println!(
        "future size: bare async fn {} bytes, #[circuit_breaker] async fn {} bytes",
        size_of_future(bare_async(1)),
        size_of_future(annotated_async(1))
    );
    rt.block_on(annotated_async(0)).unwrap();
    let mut group = c.benchmark_group("async fn/current-thread tokio");
    group.bench_function("bare async fn", |b| {
        b.to_async(&rt).iter(|| bare_async(black_box(1)))
    });
    group.bench_function("#[circuit_breaker] async fn", |b| {
        b.to_async(&rt).iter(|| annotated_async(black_box(1)))
    });
    group.finish();
}

/// A shared breaker's calls against a local one's, in one run: the call path is the
/// same (no Redis I/O on it), so the rows should match. Its backend points at a port with
/// no Redis, so its background thread idles in backoff.
#[cfg(feature = "redis")]
fn fleet(c: &mut Criterion) {
    use breaker_runtime::shared::RedisBackend;
    let local = ours("bench-fleet-local", 5);
    let backend = RedisBackend::builder("redis://127.0.0.1:9")
        .namespace("bench")
        .build()
        .unwrap();
    let shared = CircuitBreaker::builder("bench-fleet-shared")
        .fail_max(5)
        .reset_timeout(Duration::from_secs(3600))
        .shared(&backend)
        .unregistered()
        .build();
    for (state, open) in [("closed success", false), ("open rejection", true)] {
        if open {
            local.open();
            shared.open();
        }
        for threads in [1, 2] {
            let cases: Vec<Case<'_>> = vec![
                (
                    "local CircuitBreaker::call",
                    Box::new(|i| drop(black_box(local.call(|| bare(i))))),
                ),
                (
                    "shared CircuitBreaker::call",
                    Box::new(|i| drop(black_box(shared.call(|| bare(i))))),
                ),
            ];
            contenders(
                c,
                &format!("fleet {state}/{threads} thread(s)"),
                threads,
                cases,
            );
        }
    }
}

#[cfg(not(feature = "redis"))]
fn fleet(_: &mut Criterion) {}

criterion_group! {
    name = benches;
    config = breaker_benches::criterion();
    targets = closed, open, mixed, policies, asynchronous, fleet
}
criterion_main!(benches);
