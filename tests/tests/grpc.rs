//! gRPC classification against a real tonic server and client on loopback, with the
//! health service's pre-generated code (no `protoc`): a status in the headers (a
//! trailers-only response, as tonic sends every unary error) and a status in the
//! trailers after the body (a unary success; a stream that ends in an error) are both
//! read by the tower layer before it gives the verdict. And the attribute on a tonic
//! client method, with `failure_if = breaker_runtime::grpc::classify`.

use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use breaker_runtime::grpc::Code;
use breaker_runtime::tower::{CircuitBreakerLayer, CircuitBreakerService, GrpcErrors};
use breaker_runtime::{circuit_breaker, CircuitBreaker, CircuitBreakerError, ManualClock, State};
use futures_util::Stream;
use tonic::transport::{Channel, Server};
use tonic::{Request, Response, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use tower::ServiceBuilder;

mod otel;

/// A health service whose answer is chosen by the service name asked about.
struct Scripted;

fn serving() -> HealthCheckResponse {
    HealthCheckResponse {
        status: ServingStatus::Serving as i32,
    }
}

/// The status named by `service` ("" and "ok" answer normally).
fn scripted(service: &str) -> Option<Status> {
    Some(match service {
        "" | "ok" => return None,
        "unavailable" => Status::unavailable("down"),
        "internal" => Status::internal("a bug"),
        "deadline" => Status::deadline_exceeded("too slow"),
        "not_found" => Status::not_found("no such service"),
        "invalid" => Status::invalid_argument("bad name"),
        "denied" => Status::permission_denied("not you"),
        "cancelled" => Status::cancelled("gave up"),
        "exhausted" => Status::resource_exhausted("shedding"),
        // The server's advice: come back in 30 s (RetryInfo), in 1.5 s (pushback), or
        // never (a negative pushback: gRFC A6's "do not retry").
        "retry-info" => {
            use tonic_types::{ErrorDetails, StatusExt};
            Status::with_error_details(
                tonic::Code::Unavailable,
                "overloaded",
                ErrorDetails::with_retry_info(Some(Duration::from_secs(30))),
            )
        }
        "pushback" => pushback("1500"),
        "pushback-negative" => pushback("-1"),
        "pushback-garbage" => pushback("soon"),
        // This service's own breaker to its dependency is open: the rejection as a status.
        "refused" => {
            let upstream = CircuitBreaker::builder("grpc-upstream")
                .reset_timeout(Duration::from_secs(30))
                .clock(ManualClock::new())
                .unregistered()
                .build();
            upstream.open();
            Status::from(upstream.try_acquire().unwrap_err())
        }
        other => panic!("no script for {other:?}"),
    })
}

/// UNAVAILABLE with a `grpc-retry-pushback-ms` of `value`.
fn pushback(value: &'static str) -> Status {
    let mut status = Status::unavailable("pushing back");
    status
        .metadata_mut()
        .insert(breaker_runtime::grpc::PUSHBACK, value.parse().unwrap());
    status
}

#[tonic::async_trait]
impl Health for Scripted {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        match scripted(&request.into_inner().service) {
            None => Ok(Response::new(serving())),
            Some(status) => Err(status),
        }
    }

    type WatchStream = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

    /// One message, then the scripted status: it goes in the trailers, after the body.
    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let mut items = vec![Ok(serving())];
        items.extend(scripted(&request.into_inner().service).map(Err));
        Ok(Response::new(Box::pin(futures_util::stream::iter(items))))
    }
}

async fn serve() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    tokio::spawn(async move {
        Server::builder()
            .add_service(HealthServer::new(Scripted))
            .serve_with_incoming(incoming)
            .await
            .unwrap()
    });
    addr
}

async fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// A health client whose channel is behind `breaker`, classified by `classify`.
async fn through(
    breaker: &CircuitBreaker,
    classify: GrpcErrors,
    addr: SocketAddr,
) -> HealthClient<CircuitBreakerService<Channel, CircuitBreaker, GrpcErrors>> {
    let layer = CircuitBreakerLayer::new(breaker.clone()).classify(classify);
    HealthClient::new(
        ServiceBuilder::new()
            .layer(layer)
            .service(channel(addr).await),
    )
}

fn breaker(name: &str, fail_max: u32) -> CircuitBreaker {
    CircuitBreaker::builder(name.to_string())
        .fail_max(fail_max)
        .clock(ManualClock::new())
        .unregistered()
        .build()
}

fn ask(service: &str) -> HealthCheckRequest {
    HealthCheckRequest {
        service: service.to_string(),
    }
}

