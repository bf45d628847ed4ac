//! `UserProfile`, the dependency of the `user_auth` example: a real HTTP service on
//! loopback, with a switch that makes it healthy, failing (503) or slow (2 s per answer).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;

/// How the service behaves.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum Health {
    /// Answers at once: users 1, 2 and 3 exist, any other id is a 404.
    Healthy = 0,
    /// Answers every request with 503.
    Failing = 1,
    /// Answers as when healthy, two seconds late.
    Slow = 2,
}

/// The running service.
pub struct UserProfile {
    health: AtomicU8,
    hits: AtomicU64,
}

impl UserProfile {
    /// Starts the service on a loopback port of its own: `GET /users/{id}`.
    pub async fn start() -> (SocketAddr, Arc<UserProfile>) {
        let service = Arc::new(UserProfile {
            health: AtomicU8::new(Health::Healthy as u8),
            hits: AtomicU64::new(0),
        });
        let app = Router::new()
            .route("/users/{id}", get(profile))
            .with_state(service.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("a local address");
        tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("the UserProfile server")
        });
        (addr, service)
    }

    /// Switches how the service behaves from now on.
    pub fn set(&self, health: Health) {
        self.health.store(health as u8, Ordering::SeqCst);
    }

    /// Requests that reached the service so far: what a breaker saves it from.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn profile(
    State(service): State<Arc<UserProfile>>,
    Path(id): Path<u64>,
) -> (StatusCode, String) {
    service.hits.fetch_add(1, Ordering::SeqCst);
    match service.health.load(Ordering::SeqCst) {
        1 => return (StatusCode::SERVICE_UNAVAILABLE, "overloaded".into()),
        2 => tokio::time::sleep(Duration::from_secs(2)).await,
        _ => {}
    }
    match id {
        1 => (StatusCode::OK, "alice".into()),
        2 => (StatusCode::OK, "bob".into()),
        3 => (StatusCode::OK, "carol".into()),
        _ => (StatusCode::NOT_FOUND, format!("no user {id}")),
    }
}
