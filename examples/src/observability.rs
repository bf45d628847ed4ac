//! The service behind `cargo run --example observability`: a small axum app whose
//! handlers call a dependency through `#[circuit_breaker]`, and which shows its breakers
//! to operators at `/metrics` (Prometheus text) and `/breakers` (a JSON snapshot).
//!
//! It lives in the library so that the workspace's tests can start the same app on
//! loopback and check both endpoints.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use breaker_runtime::{circuit_breaker, registry, CircuitBreakerError};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use metrics_util::MetricKindMask;

/// The app's dependency: an inventory service that can be switched down.
#[derive(Default)]
pub struct Inventory {
    down: AtomicBool,
}

impl Inventory {
    /// Makes the inventory fail (true) or answer (false).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
}

/// What a stock lookup can fail with.
#[derive(Debug)]
pub enum StockError {
    /// The inventory service failed.
    Unavailable,
    /// The breaker refused the call.
    Rejected(CircuitBreakerError),
}

impl From<CircuitBreakerError> for StockError {
    fn from(e: CircuitBreakerError) -> Self {
        StockError::Rejected(e)
    }
}

/// The guarded call. A rejection's `tracing` event is emitted in the caller's current
/// span (here the `stock` request handler's), so a trace shows the request failed fast.
#[circuit_breaker(name = "inventory", fail_max = 3, reset_timeout = "30s")]
pub async fn stock_level(inventory: &Inventory, sku: &str) -> Result<u32, StockError> {
    if inventory.down.load(Ordering::SeqCst) {
        return Err(StockError::Unavailable);
    }
    Ok(sku.len() as u32 * 10)
}

/// Installs the process-wide Prometheus recorder once, and returns its handle.
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                // Forget a series nobody updated for 5 minutes: a breaker that is gone
                // (a keyed set evicted it). Live breakers are published every 500 ms.
                .idle_timeout(MetricKindMask::ALL, Some(Duration::from_secs(300)))
                .install_recorder()
                .expect("no other metrics recorder is installed")
        })
        .clone()
}

#[derive(Clone)]
struct App {
    inventory: Arc<Inventory>,
    prometheus: PrometheusHandle,
}

/// The routes: `GET /stock/{sku}`, `GET /metrics`, `GET /breakers`, and
/// `POST /inventory/down` / `POST /inventory/up` to stage an outage.
pub fn router(inventory: Arc<Inventory>) -> Router {
    let app = App {
        inventory,
        prometheus: prometheus(),
    };
    Router::new()
        .route("/stock/{sku}", get(stock))
        .route("/metrics", get(metrics))
        .route("/breakers", get(breakers))
        .route(
            "/inventory/down",
            post(|State(app): State<App>| async move { app.inventory.set_down(true) }),
        )
        .route(
            "/inventory/up",
            post(|State(app): State<App>| async move { app.inventory.set_down(false) }),
        )
        .with_state(app)
}

#[tracing::instrument(skip(app))]
async fn stock(State(app): State<App>, Path(sku): Path<String>) -> (StatusCode, String) {
    match stock_level(&app.inventory, &sku).await {
        Ok(n) => (StatusCode::OK, format!("{n}\n")),
        Err(StockError::Unavailable) => (StatusCode::BAD_GATEWAY, "inventory unavailable\n".into()),
        Err(StockError::Rejected(e)) => {
            let retry = e.retry_after().map_or(String::new(), |d| {
                format!(" (retry after {}s)", d.as_secs())
            });
            (StatusCode::SERVICE_UNAVAILABLE, format!("{e}{retry}\n"))
        }
    }
}

async fn metrics(State(app): State<App>) -> impl IntoResponse {
    // Hand the breakers' counts to the recorder, then render.
    breaker_runtime::metrics::publish();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.prometheus.render(),
    )
}

async fn breakers() -> impl IntoResponse {
    let body = serde_json::to_string_pretty(&registry::snapshot()).expect("a snapshot serializes");
    ([(header::CONTENT_TYPE, "application/json")], body)
}
