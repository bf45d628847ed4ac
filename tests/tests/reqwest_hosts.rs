//! The reqwest middleware against two real HTTP servers on loopback: the host answering
//! 503 gets its breaker opened, the other keeps working; a rejection is a
//! `reqwest_middleware::Error::Middleware` around the `CircuitBreakerError`, which
//! `reqwest-retry`, placed outside, does not retry, and `reqwest::rejection` finds it
//! under the retry middleware's wrapper.

mod loopback;
mod otel;

use std::time::Duration;

use breaker_runtime::keyed::Breakers;
use breaker_runtime::reqwest::{rejection, CircuitBreakerMiddleware, ServerErrors};
use breaker_runtime::{
    registry, CircuitBreaker, CircuitBreakerError, ErrorKind, ManualClock, State,
};
use loopback::HttpServer;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware, Error};
use reqwest_retry::policies::ExponentialBackoff;
use reqwest_retry::{RetryError, RetryTransientMiddleware};

/// Breakers per authority, opening after 2 failures, on a manual clock.
fn hosts(clock: &ManualClock) -> Breakers<String> {
    let breakers_clock = clock.clone();
    Breakers::builder(move |authority: &String| {
        CircuitBreaker::builder(format!("reqwest[{authority}]"))
            .fail_max(2)
            .reset_timeout(Duration::from_secs(10))
            .clock(breakers_clock.clone())
            .unregistered()
    })
    .clock(clock.clone())
    .build()
}

fn client(middleware: CircuitBreakerMiddleware) -> ClientWithMiddleware {
    ClientBuilder::new(reqwest::Client::new())
        .with(middleware)
        .build()
}

fn key(server: &HttpServer) -> String {
    format!("http://{}", server.authority())
}

