//! The state machine's behaviour through the public API, kept in the runtime crate so
//! that its own test binary pins it: `cargo mutants` builds only this crate for each
//! mutant of the core (`.cargo/mutants.toml`), in seconds, where the workspace's
//! integration tests would take minutes.

pub(crate) mod support;

mod listening;
mod model;
mod policies;
mod policy_model;
mod semantics;
mod throttle;
