//! The tower layer in front of a real HTTP client (hyper-util's) talking to an axum
//! server on loopback, as users stack it: 5xx responses open the breaker, 4xx do not,
//! a rejection never leaves the client and downcasts to `CircuitBreakerError`,
//! `poll_ready` stays `Ok` (without polling the inner service while the breaker refuses),
//! and a dropped response future frees the half-open probe. Open durations run on a
//! manual clock.

mod loopback;
mod otel;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use breaker_runtime::keyed::Breakers;
use breaker_runtime::tower::{BoxError, CircuitBreakerLayer, CircuitBreakerService, ServerErrors};
use breaker_runtime::{
    CircuitBreaker, CircuitBreakerError, ErrorKind, ManualClock, State, Verdict,
};
use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use loopback::HttpServer;
use tower::{Layer, Service, ServiceBuilder, ServiceExt};

type Request = http::Request<Empty<Bytes>>;
type HttpClient = Client<HttpConnector, Empty<Bytes>>;

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// The hyper client behind `layer`.
fn through<B: Clone, C: Clone, T: Clone>(
    layer: CircuitBreakerLayer<B, C, T>,
) -> CircuitBreakerService<HttpClient, B, C, T> {
    layer.layer(client())
}

fn get(url: &str) -> Request {
    http::Request::get(url).body(Empty::new()).unwrap()
}

/// A breaker opening after 3 failures, reset after 10 s of `clock`.
fn breaker_on(name: &str, clock: &ManualClock) -> CircuitBreaker {
    CircuitBreaker::builder(name.to_string())
        .fail_max(3)
        .reset_timeout(Duration::from_secs(10))
        .clock(clock.clone())
        .unregistered()
        .build()
}

/// A server, and the hyper client behind a breaker (reset after 10 s of `clock`) that
/// three 503s from the server opened.
struct Tripped {
    server: HttpServer,
    clock: ManualClock,
    breaker: CircuitBreaker,
    service: CircuitBreakerService<HttpClient, CircuitBreaker, ServerErrors>,
}

async fn tripped(name: &str) -> Tripped {
    let server = HttpServer::start().await;
    let clock = ManualClock::new();
    let breaker = breaker_on(name, &clock);
    let mut service =
        through(CircuitBreakerLayer::new(breaker.clone()).classify(ServerErrors::new()));
    for _ in 0..3 {
        assert_eq!(answer(&mut service, &server.url("/status/503")).await, 503);
    }
    assert_eq!(breaker.state(), State::Open);
    Tripped {
        server,
        clock,
        breaker,
        service,
    }
}

/// Counts how often the inner service's `poll_ready` is asked.
#[derive(Clone)]
struct CountingReady<S> {
    inner: S,
    polls: Arc<AtomicUsize>,
}

impl<S: Service<R>, R> Service<R> for CountingReady<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> S::Future {
        self.inner.call(request)
    }
}

async fn send<S>(service: &mut S, url: &str) -> Result<u16, BoxError>
where
    S: Service<Request, Response = http::Response<hyper::body::Incoming>, Error = BoxError>,
{
    let response = service.ready().await?.call(get(url)).await?;
    Ok(response.status().as_u16())
}

/// The status the server answered.
async fn answer<S>(service: &mut S, url: &str) -> u16
where
    S: Service<Request, Response = http::Response<hyper::body::Incoming>, Error = BoxError>,
{
    send(service, url).await.expect("an answer")
}

fn rejection(error: &BoxError) -> &CircuitBreakerError {
    error
        .downcast_ref::<CircuitBreakerError>()
        .expect("the breaker's rejection downcasts to CircuitBreakerError")
}

#[tokio::test]
async fn server_errors_open_the_breaker_and_the_rejection_never_reaches_the_server() {
    let server = HttpServer::start().await;
    let clock = ManualClock::new();
    let breaker = breaker_on("tower-5xx", &clock);
    let mut service = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(breaker.clone()).classify(ServerErrors::new()))
        .service(client());

    for _ in 0..3 {
        assert_eq!(answer(&mut service, &server.url("/status/503")).await, 503);
    }
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(server.hits(), 3);

    let error = send(&mut service, &server.url("/status/200"))
        .await
        .unwrap_err();
    let rejected = rejection(&error);
    assert_eq!(rejected.kind(), ErrorKind::Open);
    assert_eq!(rejected.name(), "tower-5xx");
    assert_eq!(rejected.retry_after(), Some(Duration::from_secs(10)));
    assert_eq!(
        server.hits(),
        3,
        "a rejected request does not leave the client"
    );

    // The probe after the reset timeout: a success closes.
    clock.advance(Duration::from_secs(10));
    assert_eq!(answer(&mut service, &server.url("/status/200")).await, 200);
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test]
async fn client_errors_are_answers_and_do_not_open_the_breaker() {
    let server = HttpServer::start().await;
    let breaker = breaker_on("tower-4xx", &ManualClock::new());
    let mut service =
        through(CircuitBreakerLayer::new(breaker.clone()).classify(ServerErrors::new()));
    for code in [404, 400, 403, 429, 408, 404, 409] {
        assert_eq!(
            answer(&mut service, &server.url(&format!("/status/{code}"))).await,
            code
        );
    }
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.fail_counter(), 0);

    // 429 and 408 count when asked for.
    let strict = breaker_on("tower-429", &ManualClock::new());
    let mut service = through(
        CircuitBreakerLayer::new(strict.clone()).classify(
            ServerErrors::new()
                .failure_on(http::StatusCode::TOO_MANY_REQUESTS)
                .failure_on(http::StatusCode::REQUEST_TIMEOUT),
        ),
    );
    for code in [429, 408, 429] {
        let _ = send(&mut service, &server.url(&format!("/status/{code}"))).await;
    }
    assert_eq!(strict.state(), State::Open);
}