#[tokio::test]
async fn the_failing_host_opens_its_own_breaker_and_the_other_keeps_working() {
    let down = HttpServer::start().await;
    let up = HttpServer::start().await;
    let clock = ManualClock::new();
    let hosts = hosts(&clock);
    let client = client(CircuitBreakerMiddleware::with_breakers(hosts.clone()));

    for _ in 0..2 {
        let response = client.get(down.url("/status/503")).send().await.unwrap();
        assert_eq!(response.status(), 503);
        let response = client.get(up.url("/status/200")).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    assert_eq!(hosts.get(&key(&down)).unwrap().state(), State::Open);

    let error = client
        .get(down.url("/status/200"))
        .send()
        .await
        .unwrap_err();
    let rejected = rejection(&error).expect("a Middleware error around the rejection");
    assert_eq!(rejected.kind(), ErrorKind::Open);
    assert_eq!(rejected.name(), format!("reqwest[{}]", key(&down)));
    assert_eq!(down.hits(), 2, "the rejected request was not sent");

    // The other host: its own breaker, closed, and 4xx are answers.
    for _ in 0..3 {
        let response = client.get(up.url("/status/404")).send().await.unwrap();
        assert_eq!(response.status(), 404);
    }
    let up_breaker = hosts.get(&key(&up)).unwrap();
    assert_eq!(up_breaker.state(), State::Closed);
    assert_eq!(up_breaker.fail_counter(), 0);
    assert_eq!(hosts.len(), 2);

    // After the reset timeout the probe goes through and closes the host's breaker.
    clock.advance(Duration::from_secs(10));
    let response = client.get(down.url("/status/200")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(hosts.get(&key(&down)).unwrap().state(), State::Closed);
}

#[tokio::test]
async fn one_breaker_per_authority_whatever_the_path() {
    let clock = ManualClock::new();
    let middleware = CircuitBreakerMiddleware::with_breakers(hosts(&clock));
    let breakers = middleware.breakers().clone();
    let client = client(middleware);
    // A port nothing listens on: a transport error, a failure.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    for path in ["/a", "/b?c=d"] {
        let error = client
            .get(format!("http://127.0.0.1:{port}{path}"))
            .send()
            .await
            .unwrap_err();
        assert!(rejection(&error).is_none(), "a transport error: {error}");
    }
    let authority = format!("http://127.0.0.1:{port}");
    assert_eq!(breakers.get(&authority).unwrap().state(), State::Open);
    assert_eq!(
        breakers.len(),
        1,
        "one breaker for the authority, whatever the path"
    );
}

#[tokio::test]
async fn retries_outside_the_breaker_stop_at_the_rejection() {
    let down = HttpServer::start().await;
    let clock = ManualClock::new();
    let hosts = hosts(&clock);
    // Up to 5 retries, 1 ms apart: without the breaker, 6 requests would reach the host.
    let policy = ExponentialBackoff::builder()
        .retry_bounds(Duration::from_millis(1), Duration::from_millis(1))
        .build_with_max_retries(5);
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(RetryTransientMiddleware::new_with_policy(policy))
        .with(CircuitBreakerMiddleware::with_breakers(hosts.clone()))
        .build();

    let error = client
        .get(down.url("/status/503"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        down.hits(),
        2,
        "two attempts opened the breaker; the third was refused"
    );
    assert!(rejection(&error)
        .expect("ends with the rejection")
        .is_open());
    assert!(
        matches!(&error, Error::Middleware(e) if matches!(e.downcast_ref::<RetryError>(), Some(RetryError::WithRetries { retries: 2, .. }))),
        "{error:?}"
    );

    // While open, the first attempt is refused and not retried at all.
    let error = client
        .get(down.url("/status/503"))
        .send()
        .await
        .unwrap_err();
    let rejected = rejection(&error).expect("found under reqwest-retry's transparent wrapper");
    assert_eq!(rejected.kind(), ErrorKind::Open);
    assert_eq!(down.hits(), 2);
    // What the one call saves: the retry middleware's error hides the rejection from a
    // plain downcast and from the `source()` chain (its wrapper is transparent).
    let Error::Middleware(outer) = &error else {
        panic!("{error:?}")
    };
    assert!(matches!(
        outer.downcast_ref::<RetryError>(),
        Some(RetryError::Error(_))
    ));
    assert!(outer.downcast_ref::<CircuitBreakerError>().is_none());
    assert!(!outer
        .chain()
        .any(|cause| cause.downcast_ref::<CircuitBreakerError>().is_some()));
    assert_eq!(
        error.to_string(),
        rejected.to_string(),
        "it reads as the rejection"
    );
}

#[tokio::test]
async fn a_rejection_reads_and_downcasts_as_the_breakers_error_without_retries() {
    let down = HttpServer::start().await;
    let clock = ManualClock::new();
    let hosts = hosts(&clock);
    let client = client(CircuitBreakerMiddleware::with_breakers(hosts.clone()));
    for _ in 0..2 {
        let _ = client.get(down.url("/status/503")).send().await.unwrap();
    }
    let error = client.get(down.url("/")).send().await.unwrap_err();
    let Error::Middleware(inner) = &error else {
        panic!("{error:?}")
    };
    let direct = inner.downcast_ref::<CircuitBreakerError>().unwrap();
    let found = rejection(&error).unwrap();
    assert_eq!(direct, found);
    assert_eq!(error.to_string(), found.to_string());
    assert_eq!(
        format!("{inner:#}"),
        format!("{found}: the request was not sent")
    );
}

#[tokio::test]
async fn two_clients_from_one_template_share_each_hosts_breaker() {
    let server = HttpServer::start().await;
    let template =
        |authority: &str| CircuitBreaker::builder(format!("twin-client[{authority}]")).fail_max(2);
    let (first, second) = (
        CircuitBreakerMiddleware::new(template),
        CircuitBreakerMiddleware::new(template),
    );
    let (first_set, second_set) = (first.breakers().clone(), second.breakers().clone());
    let (first, second) = (client(first), client(second));
    let _ = first.get(server.url("/status/200")).send().await.unwrap();
    let _ = second.get(server.url("/status/200")).send().await.unwrap();
    let name = format!("twin-client[{}]", key(&server));
    let by_name = registry::get(&name).expect("the host's breaker is found by its name");
    assert!(by_name.ptr_eq(&first_set.get(&key(&server)).unwrap()));
    assert!(by_name.ptr_eq(&second_set.get(&key(&server)).unwrap()));
    assert_eq!(
        registry::all().iter().filter(|b| b.name() == name).count(),
        1
    );
    // One host, one breaker: failures through either client count together.
    let _ = first.get(server.url("/status/503")).send().await.unwrap();
    let _ = second.get(server.url("/status/503")).send().await.unwrap();
    assert_eq!(by_name.state(), State::Open);
    let error = second
        .get(server.url("/status/200"))
        .send()
        .await
        .unwrap_err();
    assert!(rejection(&error).unwrap().is_open());
}

#[tokio::test]
async fn too_many_requests_counts_when_asked_for() {
    let server = HttpServer::start().await;
    let clock = ManualClock::new();
    let hosts = hosts(&clock);
    let client = client(
        CircuitBreakerMiddleware::with_breakers(hosts.clone())
            .classify(ServerErrors::new().failure_on(http::StatusCode::TOO_MANY_REQUESTS)),
    );
    for _ in 0..2 {
        let _ = client.get(server.url("/status/429")).send().await.unwrap();
    }
    assert_eq!(hosts.get(&key(&server)).unwrap().state(), State::Open);
}

#[tokio::test]
async fn new_names_each_authority_by_the_template() {
    let server = HttpServer::start().await;
    let middleware = CircuitBreakerMiddleware::new(|authority: &str| {
        CircuitBreaker::builder(format!("api[{authority}]")).unregistered()
    });
    let breakers = middleware.breakers().clone();
    let client = client(middleware);
    let _ = client.get(server.url("/status/200")).send().await.unwrap();
    let names: Vec<String> = breakers
        .snapshot()
        .breakers
        .iter()
        .map(|b| b.name.to_string())
        .collect();
    assert_eq!(names, [format!("api[{}]", key(&server))]);
}

#[tokio::test]
async fn an_upstream_breakers_rejection_counts_and_marks_the_callers_span() {
    use breaker_runtime::conventions::{attributes, values};
    use tracing::Instrument;
    let server = HttpServer::start().await;
    let traces = otel::Traces::start();
    let clock = ManualClock::new();
    let hosts = hosts(&clock);
    let client = client(CircuitBreakerMiddleware::with_breakers(hosts.clone()));
    let response = client
        .get(server.url("/refused"))
        .send()
        .instrument(tracing::info_span!("request"))
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(breaker_runtime::boundary::is_upstream_rejection(
        response.headers()
    ));
    assert_eq!(hosts.get(&key(&server)).unwrap().fail_counter(), 1);
    let spans = traces.finish();
    let request = otel::named(&spans, "request")[0];
    assert_eq!(
        otel::string(otel::attribute(&request.attributes, attributes::ERROR_TYPE)),
        Some(values::UPSTREAM_CIRCUIT_BREAKER_OPEN.to_string())
    );
}
