//! An overload, simulated: an upstream of capacity C = 100 requests a second, a client
//! offering 0.5C to 4C for 300 virtual seconds, under no breaker, `fail_max = 5`,
//! `failure_rate = "50%"` and `throttle = "50%"` (see `breaker_examples::overload` for
//! the model). Prints a table per load (goodput as a share of C, what the upstream
//! received, what was refused locally, the successes' p99), and writes an SVG plot of
//! one scenario over time (0.5C, then 4C for three minutes, then 0.5C again).
//!
//! `cargo run --release --example overload [-- --svg PATH]` (default
//! `target/overload.svg`). Seeded: the same figures on every run.

use breaker_examples::overload::{plot, render, table};

fn main() {
    let mut args = std::env::args().skip(1);
    let mut svg = std::path::PathBuf::from("target/overload.svg");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--svg" => svg = args.next().expect("--svg PATH").into(),
            other => panic!("unknown argument {other:?}: --svg PATH"),
        }
    }
    print!("{}", render(&table()));
    if let Some(dir) = svg.parent() {
        std::fs::create_dir_all(dir).expect("the plot's directory");
    }
    plot(&svg).expect("the plot");
    println!("plot: {}", svg.display());
}
