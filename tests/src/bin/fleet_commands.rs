//! Counts the Redis commands one outage cycle costs a fleet: `cargo run -p breaker-tests
//! --bin fleet_commands` starts a `redis-server`, runs three replicas through healthy
//! traffic, an outage (one replica trips, all reject), a failed probe, a successful one,
//! and healthy traffic again, then prints `INFO commandstats`. BENCHMARKS.md quotes it.

use std::time::Duration;

use breaker_runtime::State;
use breaker_tests::fleet::{connected, replica, Replica};
use breaker_tests::redis_server::RedisServer;
use breaker_tests::{poll_until, TestError};

fn main() {
    let server = RedisServer::start().expect("redis-server is installed");
    let fleet: Vec<Replica> = (0..3)
        .map(|_| {
            replica(&server.url(), "commands", "commands", |b| {
                b.fail_max(5).reset_timeout(Duration::from_millis(300))
            })
        })
        .collect();
    connected(&fleet);
    server.command(&["CONFIG", "RESETSTAT"]);
    let calls = |ok: bool, n: usize| {
        for _ in 0..n {
            for r in &fleet {
                let _ = r
                    .breaker
                    .call(|| if ok { Ok(()) } else { Err(TestError::Down) });
            }
        }
    };
    calls(true, 1_000); // 3,000 healthy calls
    calls(false, 5); // replica 0 trips at its fifth failure (others too, or they follow)
    poll_until(Duration::from_secs(5), || {
        fleet.iter().all(|r| r.breaker.state() == State::Open)
    })
    .expect("open");
    calls(false, 1_000); // rejections, then one failed probe when the time comes
    poll_until(Duration::from_secs(5), || {
        calls(false, 1);
        fleet.iter().all(|r| r.breaker.state() == State::Open)
            && server.command(&[
                "HGET",
                &breaker_tests::fleet::record_key("commands", "commands"),
                "gen",
            ]) == "2"
    })
    .expect("a failed probe reopens the fleet");
    poll_until(Duration::from_secs(5), || {
        calls(true, 1);
        fleet.iter().all(|r| r.breaker.state() == State::Closed)
    })
    .expect("a successful probe closes it");
    calls(true, 1_000);
    let stats = server.command(&["INFO", "commandstats"]);
    for line in stats.split("\r\n").filter(|l| l.starts_with("cmdstat_")) {
        println!("{line}");
    }
}
