//! The series a breaker gives an exporter (`metrics-exporter-prometheus`, rendered as a
//! scrape would): only transitions that can happen, and nothing more of a breaker once a
//! keyed set has evicted it. Keyed sets publish per set by default: as many series for
//! ten thousand keys as for ten, the keys in each state, their calls and transitions
//! summed under the set's name; per-key series only when asked for; nothing from an
//! unregistered breaker.

use std::collections::BTreeSet;
use std::time::Duration;

use breaker_runtime::keyed::Breakers;
use breaker_runtime::{
    circuit_breaker, metrics as breaker_metrics, CircuitBreaker, CircuitBreakerError, ManualClock,
};
use breaker_tests::TestError as E;
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
            .metrics_per_key(true)
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

/// The sample lines (not comments) that name `label` in any label value.
fn lines_naming<'a>(text: &'a str, label: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| !l.starts_with('#') && l.contains(label))
        .collect()
}

/// The value of the sample line that is `series` exactly, if there is one.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// A set of `keys` keys named `name`, of which every tenth has failed once and so opened.
fn set_with_some_open(name: &'static str, keys: u32) -> Breakers<u32> {
    let set = Breakers::builder(move |key: &u32| {
        CircuitBreaker::builder(format!("{name}[{key}]")).fail_max(1)
    })
    .name(name)
    .max_keys(keys as usize)
    .build();
    for key in 0..keys {
        let result = if key % 10 == 0 { Err(E::Down) } else { Ok(()) };
        let _ = set.call(&key, || result);
    }
    set
}

#[test]
fn a_set_exports_as_many_series_for_ten_thousand_keys_as_for_ten() {
    let (small, large) = (
        set_with_some_open("series-set-10", 10),
        set_with_some_open("series-set-10000", 10_000),
    );
    let text = scrape(|| {});
    let of_small = lines_naming(&text, "\"series-set-10\"");
    let of_large = lines_naming(&text, "\"series-set-10000\"");
    // Calls by outcome (4), transitions (6), keys in each of five states (5).
    assert_eq!(of_small.len(), 15, "{of_small:#?}");
    assert_eq!(of_large.len(), 15, "{of_large:#?}");
    assert!(
        lines_naming(&text, "series-set-10000[").is_empty(),
        "no series of a key"
    );

    let keys = |state: &str| {
        value(
            &text,
            &format!(r#"circuit_breaker_keys{{name="series-set-10000",state="{state}"}}"#),
        )
    };
    assert_eq!(keys("open"), Some(1_000.0));
    assert_eq!(keys("closed"), Some(9_000.0));
    assert_eq!(keys("half_open"), Some(0.0));
    let calls = |outcome: &str| {
        value(
            &text,
            &format!(
                r#"circuit_breaker_calls_total{{breaker="series-set-10000",outcome="{outcome}"}}"#
            ),
        )
    };
    assert_eq!(calls("success"), Some(9_000.0));
    assert_eq!(calls("failure"), Some(1_000.0));
    assert_eq!(
        value(
            &text,
            r#"circuit_breaker_transitions_total{breaker="series-set-10000",from="closed",to="open"}"#
        ),
        Some(1_000.0)
    );
    assert_eq!(large.len(), 10_000);
    drop(small);
}

#[test]
fn the_keys_gauge_follows_every_state_and_the_keys_that_leave() {
    let clock = ManualClock::new();
    let set: Breakers<&'static str> = Breakers::builder({
        let clock = clock.clone();
        move |key: &&'static str| {
            CircuitBreaker::builder(format!("series-states[{key}]"))
                .fail_max(1)
                .reset_timeout(Duration::from_secs(30))
                .clock(clock.clone())
        }
    })
    .name("series-states")
    .idle_ttl(Duration::from_secs(60))
    .clock(clock.clone())
    .build();
    for key in ["a", "b", "c", "d", "e", "f"] {
        let _ = set.call(&key, || Ok::<_, E>(()));
    }
    let _ = set.call(&"a", || Err::<(), _>(E::Down));
    let _ = set.call(&"b", || Err::<(), _>(E::Down));
    set.get(&"c").unwrap().force_open();
    set.get(&"d").unwrap().disable();
    clock.advance(Duration::from_secs(30));
    let probe = set.try_acquire(&"b").expect("b's probe");
    let keys = |text: &str, state: &str| {
        value(
            text,
            &format!(r#"circuit_breaker_keys{{name="series-states",state="{state}"}}"#),
        )
    };
    let text = scrape(|| {});
    for (state, n) in [
        ("closed", 2.0),
        ("open", 1.0),
        ("half_open", 1.0),
        ("forced_open", 1.0),
        ("disabled", 1.0),
    ] {
        assert_eq!(keys(&text, state), Some(n), "{state}:\n{text}");
    }
    probe.success();
    set.get(&"c").unwrap().close();
    set.get(&"d").unwrap().close();
    // Every closed key goes idle and is evicted; `a` is open and stays.
    clock.advance(Duration::from_secs(61));
    assert_eq!(set.sweep(), 5, "b, c, d, e and f");
    let text = scrape(|| {});
    assert_eq!(keys(&text, "closed"), Some(0.0), "{text}");
    assert_eq!(keys(&text, "open"), Some(1.0), "{text}");
}

