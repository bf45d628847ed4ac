//! The registry at scale: creating a new key of a keyed set (its breaker built, enrolled
//! in the registry under its name, put in the set) and looking a breaker up by name,
//! with 1,000, 100,000 and 1,000,000 breakers registered. Neither may grow with the
//! number of breakers: the 1,000,000 figures of `a new key` and `registry::get` stay
//! within twice the 1,000 ones. Names looked up cold, scattered over a million
//! breakers, cost the memory's misses on top: `registry::get, cold` beside the floor
//! under any table, `a plain array, cold`.
//!
//! `cargo bench -p breaker-benches --bench registry`. Under `cargo test --benches` (CI's
//! smoke run, a debug build) only the 1,000 row runs.

use std::hash::{BuildHasher, RandomState};
use std::hint::black_box;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use breaker_runtime::keyed::Breakers;
use breaker_runtime::{registry, CircuitBreaker, CircuitBreakerError, ManualClock};
use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, SamplingMode,
};

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

/// Names looked up again and again.
const HOT: u64 = 64;
/// Names looked up once in a while.
const COLD: u64 = 4096;

/// `count` names of the `bench-registry` set, spread evenly over its `breakers` keys.
fn scattered(breakers: u64, count: u64) -> Vec<String> {
    (0..count)
        .map(|i| {
            format!(
                "bench-registry[{}]",
                i.wrapping_mul(2_654_435_761) % breakers
            )
        })
        .collect()
}

/// An object the size of a breaker, named.
struct Object {
    _name: Arc<str>,
    _state: [u64; 50],
}

/// A slot of the floor's table: the name's hash, the name, a handle on the object.
type Slot = (u64, Arc<str>, Weak<Object>);

/// The least a lookup by name can do: a slot at the name's hash (open addressing,
/// half full), the name compared, a handle taken on the object. No concurrency, no
/// removal, nothing else.
struct Floor {
    hasher: RandomState,
    slots: Vec<Option<Slot>>,
    _objects: Vec<Arc<Object>>,
}

impl Floor {
    /// The floor's `bench-registry[<key>]` objects.
    fn new(breakers: u64) -> Floor {
        let hasher = RandomState::new();
        let len = (breakers as usize * 2).next_power_of_two();
        let mut slots = vec![None; len];
        let mut objects = Vec::with_capacity(breakers as usize);
        for key in 0..breakers {
            let name: Arc<str> = format!("bench-registry[{key}]").into();
            let hash = hasher.hash_one(&*name);
            let object = Arc::new(Object {
                _name: name.clone(),
                _state: [0; 50],
            });
            let mut i = hash as usize & (len - 1);
            while slots[i].is_some() {
                i = (i + 1) & (len - 1);
            }
            slots[i] = Some((hash, name, Arc::downgrade(&object)));
            objects.push(object);
        }
        Floor {
            hasher,
            slots,
            _objects: objects,
        }
    }

    fn get(&self, name: &str) -> Option<Arc<Object>> {
        let hash = self.hasher.hash_one(name);
        let mut i = hash as usize & (self.slots.len() - 1);
        while let Some((at, named, object)) = &self.slots[i] {
            if *at == hash && **named == *name {
                return object.upgrade();
            }
            i = (i + 1) & (self.slots.len() - 1);
        }
        None
    }
}

/// A row of lookups: `get` of each of `names` in turn.
fn lookups<R>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    row: &str,
    breakers: u64,
    names: &[String],
    get: impl Fn(&str) -> R,
) {
    group.bench_with_input(BenchmarkId::new(row, breakers), &breakers, |b, _| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % names.len();
            black_box(get(&names[i]))
        })
    });
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
    // Every sample makes as many calls: a new key's mean then counts the rare copy of
    // the registry's table once per call it is spread over, wherever it falls (under
    // linear sampling, a copy falling in a short sample would weigh more).
    group.sampling_mode(SamplingMode::Flat);
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
        // The registry's work: a few names, spread over the registry, asked for again
        // and again (a health check, a dashboard polling the breakers it shows), so
        // that their entries stay in the caches at every size and what is measured is
        // what a lookup does.
        let hot = scattered(breakers, HOT);
        lookups(&mut group, "registry::get", breakers, &hot, registry::get);
        // The memory's share: names scattered over the whole registry, each asked for
        // once in a while, so that at a million breakers every lookup misses the caches
        // (and, on 4 KiB pages, the TLB) for the table, the entry and the breaker.
        let cold = scattered(breakers, COLD);
        lookups(
            &mut group,
            "registry::get, cold",
            breakers,
            &cold,
            registry::get,
        );
        // The floor under the cold row: a table no lookup can beat, a plain array of
        // slots indexed by the name's hash, each with the name's hash, the name and a
        // weak handle on a breaker-sized object, asked for the same scattered names.
        // What it costs at a million, beside its cost at a thousand, is the memory's.
        let floor = Floor::new(breakers);
        lookups(&mut group, "a plain array, cold", breakers, &cold, |name| {
            floor.get(name)
        });
        drop(floor);
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
