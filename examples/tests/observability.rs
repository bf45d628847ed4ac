//! The `observability` example's service, started on loopback: drive its breaker open
//! and check that `/metrics` and `/breakers` both show it.

use std::sync::Arc;

use breaker_examples::observability::{router, Inventory};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A minimal HTTP/1.1 exchange: enough for these endpoints, and no client to build.
async fn request(addr: std::net::SocketAddr, method: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("send");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.expect("receive");
    let status = raw[9..12].parse().expect("a status code");
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn metrics_and_breakers_endpoints_show_an_open_breaker() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let inventory = Arc::new(Inventory::default());
    tokio::spawn(axum_serve(listener, inventory));

    assert_eq!(
        request(addr, "GET", "/stock/apple").await,
        (200, "50\n".into())
    );
    assert_eq!(request(addr, "POST", "/inventory/down").await.0, 200);
    for _ in 0..3 {
        assert_eq!(request(addr, "GET", "/stock/apple").await.0, 502);
    }
    let (status, body) = request(addr, "GET", "/stock/apple").await;
    assert_eq!(status, 503);
    assert!(
        body.starts_with("circuit breaker 'inventory' is open"),
        "{body}"
    );

    let (status, metrics) = request(addr, "GET", "/metrics").await;
    assert_eq!(status, 200);
    for line in [
        r#"circuit_breaker_state{breaker="inventory"} 1"#,
        r#"circuit_breaker_transitions_total{breaker="inventory",from="closed",to="open"} 1"#,
        r#"circuit_breaker_calls_total{breaker="inventory",outcome="success"} 1"#,
        r#"circuit_breaker_calls_total{breaker="inventory",outcome="failure"} 3"#,
        r#"circuit_breaker_calls_total{breaker="inventory",outcome="rejected"} 1"#,
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "missing `{line}` in:\n{metrics}"
        );
    }

    let (status, json) = request(addr, "GET", "/breakers").await;
    assert_eq!(status, 200);
    let snapshot: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let inventory = snapshot["breakers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "inventory")
        .expect("the inventory breaker is listed");
    assert_eq!(inventory["state"], "open");
    assert_eq!(inventory["fail_counter"], 3);
    assert_eq!(inventory["config"]["reset_timeout_secs"], 30.0);
    assert_eq!(inventory["calls"]["rejected"], 1);
    let retry = inventory["retry_after_secs"].as_f64().unwrap();
    assert!(retry > 0.0 && retry <= 30.0, "{retry}");
}

async fn axum_serve(listener: tokio::net::TcpListener, inventory: Arc<Inventory>) {
    breaker_examples::serve(listener, router(inventory)).await;
}
