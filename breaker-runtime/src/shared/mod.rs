//! Fleet-wide breakers: the replicas of a service share one verdict per breaker through
//! Redis (feature `redis`), so they open together, send one probe for the whole fleet,
//! and close together, while every call stays local.
//!
//! ```no_run
//! # #[cfg(feature = "redis")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use breaker_runtime::shared::{self, RedisBackend};
//! use breaker_runtime::CircuitBreaker;
//!
//! // Parses and validates; no I/O, so it succeeds while Redis is down.
//! let backend = RedisBackend::builder("redis://127.0.0.1:6379")
//!     .namespace("checkout")
//!     .build()?;
//!
//! // A breaker built by hand joins the fleet breaker of the same name...
//! let payments = CircuitBreaker::builder("payments").shared(&backend).build();
//!
//! // ...and `#[circuit_breaker(shared)]` functions join through the installed backend.
//! shared::install(backend)?;
//! # let _ = payments;
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "redis"))]
//! # fn main() {}
//! ```
//!
//! # How it works
//!
//! - **The call path stays local.** A call, closed or open, never waits on Redis: each
//!   replica's breaker is the same lock-free local breaker as an unshared one, and
//!   everything fleet-wide runs on one background thread per backend.
//! - **Consecutive failures are counted per replica**, exactly as pybreaker counts them.
//!   A fleet-wide "consecutive" count would need a write to Redis on every success (or a
//!   lock on every call, as gobreaker's distributed breaker takes): the closed path
//!   would be a network round trip. Instead, when a replica trips on its own evidence it
//!   casts a vote; the fleet opens when `quorum` distinct replicas (default 1) have voted
//!   within `reset_timeout`, and then every replica rejects.
//! - **One probe for the whole fleet**, granted by Redis under a lease; its success
//!   closes every replica, its failure reopens the fleet. Every write is fenced by the
//!   fleet's generation and the lease's token, so a late result changes nothing.
//! - **Time comes from Redis** (`TIME` inside its scripts); only durations cross the
//!   wire, never a replica's clock.
//! - **Redis down, slow or flushed**: no caller waits, nothing panics, no error reaches
//!   a caller; every replica carries on as a local breaker (a fleet-held open probes on
//!   its own clock when its time comes) and converges again when Redis returns.

#[cfg(feature = "redis")]
mod connection;
#[cfg(feature = "redis")]
mod layout;
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
mod link;
#[cfg(test)]
mod memory;
#[cfg(feature = "redis")]
mod redis;
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
mod replica;
#[cfg(feature = "redis")]
mod scripts;
#[cfg(all(test, not(loom)))]
mod simulation;
#[cfg(feature = "redis")]
mod target;
#[cfg(feature = "redis")]
mod task;
mod verdicts;

pub(crate) use link::Link;

use std::num::NonZeroU32;

use crate::State;

/// A shared breaker's place in the fleet, in a [`snapshot`](crate::registry::snapshot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FleetInfo {
    /// The fleet's state as this replica last heard it (`None` before it heard any).
    pub fleet_state: Option<State>,
    /// Whether this replica reaches the fleet.
    pub backend: BackendHealth,
}

/// Whether a shared breaker reaches its fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackendHealth {
    /// Its last exchange with the backend succeeded.
    Healthy,
    /// The backend cannot be reached: the breaker runs as a local one meanwhile.
    Degraded,
    /// It asked to be shared, but no backend was installed when it was built: it runs as
    /// a local breaker.
    NotInstalled,
}

impl BackendHealth {
    /// `healthy`, `degraded` or `not installed`.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendHealth::Healthy => "healthy",
            BackendHealth::Degraded => "degraded",
            BackendHealth::NotInstalled => "not installed",
        }
    }
}

impl FleetInfo {
    pub(crate) fn of(link: Option<&Link>) -> FleetInfo {
        match link {
            Some(link) => FleetInfo {
                fleet_state: link.fleet_state(),
                backend: if link.healthy() {
                    BackendHealth::Healthy
                } else {
                    BackendHealth::Degraded
                },
            },
            None => FleetInfo {
                fleet_state: None,
                backend: BackendHealth::NotInstalled,
            },
        }
    }
}
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::{install, InstallError, RedisBackend, RedisBackendBuilder, RedisBackendError};

/// How a breaker being built asked to join the fleet.
pub(crate) enum Sharing {
    /// Through this backend.
    #[cfg(feature = "redis")]
    With(RedisBackend),
    /// Through the backend [`install`]ed for the process (the attribute's `shared`).
    Installed,
}

/// A breaker's fleet membership as its builder asked for it: the quorum, and which
/// backend (an id per [`RedisBackend`] built in the process; for
/// [`shared_installed`](crate::Builder::shared_installed), the installed backend's, or 0
/// while none is). Two builds of one name must agree on it to share a breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Membership {
    pub(crate) quorum: NonZeroU32,
    backend: u32,
}

impl Sharing {
    /// The membership of a breaker that asks to share this way with `quorum` (at least
    /// 1: the builder refuses 0 first).
    pub(crate) fn membership(&self, quorum: NonZeroU32) -> Membership {
        let backend = match self {
            #[cfg(feature = "redis")]
            Sharing::With(backend) => backend.id(),
            #[cfg(feature = "redis")]
            Sharing::Installed => redis::installed_id(),
            #[cfg(not(feature = "redis"))]
            Sharing::Installed => 0,
        };
        Membership { quorum, backend }
    }
}

/// `breaker`, just built, joins the fleet as `sharing` asks: now, through a given or an
/// installed backend; or, with none installed yet, when one is (it runs locally until
/// then, and says so once).
#[cfg(feature = "redis")]
pub(crate) fn join(sharing: Sharing, breaker: &crate::CircuitBreaker, quorum: u32) {
    let backend = match sharing {
        Sharing::With(backend) => backend,
        Sharing::Installed => match redis::installed_or_wait(breaker, quorum) {
            Some(backend) => backend,
            None => return warn_not_installed(breaker.name()),
        },
    };
    backend.join(breaker, quorum);
}

#[cfg(not(feature = "redis"))]
pub(crate) fn join(sharing: Sharing, breaker: &crate::CircuitBreaker, _quorum: u32) {
    let Sharing::Installed = sharing;
    warn_not_installed(breaker.name());
}

/// Once per process: a shared breaker was built with no backend to share through.
fn warn_not_installed(_name: &str) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        #[cfg(feature = "tracing")]
        tracing::warn!(
            breaker = _name,
            "a shared circuit breaker has no fleet backend (enable the `redis` feature and call `breaker_runtime::shared::install`): it runs as a local breaker"
        );
    });
}
