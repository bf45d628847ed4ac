//! The registry's operations, counted in instructions: `registry_ops <op> <breakers>
//! <calls>` registers `breakers` breakers (a keyed set's), then makes `calls` of one
//! operation, each through a function of its own (`measured_get`, `measured_new_key`)
//! that `valgrind --tool=callgrind --toggle-collect=...` counts alone
//! (`benches/registry_ops.sh`): the work of a lookup or of a new key, at 1,000 breakers
//! as at 1,000,000, where the times of `--bench registry` also show the memory system.
//! (Counting only inside the operation, not by the difference of two runs: the tables'
//! hashes are seeded anew in each process, so setting up a million breakers costs a
//! little more or less from one run to the next.)
//!
//! Operations: `get` (`registry::get` of a registered name), `new_key` (a new key of a
//! keyed set: its breaker built, enrolled, put in the set).

use std::hint::black_box;

use breaker_runtime::keyed::Breakers;
use breaker_runtime::{registry, CircuitBreaker, CircuitBreakerError};

fn ok() -> Result<(), CircuitBreakerError> {
    Ok(())
}

#[inline(never)]
fn measured_get(name: &str) -> Option<CircuitBreaker> {
    registry::get(name)
}

#[inline(never)]
fn measured_new_key(set: &Breakers<u64>, key: u64) {
    set.call(&key, ok).unwrap();
}

fn main() {
    let mut args = std::env::args().skip(1);
    let op = args.next().unwrap_or_default();
    let breakers: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(1_000);
    let calls: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(1_000);
    let set = Breakers::builder(|key: &u64| CircuitBreaker::builder(format!("ops[{key}]")))
        .max_keys(usize::MAX)
        .build();
    for key in 0..breakers {
        set.call(&key, ok).unwrap();
    }
    let names: Vec<String> = (0..4096u64)
        .map(|i| format!("ops[{}]", i.wrapping_mul(2_654_435_761) % breakers))
        .collect();
    match op.as_str() {
        "get" => {
            for i in 0..calls {
                black_box(measured_get(&names[i as usize % names.len()]));
            }
        }
        "new_key" => {
            for key in breakers..breakers + calls {
                measured_new_key(&set, key);
            }
        }
        other => panic!("unknown operation {other:?}: get, new_key"),
    }
}
