//! `GET /breakers` (a page, filtered) and `GET /summary` (counts): the two requests that
//! walk the registry. Each walk runs on a blocking thread, at most one per core at a
//! time, and keeps only what it answers.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::{error, json_bytes, read_refused, Admin, View};
use crate::registry;
use crate::state::Phase;
use crate::CircuitBreaker;

/// Breakers in a page when the request does not say.
const DEFAULT_LIMIT: usize = 500;
/// The most breakers in a page.
const MAX_LIMIT: usize = 5_000;

/// A page request, parsed.
struct Query {
    limit: usize,
    after: Option<String>,
    /// Phases to keep (`None`: any).
    states: Option<Vec<Phase>>,
    prefix: Option<String>,
    set: Option<String>,
    /// Exact names (`name=`, repeated).
    names: Vec<String>,
}

const ASK_THIS: &str = "ask for `/breakers?limit=500&after=<the last name of the previous page>`, \
     with filters `state=open,half_open`, `prefix=<text>`, `set=<keyed set>` or `name=<breaker>`";

impl Query {
    fn parse(query: Option<&str>) -> Result<Query, String> {
        let mut parsed = Query {
            limit: DEFAULT_LIMIT,
            after: None,
            states: None,
            prefix: None,
            set: None,
            names: Vec::new(),
        };
        for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match &*key {
                "limit" => {
                    parsed.limit = value
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| {
                            format!("limit must be a number from 1 to {MAX_LIMIT}, not {value:?}")
                        })?;
                }
                "after" => parsed.after = Some(value.into_owned()),
                "state" => {
                    let states = value
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(|s| {
                            Phase::ALL
                                .into_iter()
                                .find(|phase| phase.as_str() == s)
                                .ok_or_else(|| {
                                    format!(
                                        "state {s:?} is none of closed, open, half_open, forced_open, disabled"
                                    )
                                })
                        })
                        .collect::<Result<Vec<Phase>, String>>()?;
                    parsed.states.get_or_insert_with(Vec::new).extend(states);
                }
                "prefix" => parsed.prefix = Some(value.into_owned()),
                "set" => parsed.set = Some(value.into_owned()),
                "name" => parsed.names.push(value.into_owned()),
                other => return Err(format!("unknown parameter {other:?}")),
            }
        }
        Ok(parsed)
    }

    /// Whether `breaker` passes the filters (the cursor aside).
    fn keeps(&self, breaker: &CircuitBreaker) -> bool {
        let name = breaker.name();
        self.prefix.as_deref().map_or(true, |p| name.starts_with(p))
            && self.set.as_deref().map_or(true, |set| {
                crate::keyed::set_and_key(breaker).is_some_and(|(of, _)| of == set)
            })
            && self
                .states
                .as_ref()
                .map_or(true, |states| states.contains(&breaker.word().phase()))
    }
}

/// `GET /breakers`: a page of breakers, filtered.
pub(super) async fn list(
    State(admin): State<Arc<Admin>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if let Some(refusal) = read_refused(&admin, &headers) {
        return refusal;
    }
    let query = match Query::parse(query.as_deref()) {
        Ok(query) => query,
        Err(wrong) => return error(StatusCode::BAD_REQUEST, format!("{wrong}: {ASK_THIS}")),
    };
    if !query.names.is_empty() {
        // Named breakers: lookups, no walk.
        let mut found: Vec<CircuitBreaker> = query
            .names
            .iter()
            .take(MAX_LIMIT)
            .filter_map(|name| registry::get(name))
            .filter(|b| query.keeps(b) && query.after.as_deref().map_or(true, |a| b.name() > a))
            .collect();
        found.sort_by(|a, b| a.name().cmp(b.name()));
        found.dedup_by(|a, b| a.ptr_eq(b));
        found.truncate(query.limit);
        return json_bytes(page_json(&found, None));
    }
    walk(&admin, move || {
        let page = registry::page(query.after.as_deref(), query.limit, |b| query.keeps(b));
        page_json(&page.breakers, page.next.as_deref())
    })
    .await
}

/// `{"breakers": [...], "next": ...}`, written breaker by breaker: no tree of values the
/// size of the page beside the text.
fn page_json(breakers: &[CircuitBreaker], next: Option<&str>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + breakers.len() * 768);
    out.extend_from_slice(br#"{"breakers":["#);
    for (i, breaker) in breakers.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // Writing to a `Vec` fails only for a value that is no JSON: none of these.
        let _ = serde_json::to_writer(&mut out, &View::of(breaker));
    }
    out.extend_from_slice(br#"],"next":"#);
    let _ = serde_json::to_writer(&mut out, &next);
    out.push(b'}');
    out
}

/// `GET /summary`: breakers by state, and each keyed set's keys by state.
pub(super) async fn summary(State(admin): State<Arc<Admin>>, headers: HeaderMap) -> Response {
    if let Some(refusal) = read_refused(&admin, &headers) {
        return refusal;
    }
    walk(&admin, || {
        // The counts take in every transition up to this one: a page that follows the
        // event stream applies only those after it.
        let latest = super::feed::feed().latest();
        let mut all = Counts::default();
        let mut sets: BTreeMap<String, Counts> = BTreeMap::new();
        registry::each(|breaker| {
            let phase = breaker.word().phase();
            all.add(phase);
            if let Some((set, _)) = crate::keyed::set_and_key(&breaker) {
                match sets.get_mut(set) {
                    Some(counts) => counts.add(phase),
                    None => sets.entry(set.to_string()).or_default().add(phase),
                }
            }
        });
        let sets: Vec<Value> = sets
            .iter()
            .map(|(name, counts)| json!({ "name": name, "keys": counts.total, "states": counts.json() }))
            .collect();
        let summary = json!({
            "breakers": all.total,
            "states": all.json(),
            "sets": sets,
            "latest_event": latest,
        });
        serde_json::to_vec(&summary).unwrap_or_default()
    })
    .await
}

/// Breakers counted by phase.
#[derive(Default)]
struct Counts {
    total: u64,
    by_phase: [u64; 5],
}

impl Counts {
    fn add(&mut self, phase: Phase) {
        self.total += 1;
        self.by_phase[phase as usize] += 1;
    }

    fn json(&self) -> Value {
        Phase::ALL
            .iter()
            .zip(self.by_phase)
            .map(|(phase, n)| (phase.as_str().to_string(), Value::from(n)))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }
}

/// Runs `work` (a walk over the registry, and the JSON of what it found) on a blocking
/// thread once a turn is free, and answers its JSON.
async fn walk(admin: &Admin, work: impl FnOnce() -> Vec<u8> + Send + 'static) -> Response {
    let Ok(_turn) = admin.walks.acquire().await else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the router is shutting down",
        );
    };
    match tokio::task::spawn_blocking(work).await {
        Ok(json) => json_bytes(json),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the walk over the breakers failed",
        ),
    }
}