#[test]
fn metrics_per_key_brings_back_each_keys_own_series() {
    let set: Breakers<u32> =
        Breakers::builder(|key: &u32| CircuitBreaker::builder(format!("series-per-key[{key}]")))
            .name("series-per-key")
            .metrics_per_key(true)
            .build();
    for key in 0..3 {
        let _ = set.call(&key, || Ok::<_, E>(()));
    }
    let text = scrape(|| {});
    for key in 0..3 {
        // Calls by outcome (4), the state, and the six transitions.
        let own = lines_naming(&text, &format!("breaker=\"series-per-key[{key}]\""));
        assert_eq!(own.len(), 11, "{own:#?}");
    }
    assert!(
        lines_naming(&text, "\"series-per-key\"").is_empty(),
        "no series of the set"
    );
}

#[test]
fn an_unregistered_breaker_exports_nothing() {
    let text = scrape(|| {
        let hidden = CircuitBreaker::builder("series-unregistered")
            .fail_max(1)
            .unregistered()
            .build();
        let _ = hidden.call(|| Err::<(), _>(E::Down));
        hidden.close();
    });
    assert!(
        lines_naming(&text, "series-unregistered").is_empty(),
        "{text}"
    );
    // Nor do the keys of a set whose template keeps them out of the registry.
    let set: Breakers<u32> = Breakers::builder(|key: &u32| {
        CircuitBreaker::builder(format!("series-hidden-keys[{key}]"))
            .fail_max(1)
            .unregistered()
    })
    .name("series-hidden-keys")
    .build();
    let text = scrape(|| {
        let _ = set.call(&1, || Err::<(), _>(E::Down));
    });
    assert_eq!(
        value(
            &text,
            r#"circuit_breaker_calls_total{breaker="series-hidden-keys",outcome="failure"}"#
        ),
        Some(0.0),
        "{text}"
    );
    assert!(lines_naming(&text, "series-hidden-keys[").is_empty());
}

#[circuit_breaker(name = "series-attribute", per = host, fail_max = 1)]
fn fetch(host: &str, up: bool) -> Result<(), E> {
    let _ = host;
    if up {
        Ok(())
    } else {
        Err(E::Down)
    }
}

#[circuit_breaker(name = "series-attribute-per-key", per = host, metrics_per_key)]
fn fetch_per_key(host: &str) -> Result<(), E> {
    let _ = host;
    Ok(())
}

#[test]
fn the_attributes_per_publishes_per_function_unless_metrics_per_key() {
    let text = scrape(|| {
        for host in ["a", "b", "c"] {
            let _ = fetch(host, host != "c");
            let _ = fetch_per_key(host);
        }
    });
    assert_eq!(
        value(
            &text,
            r#"circuit_breaker_keys{name="series-attribute",state="open"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert!(lines_naming(&text, "series-attribute[").is_empty());
    for host in ["a", "b", "c"] {
        let own = lines_naming(
            &text,
            &format!("breaker=\"series-attribute-per-key[{host}]\""),
        );
        assert_eq!(own.len(), 11, "{own:#?}");
    }
}

#[test]
fn advised_openings_are_counted_by_source_and_a_sets_under_its_name() {
    use breaker_runtime::{Advice, AdviceSource};
    let advice = |secs, source| Advice::new(Duration::from_secs(secs), source).unwrap();
    let clock = ManualClock::new();
    let breaker = CircuitBreaker::builder("series-advised")
        .fail_max(1)
        .reset_timeout(Duration::from_secs(10))
        .clock(clock.clone())
        .build();
    let set = Breakers::builder(|key: &u32| {
        CircuitBreaker::builder(format!("series-advised-set[{key}]")).fail_max(1)
    })
    .name("series-advised-set")
    .build();
    let text = scrape(|| {
        // Opened for an upstream breaker's 30 s; its probe fails with a pushback of 5 s;
        // then, past that, a probe fails without advice: an opening of the plain kind.
        breaker
            .try_acquire()
            .unwrap()
            .failure_with_advice(advice(30, AdviceSource::UpstreamBreaker));
        clock.advance(Duration::from_secs(30));
        breaker
            .try_acquire()
            .unwrap()
            .failure_with_advice(advice(5, AdviceSource::GrpcPushback));
        clock.advance(Duration::from_secs(5));
        breaker.try_acquire().unwrap().failure();
        for key in 0..3 {
            set.try_acquire(&key)
                .unwrap()
                .failure_with_advice(advice(20, AdviceSource::RetryAfter));
        }
    });
    let counted = |name: &str, source: &str| {
        value(
            &text,
            &format!(
                "circuit_breaker_advised_openings_total{{name=\"{name}\",source=\"{source}\"}}"
            ),
        )
    };
    assert_eq!(
        counted("series-advised", "upstream_breaker"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        counted("series-advised", "grpc_pushback"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(counted("series-advised", "retry_after"), None, "{text}");
    assert_eq!(
        counted("series-advised-set", "retry_after"),
        Some(3.0),
        "the set's keys under the set's name: {text}"
    );
    assert!(
        lines_naming(&text, "series-advised-set[").is_empty(),
        "no series per key: {text}"
    );
}
