//! Feature `axum`: see and operate the process's breakers over HTTP, as Resilience4j's
//! actuator endpoints and Hystrix's dashboard did, from one [`router`] you nest where
//! you like (on an internal listener: reading needs no credentials).
//!
//! | request | answer |
//! |---|---|
//! | `GET /` | the dashboard page: every breaker's state, counts and recent transitions, live; buttons to force open, disable and close where writes are allowed |
//! | `GET /breakers` | every registered breaker as JSON: `{"breakers": [...]}`, each as in [`registry::snapshot`], with its `phase` |
//! | `GET /breakers/{name}` | one breaker (percent-encode the name: `fetch%5Bapi.example.com%5D` for `fetch[api.example.com]`); 404 with a JSON error for an unknown one |
//! | `POST /breakers/{name}/state` | `{"state": "closed" \| "open" \| "half_open" \| "forced_open" \| "disabled", "scope": "fleet" \| "replica"}` (`scope` optional): applies the transition and answers the breaker's JSON |
//! | `GET /breakers/events` | Server-Sent Events: each transition as `{"name", "key", "from", "to", "reason", "origin", "time"}`, the latest 1,024 first, a keep-alive comment every 15 s |
//!
//! A breaker's `phase` is `closed`, `open`, `half_open`, `forced_open` or `disabled`:
//! its state, or the sticky mode that holds it. A transition's `origin` is `call`,
//! `manual` or `fleet`; its `reason` the opening's (`consecutive_failures`,
//! `failure_rate`, ..., as in [`conventions::values`](crate::conventions::values)) or
//! `reset_timeout_elapsed`, `probe_succeeded`, `manual`, `fleet`.
//!
//! **The fleet.** On a [shared](crate::shared) breaker a `POST` acts on every replica
//! (`"scope": "fleet"`, the default), as its manual transitions do; `"scope":
//! "replica"` acts on this process only (see
//! [`CircuitBreaker::this_replica`]). On an unshared breaker both are the same.
//!
//! **Writes** follow the [`Access`] given: none, a bearer token, or (said in so many
//! words) anyone. Refused writes are 403 (read-only) or 401 (no token or a wrong one;
//! never logged). A body must be JSON (`Content-Type: application/json`, which a
//! cross-site form cannot send without the browser asking first): 415 otherwise, 413
//! above 4 KiB, and 400 with what is wrong and what to write when it does not parse.
//!
//! ```
//! use axum::Router;
//! use breaker_runtime::admin::{self, Access};
//!
//! let token = std::env::var("BREAKER_ADMIN_TOKEN").unwrap_or_else(|_| "from-the-secrets".into());
//! let internal: Router = Router::new().nest("/admin", admin::router(Access::bearer(token)));
//! // Then, on a listener only operators reach:
//! // axum::serve(tokio::net::TcpListener::bind("10.0.0.5:9090").await?, internal).await?;
//! ```
//!
//! `cargo run --example admin` runs a service with its dashboard.

mod access;
pub(crate) mod feed;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::stream::{self, Stream, StreamExt};
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;

pub use access::Access;
use access::Refusal;

use crate::registry::{self, BreakerInfo};
use crate::CircuitBreaker;

/// The largest request body a write takes.
const BODY_LIMIT: usize = 4096;
/// How often the event stream says it is alive when nothing happens.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

const PAGE: &str = include_str!("page.html");

/// What every handler shares.
struct Admin {
    access: Access,
    page: String,
}

/// The admin router, for any state of the router it is nested in. See the
/// [module](self) for its requests.
pub fn router<S>(access: Access) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    feed::feed();
    let page = PAGE.replace("{{writes}}", access.mode());
    let admin = Arc::new(Admin { access, page });
    Router::new()
        .route("/", get(dashboard))
        .route("/breakers", get(list))
        .route("/breakers/events", get(events))
        .route("/breakers/{name}", get(one))
        .route("/breakers/{name}/state", post(set_state))
        .with_state(admin)
}

async fn dashboard(State(admin): State<Arc<Admin>>) -> Response {
    (
        [(header::CACHE_CONTROL, "no-store")],
        Html(admin.page.clone()),
    )
        .into_response()
}

