//! Runnable examples of `breaker-runtime`; run one with `cargo run --example NAME` from the
//! repository root:
//!
//! - `user_auth`: the outage this crate exists for, with a real HTTP service;
//! - `sync_fn`: a plain blocking function, no async runtime;
//! - `shared_breaker`: several functions behind one breaker;
//! - `fallback`: answering from a cache while the dependency is down;
//! - `registry_control`: inspecting breakers and forcing one open for maintenance;
//! - `observability`: an axum service exposing `/metrics` and `/breakers`;
//! - `fleet`: three replicas sharing one breaker through Redis;
//! - `fleet_scale`: the Redis load, propagation times and memory of fleets of 2 and 10
//!   replicas × 100 to 10,000 shared breakers (`--release`);
//! - `tower_client`: the tower layer on a hyper client, reading HTTP statuses;
//! - `per_host`: a reqwest client with a breaker per host, one host down;
//! - `traced_services`: a chain of services traced with OpenTelemetry, its breakers
//!   listening to each other's advice, and the traces printed as trees;
//! - `overload`: a seeded simulation of an overloaded upstream under no breaker, two
//!   trip rules and the throttle, with a table and an SVG plot (`--release`).

pub mod observability;
pub mod overload;
pub mod own_redis;
pub mod timeline;
pub mod traced_services;
pub mod user_profile;

/// Serves `app` on `listener` until the process ends (for tests that start an example's
/// service without depending on axum themselves).
pub async fn serve(listener: tokio::net::TcpListener, app: axum::Router) {
    axum::serve(listener, app).await.expect("serve");
}
