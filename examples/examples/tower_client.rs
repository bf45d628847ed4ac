//! The breaker as a tower layer on hyper's client: 5xx answers open it, 4xx do not, and
//! while it is open requests fail at once without leaving the process.
//!
//! `cargo run --example tower_client`

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use breaker_runtime::tower::{BoxError, CircuitBreakerLayer, ServerErrors};
use breaker_runtime::{CircuitBreaker, CircuitBreakerError};
use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{Service, ServiceBuilder, ServiceExt};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // The dependency: an axum service on loopback that we can take down.
    let down = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&down);
    let app = axum::Router::new()
        .route(
            "/orders",
            axum::routing::get(move || {
                let down = flag.load(Ordering::SeqCst);
                async move {
                    if down {
                        StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        StatusCode::OK
                    }
                }
            }),
        )
        .route(
            "/missing",
            axum::routing::get(|| async { StatusCode::NOT_FOUND }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(breaker_examples::serve(listener, app));

    // The client: hyper's, behind the breaker, classifying by HTTP status.
    let breaker = CircuitBreaker::builder("orders-api")
        .fail_max(3)
        .reset_timeout(Duration::from_millis(500))
        .build();
    let mut client = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(breaker.clone()).classify(ServerErrors::new()))
        .service(Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>());

    println!(
        "GET /orders   -> {}   breaker {}",
        get(&mut client, addr, "/orders").await,
        breaker.state()
    );
    for _ in 0..3 {
        println!(
            "GET /missing  -> {}   (an answer: not counted)",
            get(&mut client, addr, "/missing").await
        );
    }
    down.store(true, Ordering::SeqCst);
    println!("-- the orders service goes down --");
    for _ in 0..3 {
        println!(
            "GET /orders   -> {}   breaker {}",
            get(&mut client, addr, "/orders").await,
            breaker.state()
        );
    }
    println!(
        "GET /orders   -> {}",
        get(&mut client, addr, "/orders").await
    );

    down.store(false, Ordering::SeqCst);
    println!("-- the orders service is back; after the reset timeout a probe goes through --");
    tokio::time::sleep(Duration::from_millis(500)).await;
    println!(
        "GET /orders   -> {}   breaker {}",
        get(&mut client, addr, "/orders").await,
        breaker.state()
    );
}

/// `GET path` through the client, described.
async fn get<S, B>(client: &mut S, addr: std::net::SocketAddr, path: &str) -> String
where
    S: Service<http::Request<Empty<Bytes>>, Response = http::Response<B>, Error = BoxError>,
{
    let request = http::Request::get(format!("http://{addr}{path}"))
        .body(Empty::new())
        .unwrap();
    let answer = match client.ready().await {
        Ok(service) => service.call(request).await,
        Err(error) => Err(error),
    };
    describe(answer.map(|response| response.status()))
}

fn describe(answer: Result<StatusCode, BoxError>) -> String {
    match answer {
        Ok(status) => status.to_string(),
        Err(error) => match error.downcast_ref::<CircuitBreakerError>() {
            Some(rejection) => format!("rejected at once: {rejection}"),
            None => format!("transport error: {error}"),
        },
    }
}