#[tokio::test]
async fn a_transport_error_is_a_failure() {
    // A port nothing listens on: bind one, then let it go.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let breaker = breaker_on("tower-refused", &ManualClock::new());
    let mut service =
        through(CircuitBreakerLayer::new(breaker.clone()).classify(ServerErrors::new()));
    let url = format!("http://127.0.0.1:{port}/");
    for _ in 0..3 {
        let error = send(&mut service, &url).await.unwrap_err();
        assert!(
            error.downcast_ref::<CircuitBreakerError>().is_none(),
            "the connection error itself: {error}"
        );
    }
    assert_eq!(breaker.state(), State::Open);
}

#[tokio::test]
async fn poll_ready_stays_ok_and_leaves_the_inner_service_alone_while_open() {
    let server = HttpServer::start().await;
    let clock = ManualClock::new();
    let breaker = breaker_on("tower-ready", &clock);
    let polls = Arc::new(AtomicUsize::new(0));
    let inner = CountingReady {
        inner: client(),
        polls: Arc::clone(&polls),
    };
    let mut service = CircuitBreakerLayer::new(breaker.clone())
        .classify(ServerErrors::new())
        .layer(inner);
    for _ in 0..3 {
        let _ = send(&mut service, &server.url("/status/500")).await;
    }
    assert_eq!(breaker.state(), State::Open);
    let polled = polls.load(Ordering::SeqCst);

    for _ in 0..5 {
        std::future::poll_fn(|cx| service.poll_ready(cx))
            .await
            .expect("poll_ready never fails because of the breaker");
        let error = service
            .call(get(&server.url("/status/200")))
            .await
            .unwrap_err();
        assert_eq!(rejection(&error).kind(), ErrorKind::Open);
    }
    assert_eq!(
        polls.load(Ordering::SeqCst),
        polled,
        "inner poll_ready not asked"
    );
    assert_eq!(server.hits(), 3);

    // Once a probe is due, the inner service is asked again.
    clock.advance(Duration::from_secs(10));
    assert_eq!(answer(&mut service, &server.url("/status/200")).await, 200);
    assert_eq!(polls.load(Ordering::SeqCst), polled + 1);
}

#[tokio::test]
async fn a_dropped_response_future_frees_the_half_open_probe() {
    let Tripped {
        server,
        clock,
        breaker,
        mut service,
    } = tripped("tower-dropped").await;
    clock.advance(Duration::from_secs(10));

    // The probe: a request the server holds. Drive it until the server has it.
    service.ready().await.unwrap();
    let mut probe = Box::pin(service.call(get(&server.url("/hang"))));
    tokio::select! {
        biased;
        _ = &mut probe => panic!("/hang never answers"),
        () = server.hung() => {}
    }
    assert_eq!(breaker.state(), State::HalfOpen);
    let error = send(&mut service, &server.url("/status/200"))
        .await
        .unwrap_err();
    assert_eq!(rejection(&error).kind(), ErrorKind::ProbeInFlight);

    drop(probe);
    // The slot is free at once: the next call is the probe, and closes the breaker.
    assert_eq!(answer(&mut service, &server.url("/status/200")).await, 200);
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test]
async fn a_closure_classifies() {
    let server = HttpServer::start().await;
    let breaker = breaker_on("tower-closure", &ManualClock::new());
    // Only 503 is the dependency failing; 500 is a bug of ours, and 504 says nothing.
    let classify = |result: Result<&http::Response<hyper::body::Incoming>, &BoxError>| match result
        .map(|r| r.status().as_u16())
    {
        Ok(503) | Err(_) => Verdict::Failure,
        Ok(504) => Verdict::Ignore,
        Ok(_) => Verdict::Success,
    };
    let mut service = through(CircuitBreakerLayer::new(breaker.clone()).classify(classify));
    for code in [503, 503, 504, 504, 500] {
        let _ = send(&mut service, &server.url(&format!("/status/{code}"))).await;
    }
    assert_eq!(
        breaker.fail_counter(),
        0,
        "500 is a success: the count restarts"
    );
    for code in [503, 504, 503, 503] {
        let _ = send(&mut service, &server.url(&format!("/status/{code}"))).await;
    }
    assert_eq!(breaker.state(), State::Open, "504 left the count alone");
}

