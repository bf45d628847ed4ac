//! Runnable examples of `breaker-runtime`; run one with `cargo run --example NAME` from the
//! repository root:
//!
//! - `user_auth`: the outage this crate exists for, with a real HTTP service;
//! - `sync_fn`: a plain blocking function, no async runtime;
//! - `shared_breaker`: several functions behind one breaker;
//! - `fallback`: answering from a cache while the dependency is down;
//! - `registry_control`: inspecting breakers and forcing one open for maintenance.
