//! `admin::router` over loopback HTTP with a real client: the JSON, the writes and their
//! refusals, the event stream, the page; and on a fleet on a `redis-server` of the
//! test's own, a write to one replica's router reaching the other replica.

use std::time::Duration;

use axum::Router;
use breaker_runtime::admin::{self, Access};
use breaker_runtime::{CircuitBreaker, ErrorKind, State};
use breaker_tests::fleet::{connected, replica};
use breaker_tests::redis_server::RedisServer;
use breaker_tests::{poll_until, TestError as E};
use serde_json::Value;

mod admin_client;

/// The router nested under `/admin` on a loopback port; its base URL.
async fn serve(access: Access) -> String {
    let app = Router::new().nest_service("/admin", admin::router(access));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/admin")
}

async fn get(url: &str) -> (u16, Value) {
    admin_client::send(reqwest::Client::new().get(url), None).await
}

/// A `POST` of `body` as JSON, with `token` as a bearer token if given.
async fn post(url: &str, token: Option<&str>, body: &str) -> (u16, Value) {
    post_as(url, token, "application/json", body.to_string()).await
}

async fn post_as(url: &str, token: Option<&str>, kind: &str, body: String) -> (u16, Value) {
    let request = reqwest::Client::new()
        .post(url)
        .header("content-type", kind)
        .body(body);
    admin_client::send(request, token).await
}

fn error_of(body: &Value) -> &str {
    body["error"].as_str().expect("a JSON error")
}

