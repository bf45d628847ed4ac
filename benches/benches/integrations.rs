//! The integrations' costs: the tower layer beside tower-resilience's circuit breaker
//! layer (1 and 2 threads), its failures with and without an upstream's advice
//! (`Retry-After` read and parsed), and a keyed breaker's lookup with 10, 1,000 and
//! 100,000 keys, with the memory each key takes.
//!
//! `cargo bench -p breaker-benches --bench integrations`. The services are driven by a
//! loop that polls with a no-op waker: no runtime, so only what the layers add shows.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use breaker_runtime::keyed::Breakers;
use breaker_runtime::{CircuitBreaker, Window};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use tower::{Layer, Service};

use breaker_benches::tower_harness::{failures, one_call, Echo};
use breaker_benches::{bare, E};

/// Live heap bytes, for the memory a key takes.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// `iters` requests on this thread while a second thread, with its own clone of the
/// service (tower services are cloned per caller), makes as many: this thread's time.
fn two_threads<S: Service<u64> + Clone + Send>(iters: u64, service: &S) -> Duration {
    let barrier = Barrier::new(2);
    thread::scope(|s| {
        let mut other = service.clone();
        let barrier = &barrier;
        s.spawn(move || {
            barrier.wait();
            for i in 0..iters {
                black_box(one_call(&mut other, i));
            }
        });
        let mut mine = service.clone();
        barrier.wait();
        let start = Instant::now();
        for i in 0..iters {
            black_box(one_call(&mut mine, i));
        }
        start.elapsed()
    })
}

fn bench_service<S: Service<u64> + Clone + Send>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    threads: usize,
    service: S,
) {
    if threads == 1 {
        let mut service = service;
        group.bench_function(name, |b| {
            let mut i = 0u64;
            b.iter(|| {
                i = i.wrapping_add(1);
                one_call(&mut service, i)
            })
        });
    } else {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| two_threads(iters, &service))
        });
    }
}

fn breaker(name: &'static str) -> breaker_runtime::Builder {
    CircuitBreaker::builder(name)
        .reset_timeout(Duration::from_secs(3600))
        .unregistered()
}

fn tower_layers(c: &mut Criterion) {
    let consecutive = breaker("bench-tower").fail_max(5).build();
    let pinned: &'static CircuitBreaker =
        Box::leak(Box::new(breaker("bench-tower-static").fail_max(5).build()));
    let rate = breaker("bench-tower-rate")
        .failure_rate(50)
        .window(Window::Calls(100))
        .build();
    let resilience_rate = tower_resilience_circuitbreaker::CircuitBreakerLayer::builder()
        .failure_rate_threshold(0.5)
        .sliding_window_size(100)
        .wait_duration_in_open(Duration::from_secs(3600))
        .build()
        .expect("a valid tower-resilience configuration");
    for threads in [1, 2] {
        let mut group =
            c.benchmark_group(format!("tower layer, closed success/{threads} thread(s)"));
        bench_service(&mut group, "no layer", threads, Echo);
        bench_service(
            &mut group,
            "CircuitBreakerLayer (consecutive)",
            threads,
            breaker_runtime::tower::CircuitBreakerLayer::new(consecutive.clone()).layer(Echo),
        );
        bench_service(
            &mut group,
            "CircuitBreakerLayer::from_static (consecutive)",
            threads,
            breaker_runtime::tower::CircuitBreakerLayer::from_static(pinned).layer(Echo),
        );
        bench_service(
            &mut group,
            "CircuitBreakerLayer (failure_rate, 100 calls)",
            threads,
            breaker_runtime::tower::CircuitBreakerLayer::new(rate.clone()).layer(Echo),
        );
        bench_service(
            &mut group,
            "tower-resilience CircuitBreakerLayer (rate, 100 calls)",
            threads,
            resilience_rate.layer(Echo),
        );
        group.finish();
    }
}

fn tower_failures(c: &mut Criterion) {
    use breaker_runtime::tower::{CircuitBreakerLayer, ServerErrors};
    let layer = |name: &'static str, classify: ServerErrors| {
        let pinned: &'static CircuitBreaker =
            Box::leak(Box::new(breaker(name).fail_max(65_535).build()));
        CircuitBreakerLayer::from_static(pinned).classify(classify)
    };
    let [plain, seconds, http_date] = failures();
    let mut group = c.benchmark_group("tower layer, a 503 failure/1 thread");
    // Each answer's own cost (building it), for the layer's overhead over it.
    bench_service(&mut group, "no layer, 503", 1, plain.clone());
    bench_service(
        &mut group,
        "no layer, 503 + Retry-After: 30",
        1,
        seconds.clone(),
    );
    bench_service(
        &mut group,
        "no layer, 503 + Retry-After: HTTP-date",
        1,
        http_date.clone(),
    );
    let classify = ServerErrors::new();
    for (name, breaker, service) in [
        ("503", "bench-503", plain),
        (
            "503 + Retry-After: 30",
            "bench-503-seconds",
            seconds.clone(),
        ),
        ("503 + Retry-After: HTTP-date", "bench-503-date", http_date),
    ] {
        bench_service(&mut group, name, 1, layer(breaker, classify).layer(service));
    }
    let deaf = classify.honour_retry_after(false);
    bench_service(
        &mut group,
        "503 + Retry-After: 30, honour_retry_after(false)",
        1,
        layer("bench-503-deaf", deaf).layer(seconds),
    );
    group.finish();
}

/// A set holding `keys` keys, each called once so its breaker exists.
fn populated(keys: u64) -> Breakers<u64> {
    let set = Breakers::builder(|key: &u64| {
        CircuitBreaker::builder(format!("bench-key[{key}]")).unregistered()
    })
    .max_keys(keys as usize + 1)
    .name("bench-keys")
    .build();
    for key in 0..keys {
        let _ = set.call(&key, || bare(key));
    }
    set
}

fn keyed_lookup(c: &mut Criterion) {
    // Memory per key: live heap bytes after the keys are in, over their number.
    for keys in [1_000u64, 100_000] {
        let before = LIVE.load(Ordering::Relaxed);
        let set = populated(keys);
        let after = LIVE.load(Ordering::Relaxed);
        println!(
            "memory per key: {} bytes with {keys} keys (the set's map, the key, the breaker and its name)",
            (after - before) / keys as isize
        );
        drop(set);
    }

    let single = breaker("bench-unkeyed").build();
    let mut group = c.benchmark_group("keyed lookup, closed success/1 thread");
    group.bench_function("CircuitBreaker::call (no key)", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i = i.wrapping_add(1);
            drop(black_box(single.call(|| bare(i))))
        })
    });
    group.bench_function("CircuitBreaker::try_acquire_owned (no key)", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i = i.wrapping_add(1);
            if let Ok(permit) = single.try_acquire_owned() {
                permit.record(&black_box(bare(i)));
            }
        })
    });
    for keys in [10u64, 1_000, 100_000] {
        let set = populated(keys);
        group.bench_with_input(
            BenchmarkId::new("Breakers::call", keys),
            &keys,
            |b, &keys| {
                // Keys visited in a scattered order, so the large sets miss the cache as a
                // real spread of hosts or tenants would.
                let mut i = 0u64;
                b.iter(|| {
                    i = i.wrapping_add(1);
                    let key = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % keys;
                    drop(black_box(set.call(&key, || Ok::<_, E>(black_box(key)))))
                })
            },
        );
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = breaker_benches::criterion();
    targets = tower_layers, tower_failures, keyed_lookup
}
criterion_main!(benches);
