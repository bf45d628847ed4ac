//! Follow a breaker across services with OpenTelemetry: edge → orders → payments on
//! loopback, every call traced (W3C `traceparent` between the services), each service's
//! client behind a breaker per host.
//!
//! `cargo run --example traced_services`: two checkouts succeed; payments goes down;
//! three fail and open orders' breaker to payments (a `circuit_breaker.open` span linked
//! to the three failing calls); the next two are refused by it, and edge receives 503
//! with `circuit-breaker: open`. The spans go over OTLP/gRPC to a receiver inside the
//! example, which prints each trace as a tree. With `OTEL_EXPORTER_OTLP_ENDPOINT` set
//! (a local Jaeger: `docker run -p 16686:16686 -p 4317:4317 jaegertracing/all-in-one`,
//! then `OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317`) they go there instead.

use breaker_examples::traced_services::{install, render, start, story, Collector};

#[tokio::main]
async fn main() {
    let collector = Collector::default();
    let endpoint = match std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT") {
        Some(_) => None,
        None => Some(collector.start().await),
    };
    let provider = install(endpoint.clone());
    let services = start().await;
    for (n, (status, said)) in story(&services).await.into_iter().enumerate() {
        println!("checkout {}: {status} {said}", n + 1);
    }
    // Flush: the batch exporter sends what it holds.
    tokio::task::spawn_blocking(move || provider.shutdown())
        .await
        .expect("the provider shuts down")
        .expect("the spans were exported");
    match endpoint {
        Some(_) => print!("\n{}", render(&collector.spans())),
        None => println!("\ntraces sent to $OTEL_EXPORTER_OTLP_ENDPOINT"),
    }
}
