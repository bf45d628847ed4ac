//! A throttled call wherever calls go through a breaker: the attribute (sync and async,
//! with a `fallback`), the tower layer, the reqwest middleware against a loopback
//! server; and everything that tells of it: the error, the `tracing` event, the
//! OpenTelemetry span, the metric and gauge, the HTTP answer, the snapshot and the
//! admin JSON. Each breaker here refuses (nearly) every call once it has seen its
//! failures: no cap, and nothing accepted.

mod loopback;
mod otel;

use std::time::Duration;

use breaker_runtime::conventions::{attributes as key, events, values};
use breaker_runtime::{
    circuit_breaker, throttle, CircuitBreaker, CircuitBreakerError, ErrorKind, ManualClock, State,
};
use breaker_tests::{capture_global_events, TestError as E};

/// A breaker that throttles with no cap once `min_calls` failures have come and nothing
/// was accepted.
fn refusing(name: &str, min_calls: u32) -> breaker_runtime::Builder {
    CircuitBreaker::builder(name.to_string())
        .throttle(50)
        .max_throttle(100)
        .min_calls(min_calls)
        .clock(ManualClock::new())
}

#[circuit_breaker(
    name = "throttle-attr",
    throttle = "50%",
    max_throttle = "100%",
    min_calls = 5
)]
fn fetch(up: bool) -> Result<u32, E> {
    if up {
        Ok(1)
    } else {
        Err(E::Down)
    }
}

#[circuit_breaker(
    name = "throttle-attr-fallback",
    throttle = "50%",
    max_throttle = "100%",
    min_calls = 5,
    fallback = cached
)]
fn fetch_or_cached(up: bool) -> Result<u32, E> {
    if up {
        Ok(1)
    } else {
        Err(E::Down)
    }
}

fn cached(_up: bool) -> Result<u32, E> {
    Ok(42)
}

#[circuit_breaker(
    name = "throttle-attr-async",
    throttle = "50%",
    max_throttle = "100%",
    min_calls = 5
)]
async fn fetch_async(up: bool) -> Result<u32, E> {
    if up {
        Ok(1)
    } else {
        Err(E::Down)
    }
}

#[tokio::test]
async fn the_attribute_refuses_with_a_throttled_error_and_a_fallback_answers() {
    throttle::seed_this_thread(1);
    for name in [
        "throttle-attr",
        "throttle-attr-fallback",
        "throttle-attr-async",
    ] {
        let breaker = breaker_runtime::registry::get(name).unwrap();
        assert!(breaker.set_clock(ManualClock::new()));
    }
    for _ in 0..5 {
        assert_eq!(fetch(false), Err(E::Down));
        assert_eq!(fetch_or_cached(false), Err(E::Down));
        assert_eq!(fetch_async(false).await, Err(E::Down));
    }
    // Five asked, none accepted: (5 - 0) / 6 of calls refused, more as refusals add up.
    let refused = |result: &Result<u32, E>| {
        *result == Err(E::rejected(ErrorKind::Throttled, "throttle-attr"))
    };
    let results: Vec<Result<u32, E>> = (0..20).map(|_| fetch(true)).collect();
    assert!(
        results.iter().filter(|r| refused(r)).count() >= 10,
        "{results:?}"
    );
    let answered: Vec<Result<u32, E>> = (0..20).map(|_| fetch_or_cached(true)).collect();
    assert!(
        answered.iter().filter(|r| **r == Ok(42)).count() >= 10,
        "{answered:?}"
    );
    assert!(
        answered.iter().all(|r| r.is_ok()),
        "the fallback answers every refusal"
    );
    let mut refused_async = 0;
    for _ in 0..20 {
        if fetch_async(true).await == Err(E::rejected(ErrorKind::Throttled, "throttle-attr-async"))
        {
            refused_async += 1;
        }
    }
    assert!(refused_async >= 10, "{refused_async}");
    assert_eq!(
        breaker_runtime::registry::get("throttle-attr")
            .unwrap()
            .state(),
        State::Closed,
        "throttling, never open"
    );
}

