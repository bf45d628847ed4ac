//! # breaker-runtime
//!
//! A circuit breaker for Rust with [pybreaker]'s semantics, a closed path that costs two
//! loads of one atomic word and no shared write, and a half-open state that nothing can
//! wedge.
//!
//! A service that keeps calling a dependency that is down exhausts its own threads,
//! connections and memory, and the failure cascades. A circuit breaker counts
//! consecutive failures, **opens** after `fail_max` of them and then rejects calls at
//! once; after `reset_timeout` it lets a single **probe** through: success closes it,
//! failure reopens it.
//!
//! ```
//! use std::time::Duration;
//! use breaker_runtime::{CircuitBreaker, ManualClock, State};
//!
//! type BoxError = Box<dyn std::error::Error + Send + Sync>;
//!
//! let clock = ManualClock::new();
//! let breaker = CircuitBreaker::builder("user-profile")
//!     .fail_max(3)
//!     .reset_timeout(Duration::from_secs(60))
//!     .clock(clock.clone())
//!     .build();
//!
//! let down = || -> Result<String, BoxError> { Err("503 Service Unavailable".into()) };
//!
//! // Three consecutive failures open it; each call returns its own error.
//! for _ in 0..3 {
//!     assert_eq!(breaker.call(down).unwrap_err().to_string(), "503 Service Unavailable");
//! }
//! assert_eq!(breaker.state(), State::Open);
//!
//! // While open, calls fail fast without running.
//! let err = breaker.call(down).unwrap_err();
//! assert_eq!(err.to_string(), "circuit breaker 'user-profile' is open; retry in 60s");
//!
//! // After reset_timeout, one probe goes through; its success closes the breaker.
//! clock.advance(Duration::from_secs(60));
//! assert_eq!(breaker.call(|| Ok::<_, BoxError>("ok".to_string())).unwrap(), "ok");
//! assert_eq!(breaker.state(), State::Closed);
//! ```
//!
//! ## Three ways to call
//!
//! - [`#[circuit_breaker]`](circuit_breaker) on a function: the usual way. Every call
//!   of the function goes through its own static breaker (or one you name), with the
//!   arguments checked at compile time.
//!
//!   ```
//!   use breaker_runtime::circuit_breaker;
//!
//!   #[circuit_breaker(fail_max = 5, reset_timeout = "30s")]
//!   fn fetch_profile(id: u64) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
//!       Ok(format!("profile {id}"))
//!   }
//!   # assert_eq!(fetch_profile(1).unwrap(), "profile 1");
//!   ```
//! - [`CircuitBreaker::call`] and [`CircuitBreaker::call_async`] wrap a closure or a
//!   future returning `Result<T, E>`; a rejection arrives as `E::from(CircuitBreakerError)`.
//! - [`CircuitBreaker::try_acquire`] returns a [`Permit`]; you run the call and give
//!   the permit its verdict ([`success`](Permit::success), [`failure`](Permit::failure)
//!   or [`ignore`](Permit::ignore)). This is how you classify outcomes yourself, e.g. to
//!   not count a 404 as the dependency failing. A permit dropped without a verdict
//!   counts as a failure while panicking and as neutral otherwise (a cancelled future),
//!   so no path leaves a half-open breaker stuck.
//!
//! ## Around the breaker
//!
//! - [`registry`]: every breaker by name, with its state and counters.
//! - [`Listener`]: hooks for admitted calls, outcomes, rejections and state changes, per
//!   breaker or [global](listener::add_global_listener).
//! - [`ManualClock`]: drive time in tests instead of sleeping.
//! - Feature `tokio`: `call_timeout` for the attribute. Feature `tokio-clock`: breakers
//!   that follow tokio's paused clock in tests.
//! - Feature `tracing`: a `tracing` event with a stable name on each state change (WARN
//!   when a breaker opens, INFO otherwise) and on each rejection (DEBUG), named by
//!   [`conventions`]. Feature `opentelemetry`: with `tracing-opentelemetry`'s layer, an
//!   opening is a span linked to the failing calls that caused it, a rejected call's span
//!   fails, and a fleet's transitions link across replicas. Feature `axum` (and `tonic`):
//!   a rejection answered across a service boundary (module `boundary`).
//!
//! ## Where services make their calls
//!
//! - [`keyed::Breakers`]: a breaker per host, endpoint or tenant, with bounded memory;
//!   the attribute's `per = host` keeps one per value of an argument.
//! - Feature `tower`: `tower::CircuitBreakerLayer` for hyper, axum and tonic stacks,
//!   classifying HTTP (`tower::ServerErrors`) and gRPC (`tower::GrpcErrors`) statuses.
//! - Feature `reqwest`: `reqwest::CircuitBreakerMiddleware`, a breaker per authority
//!   for `reqwest-middleware` clients.
//! - Feature `tonic`: `grpc::classify` for the attribute on a tonic client method.
//!
//! [pybreaker]: https://github.com/danielfm/pybreaker
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]

#[doc(hidden)]
pub mod __private;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod admin;
mod advice;
mod backoff;
#[cfg(any(
    feature = "tower",
    feature = "reqwest",
    feature = "tonic",
    feature = "axum"
))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(
        feature = "tower",
        feature = "reqwest",
        feature = "tonic",
        feature = "axum"
    )))
)]
pub mod boundary;
mod breaker;
mod builder;
mod call;
mod clock;
mod config;
pub mod conventions;
mod error;
mod events;
#[cfg(any(feature = "tower", feature = "tonic"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "tower", feature = "tonic"))))]
pub mod grpc;
pub mod keyed;
mod lanes;
pub mod listener;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
mod name;
mod outcome;
mod permit;
mod policy;
mod recent;
pub mod registry;
#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub mod reqwest;
#[cfg(any(feature = "tower", feature = "reqwest"))]
mod server_errors;
pub mod shared;
mod state;
mod sync;
#[cfg(feature = "tracing")]
mod telemetry;
pub mod throttle;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod tower;
mod traceparent;
mod window;

// The behaviour tests (`src/tests`) name the crate as a user does.
#[cfg(all(test, not(loom)))]
extern crate self as breaker_runtime;
#[cfg(all(test, not(loom)))]
mod tests;

pub use advice::{Advice, AdviceSource};
pub use breaker::{CircuitBreaker, ThisReplica};
#[doc = include_str!("attribute.md")]
pub use breaker_macros::circuit_breaker;
pub use builder::Builder;
pub use clock::{Clock, ManualClock, MonotonicClock};
pub use config::Config;
pub use error::{CircuitBreakerError, ConfigError, ErrorKind};
pub use listener::Listener;
pub use name::Name;
pub use outcome::Verdict;
pub use permit::{OwnedPermit, Permit};
pub use policy::{Backoff, IntoPercent, Percent, Policy, Window};
pub use state::State;
pub use window::WindowSnapshot;

/// The repository README's Rust examples, compiled and run as doctests so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
