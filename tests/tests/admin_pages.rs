//! The admin router at the scale keyed sets bring, over loopback HTTP: pages and
//! cursors (no breaker skipped or repeated while others come and go), the filters, the
//! summary, reads behind the token, an event stream that tells a client from another
//! process to read everything again, any name a breaker may bear, and the headers.

use std::collections::BTreeSet;

use axum::Router;
use breaker_runtime::admin::{self, Access};
use breaker_runtime::keyed::Breakers;
use breaker_runtime::CircuitBreaker;
use breaker_tests::TestError as E;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod admin_client;

/// The router nested under `/admin` on a loopback port; its address.
async fn serve(access: Access) -> String {
    let app = Router::new().nest_service("/admin", admin::router(access));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr.to_string()
}

/// A request written as it is (no client resolves `..` away): its status, headers and
/// body.
async fn raw(addr: &str, request: &str) -> (u16, String, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_string())
}

async fn raw_get(addr: &str, path: &str) -> (u16, Value) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let (status, _, body) = raw(addr, &request).await;
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

async fn get(url: &str, token: Option<&str>) -> (u16, Value) {
    admin_client::send(reqwest::Client::new().get(url), token).await
}

fn names(page: &Value) -> Vec<String> {
    page["breakers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn pages_walk_every_breaker_once_in_name_order_while_others_come_and_go() {
    let stay: Vec<CircuitBreaker> = (0..1_000)
        .map(|i| CircuitBreaker::builder(format!("paged-{i:04}")).build())
        .collect();
    let addr = serve(Access::read_only()).await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut come_and_go = Vec::new();
    for round in 0.. {
        let mut url = format!("http://{addr}/admin/breakers?prefix=paged-&limit=97");
        if let Some(after) = &cursor {
            url.push_str(&format!("&after={after}"));
        }
        let (status, page) = get(&url, None).await;
        assert_eq!(status, 200);
        let page_names = names(&page);
        assert!(page_names.len() <= 97);
        seen.extend(page_names.iter().cloned());
        // Between pages, breakers come (before and after the cursor) and go.
        come_and_go.push(CircuitBreaker::builder(format!("paged-{round:04}-new")).build());
        come_and_go.push(CircuitBreaker::builder(format!("paged-9999-{round}")).build());
        if round % 3 == 0 {
            come_and_go.remove(0);
        }
        match page["next"].as_str() {
            Some(next) => {
                assert_eq!(Some(next), page_names.last().map(String::as_str));
                cursor = Some(next.to_string());
            }
            None => break,
        }
    }
    let stayed: Vec<String> = seen.iter().filter(|n| n.len() == 10).cloned().collect();
    let expected: Vec<String> = stay.iter().map(|b| b.name().to_string()).collect();
    assert_eq!(
        stayed, expected,
        "each breaker that stayed once, in name order"
    );
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, seen, "in name order, nothing twice");
}

#[tokio::test]
async fn filters_apply_before_paging_and_bad_ones_say_what_to_write() {
    let plain: Vec<CircuitBreaker> = (0..5)
        .map(|i| CircuitBreaker::builder(format!("filtered-{i}")).build())
        .collect();
    plain[1].force_open();
    plain[2].disable();
    plain[3].open();
    let hosts: Breakers<String> = Breakers::builder(|host: &String| {
        CircuitBreaker::builder(format!("filtered-set[{host}]")).fail_max(1)
    })
    .name("filtered-set")
    .build();
    for host in ["a", "b", "c"] {
        let result = if host == "b" { Err(E::Down) } else { Ok(()) };
        let _ = hosts.call(host, || result);
    }
    let addr = serve(Access::read_only()).await;
    let list = |query: &str| {
        let url = format!("http://{addr}/admin/breakers?{query}");
        async move { get(&url, None).await }
    };

    let (_, page) = list("prefix=filtered-&state=forced_open,disabled").await;
    assert_eq!(names(&page), ["filtered-1", "filtered-2"]);
    let (_, page) = list("prefix=filtered-&state=open").await;
    assert_eq!(names(&page), ["filtered-3", "filtered-set[b]"]);
    let (_, page) = list("set=filtered-set").await;
    assert_eq!(
        names(&page),
        ["filtered-set[a]", "filtered-set[b]", "filtered-set[c]"]
    );
    assert_eq!(page["breakers"][1]["set"], "filtered-set");
    assert_eq!(page["breakers"][1]["key"], "b");
    assert_eq!(page["breakers"][1]["phase"], "open");
    let (_, page) = list("set=filtered-set&state=closed&limit=1").await;
    assert_eq!(names(&page), ["filtered-set[a]"]);
    assert_eq!(page["next"], "filtered-set[a]");
    let (_, page) = list("set=filtered-set&state=closed&limit=1&after=filtered-set%5Ba%5D").await;
    assert_eq!(names(&page), ["filtered-set[c]"]);
    assert_eq!(page["next"], Value::Null);
    let (_, page) = list("name=filtered-4&name=filtered-0&name=filtered-none").await;
    assert_eq!(names(&page), ["filtered-0", "filtered-4"]);

    for (query, says) in [
        ("limit=0", "limit must be a number from 1 to 5000"),
        ("limit=5001", "limit must be a number from 1 to 5000"),
        ("state=opened", "state \"opened\" is none of closed, open"),
        ("order=name", "unknown parameter \"order\""),
    ] {
        let (status, answer) = list(query).await;
        assert_eq!(status, 400, "{query}");
        let message = answer["error"].as_str().unwrap();
        assert!(message.contains(says), "{query}: {message}");
        assert!(message.contains("/breakers?limit=500&after="), "{message}");
    }
    let (status, page) = list("limit=5000").await;
    assert_eq!(status, 200);
    assert!(names(&page).len() <= 5000);
    drop(plain);
}

