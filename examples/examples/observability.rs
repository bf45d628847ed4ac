//! An axum service that operators can see into: `/metrics` in Prometheus text, `/breakers`
//! as JSON, and `tracing` logs of every state change and rejection.
//!
//! `cargo run --example observability`, then in another terminal:
//!
//! ```text
//! curl localhost:3000/stock/apple          # 50
//! curl -X POST localhost:3000/inventory/down
//! curl localhost:3000/stock/apple          # three times: 502, then the breaker opens
//! curl localhost:3000/stock/apple          # 503 circuit breaker 'inventory' is open; retry in 30s
//! curl localhost:3000/breakers             # JSON: state "open", counters, retry_after_secs
//! curl localhost:3000/metrics              # circuit_breaker_state{breaker="inventory"} 1 ...
//! ```
//!
//! With `--demo` it stages that outage itself against its own endpoints, prints what
//! they answer, and exits.

use std::sync::Arc;

use breaker_examples::observability::{router, Inventory};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    // The breakers' events at DEBUG (rejections), everything else at INFO.
    let filter = tracing_subscriber::filter::Targets::new()
        .with_target("breaker_runtime", tracing::Level::DEBUG)
        .with_default(tracing::Level::INFO);
    let logs = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    tracing_subscriber::registry()
        .with(logs)
        .with(filter)
        .init();
    let demo = std::env::args().any(|a| a == "--demo");
    let addr = if demo {
        "127.0.0.1:0"
    } else {
        "127.0.0.1:3000"
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .expect("bind the port");
    let addr = listener.local_addr().expect("a local address");
    let app = router(Arc::new(Inventory::default()));
    if !demo {
        eprintln!("listening on http://{addr}: try /stock/apple, /breakers, /metrics");
        axum::serve(listener, app).await.expect("serve");
        return;
    }
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    let client = reqwest::Client::new();
    let base = format!("http://{addr}");
    let get = |path: &'static str| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let response = client
                .get(format!("{base}{path}"))
                .send()
                .await
                .expect("a response");
            let status = response.status();
            (status, response.text().await.expect("a body"))
        }
    };
    let post = |path: &'static str| client.post(format!("{base}{path}")).send();

    println!("GET /stock/apple -> {:?}", get("/stock/apple").await);
    post("/inventory/down").await.expect("inventory down");
    for _ in 0..4 {
        println!("GET /stock/apple -> {:?}", get("/stock/apple").await);
    }
    println!("\nGET /breakers\n{}", get("/breakers").await.1);
    let metrics = get("/metrics").await.1;
    println!("GET /metrics (circuit_breaker lines)");
    for line in metrics.lines().filter(|l| l.starts_with("circuit_breaker")) {
        println!("  {line}");
    }
}
