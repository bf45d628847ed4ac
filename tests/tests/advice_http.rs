//! Upstream advice over real HTTP: an axum server on loopback answers `503` or `429`
//! with `Retry-After` (seconds, an HTTP-date, garbage), or as a breaker-runtime service
//! whose own breaker is open; the tower layer (in front of hyper's client) and the
//! reqwest middleware read it, and the breaker stays open as long as the server said.
//! Open periods run on a manual clock, and once on tokio's paused clock: nothing here
//! waits for one to pass.

mod loopback;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use breaker_runtime::conventions::{attributes as key, events, values};
use breaker_runtime::keyed::Breakers;
use breaker_runtime::reqwest::CircuitBreakerMiddleware;
use breaker_runtime::tower::{BoxError, CircuitBreakerLayer, CircuitBreakerService, ServerErrors};
use breaker_runtime::{AdviceSource, CircuitBreaker, CircuitBreakerError, ManualClock, State};
use breaker_tests::{capture_global_events, CapturedEvent};
use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use loopback::{segment, HttpServer};
use tower::{Layer, Service, ServiceExt};

type HttpClient = Client<HttpConnector, Empty<Bytes>>;
type Through<C> = CircuitBreakerService<HttpClient, CircuitBreaker, C>;

/// A breaker opening after 3 failures in a row, reset after 10 s of `clock`.
fn breaker(name: &str, clock: &ManualClock) -> breaker_runtime::Builder {
    CircuitBreaker::builder(name.to_string())
        .fail_max(3)
        .reset_timeout(Duration::from_secs(10))
        .clock(clock.clone())
        .unregistered()
}

fn layered(breaker: &CircuitBreaker, classify: ServerErrors) -> Through<ServerErrors> {
    CircuitBreakerLayer::new(breaker.clone())
        .classify(classify)
        .layer(Client::builder(TokioExecutor::new()).build_http())
}

/// The status `service` answered, or its error.
async fn send<C>(service: &mut Through<C>, url: &str) -> Result<u16, BoxError>
where
    Through<C>: Service<
        http::Request<Empty<Bytes>>,
        Response = http::Response<hyper::body::Incoming>,
        Error = BoxError,
    >,
{
    let request = http::Request::get(url).body(Empty::new()).unwrap();
    let response = service.ready().await?.call(request).await?;
    Ok(response.status().as_u16())
}

/// Sends until the answer is `n` failures, each one expected to reach the server.
async fn fail(service: &mut Through<ServerErrors>, url: &str, n: usize) {
    for _ in 0..n {
        let status = send(service, url).await.expect("an answer");
        assert!(status == 503 || status == 429, "{status}");
    }
}

fn rejected(result: Result<u16, BoxError>) -> CircuitBreakerError {
    let error = result.expect_err("rejected");
    error
        .downcast_ref::<CircuitBreakerError>()
        .expect("the breaker's rejection")
        .clone()
}

/// The `opened` events of breaker `name` captured so far.
fn openings(events: &Arc<Mutex<Vec<CapturedEvent>>>, name: &str) -> Vec<CapturedEvent> {
    events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.name == events::OPENED && e.field(key::NAME) == Some(name))
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_503_retry_after_in_seconds_keeps_the_breaker_open_that_long() {
    let traced = capture_global_events();
    let server = HttpServer::start().await;
    let clock = ManualClock::new();
    let b = breaker("http-advice-seconds", &clock).build();
    let mut service = layered(&b, ServerErrors::new());

    fail(&mut service, &server.url("/advise/503/30"), 2).await;
    assert_eq!(b.state(), State::Closed, "the threshold still applies");
    fail(&mut service, &server.url("/advise/503/30"), 1).await;
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.open_period(), Some(Duration::from_secs(30)), "not 10 s");
    let advice = b.open_advice().unwrap();
    assert_eq!(advice.source(), AdviceSource::RetryAfter);
    assert_eq!(advice.delay(), Duration::from_secs(30));

    // Rejected, without reaching the server, until the advised time.
    clock.advance(Duration::from_millis(29_999));
    let rejection = rejected(send(&mut service, &server.url("/status/200")).await);
    assert_eq!(rejection.retry_after(), Some(Duration::from_millis(1)));
    assert_eq!(server.hits(), 3);
    clock.advance(Duration::from_millis(1));
    assert_eq!(
        send(&mut service, &server.url("/status/200"))
            .await
            .unwrap(),
        200
    );
    assert_eq!(server.hits(), 4, "the probe went after the advised time");
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.open_advice(), None, "spent by the close");

    let opened = openings(&traced, "http-advice-seconds");
    assert_eq!(opened.len(), 1);
    assert_eq!(
        opened[0].field(key::OPEN_REASON),
        Some(values::CONSECUTIVE_FAILURES)
    );
    assert_eq!(opened[0].field(key::OPEN_ADVISED), Some("30.0"));
    assert_eq!(
        opened[0].field(key::OPEN_ADVICE_SOURCE),
        Some("retry_after")
    );
}

