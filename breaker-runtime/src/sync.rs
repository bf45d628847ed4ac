//! The atomics the state machine is built on: `std`'s, or `loom`'s when the crate is
//! compiled with `--cfg loom`, so the loom model checks the very code users run.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::AtomicU64;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::AtomicU64;