/// A breaker's JSON: its snapshot and its phase.
fn view(breaker: &CircuitBreaker) -> Value {
    let mut value = serde_json::to_value(BreakerInfo::of(breaker)).unwrap_or(Value::Null);
    if let Value::Object(fields) = &mut value {
        fields.insert("phase".into(), breaker.word().phase().as_str().into());
    }
    value
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

fn unknown(name: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!("no breaker is named {name:?}: GET the list of breakers for their names"),
    )
}

async fn list() -> Json<Value> {
    let breakers: Vec<Value> = registry::all().iter().map(view).collect();
    Json(json!({ "breakers": breakers }))
}

async fn one(Path(name): Path<String>) -> Response {
    match registry::get(&name) {
        Some(breaker) => Json(view(&breaker)).into_response(),
        None => unknown(&name),
    }
}

/// A write's body.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Change {
    state: Target,
    #[serde(default)]
    scope: Scope,
}

#[derive(serde::Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum Target {
    Closed,
    Open,
    HalfOpen,
    ForcedOpen,
    Disabled,
}

#[derive(serde::Deserialize, Clone, Copy, Default)]
#[serde(rename_all = "snake_case")]
enum Scope {
    #[default]
    Fleet,
    Replica,
}

const WRITE_THIS: &str = r#"write {"state": "closed" | "open" | "half_open" | "forced_open" | "disabled"}, with "scope": "fleet" | "replica" if you need it"#;

async fn set_state(
    State(admin): State<Arc<Admin>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match admin.access.check(&headers) {
        Ok(()) => {}
        Err(Refusal::ReadOnly) => {
            return error(
                StatusCode::FORBIDDEN,
                "this router is read-only (admin::Access::read_only())",
            )
        }
        Err(Refusal::Unauthorized) => return (
            [(header::WWW_AUTHENTICATE, "Bearer")],
            error(
                StatusCode::UNAUTHORIZED,
                "writes need the header `Authorization: Bearer <token>` with the router's token",
            ),
        )
            .into_response(),
    }
    let Some(breaker) = registry::get(&name) else {
        return unknown(&name);
    };
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("send the body as JSON, with `Content-Type: application/json`: {WRITE_THIS}"),
        );
    }
    let bytes: Bytes = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is over {BODY_LIMIT} bytes: {WRITE_THIS}"),
            )
        }
    };
    let change: Change = match serde_json::from_slice(&bytes) {
        Ok(change) => change,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("the body is not a state change ({e}): {WRITE_THIS}"),
            )
        }
    };
    apply(&breaker, change);
    Json(view(&breaker)).into_response()
}

fn apply(breaker: &CircuitBreaker, change: Change) {
    match change.scope {
        Scope::Fleet => match change.state {
            Target::Closed => breaker.close(),
            Target::Open => breaker.open(),
            Target::HalfOpen => breaker.half_open(),
            Target::ForcedOpen => breaker.force_open(),
            Target::Disabled => breaker.disable(),
        },
        Scope::Replica => {
            let replica = breaker.this_replica();
            match change.state {
                Target::Closed => replica.close(),
                Target::Open => replica.open(),
                Target::HalfOpen => replica.half_open(),
                Target::ForcedOpen => replica.force_open(),
                Target::Disabled => replica.disable(),
            }
        }
    }
}

/// The stream: the transitions kept since the client's `Last-Event-ID` (all of them on
/// a first connection), then each as it happens. A client that fell more than 1,024
/// transitions behind is sent a `resync` event: read the list again.
async fn events(headers: HeaderMap) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let (receiver, backlog) = feed::feed().subscribe(after);
    let sent = backlog.last().map_or(after, |t| t.id);
    let live = stream::unfold((receiver, sent), |(mut receiver, sent)| async move {
        loop {
            match receiver.recv().await {
                Ok(t) if t.id <= sent => continue,
                Ok(t) => {
                    let id = t.id;
                    return Some((transition(&t), (receiver, id)));
                }
                Err(RecvError::Lagged(_)) => {
                    let resync = Event::default().event("resync").data("{}");
                    return Some((resync, (receiver, sent)));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    });
    let stream = stream::iter(backlog.iter().map(|t| transition(t)).collect::<Vec<_>>())
        .chain(live)
        .map(Ok);
    Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}

fn transition(t: &feed::Transition) -> Event {
    Event::default()
        .event("transition")
        .id(t.id.to_string())
        .data(t.json())
}
