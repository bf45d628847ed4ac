//! The `traced_services` example's story, exported by `opentelemetry-otlp` over gRPC to
//! the example's OTLP receiver on loopback: orders' opening span with its links to the
//! failing calls, the rejected calls' failed spans, and edge's calls marked as refused
//! upstream, each in the trace of its checkout.

use breaker_examples::traced_services::{install, render, start, story, CollectedSpan, Collector};

fn attribute<'a>(span: &'a CollectedSpan, key: &str) -> Option<&'a str> {
    span.attributes.get(key).map(String::as_str)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_story_of_an_opening_is_in_the_traces() {
    let collector = Collector::default();
    let endpoint = collector.start().await;
    let provider = install(Some(endpoint));
    let services = start().await;
    let answers = story(&services).await;
    let statuses: Vec<u16> = answers.iter().map(|(status, _)| *status).collect();
    assert_eq!(statuses, [201, 201, 502, 502, 502, 503, 503]);
    assert!(
        answers[5].1.contains("circuit-breaker: open"),
        "{answers:?}"
    );
    tokio::task::spawn_blocking(move || provider.shutdown())
        .await
        .unwrap()
        .expect("exported over OTLP");
    let spans = collector.spans();
    let tree = render(&spans);

    let opens: Vec<&CollectedSpan> = spans
        .iter()
        .filter(|s| s.name == "circuit_breaker.open")
        .collect();
    assert_eq!(opens.len(), 1, "{tree}");
    let open = opens[0];
    assert!(attribute(open, "circuit_breaker.name")
        .unwrap()
        .starts_with("orders->"));
    let parent = spans
        .iter()
        .find(|s| s.span_id == open.parent_span_id)
        .expect("a parent");
    assert_eq!(
        (parent.name.as_str(), parent.service.as_str()),
        ("payments.charge", "orders")
    );
    let failures: Vec<&str> = open
        .links
        .iter()
        .filter(|(_, _, a)| {
            a.get("circuit_breaker.link.type").map(String::as_str) == Some("failure")
        })
        .map(|(_, span, _)| span.as_str())
        .collect();
    assert_eq!(failures.len(), 3, "{tree}");
    for failure in failures {
        let call = spans
            .iter()
            .find(|s| s.span_id == failure)
            .expect("a linked call");
        assert_eq!(call.name, "payments.charge");
    }
    let opened = &open.events[0];
    assert_eq!(opened.0, "circuit_breaker.opened");
    assert_eq!(
        opened
            .1
            .get("circuit_breaker.open.reason")
            .map(String::as_str),
        Some("consecutive_failures")
    );

    let rejected: Vec<&CollectedSpan> = spans
        .iter()
        .filter(|s| attribute(s, "error.type") == Some("circuit_breaker_open"))
        .collect();
    assert_eq!(rejected.len(), 2, "{tree}");
    for span in &rejected {
        assert_eq!(span.name, "payments.charge");
        assert!(span.status.starts_with("ERROR"), "{}", span.status);
        assert!(span
            .events
            .iter()
            .any(|(name, _)| name == "circuit_breaker.rejected"));
    }
    let marked: Vec<&CollectedSpan> = spans
        .iter()
        .filter(|s| attribute(s, "error.type") == Some("upstream_circuit_breaker_open"))
        .collect();
    assert_eq!(marked.len(), 2, "{tree}");
    for span in &marked {
        assert_eq!(
            (span.name.as_str(), span.service.as_str()),
            ("orders.create", "edge")
        );
        // The refusal below it, in the same trace: one trace per checkout, three services.
        assert!(rejected.iter().any(|r| r.trace_id == span.trace_id));
    }
    assert!(
        tree.contains("↪ failure: payments.charge [orders]"),
        "{tree}"
    );
}
