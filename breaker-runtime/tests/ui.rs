//! Compile errors that depend on the runtime's own features, so they are checked here,
//! where the runtime is built with exactly the features a test run names (the
//! workspace's `tests` crate turns most of them on). `cargo test -p breaker-runtime`
//! runs these with no feature. Regenerate goldens with `TRYBUILD=overwrite`.
#![cfg(not(loom))]

#[cfg(not(feature = "tokio"))]
#[test]
fn call_timeout_needs_the_tokio_feature() {
    trybuild::TestCases::new().compile_fail("tests/ui/call_timeout_without_tokio.rs");
}
