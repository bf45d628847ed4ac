//! An HTTP server on loopback for the tower and reqwest tests: `/status/{code}` answers
//! that status, `/hang` never answers (and says when a request reached it), `/refused`
//! answers as a service whose own breaker is open (`/refused-named` naming it),
//! `/advise/{code}/{retry_after}` answers that status with that `Retry-After`
//! (`/advise-dated/{code}/{date}/{retry_after}` with a `Date` too), and every
//! request that reaches the server is counted, so a test tells a rejection by the
//! breaker (which never leaves the client) from an answer.

// Each test file uses its own part of this module.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use tokio::sync::Notify;

#[derive(Clone, Default)]
struct Seen {
    hits: Arc<AtomicUsize>,
    hung: Arc<Notify>,
}

/// A server on 127.0.0.1, port chosen by the system, served by the test's runtime.
pub struct HttpServer {
    addr: SocketAddr,
    seen: Seen,
}

impl HttpServer {
    /// Binds and starts serving on the current tokio runtime.
    pub async fn start() -> HttpServer {
        let seen = Seen::default();
        let app = Router::new()
            .route("/status/{code}", get(status))
            .route("/hang", get(hang))
            .route("/refused", get(refused))
            .route("/refused-named", get(refused_named))
            .route("/advise/{code}/{retry_after}", get(advise))
            .route(
                "/advise-dated/{code}/{date}/{retry_after}",
                get(advise_dated),
            )
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        HttpServer { addr, seen }
    }

    /// `host:port`.
    pub fn authority(&self) -> String {
        self.addr.to_string()
    }

    /// `http://host:port{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Requests that reached the server.
    pub fn hits(&self) -> usize {
        self.seen.hits.load(Ordering::SeqCst)
    }

    /// Waits until a request to `/hang` has reached the server (no timer: the server
    /// says so).
    pub async fn hung(&self) {
        self.seen.hung.notified().await;
    }
}

async fn status(State(seen): State<Seen>, Path(code): Path<u16>) -> StatusCode {
    seen.hits.fetch_add(1, Ordering::SeqCst);
    StatusCode::from_u16(code).unwrap()
}

async fn hang(State(seen): State<Seen>) -> StatusCode {
    seen.hits.fetch_add(1, Ordering::SeqCst);
    // `notify_one` keeps a permit when no one waits yet, so the test may ask after.
    seen.hung.notify_one();
    std::future::pending().await
}

/// The rejection of this server's own breaker to its dependency, open for 30 s.
fn upstream_rejection() -> breaker_runtime::CircuitBreakerError {
    let breaker = breaker_runtime::CircuitBreaker::builder("loopback-upstream")
        .reset_timeout(std::time::Duration::from_secs(30))
        .unregistered()
        .build();
    breaker.open();
    breaker.try_acquire().unwrap_err()
}

async fn refused(
    State(seen): State<Seen>,
) -> Result<&'static str, breaker_runtime::CircuitBreakerError> {
    seen.hits.fetch_add(1, Ordering::SeqCst);
    Err(upstream_rejection())
}

async fn refused_named(
    State(seen): State<Seen>,
) -> Result<&'static str, breaker_runtime::boundary::Disclosed> {
    seen.hits.fetch_add(1, Ordering::SeqCst);
    Err(breaker_runtime::boundary::Disclosed(upstream_rejection()))
}

/// `code` with `Retry-After: retry_after`, as given (garbage included).
async fn advise(
    State(seen): State<Seen>,
    Path((code, retry_after)): Path<(u16, String)>,
) -> (StatusCode, [(axum::http::HeaderName, String); 1]) {
    seen.hits.fetch_add(1, Ordering::SeqCst);
    (
        StatusCode::from_u16(code).unwrap(),
        [(axum::http::header::RETRY_AFTER, retry_after)],
    )
}

/// `code` with `Date: date` and `Retry-After: retry_after`.
async fn advise_dated(
    State(seen): State<Seen>,
    Path((code, date, retry_after)): Path<(u16, String, String)>,
) -> (StatusCode, [(axum::http::HeaderName, String); 2]) {
    seen.hits.fetch_add(1, Ordering::SeqCst);
    (
        StatusCode::from_u16(code).unwrap(),
        [
            (axum::http::header::DATE, date),
            (axum::http::header::RETRY_AFTER, retry_after),
        ],
    )
}

/// `s` percent-encoded for a path segment.
pub fn segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}