#[test]
fn the_event_the_span_and_the_error_say_throttled() {
    throttle::seed_this_thread(2);
    let events_seen = capture_global_events();
    let b = refusing("throttle-told", 5).build();
    for _ in 0..5 {
        b.try_acquire().unwrap().failure();
    }
    let spans = otel::traced(|| {
        let request = tracing::info_span!("request");
        let _entered = request.enter();
        let refusal = loop {
            if let Err(e) = b.try_acquire() {
                break e;
            }
        };
        assert!(refusal.is_throttled());
    });
    let request = otel::named(&spans, "request")
        .into_iter()
        .find(|s| !matches!(s.status, opentelemetry::trace::Status::Unset))
        .expect("the refused call's span");
    assert_eq!(
        request.status,
        opentelemetry::trace::Status::error("circuit breaker throttled")
    );
    assert_eq!(
        otel::string(otel::attribute(&request.attributes, key::ERROR_TYPE)),
        Some(values::CIRCUIT_BREAKER_THROTTLED.to_string())
    );

    // Outside the span's own subscriber, the global one hears the event.
    while b.try_acquire().is_ok() {}
    let told: Vec<_> = events_seen
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.name == events::THROTTLED && e.field(key::NAME) == Some("throttle-told"))
        .cloned()
        .collect();
    assert!(!told.is_empty());
    let event = &told[0];
    assert_eq!(event.level, tracing::Level::DEBUG);
    assert_eq!(
        event.field(key::ERROR_TYPE),
        Some(values::CIRCUIT_BREAKER_THROTTLED)
    );
    let p: f64 = event
        .field(key::THROTTLE_PROBABILITY)
        .unwrap()
        .parse()
        .unwrap();
    assert!((p - 5.0 / 6.0).abs() < 1e-6, "{p}");
}

#[test]
fn the_metric_and_the_gauge_count_refusals() {
    use metrics_exporter_prometheus::PrometheusBuilder;
    throttle::seed_this_thread(3);
    let b = refusing("throttle-metrics", 5).build();
    let plain = CircuitBreaker::builder("throttle-metrics-none").build();
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let mut refused = 0u64;
    metrics::with_local_recorder(&recorder, || {
        for _ in 0..5 {
            b.try_acquire().unwrap().failure();
        }
        for _ in 0..50 {
            if b.try_acquire().is_err() {
                refused += 1;
            }
        }
        let _ = plain.call(|| Ok::<_, E>(()));
        breaker_runtime::metrics::publish();
    });
    let text = handle.render();
    let line = format!(
        "circuit_breaker_calls_total{{breaker=\"throttle-metrics\",outcome=\"throttled\"}} {refused}"
    );
    assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    let gauge = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("circuit_breaker_throttle_probability{breaker=\"throttle-metrics\"} ")
        })
        .expect("the gauge");
    assert!(gauge.parse::<f64>().unwrap() > 0.8, "{gauge}");
    assert!(
        !text.contains("breaker=\"throttle-metrics-none\",outcome=\"throttled\""),
        "no throttled series for a breaker without a throttle"
    );
    assert_eq!(b.calls().throttled, refused);
}

#[test]
fn over_http_a_throttled_call_is_a_503_marked_throttled_without_retry_after() {
    use axum::response::IntoResponse;
    throttle::seed_this_thread(4);
    let b = refusing("throttle-http", 5).build();
    for _ in 0..5 {
        b.try_acquire().unwrap().failure();
    }
    let refusal: CircuitBreakerError = loop {
        if let Err(e) = b.try_acquire() {
            break e;
        }
    };
    let response = refusal.clone().into_response();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["circuit-breaker"], "throttled");
    assert!(response.headers().get("retry-after").is_none());
    assert!(
        !breaker_runtime::boundary::is_upstream_rejection(response.headers()),
        "not an open breaker's answer"
    );
    let status = tonic::Status::from(refusal);
    assert_eq!(status.code(), tonic::Code::Unavailable);
    assert!(!breaker_runtime::boundary::is_upstream_rejection_status(
        &status
    ));
}

