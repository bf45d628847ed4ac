//! Replicas of a fleet in one process: each with a backend of its own, as each process
//! of a service would have.

use std::time::Duration;

use breaker_runtime::shared::RedisBackend;
use breaker_runtime::{Builder, CircuitBreaker};

use crate::poll_until;
use crate::redis_server::RedisServer;

/// One replica: a backend of its own, and its breaker for the fleet breaker of its name.
pub struct Replica {
    /// Its connection to the fleet.
    pub backend: RedisBackend,
    /// Its breaker.
    pub breaker: CircuitBreaker,
}

/// One replica reaching Redis at `url`, its breaker called `name` and configured by
/// `configure`; it connects in the background.
pub fn replica(
    url: &str,
    namespace: &str,
    name: &'static str,
    configure: impl FnOnce(Builder) -> Builder,
) -> Replica {
    let backend = RedisBackend::builder(url)
        .namespace(namespace)
        .build()
        .expect("no I/O at build: fine whatever the server");
    let breaker = configure(CircuitBreaker::builder(name))
        .shared(&backend)
        .unregistered()
        .build();
    Replica { backend, breaker }
}

/// Waits until every replica has reached Redis.
pub fn connected(fleet: &[Replica]) {
    poll_until(Duration::from_secs(10), || {
        fleet.iter().all(|r| r.backend.is_healthy())
    })
    .expect("every replica reached Redis");
}

/// The Redis key of the fleet record of `name` in `namespace` (as the backend lays it out).
pub fn record_key(namespace: &str, name: &str) -> String {
    RedisBackend::builder("redis://127.0.0.1:6379")
        .namespace(namespace)
        .build()
        .expect("a valid namespace")
        .record_key(name)
}

/// The event channel of `name` in `namespace`.
pub fn channel(namespace: &str, name: &str) -> String {
    RedisBackend::builder("redis://127.0.0.1:6379")
        .namespace(namespace)
        .build()
        .expect("a valid namespace")
        .channel(name)
}

/// The version counter of the bucket of `name` in `namespace`, bumped by every fleet
/// transition of its breakers (the README's "Running a fleet").
pub fn version_key(namespace: &str, name: &str) -> String {
    let record = record_key(namespace, name);
    let (bucket, _) = record
        .split_once(":r:")
        .expect("records are brk:v2:{<namespace>:<bucket>}:r:<name>");
    format!("{bucket}:v")
}

/// Writes `name`'s record in `namespace` as another writer would: open for the fleet
/// until far in the future, at generation `gen`, with `trace` (the scripts' hash
/// layout; no event is published and no version bumped).
pub fn write_open_record(server: &RedisServer, namespace: &str, name: &str, gen: u64, trace: &str) {
    let gen = gen.to_string();
    server.command(&[
        "HSET",
        &record_key(namespace, name),
        "epoch",
        "1",
        "gen",
        &gen,
        "state",
        "open",
        "open_until",
        "99999999999999",
        "probe",
        "",
        "probe_until",
        "0",
        "probe_ok",
        "0",
        "cause",
        "auto",
        "trace",
        trace,
    ]);
}