#[tokio::test]
async fn an_http_date_is_taken_against_the_responses_date() {
    let server = HttpServer::start().await;
    let clock = ManualClock::new();
    let b = breaker("http-advice-date", &clock).build();
    let mut service = layered(&b, ServerErrors::new());
    let url = server.url(&format!(
        "/advise-dated/503/{}/{}",
        segment("Sun, 06 Nov 1994 08:49:37 GMT"),
        segment("Sun, 06 Nov 1994 08:50:07 GMT"),
    ));
    fail(&mut service, &url, 3).await;
    assert_eq!(b.open_period(), Some(Duration::from_secs(30)));

    // A date before the response's: no advice, the reset timeout.
    let past = breaker("http-advice-past", &clock).build();
    let mut service = layered(&past, ServerErrors::new());
    let url = server.url(&format!(
        "/advise-dated/503/{}/{}",
        segment("Sun, 06 Nov 1994 08:49:37 GMT"),
        segment("Sun, 06 Nov 1994 08:40:00 GMT"),
    ));
    fail(&mut service, &url, 3).await;
    assert_eq!(past.state(), State::Open, "the failures count as before");
    assert_eq!(past.open_period(), Some(Duration::from_secs(10)));
    assert_eq!(past.open_advice(), None);
}

#[tokio::test]
async fn a_429_advises_only_when_it_counts() {
    let server = HttpServer::start().await;
    let clock = ManualClock::new();
    let lenient = breaker("http-advice-429-answer", &clock).build();
    let mut service = layered(&lenient, ServerErrors::new());
    for _ in 0..3 {
        assert_eq!(
            send(&mut service, &server.url("/advise/429/30"))
                .await
                .unwrap(),
            429
        );
    }
    assert_eq!(
        lenient.state(),
        State::Closed,
        "a 429 is an answer by default"
    );

    let strict = breaker("http-advice-429", &clock).build();
    let classify = ServerErrors::new().failure_on(http::StatusCode::TOO_MANY_REQUESTS);
    let mut service = layered(&strict, classify);
    fail(&mut service, &server.url("/advise/429/30"), 3).await;
    assert_eq!(strict.open_period(), Some(Duration::from_secs(30)));

    // A 500's Retry-After is no advice (RFC 9110 gives it to 503 and 3xx; 429 by RFC
    // 6585).
    let other = breaker("http-advice-500", &clock).build();
    let mut service = layered(&other, ServerErrors::new());
    for _ in 0..3 {
        assert_eq!(
            send(&mut service, &server.url("/advise/500/30"))
                .await
                .unwrap(),
            500
        );
    }
    assert_eq!(other.open_period(), Some(Duration::from_secs(10)));
}