#[tokio::test]
async fn lists_every_breaker_and_finds_one_by_its_percent_encoded_name() {
    let plain = CircuitBreaker::builder("admin-list").fail_max(3).build();
    let keyed = CircuitBreaker::builder("fetch[api.example.com]").build();
    let _ = plain.call(|| Err::<(), _>(E::Down));
    let base = serve(Access::read_only()).await;

    let (status, all) = get(&format!("{base}/breakers")).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = all["breakers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"admin-list") && names.contains(&"fetch[api.example.com]"));

    let (status, one) = get(&format!("{base}/breakers/admin-list")).await;
    assert_eq!(status, 200);
    assert_eq!(one["phase"], "closed");
    assert_eq!(one["fail_counter"], 1);
    assert_eq!(one["config"]["fail_max"], 3);
    let (status, one) = get(&format!("{base}/breakers/fetch%5Bapi.example.com%5D")).await;
    assert_eq!((status, one["name"].as_str()), (200, Some(keyed.name())));

    let (status, missing) = get(&format!("{base}/breakers/no-such-breaker")).await;
    assert_eq!(status, 404);
    assert!(error_of(&missing).contains("\"no-such-breaker\""));
}

#[tokio::test]
async fn writes_need_the_bearer_token_and_a_forced_open_breaker_rejects_the_next_call() {
    let breaker = CircuitBreaker::builder("admin-token").build();
    let base = serve(Access::bearer("s3cret")).await;
    let url = format!("{base}/breakers/admin-token/state");
    let body = r#"{"state": "forced_open"}"#;

    let (status, refused) = post(&url, None, body).await;
    assert_eq!(status, 401);
    assert!(error_of(&refused).contains("Authorization: Bearer"));
    let (status, _) = post(&url, Some("s3cre"), body).await;
    assert_eq!(status, 401);
    let (status, _) = post(&url, Some("s3cret-and-more"), body).await;
    assert_eq!(status, 401);
    assert_eq!(breaker.state(), State::Closed, "nothing was applied");

    let (status, now) = post(&url, Some("s3cret"), body).await;
    assert_eq!(status, 200);
    assert_eq!(now["phase"], "forced_open");
    assert_eq!(
        breaker.call(|| Ok::<_, E>(())),
        Err(E::rejected(ErrorKind::ForcedOpen, "admin-token"))
    );

    let (status, now) = post(&url, Some("s3cret"), r#"{"state": "closed"}"#).await;
    assert_eq!((status, &now["phase"]), (200, &Value::from("closed")));
    assert!(breaker.call(|| Ok::<_, E>(())).is_ok());
}

#[tokio::test]
async fn a_read_only_router_refuses_every_write() {
    let breaker = CircuitBreaker::builder("admin-read-only").build();
    let base = serve(Access::read_only()).await;
    let url = format!("{base}/breakers/admin-read-only/state");
    let (status, refused) = post(&url, Some("anything"), r#"{"state": "open"}"#).await;
    assert_eq!(status, 403);
    assert!(error_of(&refused).contains("read-only"));
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test]
async fn each_state_can_be_set_and_the_answer_is_the_new_state() {
    let breaker = CircuitBreaker::builder("admin-states")
        .reset_timeout(Duration::from_secs(60))
        .build();
    let base = serve(Access::unauthenticated_writes()).await;
    let url = format!("{base}/breakers/admin-states/state");
    for (state, phase) in [
        ("open", "open"),
        ("half_open", "half_open"),
        ("disabled", "disabled"),
        ("forced_open", "forced_open"),
        ("closed", "closed"),
    ] {
        let body = format!(r#"{{"state": "{state}", "scope": "replica"}}"#);
        let (status, now) = post(&url, None, &body).await;
        assert_eq!(
            (status, now["phase"].as_str()),
            (200, Some(phase)),
            "{state}"
        );
    }
    assert_eq!(breaker.state(), State::Closed);
    let (status, _) = post(
        &format!("{base}/breakers/no-such-breaker/state"),
        None,
        r#"{"state": "open"}"#,
    )
    .await;
    assert_eq!(status, 404);
}

/// `half_open` is the one spelling: in the admin JSON's `state` and `phase`, in what a
/// write takes, in the metrics' labels and in the `tracing` attributes.
#[tokio::test]
async fn half_open_is_spelled_one_way_in_the_json_the_writes_the_metrics_and_the_traces() {
    use breaker_runtime::conventions::{attributes, events};
    let breaker = CircuitBreaker::builder("admin-spelling").build();
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let exported = recorder.handle();
    let traced = breaker_tests::capture_events(|| {
        metrics::with_local_recorder(&recorder, || {
            breaker.half_open();
            breaker_runtime::metrics::publish();
        })
    });
    let half_opened = traced
        .iter()
        .find(|e| e.name == events::HALF_OPENED)
        .expect("traced");
    assert_eq!(half_opened.field(attributes::STATE), Some("half_open"));
    let rendered = exported.render();
    assert!(
        rendered.lines().any(|l| l.starts_with(
            r#"circuit_breaker_transitions_total{breaker="admin-spelling",from="closed",to="half_open"} 1"#
        )),
        "{rendered}"
    );
    assert!(!rendered.contains("half-open"), "{rendered}");

    let base = serve(Access::unauthenticated_writes()).await;
    let (_, read) = get(&format!("{base}/breakers/admin-spelling")).await;
    assert_eq!(
        (read["state"].as_str(), read["phase"].as_str()),
        (Some("half_open"), Some("half_open"))
    );
    breaker.close();
    let url = format!("{base}/breakers/admin-spelling/state");
    let (status, written) = post(&url, None, r#"{"state": "half_open"}"#).await;
    assert_eq!(status, 200);
    assert_eq!(
        (written["state"].as_str(), written["phase"].as_str()),
        (Some("half_open"), Some("half_open"))
    );
    let (status, _) = post(&url, None, r#"{"state": "half-open"}"#).await;
    assert_eq!(status, 400, "one spelling");
}

#[tokio::test]
async fn an_advised_opening_shows_its_period_and_source_and_the_settings() {
    use breaker_runtime::{Advice, AdviceSource, ManualClock};
    let b = CircuitBreaker::builder("admin-advised")
        .fail_max(1)
        .retry_after_cap(Duration::from_secs(120))
        .clock(ManualClock::new())
        .build();
    let plain = CircuitBreaker::builder("admin-unadvised")
        .fail_max(1)
        .build();
    let _ = plain.call(|| Err::<(), _>(E::Down));
    let advice = Advice::new(Duration::from_millis(2_500), AdviceSource::GrpcPushback).unwrap();
    b.try_acquire().unwrap().failure_with_advice(advice);
    let base = serve(Access::read_only()).await;

    let (status, one) = get(&format!("{base}/breakers/admin-advised")).await;
    assert_eq!(status, 200);
    assert_eq!(one["advice"]["seconds"], 2.5);
    assert_eq!(one["advice"]["source"], "grpc_pushback");
    assert_eq!(one["config"]["retry_after_cap_secs"], 120.0);
    assert_eq!(one["config"]["open_on_retry_after"], false);
    let (_, other) = get(&format!("{base}/breakers/admin-unadvised")).await;
    assert_eq!(other["advice"], Value::Null, "timed by its reset timeout");
    assert_eq!(
        other["config"]["retry_after_cap_secs"], 300.0,
        "the default cap"
    );

    // The registry's snapshot and its table say the same.
    let snapshot = breaker_runtime::registry::snapshot();
    let info = snapshot
        .breakers
        .iter()
        .find(|b| b.name == "admin-advised")
        .unwrap();
    assert_eq!(info.advice, Some(advice));
    let table = snapshot.to_string();
    let line = table
        .lines()
        .find(|l| l.starts_with("admin-advised "))
        .unwrap();
    assert!(line.contains(" 2.5s grpc_pushback "), "{line}");
    let line = table
        .lines()
        .find(|l| l.starts_with("admin-unadvised "))
        .unwrap();
    assert!(!line.contains("grpc_pushback"), "{line}");
}

#[tokio::test]
async fn a_bad_body_says_what_is_wrong_and_what_to_write() {
    let breaker = CircuitBreaker::builder("admin-bodies").build();
    let base = serve(Access::unauthenticated_writes()).await;
    let url = format!("{base}/breakers/admin-bodies/state");
    for (body, says) in [
        (r#"{"state": "opened"}"#, "unknown variant `opened`"),
        (
            r#"{"state": "open", "scope": "everywhere"}"#,
            "unknown variant `everywhere`",
        ),
        (
            r#"{"state": "open", "force": true}"#,
            "unknown field `force`",
        ),
        (r#"{"scope": "fleet"}"#, "missing field `state`"),
        ("open", "expected value"),
    ] {
        let (status, answer) = post(&url, None, body).await;
        assert_eq!(status, 400, "{body}");
        let message = error_of(&answer);
        assert!(message.contains(says), "{body}: {message}");
        assert!(message.contains(r#"{"state": "closed""#), "{message}");
    }
    let (status, answer) = post_as(&url, None, "text/plain", r#"{"state": "open"}"#.into()).await;
    assert_eq!(status, 415);
    assert!(error_of(&answer).contains("application/json"));
    let oversized = format!(r#"{{"state": "open", "pad": "{}"}}"#, "x".repeat(8192));
    let (status, _) = post_as(&url, None, "application/json", oversized).await;
    assert_eq!(status, 413);
    assert_eq!(
        breaker.state(),
        State::Closed,
        "no bad body changed anything"
    );
}

/// Reads the event stream until a `transition` event about `name` comes; its id
/// (`<incarnation>-<n>`) and data.
async fn next_transition(response: &mut reqwest::Response, name: &str) -> (EventId, Value) {
    let (id, data, _) = admin_client::until(response, "transition", Some(name)).await;
    (EventId::parse(&id), data)
}

/// An event id: the router's incarnation and the transition's number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct EventId {
    incarnation: String,
    n: u64,
}

impl EventId {
    fn parse(id: &str) -> EventId {
        let (incarnation, n) = id.split_once('-').expect("<incarnation>-<n>");
        EventId {
            incarnation: incarnation.to_string(),
            n: n.parse().unwrap(),
        }
    }

    fn header(&self) -> String {
        format!("{}-{}", self.incarnation, self.n)
    }
}

#[tokio::test]
async fn the_event_stream_sends_transitions_as_they_happen_and_replays_the_latest() {
    let breaker = CircuitBreaker::builder("admin-events")
        .fail_max(1)
        .reset_timeout(Duration::from_secs(60))
        .build();
    let base = serve(Access::unauthenticated_writes()).await;
    let url = format!("{base}/events");
    let mut stream = reqwest::get(&url).await.unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(
        stream.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );

    let _ = breaker.call(|| Err::<(), _>(E::Down));
    let (opened, data) = next_transition(&mut stream, "admin-events").await;
    assert_eq!(data["from"], "closed");
    assert_eq!(data["to"], "open");
    assert_eq!(data["reason"], "consecutive_failures");
    assert_eq!(data["origin"], "call");
    let time = data["time"].as_str().unwrap();
    assert!(time.len() == 24 && time.ends_with('Z'), "RFC 3339: {time}");

    let body = r#"{"state": "forced_open"}"#;
    post(&format!("{base}/breakers/admin-events/state"), None, body).await;
    let (forced, data) = next_transition(&mut stream, "admin-events").await;
    assert_eq!(forced.incarnation, opened.incarnation);
    assert!(forced.n > opened.n);
    assert_eq!(
        (&data["from"], &data["to"], &data["reason"], &data["origin"]),
        (
            &Value::from("open"),
            &Value::from("forced_open"),
            &Value::from("manual"),
            &Value::from("manual")
        )
    );

    // A new subscriber is sent the latest transitions first; one that reconnects with
    // the last id it saw, only those after it.
    let mut fresh = reqwest::get(&url).await.unwrap();
    assert_eq!(next_transition(&mut fresh, "admin-events").await.0, opened);
    breaker.close();
    let mut resumed = reqwest::Client::new()
        .get(&url)
        .header("last-event-id", forced.header())
        .send()
        .await
        .unwrap();
    let (next, data) = next_transition(&mut resumed, "admin-events").await;
    assert!(next.n > forced.n);
    assert_eq!(
        (&data["from"], &data["to"]),
        (&Value::from("forced_open"), &Value::from("closed"))
    );
}

#[tokio::test]
async fn the_page_is_served_from_the_crate_at_both_paths_and_cannot_be_framed() {
    for (access, writes, reads) in [
        (Access::read_only(), "none", "open"),
        (Access::bearer("t"), "bearer", "open"),
        (Access::bearer("t").require_for_reads(), "bearer", "bearer"),
        (Access::unauthenticated_writes(), "open", "open"),
    ] {
        let base = serve(access).await;
        // Nested at `/admin` with `nest_service`: `/admin` and `/admin/` alike, with
        // no token even where reads need one (the page holds no data).
        for url in [base.clone(), format!("{base}/")] {
            let response = reqwest::get(&url).await.unwrap();
            assert_eq!(response.status(), 200, "{url}");
            let headers = response.headers().clone();
            let header = |name: &str| headers[name].to_str().unwrap().to_string();
            assert!(header("content-type").starts_with("text/html"));
            assert_eq!(header("x-frame-options"), "DENY");
            assert_eq!(header("x-content-type-options"), "nosniff");
            let policy = header("content-security-policy");
            assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
            assert!(policy.contains("script-src 'self'"), "{policy}");
            assert!(!policy.contains("unsafe-inline"), "{policy}");
            let page = response.text().await.unwrap();
            assert!(
                page.contains(&format!(r#"data-writes="{writes}""#)),
                "{writes}"
            );
            assert!(
                page.contains(&format!(r#"data-reads="{reads}""#)),
                "{reads}"
            );
            assert!(
                page.contains(r#"<script src="/admin/page.js" defer></script>"#),
                "the script, by an absolute path whichever URL the page has: {page}"
            );
            assert_eq!(page.matches("<script").count(), 1, "no inline script");
            assert!(
                !page.contains("http://") && !page.contains("https://"),
                "nothing from elsewhere"
            );
        }
        for (file, kind) in [("page.js", "text/javascript"), ("page.css", "text/css")] {
            let response = reqwest::get(format!("{base}/{file}")).await.unwrap();
            assert_eq!(response.status(), 200);
            assert!(response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(kind));
            assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_to_one_replicas_router_reaches_the_other_replica() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    // This process's breaker is the registered one, the router's; the other replica
    // has a backend of its own.
    let backend = breaker_runtime::shared::RedisBackend::builder(server.url())
        .namespace("admin")
        .build()
        .unwrap();
    let here = CircuitBreaker::builder("admin-fleet")
        .reset_timeout(Duration::from_secs(60))
        .shared(&backend)
        .build();
    let other = replica(&server.url(), "admin", "admin-fleet", |b| {
        b.reset_timeout(Duration::from_secs(60))
    });
    // A second shared breaker on each replica's backend: what a replica's backend sends
    // reaches the other's in order, so once this one's opening has arrived, anything
    // sent before it has too.
    let marker = |backend: &breaker_runtime::shared::RedisBackend| {
        CircuitBreaker::builder("admin-fleet-marker")
            .reset_timeout(Duration::from_secs(60))
            .shared(backend)
    };
    let _marker_here = marker(&backend).build();
    let marker_there = marker(&other.backend).unregistered().build();
    connected(std::slice::from_ref(&other));
    poll_until(Duration::from_secs(10), || backend.is_healthy()).expect("this replica joins");
    let base = serve(Access::bearer("fleet-token")).await;
    let url = format!("{base}/breakers/admin-fleet/state");

    // One replica only: the other stays closed.
    let body = r#"{"state": "forced_open", "scope": "replica"}"#;
    let (status, now) = post(&url, Some("fleet-token"), body).await;
    assert_eq!((status, now["phase"].as_str()), (200, Some("forced_open")));
    let marked = post(
        &format!("{base}/breakers/admin-fleet-marker/state"),
        Some("fleet-token"),
        r#"{"state": "open"}"#,
    )
    .await;
    assert_eq!(marked.0, 200);
    let there = marker_there.clone();
    tokio::task::spawn_blocking(move || {
        poll_until(Duration::from_secs(5), || there.state() == State::Open)
    })
    .await
    .unwrap()
    .expect("the marker's opening reaches the other replica");
    assert_eq!(other.breaker.state(), State::Closed);
    let (status, _) = post(
        &url,
        Some("fleet-token"),
        r#"{"state": "closed", "scope": "replica"}"#,
    )
    .await;
    assert_eq!(status, 200);

    // The fleet (the default): the other replica opens too.
    let (status, now) = post(&url, Some("fleet-token"), r#"{"state": "open"}"#).await;
    assert_eq!((status, now["phase"].as_str()), (200, Some("open")));
    assert_eq!(now["fleet"]["backend"], "healthy");
    let other_breaker = other.breaker.clone();
    tokio::task::spawn_blocking(move || {
        poll_until(Duration::from_secs(5), || {
            other_breaker.state() == State::Open
        })
    })
    .await
    .unwrap()
    .expect("the other replica's breaker opens");
    assert_eq!(here.state(), State::Open);
}
