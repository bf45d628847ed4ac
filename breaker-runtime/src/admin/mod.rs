//! Feature `axum`: see and operate the process's breakers over HTTP, as Resilience4j's
//! actuator endpoints and Hystrix's dashboard did, from one [`router`] you nest where
//! you like (on an internal listener; see [`Access`] for who may read and write).
//!
//! | request | answer |
//! |---|---|
//! | `GET /` | the dashboard page: a summary, the breakers a page at a time (filtered on the server as you type), their states followed live, buttons to force open, disable and close where writes are allowed |
//! | `GET /breakers` | a page of breakers as JSON, in name order: `{"breakers": [...], "next": "<cursor>" \| null}`, each as in [`registry::snapshot`], with its `phase` (and for a keyed set's breaker its `set` and `key`); see below for `limit`, `after` and the filters |
//! | `GET /breakers/{name}` | the breaker of that name, whatever the name (`events`, `summary`, `..`, a name with `/` percent-encoded as `%2F`); 404 with a JSON error for an unknown one |
//! | `POST /breakers/{name}/state` | `{"state": "closed" \| "open" \| "half_open" \| "forced_open" \| "disabled", "scope": "fleet" \| "replica"}` (`scope` optional): applies the transition and answers the breaker's JSON |
//! | `POST /state` | the same with the name in the body, `{"name": "...", "state": ...}`: for names a URL cannot carry as a path segment (`.` and `..`, which clients resolve away); the page writes this way |
//! | `GET /summary` | how many breakers are in each state, and per keyed set how many keys, without listing breakers |
//! | `GET /events` | Server-Sent Events: each transition as `{"name", "key", "from", "to", "reason", "origin", "time"}`, the latest 1,024 first, a keep-alive comment every 15 s; see below for ids and `resync` |
//!
//! **Pages.** `GET /breakers?limit=N&after=NAME` answers at most `limit` breakers (default
//! 500, at most 5,000) whose names come after the cursor `after`, in name order (by
//! bytes), and `next`, the cursor of the next page (`null` on the last): a breaker that
//! stays registered is on exactly one page of a walk, however many come and go
//! meanwhile. Filters, applied before paging: `state=open,half_open` (any of `closed`,
//! `open`, `half_open`, `forced_open`, `disabled`), `prefix=fetch[` (names that start
//! so), `set=fetch` (the keys of the keyed set `fetch`, named `fetch[<key>]`), and `name=`
//! (these names exactly; repeat it for several). A request's memory is its page's, not
//! the registry's, and the walk over the registry runs off the async workers, at most
//! one per core at a time, so a page of a hundred thousand breakers never holds up the
//! other requests of the service.
//!
//! A breaker's `phase` is `closed`, `open`, `half_open`, `forced_open` or `disabled`:
//! its state, or the sticky mode that holds it. A transition's `origin` is `call`,
//! `manual` or `fleet`; its `reason` the opening's (`consecutive_failures`,
//! `failure_rate`, ..., as in [`conventions::values`](crate::conventions::values)) or
//! `reset_timeout_elapsed`, `probe_succeeded`, `manual`, `fleet`.
//!
//! **The event stream** survives restarts. Event ids are `<incarnation>-<n>`, the
//! incarnation unique to each router made (so to each start of a process). A client
//! that reconnects with a `Last-Event-ID` of this router is sent the transitions it
//! missed, if they are still among the latest 1,024; with an id of another incarnation
//! (the process restarted), or one older than that, it is sent a `resync` event at once
//! and then the transitions as they come: read the breakers again (the page does). A
//! client that falls more than 1,024 transitions behind is sent `resync` too.
//!
//! **The fleet.** On a [shared](crate::shared) breaker a `POST` acts on every replica
//! (`"scope": "fleet"`, the default), as its manual transitions do; `"scope":
//! "replica"` acts on this process only (see
//! [`CircuitBreaker::this_replica`]). On an unshared breaker both are the same.
//!
//! **Writes** follow the [`Access`] given: none, a bearer token, or (said in so many
//! words) anyone; so do reads, open unless [`Access::require_for_reads`]. Refused writes
//! are 403 (read-only) or 401 (no token or a wrong one; never logged). A body must be
//! JSON (`Content-Type: application/json`, which a cross-site form cannot send without
//! the browser asking first): 415 otherwise, 413 above 4 KiB, and 400 with what is wrong
//! and what to write when it does not parse. Every answer says `X-Content-Type-Options:
//! nosniff`; the page also `X-Frame-Options: DENY` and a `Content-Security-Policy` that
//! allows no inline script and no framing, so its buttons cannot be clickjacked.
//!
//! Nest it with `nest_service`, so that `/admin` and `/admin/` both serve the page (axum's
//! `nest` routes `/admin` only):
//!
//! ```
//! use axum::Router;
//! use breaker_runtime::admin::{self, Access};
//!
//! let token = std::env::var("BREAKER_ADMIN_TOKEN").unwrap_or_else(|_| "from-the-secrets".into());
//! let internal: Router = Router::new().nest_service("/admin", admin::router(Access::bearer(token)));
//! // Then, on a listener only operators reach:
//! // axum::serve(tokio::net::TcpListener::bind("10.0.0.5:9090").await?, internal).await?;
//! ```
//!
//! `cargo run --example admin` runs a service with its dashboard; `cargo run --release
//! --example admin_load` measures the router under load at 100,000 breakers.