#[tokio::test]
async fn statuses_in_the_headers_are_classified_by_code() {
    let addr = serve().await;
    let breaker = breaker("grpc-headers", 100);
    let mut client = through(&breaker, GrpcErrors::new(), addr).await;

    // Failures: each adds one to the count of consecutive failures.
    for (n, service) in ["unavailable", "internal", "deadline"]
        .into_iter()
        .enumerate()
    {
        let status = client.check(ask(service)).await.unwrap_err();
        assert_ne!(status.code(), tonic::Code::Ok);
        assert_eq!(
            breaker.fail_counter(),
            n as u32 + 1,
            "{service} is a failure"
        );
    }
    // CANCELLED is neutral: the count stays.
    client.check(ask("cancelled")).await.unwrap_err();
    assert_eq!(breaker.fail_counter(), 3, "cancelled is neutral");
    // Answers of a working server are successes: the count restarts.
    for service in ["not_found", "invalid", "denied", "exhausted"] {
        let _ = client.check(ask("unavailable")).await;
        assert!(breaker.fail_counter() > 0);
        client.check(ask(service)).await.unwrap_err();
        assert_eq!(breaker.fail_counter(), 0, "{service} is a success");
    }
}

#[tokio::test]
async fn statuses_in_the_trailers_are_read_before_the_verdict() {
    let addr = serve().await;
    let breaker = breaker("grpc-trailers", 1);
    let mut client = through(&breaker, GrpcErrors::new(), addr).await;

    // A unary success: data, then `grpc-status: 0` in the trailers.
    let _ = client.check(ask("unavailable")).await;
    assert_eq!(breaker.state(), State::Open);
    breaker.close();
    assert_eq!(
        client.check(ask("ok")).await.unwrap().into_inner(),
        serving()
    );
    assert_eq!(breaker.fail_counter(), 0);
    assert_eq!(breaker.state(), State::Closed);

    // A stream: a message, then UNAVAILABLE in the trailers. The response headers say
    // nothing yet; the verdict waits for the end of the body.
    let mut stream = client.watch(ask("unavailable")).await.unwrap().into_inner();
    assert_eq!(stream.message().await.unwrap(), Some(serving()));
    assert_eq!(
        breaker.state(),
        State::Closed,
        "no verdict before the trailers"
    );
    let calls = breaker.calls();
    assert_eq!(
        (calls.success, calls.failure),
        (1, 1),
        "the stream's call is still out"
    );
    let status = stream.message().await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    assert_eq!(
        breaker.state(),
        State::Open,
        "UNAVAILABLE in the trailers is a failure"
    );

    // A stream ending in NOT_FOUND is a success.
    breaker.close();
    let mut stream = client.watch(ask("not_found")).await.unwrap().into_inner();
    assert_eq!(stream.message().await.unwrap(), Some(serving()));
    assert_eq!(
        stream.message().await.unwrap_err().code(),
        tonic::Code::NotFound
    );
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(
        breaker.calls().success,
        2,
        "NOT_FOUND in the trailers is a success"
    );
}

#[tokio::test]
async fn a_stream_dropped_before_its_trailers_is_neutral() {
    let addr = serve().await;
    let breaker = breaker("grpc-dropped", 1);
    let mut client = through(&breaker, GrpcErrors::new(), addr).await;
    let mut stream = client.watch(ask("unavailable")).await.unwrap().into_inner();
    assert_eq!(stream.message().await.unwrap(), Some(serving()));
    assert_eq!(breaker.calls().ignored, 0);
    drop(stream);
    assert_eq!(
        breaker.calls().ignored,
        1,
        "the permit went with the body, neutral"
    );
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.fail_counter(), 0);
}

#[tokio::test]
async fn opted_in_codes_are_failures() {
    let addr = serve().await;
    let breaker = breaker("grpc-opted", 2);
    let classify = GrpcErrors::new()
        .failure_on(Code::ResourceExhausted)
        .failure_on(Code::Unimplemented);
    let mut client = through(&breaker, classify, addr).await;
    for _ in 0..2 {
        client.check(ask("exhausted")).await.unwrap_err();
    }
    assert_eq!(breaker.state(), State::Open);
    // tonic's client turns the layer's error into a Status whose source is the
    // rejection.
    let status = client.check(ask("ok")).await.unwrap_err();
    let rejection = std::error::Error::source(&status)
        .and_then(|e| e.downcast_ref::<CircuitBreakerError>())
        .expect("the rejection is the status's source");
    assert_eq!(rejection.name(), "grpc-opted");
}

/// A tonic client wrapped by the attribute.
struct Checker {
    client: HealthClient<Channel>,
}

