//! Follow a breaker across services with OpenTelemetry, and watch a chain of them listen
//! to each other: edge → orders → payments → bank on loopback, every call traced (W3C
//! `traceparent` between the services), each service's client behind a breaker per host.
//!
//! `cargo run --example traced_services`: a checkout a second for 40 s (on a manual
//! clock: the run takes a moment); the bank is down from 2 s to 20 s. Payments' breaker
//! to the bank opens at the third failure, for 30 s, and payments answers `503` with
//! `Retry-After: 30` and `circuit-breaker: open`. Orders' client hears it
//! (`open_on_retry_after`: the marker speaks for the whole service) and opens at once
//! until the same instant; edge hears orders and does the same. One advised answer per
//! hop instead of `fail_max` failures, and all three probe when payments does. The same
//! story with the advice ignored follows, for comparison.
//!
//! The spans go over OTLP/gRPC to a receiver inside the example, which prints the
//! traces where a breaker changed state as trees. With `OTEL_EXPORTER_OTLP_ENDPOINT` set
//! (a local Jaeger: `docker run -p 16686:16686 -p 4317:4317 jaegertracing/all-in-one`,
//! then `OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317`) they go there instead.

use breaker_examples::traced_services::{
    install, of_run, render_among, start, story, turning_points, Collector, Hearing, BANK_DOWN,
    BANK_UP,
};

#[tokio::main]
async fn main() {
    let collector = Collector::default();
    let endpoint = match std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT") {
        Some(_) => None,
        None => Some(collector.start().await),
    };
    let provider = install(endpoint.clone());
    let mut stories = Vec::new();
    for hearing in [Hearing::Advice, Hearing::Deaf] {
        let services = start(hearing).await;
        stories.push(story(&services).await);
    }
    println!("the bank is down from {BANK_DOWN} s to {BANK_UP} s; a checkout a second\n");
    for story in &stories {
        let heard = match story.hearing {
            Hearing::Advice => "orders and edge hear Retry-After (open_on_retry_after)",
            Hearing::Deaf => "orders and edge ignore Retry-After",
        };
        println!("{heard}:");
        print!("{}", story.timeline());
        println!(
            "  requests that reached payments during the outage: {}",
            story.reached_payments_during_outage
        );
        println!("  probes: {}\n", story.probed());
    }
    // Flush: the batch exporter sends what it holds.
    tokio::task::spawn_blocking(move || provider.shutdown())
        .await
        .expect("the provider shuts down")
        .expect("the spans were exported");
    match endpoint {
        Some(_) => {
            let spans = collector.spans();
            let advised = turning_points(&of_run(&spans, Hearing::Advice));
            println!("the traces where a breaker changed state, advice heard:");
            print!("{}", render_among(&advised, &spans));
        }
        None => println!("traces sent to $OTEL_EXPORTER_OTLP_ENDPOINT"),
    }
}
