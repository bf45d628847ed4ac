//! What OpenTelemetry costs a breaker (feature `opentelemetry`), under
//! `tracing_opentelemetry::layer()` with the SDK exporting to memory:
//!
//! - a closed success, in a request span: the same instructions as without the feature
//!   (callgrind: `bash benches/closed_path.sh opentelemetry`), timed here beside it;
//! - a failing call in a request span, which keeps the call's span context for the
//!   opening to link to;
//! - an opening: its `circuit_breaker.open` span, the links to the failures, the event;
//! - a rejection, which fails the caller's span.
//!
//! `cargo bench -p breaker-benches --features opentelemetry --bench telemetry`.

use breaker_runtime::CircuitBreaker;
use criterion::{criterion_group, criterion_main, Criterion};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tracing_subscriber::layer::SubscriberExt;

use breaker_benches::E;

fn telemetry(c: &mut Criterion) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
    let subscriber = tracing_subscriber::registry().with(layer);
    let _default = tracing::subscriber::set_default(subscriber);
    // Spans pile up in the exporter: empty it now and then, outside the timed loops.
    let drain = || exporter.reset();

    let mut group = c.benchmark_group("opentelemetry, in a request span");
    let request = tracing::info_span!("request");
    let _entered = request.enter();

    let closed = CircuitBreaker::builder("bench-otel-closed").build();
    group.bench_function("closed success", |b| {
        b.iter(|| closed.call(|| Ok::<_, E>(std::hint::black_box(1))))
    });

    // Never opens: each failure keeps its span context (the latest 8).
    let failing = CircuitBreaker::builder("bench-otel-failing")
        .fail_max(65_535)
        .build();
    group.bench_function("failure (span context kept)", |b| {
        b.iter(|| {
            let _ = failing.call(|| Err::<u32, E>(E));
            failing.this_replica().close();
        })
    });
    drain();
    drop(_entered);
    // The same failure with no span around it: no context to keep.
    group.bench_function("failure, no span", |b| {
        b.iter(|| {
            let _ = failing.call(|| Err::<u32, E>(E));
            failing.this_replica().close();
        })
    });
    let _entered = request.enter();

    // Opens at every call, then is closed by hand (both timed: the close is a
    // transition event too, recorded in the request span).
    let opening = CircuitBreaker::builder("bench-otel-opening")
        .fail_max(1)
        .build();
    group.bench_function("opening (span, links, event) and close()", |b| {
        b.iter(|| {
            let _ = opening.call(|| Err::<u32, E>(E));
            opening.close();
        })
    });
    drain();

    let open = CircuitBreaker::builder("bench-otel-open").build();
    open.open();
    group.bench_function("rejection (the caller's span fails)", |b| {
        b.iter(|| open.call(|| Ok::<_, E>(1)))
    });
    group.finish();
    drain();
}

criterion_group! {
    name = benches;
    config = breaker_benches::criterion();
    targets = telemetry
}
criterion_main!(benches);