#[tokio::test]
async fn the_summary_counts_states_and_each_keyed_sets_keys() {
    let hosts: Breakers<String> = Breakers::builder(|host: &String| {
        CircuitBreaker::builder(format!("summed[{host}]")).fail_max(1)
    })
    .name("summed")
    .build();
    for host in ["a", "b", "c", "d"] {
        let result = if host < "c" { Err(E::Down) } else { Ok(()) };
        let _ = hosts.call(host, || result);
    }
    hosts.get("d").unwrap().disable();
    let addr = serve(Access::read_only()).await;
    let (status, summary) = get(&format!("http://{addr}/admin/summary"), None).await;
    assert_eq!(status, 200);
    let set = summary["sets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "summed")
        .expect("the set is summed up");
    assert_eq!(set["keys"], 4);
    assert_eq!(set["states"]["open"], 2);
    assert_eq!(set["states"]["closed"], 1);
    assert_eq!(set["states"]["disabled"], 1);
    assert_eq!(set["states"]["half_open"], 0);
    let total: u64 = summary["states"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(summary["breakers"].as_u64(), Some(total));
    assert!(summary["states"]["open"].as_u64().unwrap() >= 2);
    assert!(
        summary.get("breakers").is_some_and(Value::is_u64),
        "no list"
    );
}

#[tokio::test]
async fn reads_can_require_the_token_on_every_route() {
    let _b = CircuitBreaker::builder("guarded").build();
    let addr = serve(Access::bearer("read-token").require_for_reads()).await;
    let base = format!("http://{addr}/admin");
    for path in [
        "/breakers",
        "/breakers/guarded",
        "/breakers?name=guarded",
        "/summary",
        "/events",
    ] {
        let url = format!("{base}{path}");
        let response = reqwest::get(&url).await.unwrap();
        assert_eq!(response.status(), 401, "{path}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        let wrong = reqwest::Client::new()
            .get(&url)
            .header("authorization", "Bearer not-it")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401, "{path}");
        let right = reqwest::Client::new()
            .get(&url)
            .header("authorization", "bearer read-token")
            .send()
            .await
            .unwrap();
        assert_eq!(right.status(), 200, "{path}: the scheme in any case");
    }
    let write = reqwest::Client::new()
        .post(format!("{base}/state"))
        .header("content-type", "application/json")
        .body(r#"{"name": "guarded", "state": "open"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), 401);
    // The page and its files hold no data: they load, then ask for the token.
    for path in ["", "/", "/page.js", "/page.css"] {
        assert_eq!(
            reqwest::get(format!("{base}{path}"))
                .await
                .unwrap()
                .status(),
            200
        );
    }
}

/// The kinds of the events before the first of kind `kind` about `name` (any, for
/// `None`), and its id.
async fn until_event(
    response: &mut reqwest::Response,
    kind: &str,
    name: Option<&str>,
) -> (Vec<String>, String) {
    let (id, _, before) = admin_client::until(response, kind, name).await;
    (before, id)
}

async fn stream(base: &str, last_event_id: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(format!("{base}/events"));
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    response
}

#[tokio::test]
async fn an_id_of_another_router_or_too_old_gets_a_resync_then_the_next_transition() {
    let breaker = CircuitBreaker::builder("resynced").build();
    let before = format!("http://{}/admin", serve(Access::read_only()).await);
    let mut first = stream(&before, None).await;
    breaker.open();
    let (_, seen) = until_event(&mut first, "transition", Some("resynced")).await;

    // Another router, as after a restart: the id it is given is not one of its own.
    let after = format!("http://{}/admin", serve(Access::read_only()).await);
    let mut back = stream(&after, Some(&seen)).await;
    let (before_resync, resync_id) = until_event(&mut back, "resync", None).await;
    assert!(
        before_resync.is_empty(),
        "resync comes first: {before_resync:?}"
    );
    breaker.close();
    let (between, next) = until_event(&mut back, "transition", Some("resynced")).await;
    assert!(
        between.is_empty(),
        "then the transitions as they come: {between:?}"
    );
    assert_ne!(
        next.split('-').next(),
        seen.split('-').next(),
        "ids of the new router"
    );
    // The resync's id is one of the new router's: reconnecting with it resumes there.
    assert_eq!(resync_id.split('-').next(), next.split('-').next());

    // An id of this router, but older than the 1,024 transitions it keeps.
    let mut current = stream(&after, None).await;
    breaker.open();
    let (_, old) = until_event(&mut current, "transition", Some("resynced")).await;
    for _ in 0..600 {
        breaker.close();
        breaker.open();
    }
    let mut late = stream(&after, Some(&old)).await;
    let (before_resync, _) = until_event(&mut late, "resync", None).await;
    assert!(before_resync.is_empty(), "{before_resync:?}");
    // A recent id of its own resumes with what came after it, no resync.
    let resumed_breaker = CircuitBreaker::builder("resumed").build();
    let mut live = stream(&after, None).await;
    resumed_breaker.open();
    let (_, recent) = until_event(&mut live, "transition", Some("resumed")).await;
    resumed_breaker.close();
    let mut resumed = stream(&after, Some(&recent)).await;
    let (skipped, _) = until_event(&mut resumed, "transition", Some("resumed")).await;
    assert!(!skipped.contains(&"resync".to_string()), "{skipped:?}");
}

#[tokio::test]
async fn any_name_is_a_breaker_name() {
    let odd = [
        "events", "summary", "..", ".", "a/b", "state", "page.js", "sp ace",
    ];
    let breakers: Vec<CircuitBreaker> = odd
        .iter()
        .map(|name| CircuitBreaker::builder(name.to_string()).build())
        .collect();
    let addr = serve(Access::unauthenticated_writes()).await;
    for (name, path) in [
        ("events", "events"),
        ("summary", "summary"),
        ("..", ".."),
        (".", "."),
        ("a/b", "a%2Fb"),
        ("state", "state"),
        ("page.js", "page.js"),
        ("sp ace", "sp%20ace"),
    ] {
        let (status, breaker) = raw_get(&addr, &format!("/admin/breakers/{path}")).await;
        assert_eq!(status, 200, "{name}: {breaker}");
        assert_eq!(breaker["name"], name);
    }
    // Written by its name in the body: what a URL cannot carry.
    for name in ["..", "."] {
        let body = format!(r#"{{"name": "{name}", "state": "forced_open"}}"#);
        let request = format!(
            "POST /admin/state HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let (status, _, answer) = raw(&addr, &request).await;
        assert_eq!(status, 200, "{name}: {answer}");
    }
    assert!(breakers[2].is_forced_open() && breakers[3].is_forced_open());
    let (_, listed) = get(
        &format!("http://{addr}/admin/breakers?name=..&name=."),
        None,
    )
    .await;
    let listed: BTreeSet<String> = names(&listed).into_iter().collect();
    assert_eq!(listed, BTreeSet::from([".".to_string(), "..".to_string()]));
}

#[tokio::test]
async fn every_answer_says_nosniff() {
    let addr = serve(Access::bearer("t")).await;
    for request in [
        "GET /admin/breakers HTTP/1.1",
        "GET /admin/breakers/no-such HTTP/1.1",
        "GET /admin/no/such/route HTTP/1.1",
        "POST /admin/state HTTP/1.1",
        "GET /admin/summary HTTP/1.1",
    ] {
        let request =
            format!("{request}\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
        let (_, head, _) = raw(&addr, &request).await;
        assert!(
            head.contains("x-content-type-options: nosniff"),
            "{request}: {head}"
        );
    }
}
