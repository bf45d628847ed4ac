//! Answering from a cache while the dependency is down: `fallback = ...` is called with
//! the same arguments whenever the breaker rejects.
//!
//! `cargo run --example fallback`

use std::sync::atomic::{AtomicBool, Ordering};

use breaker_runtime::{circuit_breaker, registry};

static RATES_UP: AtomicBool = AtomicBool::new(true);

/// No `From<CircuitBreakerError>` here: with a fallback, rejections never reach the
/// error type.
#[derive(Debug)]
struct RatesDown;

/// The last rates we saw; stale, but better than failing the checkout.
async fn cached_rate(currency: &str) -> Result<f64, RatesDown> {
    Ok(match currency {
        "EUR" => 1.08,
        "GBP" => 1.27,
        _ => 1.0,
    })
}

#[circuit_breaker(fail_max = 2, reset_timeout = "30s", fallback = cached_rate, name = "exchange-rates")]
async fn live_rate(currency: &str) -> Result<f64, RatesDown> {
    if !RATES_UP.load(Ordering::SeqCst) {
        return Err(RatesDown);
    }
    Ok(match currency {
        "EUR" => 1.0812,
        "GBP" => 1.2689,
        _ => 1.0,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    println!("live:            EUR = {:?}", live_rate("EUR").await);
    RATES_UP.store(false, Ordering::SeqCst);
    println!(
        "rates API down:  EUR = {:?}  (counted)",
        live_rate("EUR").await
    );
    println!(
        "rates API down:  EUR = {:?}  (counted; the breaker opens)",
        live_rate("EUR").await
    );
    let breaker = registry::get("exchange-rates").expect("registered");
    println!("breaker is {}", breaker.state());
    println!(
        "while open:      EUR = {:?}  (from the fallback, instantly)",
        live_rate("EUR").await
    );
    println!(
        "while open:      GBP = {:?}  (from the fallback, instantly)",
        live_rate("GBP").await
    );
}
