//! The hot paths, counted in instructions: `closed_path <case> <calls>` makes `calls`
//! calls of one case, for `valgrind --tool=callgrind` to count. Two runs with different
//! call counts give the instructions of one call, whatever the setup costs:
//! `benches/closed_path.sh` does that for every case.
//!
//! Cases: `bare` (the function without a breaker), `annotated` (with
//! `#[circuit_breaker]`, closed), `call` (through `CircuitBreaker::call`, closed),
//! `rejected` (an annotated function whose breaker is open).

use std::hint::black_box;

use breaker_runtime::{circuit_breaker, CircuitBreaker, CircuitBreakerError};

#[derive(Debug)]
struct E;

impl From<CircuitBreakerError> for E {
    fn from(_: CircuitBreakerError) -> Self {
        E
    }
}

#[inline(never)]
fn bare(x: u64) -> Result<u64, E> {
    Ok(black_box(x))
}

#[inline(never)]
#[circuit_breaker(name = "closed-path-annotated")]
fn annotated(x: u64) -> Result<u64, E> {
    Ok(black_box(x))
}

#[inline(never)]
#[circuit_breaker(name = "closed-path-rejected", reset_timeout = "1h")]
fn rejected(x: u64) -> Result<u64, E> {
    Ok(black_box(x))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let case = args.next().unwrap_or_default();
    let calls: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(1_000);
    let through = CircuitBreaker::builder("closed-path-call")
        .unregistered()
        .build();
    let run: &dyn Fn(u64) -> bool = match case.as_str() {
        "bare" => &|i| bare(i).is_ok(),
        "annotated" => &|i| annotated(i).is_ok(),
        "call" => &|i| through.call(|| bare(i)).is_ok(),
        "rejected" => {
            let _ = rejected(0); // builds its breaker
            breaker_runtime::registry::get("closed-path-rejected")
                .expect("registered")
                .open();
            &|i| rejected(i).is_ok()
        }
        other => {
            eprintln!("unknown case {other:?}: bare, annotated, call or rejected");
            std::process::exit(2);
        }
    };
    let mut ok = 0u64;
    for i in 0..calls {
        ok += u64::from(black_box(run(black_box(i))));
    }
    black_box(ok);
}