#[tokio::test]
async fn a_keyed_layer_keeps_a_breaker_per_authority() {
    let down = HttpServer::start().await;
    let up = HttpServer::start().await;
    let clock = ManualClock::new();
    let hosts: Breakers<String> = Breakers::builder(|host: &String| {
        CircuitBreaker::builder(format!("tower-host[{host}]"))
            .fail_max(2)
            .unregistered()
    })
    .clock(clock)
    .build();
    let layer = CircuitBreakerLayer::keyed(hosts.clone(), |request: &Request| {
        request
            .uri()
            .authority()
            .map_or_else(String::new, |a| a.to_string())
    })
    .classify(ServerErrors::new());
    let mut service = ServiceBuilder::new().layer(layer).service(client());

    for _ in 0..2 {
        assert_eq!(answer(&mut service, &down.url("/status/503")).await, 503);
        assert_eq!(answer(&mut service, &up.url("/status/200")).await, 200);
    }
    let error = send(&mut service, &down.url("/status/200"))
        .await
        .unwrap_err();
    assert_eq!(
        rejection(&error).name(),
        format!("tower-host[{}]", down.authority())
    );
    assert_eq!(answer(&mut service, &up.url("/status/200")).await, 200);
    assert_eq!(hosts.get(&down.authority()).unwrap().state(), State::Open);
    assert_eq!(hosts.get(&up.authority()).unwrap().state(), State::Closed);
    assert_eq!(down.hits(), 2);
}

#[tokio::test]
async fn an_axum_router_is_a_service_behind_the_layer() {
    // Server side: the layer around a Router sheds its callers while the handler fails.
    let breaker = breaker_on("tower-router", &ManualClock::new());
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(|| async { http::StatusCode::INTERNAL_SERVER_ERROR }),
    );
    let service = CircuitBreakerLayer::new(breaker.clone())
        .classify(ServerErrors::new())
        .layer(app);
    for _ in 0..3 {
        let response = service
            .clone()
            .oneshot(http::Request::new(axum::body::Body::empty()))
            .await
            .unwrap();
        assert_eq!(response.status(), 500);
    }
    let error = service
        .clone()
        .oneshot(http::Request::new(axum::body::Body::empty()))
        .await
        .unwrap_err();
    assert!(rejection(&error).is_open());
}

#[tokio::test]
async fn a_layer_over_a_static_breaker_counts_and_rejects_alike() {
    static BREAKER: std::sync::LazyLock<CircuitBreaker> =
        std::sync::LazyLock::new(|| breaker_on("tower-static", &ManualClock::new()));
    let server = HttpServer::start().await;
    let mut service =
        through(CircuitBreakerLayer::from_static(&BREAKER).classify(ServerErrors::new()));
    assert_eq!(answer(&mut service, &server.url("/status/404")).await, 404);
    for _ in 0..3 {
        assert_eq!(answer(&mut service, &server.url("/status/500")).await, 500);
    }
    assert_eq!(BREAKER.state(), State::Open);
    let error = send(&mut service, &server.url("/status/200"))
        .await
        .unwrap_err();
    assert_eq!(rejection(&error).name(), "tower-static");
    assert_eq!(server.hits(), 4);
}

#[tokio::test]
async fn a_clone_of_a_refusing_service_starts_unpolled() {
    let Tripped {
        server,
        clock,
        breaker,
        mut service,
    } = tripped("tower-clone").await;
    // The original keeps the refusal of its last poll_ready for its next call.
    std::future::poll_fn(|cx| service.poll_ready(cx))
        .await
        .unwrap();
    let mut clone = service.clone();
    clock.advance(Duration::from_secs(10));
    // The clone carries no stale refusal: its call asks the breaker, which admits the
    // probe now due. (A caller that clones a ready service and calls the clone at once:
    // hyper-util's client accepts a call without poll_ready.)
    let response = clone.call(get(&server.url("/status/200"))).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(breaker.state(), State::Closed);
    // The original was refused at its poll: its call is rejected, the inner service unasked.
    let error = service
        .call(get(&server.url("/status/200")))
        .await
        .unwrap_err();
    assert!(rejection(&error).is_open());
    assert_eq!(server.hits(), 4);
}