#[tokio::test]
async fn the_tower_layer_and_the_reqwest_middleware_refuse_without_sending() {
    use breaker_runtime::tower::{BoxError, CircuitBreakerLayer};
    use tower::{Layer, Service, ServiceExt};
    throttle::seed_this_thread(5);

    // tower: a service that always fails.
    let b = refusing("throttle-tower", 5).unregistered().build();
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let seen = calls.clone();
    let failing = tower::service_fn(move |_: ()| {
        seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async { Err::<(), BoxError>("down".into()) }
    });
    let mut service = CircuitBreakerLayer::new(b.clone()).layer(failing);
    let mut throttled = 0;
    for _ in 0..40 {
        let result = service.ready().await.unwrap().call(()).await;
        if let Err(error) = result {
            if let Some(e) = error.downcast_ref::<CircuitBreakerError>() {
                assert!(e.is_throttled(), "{e}");
                throttled += 1;
            }
        }
    }
    assert!(throttled >= 20, "{throttled}");
    assert_eq!(
        calls.load(std::sync::atomic::Ordering::SeqCst),
        40 - throttled,
        "a refused call never reaches the service"
    );

    // reqwest: one breaker per authority, the server answering 503.
    let server = loopback::HttpServer::start().await;
    let middleware = breaker_runtime::reqwest::CircuitBreakerMiddleware::new(|authority: &str| {
        CircuitBreaker::builder(format!("throttle-reqwest[{authority}]"))
            .throttle(50)
            .max_throttle(100)
            .min_calls(5)
            .clock(ManualClock::new())
            .unregistered()
    });
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(middleware)
        .build();
    let mut refused = 0;
    for _ in 0..40 {
        match client.get(server.url("/status/503")).send().await {
            Ok(response) => assert_eq!(response.status(), 503),
            Err(error) => {
                let rejection = breaker_runtime::reqwest::rejection(&error).expect("the breaker's");
                assert_eq!(rejection.kind(), ErrorKind::Throttled);
                refused += 1;
            }
        }
    }
    assert!(refused >= 20, "{refused}");
    assert_eq!(
        server.hits(),
        40 - refused,
        "a refused request is never sent"
    );
}

#[tokio::test]
async fn the_snapshot_and_the_admin_json_show_the_probability() {
    use breaker_runtime::admin::{self, Access};
    throttle::seed_this_thread(6);
    let b = refusing("throttle-admin", 5).build();
    for _ in 0..5 {
        b.try_acquire().unwrap().failure();
    }
    let p = b.throttle_probability().unwrap();
    assert!((p - 5.0 / 6.0).abs() < 1e-6);
    let snapshot = breaker_runtime::registry::snapshot();
    let info = snapshot
        .breakers
        .iter()
        .find(|i| i.name == "throttle-admin")
        .unwrap();
    assert_eq!(info.throttle_probability, Some(p));
    let line = snapshot
        .to_string()
        .lines()
        .find(|l| l.starts_with("throttle-admin "))
        .unwrap()
        .to_string();
    assert!(line.contains("throttle: 83.3%"), "{line}");
    let none = CircuitBreaker::builder("throttle-admin-none").build();
    assert_eq!(none.throttle_probability(), None);

    let app = axum::Router::new().nest_service("/admin", admin::router(Access::read_only()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let one: serde_json::Value =
        reqwest::get(format!("http://{addr}/admin/breakers/throttle-admin"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert!((one["throttle_probability"].as_f64().unwrap() - p).abs() < 1e-9);
    assert_eq!(one["policy"], "throttle");
    assert_eq!(one["config"]["throttle"], 50.0);
    assert_eq!(one["config"]["max_throttle"], 100.0);
    let other: serde_json::Value =
        reqwest::get(format!("http://{addr}/admin/breakers/throttle-admin-none"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(other["throttle_probability"], serde_json::Value::Null);
    assert_eq!(other["config"]["max_throttle"], serde_json::Value::Null);
    let _ = Duration::ZERO;
}
