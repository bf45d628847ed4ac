//! Operating breakers by name: list them with their state (a health endpoint would), force
//! one open for a maintenance window, and close it again.
//!
//! `cargo run --example registry_control`

use breaker_runtime::{circuit_breaker, registry, CircuitBreakerError};

#[derive(Debug)]
enum InventoryError {
    Unavailable(CircuitBreakerError),
}

impl From<CircuitBreakerError> for InventoryError {
    fn from(e: CircuitBreakerError) -> Self {
        InventoryError::Unavailable(e)
    }
}

#[circuit_breaker(name = "inventory", fail_max = 3, reset_timeout = "10m")]
fn stock_level(sku: &str) -> Result<u32, InventoryError> {
    Ok(sku.len() as u32 * 10)
}

#[circuit_breaker(name = "pricing")]
fn price(sku: &str) -> Result<u32, Box<dyn std::error::Error + Send + Sync>> {
    Ok(sku.len() as u32 * 100)
}

/// The registry's own table: what a health page or a log line would show.
fn print_breakers() {
    print!("{}", registry::snapshot());
}

fn main() {
    // Breakers of annotated functions are listed from program start, before any call.
    println!("all breakers:");
    print_breakers();

    println!("\nmaintenance on the inventory service: force its breaker open");
    registry::get("inventory").expect("registered").force_open();
    match stock_level("apple") {
        Err(InventoryError::Unavailable(e)) => println!("  stock_level(\"apple\") -> {e}"),
        other => println!("  stock_level(\"apple\") -> {other:?}"),
    }
    print_breakers();

    println!(
        "  price(\"apple\") -> {:?} (another dependency, unaffected)",
        price("apple")
    );

    println!("\nmaintenance over: close it");
    registry::get("inventory").expect("registered").close();
    println!("  stock_level(\"apple\") -> {:?}", stock_level("apple"));
    print_breakers();
}
