//! Feature `opentelemetry` across a fleet: two replicas on a `redis-server` of the
//! test's own. The opening span of the replica that tripped travels with its vote (a
//! W3C `traceparent` in the fleet's record); the other replica's fleet-applied opening
//! is a root span linked to it, and its fleet-applied closing a root span linked to the
//! probe call that closed the fleet. A garbage `traceparent` in Redis is ignored.
//!
//! The replicas' fleet threads record spans too, so this binary exports through one
//! global subscriber.

use std::sync::OnceLock;
use std::time::Duration;

use breaker_runtime::conventions::{attributes as key, spans, values};
use breaker_tests::fleet::{connected, replica};
use breaker_tests::poll_until;
use breaker_tests::redis_server::RedisServer;
use breaker_tests::TestError;
use opentelemetry::trace::{SpanId, TracerProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing_subscriber::layer::SubscriberExt;

/// The spans every thread of this binary finished so far.
fn exported() -> Vec<SpanData> {
    static EXPORT: OnceLock<(InMemorySpanExporter, SdkTracerProvider)> = OnceLock::new();
    let (exporter, provider) = EXPORT.get_or_init(|| {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("fleet-traces"));
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
            .expect("the only global subscriber of this binary");
        (exporter, provider)
    });
    provider.force_flush().unwrap();
    exporter.get_finished_spans().unwrap()
}

fn text(attributes: &[KeyValue], name: &str) -> Option<String> {
    attributes
        .iter()
        .find(|kv| kv.key.as_str() == name)
        .map(|kv| kv.value.as_str().into_owned())
}

/// The finished spans named `span` of the breaker `breaker`, made by `origin`.
fn of(breaker: &str, span: &str, origin: &str) -> Vec<SpanData> {
    exported()
        .into_iter()
        .filter(|s| s.name == span)
        .filter(|s| text(&s.attributes, key::NAME).as_deref() == Some(breaker))
        .filter(|s| text(&s.attributes, key::TRANSITION_ORIGIN).as_deref() == Some(origin))
        .collect()
}

/// The span ids a span links to with `circuit_breaker.link.type = kind`.
fn links(span: &SpanData, kind: &str) -> Vec<SpanId> {
    span.links
        .iter()
        .filter(|l| text(&l.attributes, key::LINK_TYPE).as_deref() == Some(kind))
        .map(|l| l.span_context.span_id())
        .collect()
}

#[test]
fn a_fleet_opening_and_closing_link_to_where_they_began() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    exported(); // the subscriber, before the replicas' threads start
    let name = "fleet-traced";
    let make = || {
        replica(&server.url(), "traces", name, |b| {
            b.fail_max(1).reset_timeout(Duration::from_millis(300))
        })
    };
    let fleet = [make(), make()];
    connected(&fleet);
    let [a, b] = &fleet;

    let request = tracing::info_span!("request-a");
    request.in_scope(|| {
        let _ = a.breaker.call(|| Err::<(), _>(TestError::Down));
    });
    poll_until(Duration::from_secs(5), || {
        !of(name, spans::OPEN, values::FLEET).is_empty()
    })
    .expect("replica B applied the fleet's opening");
    let origin = of(name, spans::OPEN, values::CALL);
    assert_eq!(origin.len(), 1, "A's own opening, in A's request");
    let followed = &of(name, spans::OPEN, values::FLEET)[0];
    assert_eq!(followed.parent_span_id, SpanId::INVALID, "a root span on B");
    assert_eq!(
        links(followed, values::LINK_ORIGIN),
        [origin[0].span_context.span_id()]
    );
    assert!(followed.links[0].span_context.is_remote());

    // After the reset timeout one replica's call probes for the fleet and closes it; the
    // other replica's closing links to that call.
    let closed = poll_until(Duration::from_secs(10), || {
        for (n, replica) in [a, b].into_iter().enumerate() {
            let probe = tracing::info_span!("probe", replica = n);
            let _ = probe.in_scope(|| replica.breaker.call(|| Ok::<(), TestError>(())));
        }
        !of(name, spans::CLOSE, values::FLEET).is_empty()
    });
    closed.expect("the fleet closed and a replica followed");
    let closing = &of(name, spans::CLOSE, values::FLEET)[0];
    let probes: Vec<SpanId> = exported()
        .iter()
        .filter(|s| s.name == "probe")
        .map(|s| s.span_context.span_id())
        .collect();
    let linked = links(closing, values::LINK_ORIGIN);
    assert_eq!(linked.len(), 1);
    assert!(
        probes.contains(&linked[0]),
        "linked to the probe call that closed the fleet"
    );
    assert_eq!(closing.parent_span_id, SpanId::INVALID);
}

#[test]
fn a_garbage_traceparent_in_redis_is_ignored() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    exported();
    let name = "fleet-garbage";
    let b = replica(&server.url(), "garbage", name, |b| b.fail_max(1));
    connected(std::slice::from_ref(&b));
    // Another writer opens the record with a trace that is no traceparent, and says so
    // on the fleet's channel (as the scripts publish: epoch gen state remaining cause
    // trace version name).
    let garbage = "00-zzzz-not-a-trace-at-all";
    breaker_tests::fleet::write_open_record(&server, "garbage", name, 41, garbage);
    server.command(&[
        "PUBLISH",
        &breaker_tests::fleet::channel("garbage", name),
        &format!("1 41 open 60000 auto {garbage} 99 {name}"),
    ]);
    let opened = poll_until(Duration::from_secs(10), || {
        let _ = b.breaker.call(|| Ok::<(), TestError>(()));
        !of(name, spans::OPEN, values::FLEET).is_empty()
    });
    opened.expect("B followed the record");
    let followed = &of(name, spans::OPEN, values::FLEET)[0];
    assert!(followed.links.is_empty(), "no link from garbage");
    assert_eq!(b.breaker.state(), breaker_runtime::State::Open);
}