mod access;
pub(crate) mod feed;
mod lists;
mod page;
mod stream;

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tokio::sync::Semaphore;

pub use access::Access;
use access::Refusal;

use crate::registry::{self, BreakerInfo};
use crate::CircuitBreaker;

/// The largest request body a write takes.
const BODY_LIMIT: usize = 4096;

/// What every handler shares.
struct Admin {
    access: Access,
    /// This router's incarnation: the first part of its event ids.
    incarnation: String,
    /// Walks over the registry (pages, the summary) under way, at most one per two
    /// cores: the others wait their turn, off the async workers.
    walks: Semaphore,
}

/// The admin router, for any state of the router it is nested in. See the
/// [module](self) for its requests.
pub fn router<S>(access: Access) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    feed::feed();
    // Half the cores may walk the registry at once: the rest serve everything else.
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let admin = Arc::new(Admin {
        access,
        incarnation: stream::incarnation(),
        walks: Semaphore::new((cores / 2).max(1)),
    });
    Router::new()
        .route("/", get(page::html))
        .route("/page.js", get(page::script))
        .route("/page.css", get(page::style))
        .route("/breakers", get(lists::list))
        .route("/breakers/{name}", get(one))
        .route("/breakers/{name}/state", post(set_state))
        .route("/state", post(set_named_state))
        .route("/summary", get(lists::summary))
        .route("/events", get(stream::events))
        .fallback(not_found)
        .with_state(admin)
        .layer(axum::middleware::map_response(nosniff))
}

/// Every answer of the router: its type is what it says.
async fn nosniff(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no such request: GET /breakers, /breakers/{name}, /summary or /events; POST /breakers/{name}/state or /state",
    )
}

/// A breaker as the router shows it: its snapshot, its phase, and for a keyed set's
/// breaker its set and key.
#[derive(serde::Serialize)]
struct View<'a> {
    #[serde(flatten)]
    info: BreakerInfo,
    phase: &'static str,
    set: Option<&'a str>,
    key: Option<&'a str>,
}

impl<'a> View<'a> {
    fn of(breaker: &'a CircuitBreaker) -> Self {
        let (set, key) = crate::keyed::set_and_key(breaker).unzip();
        View {
            info: BreakerInfo::of(breaker),
            phase: breaker.word().phase().as_str(),
            set,
            key,
        }
    }
}

