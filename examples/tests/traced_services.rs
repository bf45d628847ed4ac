//! The `traced_services` example's story, exported by `opentelemetry-otlp` over gRPC to
//! the example's OTLP receiver on loopback. Heard, the bank's outage opens payments'
//! breaker (linked to the failing calls), and orders' and edge's at the first advised
//! answer, in the same trace, each saying how long and who advised it; nothing reaches
//! payments while it is out, and all three probe together. Deaf, more requests reach
//! payments and each hop probes on its own cycle.

use breaker_examples::traced_services::{
    install, of_run, render, start, story, turning_points, CollectedSpan, Collector, Hearing,
    Probe, Story,
};

fn attribute<'a>(span: &'a CollectedSpan, key: &str) -> Option<&'a str> {
    span.attributes.get(key).map(String::as_str)
}

fn probes(story: &Story, hop: &str) -> Vec<u64> {
    story
        .probes
        .iter()
        .filter(|p: &&Probe| p.hop == hop)
        .map(|p| p.at)
        .collect()
}

/// Edge's answers: `(from, to, status)` for each run of one status and text.
fn answers(story: &Story) -> Vec<(u64, u64, u16, String)> {
    let mut runs: Vec<(u64, u64, u16, String)> = Vec::new();
    for c in &story.checkouts {
        match runs.last_mut() {
            Some(run) if run.2 == c.status && run.3 == c.said => run.1 = c.at,
            _ => runs.push((c.at, c.at, c.status, c.said.clone())),
        }
    }
    runs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chain_listens_to_payments_and_the_traces_show_who_advised_what() {
    let collector = Collector::default();
    let endpoint = collector.start().await;
    let provider = install(Some(endpoint));
    let heard = story(&start(Hearing::Advice).await).await;
    let deaf = story(&start(Hearing::Deaf).await).await;

    let refused = "edge's breaker refused: not sent".to_string();
    assert_eq!(
        answers(&heard),
        [
            (0, 1, 201, "ordered".to_string()),
            (2, 3, 502, "orders failed".to_string()),
            (
                4,
                4,
                503,
                "orders refused: circuit-breaker: open".to_string()
            ),
            (5, 33, 503, refused.clone()),
            (34, 39, 201, "ordered".to_string()),
        ],
        "{}",
        heard.timeline()
    );
    assert_eq!(
        heard.reached_payments_during_outage,
        4,
        "{}",
        heard.timeline()
    );
    for hop in ["payments", "orders", "edge"] {
        assert_eq!(probes(&heard, hop), [34], "{hop}: {}", heard.probed());
    }

    assert_eq!(
        deaf.reached_payments_during_outage,
        8,
        "{}",
        deaf.timeline()
    );
    assert_eq!(probes(&deaf, "payments"), [36], "{}", deaf.probed());
    for hop in ["orders", "edge"] {
        assert_eq!(probes(&deaf, hop), [16, 26, 36], "{hop}: {}", deaf.probed());
    }
    assert_eq!(
        deaf.checkouts[34].status, 503,
        "still out after payments could serve"
    );

    tokio::task::spawn_blocking(move || provider.shutdown())
        .await
        .unwrap()
        .expect("exported over OTLP");
    let all = collector.spans();
    let spans = of_run(&all, Hearing::Advice);
    let tree = render(&turning_points(&spans));

    // Three openings, one per hop, all in the trace of the checkout at 4 s.
    let opens: Vec<&CollectedSpan> = spans
        .iter()
        .filter(|s| s.name == "circuit_breaker.open")
        .collect();
    assert_eq!(opens.len(), 3, "{tree}");
    assert!(
        opens.iter().all(|s| s.trace_id == opens[0].trace_id),
        "{tree}"
    );
    let open = |hop: &str| {
        *opens
            .iter()
            .find(|s| {
                attribute(s, "circuit_breaker.name")
                    .unwrap()
                    .starts_with(hop)
            })
            .unwrap_or_else(|| panic!("{hop}'s opening: {tree}"))
    };
    let parent = |span: &CollectedSpan| {
        spans
            .iter()
            .find(|s| s.span_id == span.parent_span_id)
            .map(|s| (s.name.clone(), attribute(s, "service").map(str::to_string)))
    };

    let payments = open("payments->");
    assert_eq!(
        parent(payments),
        Some(("bank.pay".into(), Some("payments".into())))
    );
    let opened = &payments.events[0];
    assert_eq!(opened.0, "circuit_breaker.opened");
    assert_eq!(
        opened
            .1
            .get("circuit_breaker.open.reason")
            .map(String::as_str),
        Some("consecutive_failures")
    );
    assert_eq!(
        opened.1.get("circuit_breaker.open.advised"),
        None,
        "its own rule"
    );
    let failures: Vec<&str> = payments
        .links
        .iter()
        .filter(|(_, _, a)| {
            a.get("circuit_breaker.link.type").map(String::as_str) == Some("failure")
        })
        .map(|(_, span, _)| span.as_str())
        .collect();
    assert_eq!(failures.len(), 3, "{tree}");
    for failure in failures {
        let call = all
            .iter()
            .find(|s| s.span_id == failure)
            .expect("a linked call");
        assert_eq!(call.name, "bank.pay");
    }

    for (hop, call, service) in [
        ("orders->", "payments.charge", "orders"),
        ("edge->", "orders.create", "edge"),
    ] {
        let span = open(hop);
        assert_eq!(
            parent(span),
            Some((call.into(), Some(service.into()))),
            "{tree}"
        );
        assert_eq!(
            attribute(span, "circuit_breaker.open.advised"),
            Some("30"),
            "{tree}"
        );
        assert_eq!(
            attribute(span, "circuit_breaker.open.advice_source"),
            Some("upstream_breaker")
        );
        let opened = &span.events[0].1;
        assert_eq!(
            opened
                .get("circuit_breaker.open.reason")
                .map(String::as_str),
            Some("retry_after"),
            "{hop} opened at once on the advice"
        );
        assert_eq!(
            opened
                .get("circuit_breaker.open.advised")
                .map(String::as_str),
            Some("30")
        );
        // Linked to the advised call, as to any failure.
        assert!(span
            .links
            .iter()
            .any(|(_, linked, _)| *linked == span.parent_span_id));
    }

    // While edge's breaker is open, its calls fail in their own span and go nowhere.
    let rejected: Vec<&CollectedSpan> = spans
        .iter()
        .filter(|s| attribute(s, "error.type") == Some("circuit_breaker_open"))
        .collect();
    assert_eq!(rejected.len(), 29, "{tree}");
    for span in &rejected {
        assert_eq!(span.name, "orders.create");
        assert!(span.status.starts_with("ERROR"), "{}", span.status);
    }
    assert!(
        tree.contains("circuit_breaker.open.reason=retry_after"),
        "{tree}"
    );
    assert!(tree.contains("↪ failure: bank.pay [payments]"), "{tree}");
}
