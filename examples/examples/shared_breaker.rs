//! Several functions behind one breaker: `charge` and `refund` both talk to the payment
//! provider, so failures of either count together and an outage stops both.
//!
//! `cargo run --example shared_breaker`

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::LazyLock;

use breaker_runtime::{circuit_breaker, CircuitBreaker, CircuitBreakerError};

static PAYMENTS: LazyLock<CircuitBreaker> = LazyLock::new(|| {
    CircuitBreaker::builder("payment-provider")
        .fail_max(3)
        .build()
});

static PROVIDER_UP: AtomicBool = AtomicBool::new(true);

#[derive(Debug)]
enum PaymentError {
    Declined,
    ProviderDown,
    Unavailable(CircuitBreakerError),
}

impl From<CircuitBreakerError> for PaymentError {
    fn from(e: CircuitBreakerError) -> Self {
        PaymentError::Unavailable(e)
    }
}

fn provider(cents: u64) -> Result<u64, PaymentError> {
    if !PROVIDER_UP.load(Ordering::SeqCst) {
        Err(PaymentError::ProviderDown)
    } else if cents > 100_000 {
        Err(PaymentError::Declined)
    } else {
        Ok(cents)
    }
}

/// A declined card is the provider working as intended: excluded.
#[circuit_breaker(breaker = PAYMENTS, exclude = [PaymentError::Declined])]
fn charge(cents: u64) -> Result<u64, PaymentError> {
    provider(cents)
}

#[circuit_breaker(breaker = PAYMENTS)]
fn refund(cents: u64) -> Result<u64, PaymentError> {
    provider(cents)
}

fn main() {
    println!("charge(500)     -> {:?}", charge(500));
    println!(
        "charge(5000000) -> {:?}   (declined: not the provider's fault)",
        charge(5_000_000)
    );
    PROVIDER_UP.store(false, Ordering::SeqCst);
    println!("charge(500)     -> {:?}", charge(500));
    println!("refund(500)     -> {:?}", refund(500));
    println!("charge(700)     -> {:?}", charge(700));
    println!(
        "breaker '{}' is {} after 3 failures across both functions",
        PAYMENTS.name(),
        PAYMENTS.state()
    );
    match refund(500) {
        Err(PaymentError::Unavailable(e)) => println!("refund(500)     -> rejected at once: {e}"),
        other => println!("refund(500)     -> {other:?}"),
    }
}
