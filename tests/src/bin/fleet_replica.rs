//! One replica of a fleet, as its own OS process, for the multi-process fleet test:
//! `fleet_replica <redis-url> <namespace>`. It reads commands on stdin, one per line,
//! and answers each with one line on stdout:
//!
//! - `fail`: a call whose body fails; answers `ran` or `rejected`;
//! - `ok`: a call whose body succeeds; answers `ran` or `rejected`;
//! - `state`: the breaker's state (`closed`, `open`, `half-open`);
//! - `healthy`: `yes` or `no`, whether the backend reaches Redis.

use std::io::{BufRead, Write};
use std::time::Duration;

use breaker_runtime::shared::RedisBackend;
use breaker_runtime::CircuitBreaker;
use breaker_tests::TestError;

fn main() {
    let mut args = std::env::args().skip(1);
    let (url, namespace) = (
        args.next().expect("a Redis URL"),
        args.next().expect("a namespace"),
    );
    let backend = RedisBackend::builder(url)
        .namespace(namespace)
        .build()
        .expect("a valid URL");
    let breaker = CircuitBreaker::builder("multi-process")
        .fail_max(3)
        .reset_timeout(Duration::from_millis(300))
        .shared(&backend)
        .build();
    let stdout = std::io::stdout();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let answer = match line.trim() {
            "fail" | "ok" => {
                let fails = line.trim() == "fail";
                let mut ran = false;
                let _ = breaker.call(|| {
                    ran = true;
                    if fails {
                        Err(TestError::Down)
                    } else {
                        Ok(())
                    }
                });
                if ran { "ran" } else { "rejected" }.to_string()
            }
            "state" => breaker.state().to_string(),
            "healthy" => if backend.is_healthy() { "yes" } else { "no" }.to_string(),
            other => format!("unknown command {other}"),
        };
        let mut out = stdout.lock();
        let _ = writeln!(out, "{answer}");
        let _ = out.flush();
    }
}