#[tokio::test]
async fn a_call_timeout_fails_a_hung_call_through_the_breaker_and_opens_it() {
    let server = HttpServer::start().await;
    let clock = ManualClock::new();
    let breaker = breaker_on("tower-call-timeout", &clock);
    let mut service = through(
        CircuitBreakerLayer::new(breaker.clone())
            .classify(ServerErrors::new())
            .call_timeout(Duration::from_secs(2)),
    );
    // tokio's clock, paused: it jumps to the timer once the runtime is idle.
    tokio::time::pause();
    for _ in 0..3 {
        let error = send(&mut service, &server.url("/hang")).await.unwrap_err();
        let timeout = rejection(&error);
        assert_eq!(timeout.kind(), ErrorKind::Timeout);
        assert_eq!(timeout.elapsed(), Some(Duration::from_secs(2)));
        assert_eq!(timeout.name(), "tower-call-timeout");
    }
    assert_eq!(
        breaker.state(),
        State::Open,
        "three timeouts are three failures"
    );
    let error = send(&mut service, &server.url("/status/200"))
        .await
        .unwrap_err();
    assert!(rejection(&error).is_open());
    // An answer within the limit is unaffected.
    clock.advance(Duration::from_secs(10));
    assert_eq!(answer(&mut service, &server.url("/status/200")).await, 200);
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test]
async fn a_timeout_layer_outside_the_breaker_counts_nothing_and_inside_it_counts_failures() {
    use tower::timeout::{error::Elapsed, TimeoutLayer};
    let server = HttpServer::start().await;
    let clock = ManualClock::new();
    let limit = Duration::from_secs(2);
    tokio::time::pause();

    let outer = breaker_on("tower-timeout-outside", &clock);
    let mut outside = ServiceBuilder::new()
        .layer(TimeoutLayer::new(limit))
        .layer(CircuitBreakerLayer::new(outer.clone()))
        .service(client());
    for _ in 0..3 {
        let error = send(&mut outside, &server.url("/hang")).await.unwrap_err();
        assert!(error.is::<Elapsed>());
    }
    assert_eq!(
        (outer.state(), outer.fail_counter()),
        (State::Closed, 0),
        "the timeout dropped each call: neutral, so a hung dependency never trips it"
    );

    let inner = breaker_on("tower-timeout-inside", &clock);
    let mut inside = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(inner.clone()))
        .layer(TimeoutLayer::new(limit))
        .service(client());
    for _ in 0..3 {
        let error = send(&mut inside, &server.url("/hang")).await.unwrap_err();
        assert!(error.is::<Elapsed>());
    }
    assert_eq!(
        inner.state(),
        State::Open,
        "each Elapsed error reached the breaker"
    );
}

#[tokio::test]
async fn an_upstream_breakers_rejection_is_a_failure_marked_on_the_callers_span() {
    use breaker_runtime::conventions::{attributes, values};
    use tracing::Instrument;
    let server = HttpServer::start().await;
    let traces = otel::Traces::start();
    let clock = ManualClock::new();
    let breaker = breaker_on("tower-upstream-refused", &clock);
    let mut service =
        through(CircuitBreakerLayer::new(breaker.clone()).classify(ServerErrors::new()));
    let request = tracing::info_span!("request");
    let response = async {
        service
            .ready()
            .await?
            .call(get(&server.url("/refused")))
            .await
    }
    .instrument(request)
    .await
    .unwrap();
    assert_eq!(response.status(), 503);
    let headers = response.headers();
    assert_eq!(headers["circuit-breaker"], "open");
    assert_eq!(headers["retry-after"], "30", "whole seconds, rounded up");
    assert!(
        headers.get("circuit-breaker-name").is_none(),
        "the name stays home"
    );
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap();
    assert!(!String::from_utf8_lossy(&body.to_bytes()).contains("loopback-upstream"));
    assert_eq!(
        breaker.fail_counter(),
        1,
        "still a failure of the upstream service"
    );

    let named = send(&mut service, &server.url("/refused-named"))
        .await
        .unwrap();
    assert_eq!(named, 503);
    let spans = traces.finish();
    let request = otel::named(&spans, "request")[0];
    assert_eq!(
        otel::string(otel::attribute(&request.attributes, attributes::ERROR_TYPE)),
        Some(values::UPSTREAM_CIRCUIT_BREAKER_OPEN.to_string())
    );
}

#[tokio::test]
async fn a_disclosed_rejection_names_its_breaker() {
    let server = HttpServer::start().await;
    let response = client()
        .request(get(&server.url("/refused-named")))
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(
        response.headers()["circuit-breaker-name"],
        "loopback-upstream"
    );
    assert_eq!(response.headers()["circuit-breaker"], "open");
}
