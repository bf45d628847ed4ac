//! The series a breaker gives an exporter (`metrics-exporter-prometheus`, rendered as a
//! scrape would): only transitions that can happen, and nothing more of a breaker once a
//! keyed set has evicted it.

use std::collections::BTreeSet;
use std::time::Duration;

use breaker_runtime::keyed::Breakers;
use breaker_runtime::{
    metrics as breaker_metrics, CircuitBreaker, CircuitBreakerError, ManualClock,
};
use metrics_exporter_prometheus::PrometheusBuilder;

/// What a scrape of a fresh exporter shows after one `publish()`, and after `before`.
fn scrape(before: impl FnOnce()) -> String {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        before();
        breaker_metrics::publish();
    });
    handle.render()
}

/// The sample lines of `metric` whose `breaker` label starts with `prefix`.
fn series<'a>(text: &'a str, metric: &str, prefix: &str) -> Vec<&'a str> {
    let start = format!("{metric}{{breaker=\"{prefix}");
    text.lines().filter(|l| l.starts_with(&start)).collect()
}

#[test]
fn a_breaker_exports_the_six_transitions_that_can_happen_and_no_other() {
    let breaker = CircuitBreaker::builder("series-pairs").fail_max(1).build();
    let text = scrape(|| {
        let _ = breaker.call(|| {
            Err::<(), CircuitBreakerError>(CircuitBreakerError::timeout("x", Duration::ZERO))
        });
    });
    let transitions = series(&text, "circuit_breaker_transitions_total", "series-pairs\"");
    let pairs: BTreeSet<(&str, &str)> = transitions
        .iter()
        .map(|line| {
            let label = |name: &str| {
                let at = line.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
                &line[at..at + line[at..].find('"').unwrap()]
            };
            (label("from"), label("to"))
        })
        .collect();
    let expected: BTreeSet<(&str, &str)> = [
        ("closed", "open"),
        ("closed", "half_open"),
        ("open", "closed"),
        ("open", "half_open"),
        ("half_open", "closed"),
        ("half_open", "open"),
    ]
    .into();
    assert_eq!(pairs, expected, "{text}");
    assert_eq!(transitions.len(), 6);
    assert!(transitions
        .iter()
        .any(|l| l.contains("from=\"closed\",to=\"open\"") && l.ends_with(" 1")));
    // Calls by outcome (4), the state, and the six transitions.
    let all = text
        .lines()
        .filter(|l| l.contains("breaker=\"series-pairs\""))
        .count();
    assert_eq!(all, 11, "{text}");
}

#[test]
fn breakers_evicted_from_a_keyed_set_are_not_published() {
    let clock = ManualClock::new();
    let hosts: Breakers<String> =
        Breakers::builder(|key: &String| CircuitBreaker::builder(format!("cycle[{key}]")))
            .max_keys(10)
            .idle_ttl(Duration::from_secs(60))
            .clock(clock.clone())
            .build();
    // 500 keys through a set of 10: each batch of 10 goes idle before the next arrives.
    for i in 0..500 {
        if i % 10 == 0 {
            clock.advance(Duration::from_secs(61));
        }
        hosts
            .call(&format!("k{i}"), || Ok::<_, CircuitBreakerError>(()))
            .unwrap();
    }
    assert!(
        hosts.overflow().is_none(),
        "evictions made room for every key"
    );
    let text = scrape(|| {});
    let published: BTreeSet<&str> = series(&text, "circuit_breaker_state", "cycle[")
        .into_iter()
        .collect();
    assert_eq!(
        published.len(),
        10,
        "the ten live keys only:\n{published:#?}"
    );
    for i in 490..500 {
        assert!(
            published
                .iter()
                .any(|l| l.contains(&format!("cycle[k{i}]"))),
            "k{i} is live"
        );
    }
}

#[test]
fn a_shared_breaker_exports_whether_it_reaches_its_fleet_and_a_local_one_does_not() {
    let Some(mut server) = breaker_tests::redis_server::RedisServer::start() else {
        return;
    };
    let backend = breaker_runtime::shared::RedisBackend::builder(server.url())
        .namespace("series")
        .build()
        .unwrap();
    let shared = CircuitBreaker::builder("series-fleet")
        .shared(&backend)
        .build();
    let local = CircuitBreaker::builder("series-local").build();
    breaker_tests::poll_until(Duration::from_secs(10), || backend.is_healthy())
        .expect("the backend connects");
    // One recorder for both scrapes (handles stay bound to the recorder they met).
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let scrape = || {
        metrics::with_local_recorder(&recorder, breaker_metrics::publish);
        handle.render()
    };
    let text = scrape();
    assert_eq!(
        series(&text, "circuit_breaker_fleet_healthy", "series-fleet\""),
        [r#"circuit_breaker_fleet_healthy{breaker="series-fleet"} 1"#],
        "{text}"
    );
    assert!(series(&text, "circuit_breaker_fleet_healthy", "series-local\"").is_empty());

    server.kill();
    // A call that needs the fleet (a trip) finds the backend gone.
    let _ = shared.call(|| Err::<(), _>(breaker_tests::TestError::Down));
    breaker_tests::poll_until(Duration::from_secs(10), || !backend.is_healthy())
        .expect("the backend notices");
    let text = scrape();
    assert_eq!(
        series(&text, "circuit_breaker_fleet_healthy", "series-fleet\""),
        [r#"circuit_breaker_fleet_healthy{breaker="series-fleet"} 0"#],
        "{text}"
    );
    drop(local);
}