/// A breaker's JSON.
fn view(breaker: &CircuitBreaker) -> Response {
    json_bytes(serde_json::to_vec(&View::of(breaker)).unwrap_or_default())
}

/// JSON already written.
fn json_bytes(json: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], json).into_response()
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

fn unknown(name: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!("no breaker is named {name:?}: GET /breakers for their names"),
    )
}

/// The answer to a request `access` refused.
fn refused(refusal: Refusal, what: &str) -> Response {
    match refusal {
        Refusal::ReadOnly => error(
            StatusCode::FORBIDDEN,
            "this router is read-only (admin::Access::read_only())",
        ),
        Refusal::Unauthorized => (
            [(header::WWW_AUTHENTICATE, "Bearer")],
            error(
                StatusCode::UNAUTHORIZED,
                format!("{what} need the header `Authorization: Bearer <token>` with the router's token"),
            ),
        )
            .into_response(),
    }
}

/// The answer to a read `admin` refuses, if it does.
fn read_refused(admin: &Admin, headers: &HeaderMap) -> Option<Response> {
    admin
        .access
        .check_read(headers)
        .err()
        .map(|refusal| refused(refusal, "reads"))
}

async fn one(
    State(admin): State<Arc<Admin>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(refusal) = read_refused(&admin, &headers) {
        return refusal;
    }
    match registry::get(&name) {
        Some(breaker) => view(&breaker),
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

/// A write's body, with the breaker's name.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NamedChange {
    name: String,
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
const WRITE_NAMED: &str = r#"write {"name": "<breaker>", "state": "closed" | "open" | "half_open" | "forced_open" | "disabled"}, with "scope": "fleet" | "replica" if you need it"#;

async fn set_state(
    State(admin): State<Arc<Admin>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let change: Change = match write_body(&admin, &headers, body, WRITE_THIS).await {
        Ok(change) => change,
        Err(refusal) => return refusal,
    };
    match registry::get(&name) {
        Some(breaker) => {
            apply(&breaker, change.state, change.scope);
            view(&breaker)
        }
        None => unknown(&name),
    }
}

async fn set_named_state(
    State(admin): State<Arc<Admin>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let change: NamedChange = match write_body(&admin, &headers, body, WRITE_NAMED).await {
        Ok(change) => change,
        Err(refusal) => return refusal,
    };
    match registry::get(&change.name) {
        Some(breaker) => {
            apply(&breaker, change.state, change.scope);
            view(&breaker)
        }
        None => unknown(&change.name),
    }
}

/// A write's body, once the request may write and the body is JSON of the right shape;
/// otherwise the answer that says what is wrong (`write_this`: what to write instead).
async fn write_body<T: serde::de::DeserializeOwned>(
    admin: &Admin,
    headers: &HeaderMap,
    body: Body,
    write_this: &str,
) -> Result<T, Response> {
    admin
        .access
        .check(headers)
        .map_err(|refusal| refused(refusal, "writes"))?;
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("send the body as JSON, with `Content-Type: application/json`: {write_this}"),
        ));
    }
    let bytes: Bytes = axum::body::to_bytes(body, BODY_LIMIT).await.map_err(|_| {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is over {BODY_LIMIT} bytes: {write_this}"),
        )
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            format!("the body is not a state change ({e}): {write_this}"),
        )
    })
}

fn apply(breaker: &CircuitBreaker, state: Target, scope: Scope) {
    match scope {
        Scope::Fleet => match state {
            Target::Closed => breaker.close(),
            Target::Open => breaker.open(),
            Target::HalfOpen => breaker.half_open(),
            Target::ForcedOpen => breaker.force_open(),
            Target::Disabled => breaker.disable(),
        },
        Scope::Replica => {
            let replica = breaker.this_replica();
            match state {
                Target::Closed => replica.close(),
                Target::Open => replica.open(),
                Target::HalfOpen => replica.half_open(),
                Target::ForcedOpen => replica.force_open(),
                Target::Disabled => replica.disable(),
            }
        }
    }
}
