//! One breaker per host: a reqwest client talks to two services on loopback; one is
//! down. Only the down host's breaker opens, and its requests are refused at once,
//! while the other host keeps answering.
//!
//! `cargo run --example per_host`

use std::time::Duration;

use axum::http::StatusCode;
use breaker_runtime::reqwest::CircuitBreakerMiddleware;
use breaker_runtime::{CircuitBreaker, CircuitBreakerError};

/// A service on loopback that always answers `status`; its base URL.
async fn service(status: StatusCode) -> String {
    let app = axum::Router::new().route("/", axum::routing::get(move || async move { status }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(breaker_examples::serve(listener, app));
    url
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let billing = service(StatusCode::OK).await;
    let search = service(StatusCode::SERVICE_UNAVAILABLE).await;

    let breakers = CircuitBreakerMiddleware::new(|authority: &str| {
        CircuitBreaker::builder(format!("http[{authority}]"))
            .fail_max(3)
            .reset_timeout(Duration::from_secs(30))
    });
    let hosts = breakers.breakers().clone();
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(breakers)
        .build();

    for round in 1..=5 {
        for (name, url) in [("billing", &billing), ("search ", &search)] {
            let answer = match client.get(url.as_str()).send().await {
                Ok(response) => response.status().to_string(),
                Err(reqwest_middleware::Error::Middleware(error)) => {
                    match error.downcast_ref::<CircuitBreakerError>() {
                        Some(rejection) => format!("refused: {rejection}"),
                        None => format!("error: {error}"),
                    }
                }
                Err(error) => format!("error: {error}"),
            };
            println!("round {round}  {name}  {answer}");
        }
    }

    println!("\nbreakers, one per host:");
    for breaker in hosts.snapshot().breakers {
        println!(
            "  {:40} {:9} failures {}",
            breaker.name.to_string(),
            breaker.state.to_string(),
            breaker.fail_counter
        );
    }
}