#[tokio::test]
async fn garbage_negative_and_zero_are_no_advice_and_a_huge_one_is_capped() {
    let server = HttpServer::start().await;
    let clock = ManualClock::new();
    for (n, value) in ["soon", "-5", "0", "1.5", "30s"].into_iter().enumerate() {
        let b = breaker(&format!("http-advice-garbage-{n}"), &clock).build();
        let mut service = layered(&b, ServerErrors::new());
        fail(
            &mut service,
            &server.url(&format!("/advise/503/{}", segment(value))),
            3,
        )
        .await;
        assert_eq!(
            b.state(),
            State::Open,
            "{value:?}: the failures count as before"
        );
        assert_eq!(b.open_period(), Some(Duration::from_secs(10)), "{value:?}");
        assert_eq!(b.open_advice(), None, "{value:?}");
    }

    let capped = breaker("http-advice-huge", &clock)
        .retry_after_cap(Duration::from_secs(120))
        .build();
    let mut service = layered(&capped, ServerErrors::new());
    fail(
        &mut service,
        &server.url("/advise/503/99999999999999999999999"),
        3,
    )
    .await;
    assert_eq!(capped.open_period(), Some(Duration::from_secs(120)));

    // The default cap: the larger of reset_timeout and 5 minutes.
    let default = breaker("http-advice-default-cap", &clock).build();
    let mut service = layered(&default, ServerErrors::new());
    fail(&mut service, &server.url("/advise/503/86400"), 3).await;
    assert_eq!(default.open_period(), Some(Duration::from_secs(300)));

    // A shorter advice than reset_timeout is honoured too.
    let short = breaker("http-advice-short", &clock).build();
    let mut service = layered(&short, ServerErrors::new());
    fail(&mut service, &server.url("/advise/503/2"), 3).await;
    assert_eq!(short.open_period(), Some(Duration::from_secs(2)));

    // Turned off: the header is not read.
    let deaf = breaker("http-advice-deaf", &clock).build();
    let mut service = layered(&deaf, ServerErrors::new().honour_retry_after(false));
    fail(&mut service, &server.url("/advise/503/30"), 3).await;
    assert_eq!(deaf.open_period(), Some(Duration::from_secs(10)));
}

#[tokio::test]
async fn open_on_retry_after_opens_at_once_from_the_layer_or_the_breaker() {
    let traced = capture_global_events();
    let server = HttpServer::start().await;
    let clock = ManualClock::new();

    let b = breaker("http-advice-at-once", &clock).build();
    let mut service = CircuitBreakerLayer::new(b.clone())
        .classify(ServerErrors::new())
        .open_on_retry_after(true)
        .layer(Client::builder(TokioExecutor::new()).build_http());
    // A failure without advice counts toward the threshold as ever.
    assert_eq!(
        send(&mut service, &server.url("/status/503"))
            .await
            .unwrap(),
        503
    );
    assert_eq!(b.state(), State::Closed);
    assert_eq!(
        send(&mut service, &server.url("/advise/503/20"))
            .await
            .unwrap(),
        503
    );
    assert_eq!(b.state(), State::Open, "one advised failure");
    assert_eq!(b.open_period(), Some(Duration::from_secs(20)));
    let opened = openings(&traced, "http-advice-at-once");
    assert_eq!(opened[0].field(key::OPEN_REASON), Some(values::RETRY_AFTER));
    assert_eq!(opened[0].field(key::OPEN_ADVISED), Some("20.0"));

    // The same from the breaker's own configuration, with a plain classifier.
    let configured = breaker("http-advice-at-once-config", &clock)
        .open_on_retry_after(true)
        .build();
    let mut service = layered(&configured, ServerErrors::new());
    fail(&mut service, &server.url("/advise/503/20"), 1).await;
    assert_eq!(configured.state(), State::Open);
}

#[tokio::test]
async fn a_failed_probe_with_new_advice_reopens_for_the_new_advice() {
    let server = HttpServer::start().await;
    let clock = ManualClock::new();
    let b = breaker("http-advice-probe", &clock).build();
    let mut service = layered(&b, ServerErrors::new());
    fail(&mut service, &server.url("/advise/503/30"), 3).await;
    clock.advance(Duration::from_secs(30));

    // The probe fails with new advice: open again, for it.
    fail(&mut service, &server.url("/advise/503/7"), 1).await;
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.open_period(), Some(Duration::from_secs(7)));
    assert_eq!(b.retry_after(), Some(Duration::from_secs(7)));

    // The next probe fails without advice: the reset timeout again.
    clock.advance(Duration::from_secs(7));
    fail(&mut service, &server.url("/status/503"), 1).await;
    assert_eq!(b.open_period(), Some(Duration::from_secs(10)));
    assert_eq!(b.open_advice(), None);
}

#[tokio::test]
async fn an_upstream_breakers_marker_is_advice_from_the_upstream_breaker() {
    let server = HttpServer::start().await;
    let clock = ManualClock::new();
    let b = breaker("http-advice-marker", &clock).build();
    // The classifier's own switch, as the layer's is.
    let mut service = layered(&b, ServerErrors::new().open_on_retry_after(true));
    // The server's own breaker is open for 30 s: 503, Retry-After: 30, the marker.
    assert_eq!(
        send(&mut service, &server.url("/refused")).await.unwrap(),
        503
    );
    assert_eq!(
        b.state(),
        State::Open,
        "one answer: the marker speaks for the service"
    );
    let advice = b.open_advice().unwrap();
    assert_eq!(advice.source(), AdviceSource::UpstreamBreaker);
    assert_eq!(advice.delay(), Duration::from_secs(30));
}

