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

/// The router nested under `/admin` on a loopback port; its base URL.
async fn serve(access: Access) -> String {
    let app = Router::new().nest("/admin", admin::router(access));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/admin")
}

async fn get(url: &str) -> (u16, Value) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

/// A `POST` of `body` as JSON, with `token` as a bearer token if given.
async fn post(url: &str, token: Option<&str>, body: &str) -> (u16, Value) {
    post_as(url, token, "application/json", body.to_string()).await
}

async fn post_as(url: &str, token: Option<&str>, kind: &str, body: String) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", kind)
        .body(body);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
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

/// Reads the event stream at `url` until a `transition` event about `name` comes; its
/// id and data.
async fn next_transition(response: &mut reqwest::Response, name: &str) -> (u64, Value) {
    let mut text = String::new();
    let read = async {
        loop {
            let chunk = response
                .chunk()
                .await
                .unwrap()
                .expect("the stream stays open");
            text.push_str(std::str::from_utf8(&chunk).unwrap());
            while let Some(end) = text.find("\n\n") {
                let event: String = text.drain(..end + 2).collect();
                let field = |key: &str| {
                    event
                        .lines()
                        .find_map(|l| l.strip_prefix(key))
                        .map(|v| v.trim_start().to_string())
                };
                if field("event:").as_deref() != Some("transition") {
                    continue;
                }
                let data: Value = serde_json::from_str(&field("data:").unwrap()).unwrap();
                if data["name"] == name {
                    return (field("id:").unwrap().parse().unwrap(), data);
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("the transition is streamed")
}

#[tokio::test]
async fn the_event_stream_sends_transitions_as_they_happen_and_replays_the_latest() {
    let breaker = CircuitBreaker::builder("admin-events")
        .fail_max(1)
        .reset_timeout(Duration::from_secs(60))
        .build();
    let base = serve(Access::unauthenticated_writes()).await;
    let url = format!("{base}/breakers/events");
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
    assert!(forced > opened);
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
        .header("last-event-id", forced.to_string())
        .send()
        .await
        .unwrap();
    let (next, data) = next_transition(&mut resumed, "admin-events").await;
    assert!(next > forced);
    assert_eq!(
        (&data["from"], &data["to"]),
        (&Value::from("forced_open"), &Value::from("closed"))
    );
}

#[tokio::test]
async fn the_page_is_served_from_the_crate_and_knows_how_writes_are_allowed() {
    for (access, mode) in [
        (Access::read_only(), "none"),
        (Access::bearer("t"), "bearer"),
        (Access::unauthenticated_writes(), "open"),
    ] {
        let base = serve(access).await;
        // Nested at `/admin`, the page is `/admin` (axum's nesting).
        let response = reqwest::get(&base).await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        let page = response.text().await.unwrap();
        assert!(page.contains(&format!(r#"data-writes="{mode}""#)), "{mode}");
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "nothing from elsewhere"
        );
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