impl Checker {
    #[circuit_breaker(
        name = "grpc-attribute",
        fail_max = 2,
        reset_timeout = "30s",
        failure_if = breaker_runtime::grpc::classify
    )]
    async fn check(&mut self, service: &str) -> Result<Response<HealthCheckResponse>, Status> {
        self.client.check(ask(service)).await
    }
}

#[tokio::test]
async fn the_attribute_classifies_tonic_statuses() {
    let addr = serve().await;
    let mut checker = Checker {
        client: HealthClient::new(channel(addr).await),
    };
    let breaker = breaker_runtime::registry::get("grpc-attribute").unwrap();

    checker.check("unavailable").await.unwrap_err();
    checker.check("cancelled").await.unwrap_err();
    assert_eq!(breaker.fail_counter(), 1, "CANCELLED is neutral");
    checker.check("not_found").await.unwrap_err();
    assert_eq!(breaker.fail_counter(), 0, "NOT_FOUND is an answer");
    checker.check("internal").await.unwrap_err();
    checker.check("deadline").await.unwrap_err();
    assert_eq!(breaker.state(), State::Open);

    // The rejection is a Status too: UNAVAILABLE, with the breaker's error as source.
    let status = checker.check("ok").await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    let rejection = std::error::Error::source(&status)
        .and_then(|e| e.downcast_ref::<CircuitBreakerError>())
        .expect("a rejection carries the CircuitBreakerError");
    assert!(rejection.is_open());
    assert!(rejection.retry_after().unwrap() <= Duration::from_secs(30));
}