/// Breakers per authority for the reqwest middleware, on `clock`.
fn hosts(clock: &ManualClock, prefix: &'static str) -> Breakers<String> {
    let each = clock.clone();
    Breakers::builder(move |authority: &String| {
        CircuitBreaker::builder(format!("{prefix}[{authority}]"))
            .fail_max(3)
            .reset_timeout(Duration::from_secs(10))
            .clock(each.clone())
            .unregistered()
    })
    .clock(clock.clone())
    .build()
}

#[tokio::test]
async fn the_reqwest_middleware_reads_retry_after_and_opens_at_once_when_asked() {
    let server = HttpServer::start().await;
    let authority = format!("http://{}", server.authority());
    let clock = ManualClock::new();

    let counted = hosts(&clock, "reqwest-advice");
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(CircuitBreakerMiddleware::with_breakers(counted.clone()))
        .build();
    for n in 1..=3 {
        let response = client
            .get(server.url("/advise/503/45"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 503);
        let state = counted.get(&authority).unwrap().state();
        assert_eq!(state, if n < 3 { State::Closed } else { State::Open });
    }
    let host = counted.get(&authority).unwrap();
    assert_eq!(host.open_period(), Some(Duration::from_secs(45)));
    assert_eq!(
        host.open_advice().unwrap().source(),
        AdviceSource::RetryAfter
    );
    let before = server.hits();
    let error = client
        .get(server.url("/status/200"))
        .send()
        .await
        .unwrap_err();
    let rejection = breaker_runtime::reqwest::rejection(&error).expect("a rejection");
    assert_eq!(rejection.retry_after(), Some(Duration::from_secs(45)));
    assert_eq!(server.hits(), before, "not sent");

    let at_once = hosts(&clock, "reqwest-advice-at-once");
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(CircuitBreakerMiddleware::with_breakers(at_once.clone()).open_on_retry_after(true))
        .build();
    let response = client.get(server.url("/refused")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let host = at_once.get(&authority).unwrap();
    assert_eq!(host.state(), State::Open, "one answer");
    assert_eq!(
        host.open_advice().unwrap().source(),
        AdviceSource::UpstreamBreaker
    );
    assert_eq!(host.open_period(), Some(Duration::from_secs(30)));
    clock.advance(Duration::from_secs(30));
    let response = client.get(server.url("/status/200")).send().await.unwrap();
    assert_eq!(response.status(), 200, "the probe after the advised time");
    assert_eq!(host.state(), State::Closed);
}

/// The same on tokio's paused clock, which the breakers read (the tests' `tokio-clock`
/// feature): time moves only when the test says, across real loopback I/O.
#[tokio::test(start_paused = true)]
async fn on_tokios_paused_clock_the_open_period_is_the_advice() {
    let server = HttpServer::start().await;
    let b = CircuitBreaker::builder("http-advice-paused")
        .fail_max(1)
        .reset_timeout(Duration::from_secs(10))
        .unregistered()
        .build();
    let mut service = layered(&b, ServerErrors::new());
    fail(&mut service, &server.url("/advise/503/30"), 1).await;
    // Deadlines are kept in whole milliseconds, rounded up: the clock's origin may fall
    // anywhere within one.
    let period = b.open_period().unwrap();
    let ms = Duration::from_millis(1);
    assert!(
        period >= Duration::from_secs(30) && period <= Duration::from_secs(30) + ms,
        "{period:?}"
    );
    tokio::time::advance(Duration::from_millis(29_990)).await;
    let rejection = rejected(send(&mut service, &server.url("/status/200")).await);
    let left = rejection.retry_after().unwrap();
    assert!(left >= 10 * ms && left <= 11 * ms, "{left:?}");
    assert_eq!(server.hits(), 1);
    tokio::time::advance(11 * ms).await;
    assert_eq!(
        send(&mut service, &server.url("/status/200"))
            .await
            .unwrap(),
        200
    );
    assert_eq!(
        b.state(),
        State::Closed,
        "the probe after the advised 30 s closed it"
    );
}
