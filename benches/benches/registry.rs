//! The registry at scale: creating a new key of a keyed set (its breaker built, enrolled
//! in the registry under its name, put in the set) and looking a breaker up by name,
//! with 1,000, 100,000 and 1,000,000 breakers registered. Neither may grow with the
//! number of breakers: the 1,000,000 figures stay within twice the 1,000 ones.
//!
//! `cargo bench -p breaker-benches --bench registry`. Under `cargo test --benches` (CI's
//! smoke run, a debug build) only the 1,000 row runs.

use std::hint::black_box;
use std::time::{Duration, Instant};

use breaker_runtime::keyed::Breakers;
use breaker_runtime::{registry, CircuitBreaker, CircuitBreakerError, ManualClock};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

const TTL: Duration = Duration::from_secs(60);
/// New keys made between two sweeps.
const BATCH: u64 = 256;

fn ok() -> Result<(), CircuitBreakerError> {
    Ok(())
}

/// A set of `keys` keys named `<name>[<key>]`, each used once: `keys` breakers more in
/// the registry.
fn populated(name: &'static str, keys: u64) -> Breakers<u64> {
    let set = Breakers::builder(move |key: &u64| CircuitBreaker::builder(format!("{name}[{key}]")))
        .name(name)
        .max_keys(keys as usize + 1)
        .build();
    for key in 0..keys {
        set.call(&key, ok).unwrap();
    }
    set
}

/// The sizes to measure: all of them under `cargo bench`, the smallest in a smoke run.
fn sizes() -> &'static [u64] {
    if std::env::args().any(|arg| arg == "--bench") {
        &[1_000, 100_000, 1_000_000]
    } else {
        &[1_000]
    }
}

fn registry_at_scale(c: &mut Criterion) {
    let mut group = c.benchmark_group("registry");
    for &breakers in sizes() {
        let background = populated("bench-registry", breakers);
        // New keys go to a set of their own, swept away (untimed) every few hundred.
        let clock = ManualClock::new();
        let fresh = Breakers::builder(|key: &u64| {
            CircuitBreaker::builder(format!("bench-registry-new[{key}]"))
        })
        .name("bench-registry-new")
        .max_keys(usize::MAX)
        .idle_ttl(TTL)
        .clock(clock.clone())
        .build();
        let mut next = 0u64;
        group.bench_with_input(
            BenchmarkId::new("a new key", breakers),
            &breakers,
            |b, _| {
                b.iter_custom(|iters| {
                    // In batches of at most `BATCH`, each swept away untimed: the
                    // registry holds `breakers` breakers and at most one batch more.
                    let mut took = Duration::ZERO;
                    let mut left = iters;
                    while left > 0 {
                        let batch = left.min(BATCH);
                        let start = Instant::now();
                        for _ in 0..batch {
                            fresh.call(&next, ok).unwrap();
                            next += 1;
                        }
                        took += start.elapsed();
                        clock.advance(TTL);
                        fresh.sweep();
                        left -= batch;
                    }
                    took
                })
            },
        );
        // Names scattered over the whole registry, so the large ones miss the cache as
        // lookups from an admin endpoint would.
        let names: Vec<String> = (0..4096u64)
            .map(|i| {
                format!(
                    "bench-registry[{}]",
                    i.wrapping_mul(2_654_435_761) % breakers
                )
            })
            .collect();
        group.bench_with_input(
            BenchmarkId::new("registry::get", breakers),
            &breakers,
            |b, _| {
                let mut i = 0;
                b.iter(|| {
                    i = (i + 1) % names.len();
                    black_box(registry::get(&names[i]))
                })
            },
        );
        assert_eq!(background.len() as u64, breakers);
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = breaker_benches::criterion();
    targets = registry_at_scale
}
criterion_main!(benches);
