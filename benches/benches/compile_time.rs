//! What `#[circuit_breaker]` costs at compile time: a file of 200 annotated functions
//! against the same 200 functions without the attribute, each built in release in a
//! crate of its own. Part of `cargo bench -p breaker-benches`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const FUNCTIONS: usize = 200;
const RUNS: usize = 3;

fn source(annotated: bool) -> String {
    let mut src = String::from(
        "#![allow(dead_code)]\n\
         #[derive(Debug)]\npub struct E;\n\
         impl From<breaker_runtime::CircuitBreakerError> for E {\n    \
             fn from(_: breaker_runtime::CircuitBreakerError) -> Self { E }\n}\n",
    );
    for i in 0..FUNCTIONS {
        if annotated {
            let _ = writeln!(
                src,
                "#[breaker_runtime::circuit_breaker(fail_max = 3, reset_timeout = \"30s\")]"
            );
        }
        let _ = writeln!(
            src,
            "pub fn call_{i}(x: u64) -> Result<u64, E> {{ if x % {m} == 0 {{ Err(E) }} else {{ Ok(x + {i}) }} }}",
            m = i + 2
        );
    }
    src
}

fn write_crate(root: &Path, name: &str, annotated: bool, runtime: &Path) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(dir.join("src")).expect("create the crate");
    let manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
         [dependencies]\nbreaker-runtime = {{ path = {runtime:?} }}\n\n[workspace]\n"
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).expect("write Cargo.toml");
    std::fs::write(dir.join("src/lib.rs"), source(annotated)).expect("write lib.rs");
    // Pin the same dependency versions as the workspace, so nothing is resolved anew.
    let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock");
    if let Ok(lock) = std::fs::read(lock) {
        std::fs::write(dir.join("Cargo.lock"), lock).expect("write Cargo.lock");
    }
    dir
}

fn build(dir: &Path, target: &Path) -> Duration {
    let start = Instant::now();
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "--quiet"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .status()
        .expect("run cargo");
    assert!(status.success(), "building {} failed", dir.display());
    start.elapsed()
}

/// Median build time of the crate itself, its dependencies already built.
fn measure(dir: &Path, target: &Path) -> Duration {
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let lib = dir.join("src/lib.rs");
            let text = std::fs::read(&lib).expect("read lib.rs");
            std::fs::write(&lib, text).expect("touch lib.rs");
            build(dir, target)
        })
        .collect();
    times.sort();
    times[RUNS / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: then only check
    // that the sources generate.
    if !std::env::args().any(|a| a == "--bench") {
        assert!(source(true).matches("circuit_breaker").count() == FUNCTIONS);
        return;
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let root = workspace.join("target/compile-time-bench");
    let target = root.join("target");
    let runtime = workspace
        .join("breaker-runtime")
        .canonicalize()
        .expect("the runtime crate");
    let plain = write_crate(&root, "plain", false, &runtime);
    let annotated = write_crate(&root, "annotated", true, &runtime);
    // Build once each so that dependencies (syn, the macro, the runtime) are not timed.
    build(&plain, &target);
    build(&annotated, &target);
    let (p, a) = (measure(&plain, &target), measure(&annotated, &target));
    println!("compile time, release, {FUNCTIONS} functions, median of {RUNS}:");
    println!("  plain:              {:>8.2} s", p.as_secs_f64());
    println!("  #[circuit_breaker]: {:>8.2} s", a.as_secs_f64());
    println!(
        "  ratio:              {:>8.2}x",
        a.as_secs_f64() / p.as_secs_f64()
    );
}