#[tokio::test]
async fn an_upstream_breakers_status_carries_its_reason_and_retry_and_marks_the_span() {
    use breaker_runtime::conventions::{attributes, values};
    use tonic_types::StatusExt;
    use tracing::Instrument;
    let addr = serve().await;
    let traces = otel::Traces::start();
    let b = breaker("grpc-upstream-refused", 5);
    let mut client = through(&b, GrpcErrors::new(), addr).await;
    let status = client
        .check(ask("refused"))
        .instrument(tracing::info_span!("request"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    let info = status.get_details_error_info().expect("ErrorInfo");
    assert_eq!(info.reason, breaker_runtime::boundary::GRPC_REASON);
    let retry = status.get_details_retry_info().expect("RetryInfo");
    assert_eq!(retry.retry_delay, Some(Duration::from_secs(30)));
    assert!(
        !status.message().contains("grpc-upstream"),
        "the name stays home"
    );
    assert!(breaker_runtime::boundary::is_upstream_rejection_status(
        &status
    ));
    assert_eq!(b.fail_counter(), 1, "a failure of the upstream service");
    let spans = traces.finish();
    let request = otel::named(&spans, "request")[0];
    assert_eq!(
        otel::string(otel::attribute(&request.attributes, attributes::ERROR_TYPE)),
        Some(values::UPSTREAM_CIRCUIT_BREAKER_OPEN.to_string())
    );
}

/// A breaker opening after `fail_max` failures, reset after 60 s of `clock`.
fn advised(name: &str, fail_max: u32, clock: &ManualClock) -> CircuitBreaker {
    CircuitBreaker::builder(name.to_string())
        .fail_max(fail_max)
        .reset_timeout(Duration::from_secs(60))
        .clock(clock.clone())
        .unregistered()
        .build()
}

#[tokio::test]
async fn retry_info_times_the_opening_from_the_headers_or_the_trailers() {
    use breaker_runtime::AdviceSource;
    let addr = serve().await;
    let clock = ManualClock::new();

    // Trailers-only (a unary error): the status is in the headers.
    let unary = advised("grpc-retry-info", 2, &clock);
    let mut client = through(&unary, GrpcErrors::new(), addr).await;
    client.check(ask("retry-info")).await.unwrap_err();
    assert_eq!(unary.state(), State::Closed, "the threshold applies");
    client.check(ask("retry-info")).await.unwrap_err();
    assert_eq!(unary.state(), State::Open);
    assert_eq!(
        unary.open_period(),
        Some(Duration::from_secs(30)),
        "not 60 s"
    );
    assert_eq!(
        unary.open_advice().unwrap().source(),
        AdviceSource::GrpcRetryInfo
    );
    // Rejected until the advised time, then the probe goes.
    clock.advance(Duration::from_millis(29_999));
    let status = client.check(ask("ok")).await.unwrap_err();
    assert!(std::error::Error::source(&status)
        .and_then(|e| e.downcast_ref::<CircuitBreakerError>())
        .is_some());
    clock.advance(Duration::from_millis(1));
    client.check(ask("ok")).await.unwrap();
    assert_eq!(unary.state(), State::Closed);

    // A stream: a message, then the status and its details in the trailers.
    let streamed = advised("grpc-retry-info-stream", 1, &clock);
    let mut client = through(&streamed, GrpcErrors::new(), addr).await;
    let mut stream = client.watch(ask("retry-info")).await.unwrap().into_inner();
    assert_eq!(stream.message().await.unwrap(), Some(serving()));
    stream.message().await.unwrap_err();
    assert_eq!(streamed.state(), State::Open);
    assert_eq!(streamed.open_period(), Some(Duration::from_secs(30)));
}

#[tokio::test]
async fn pushback_times_the_opening_and_a_negative_one_is_ignored() {
    use breaker_runtime::AdviceSource;
    let addr = serve().await;
    let clock = ManualClock::new();

    let pushed = advised("grpc-pushback", 1, &clock);
    let mut client = through(&pushed, GrpcErrors::new(), addr).await;
    client.check(ask("pushback")).await.unwrap_err();
    assert_eq!(pushed.open_period(), Some(Duration::from_millis(1_500)));
    assert_eq!(
        pushed.open_advice().unwrap().source(),
        AdviceSource::GrpcPushback
    );

    for script in ["pushback-negative", "pushback-garbage"] {
        let ignored = advised(&format!("grpc-{script}"), 1, &clock);
        let mut client = through(&ignored, GrpcErrors::new(), addr).await;
        client.check(ask(script)).await.unwrap_err();
        assert_eq!(ignored.state(), State::Open, "{script}: a failure as ever");
        assert_eq!(
            ignored.open_period(),
            Some(Duration::from_secs(60)),
            "{script}"
        );
        assert_eq!(ignored.open_advice(), None, "{script}");
    }

    let deaf = advised("grpc-pushback-deaf", 1, &clock);
    let mut client = through(&deaf, GrpcErrors::new().honour_retry_after(false), addr).await;
    client.check(ask("pushback")).await.unwrap_err();
    assert_eq!(deaf.open_period(), Some(Duration::from_secs(60)));
}

#[tokio::test]
async fn open_on_retry_after_opens_at_once_on_advice_and_an_upstream_breaker_is_its_source() {
    use breaker_runtime::AdviceSource;
    let addr = serve().await;
    let clock = ManualClock::new();
    let b = advised("grpc-at-once", 5, &clock);
    let layer = CircuitBreakerLayer::new(b.clone())
        .classify(GrpcErrors::new())
        .open_on_retry_after(true);
    let mut client = HealthClient::new(
        ServiceBuilder::new()
            .layer(layer)
            .service(channel(addr).await),
    );
    client.check(ask("unavailable")).await.unwrap_err();
    assert_eq!(b.state(), State::Closed, "no advice: 1 of 5");
    client.check(ask("refused")).await.unwrap_err();
    assert_eq!(b.state(), State::Open, "one advised failure");
    let advice = b.open_advice().unwrap();
    assert_eq!(advice.source(), AdviceSource::UpstreamBreaker);
    assert_eq!(advice.delay(), Duration::from_secs(30));
}

/// A tonic client wrapped by the attribute, reading the status's advice.
struct AdvisedChecker {
    client: HealthClient<Channel>,
}

impl AdvisedChecker {
    #[circuit_breaker(
        name = "grpc-attribute-advice",
        fail_max = 3,
        failure_if = breaker_runtime::grpc::classify,
        retry_after = breaker_runtime::grpc::retry_after
    )]
    async fn check(&mut self, service: &str) -> Result<Response<HealthCheckResponse>, Status> {
        self.client.check(ask(service)).await
    }
}

#[tokio::test]
async fn the_attribute_reads_a_statuss_advice_with_grpc_retry_after() {
    use breaker_runtime::AdviceSource;
    let addr = serve().await;
    let mut checker = AdvisedChecker {
        client: HealthClient::new(channel(addr).await),
    };
    let breaker = breaker_runtime::registry::get("grpc-attribute-advice").unwrap();
    let clock = ManualClock::new();
    assert!(breaker.set_clock(clock.clone()));
    checker.check("retry-info").await.unwrap_err();
    checker.check("unavailable").await.unwrap_err();
    checker.check("pushback").await.unwrap_err();
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(
        breaker.open_period(),
        Some(Duration::from_millis(1_500)),
        "the latest advice that counted"
    );
    assert_eq!(
        breaker.open_advice().unwrap().source(),
        AdviceSource::GrpcPushback
    );
}
