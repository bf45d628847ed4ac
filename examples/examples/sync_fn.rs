//! A plain blocking function under a breaker: no async runtime anywhere.
//!
//! `cargo run --example sync_fn`

use std::cell::Cell;
use std::time::Duration;

use breaker_runtime::{circuit_breaker, registry};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

thread_local! {
    /// Whether the "database" answers: the switch this example flips.
    static DATABASE_UP: Cell<bool> = const { Cell::new(true) };
}

/// Reads a row; `Box<dyn Error>` already converts from a rejection, so nothing else is
/// needed for the breaker to return its own error.
#[circuit_breaker(fail_max = 3, reset_timeout = "200ms", name = "database")]
fn read_row(id: u32) -> Result<String, BoxError> {
    if DATABASE_UP.with(Cell::get) {
        Ok(format!("row {id}"))
    } else {
        Err("connection refused".into())
    }
}

fn show(id: u32) {
    let state = registry::get("database")
        .map(|b| b.state().to_string())
        .unwrap_or_else(|| "new".into());
    match read_row(id) {
        Ok(row) => println!("[{state:>9}] read_row({id}) = {row}"),
        Err(e) => println!("[{state:>9}] read_row({id}) failed: {e}"),
    }
}

fn main() {
    show(1);
    DATABASE_UP.with(|up| up.set(false));
    for id in 2..=6 {
        show(id);
    }
    DATABASE_UP.with(|up| up.set(true));
    println!("... the database is back; waiting for reset_timeout (200ms)");
    std::thread::sleep(Duration::from_millis(250));
    for id in 7..=8 {
        show(id);
    }
    let breaker = registry::get("database").expect("registered from program start");
    println!(
        "final state: {}, failures counted: {}",
        breaker.state(),
        breaker.fail_counter()
    );
}
