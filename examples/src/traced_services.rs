//! Three services on loopback, edge → orders → payments, traced with OpenTelemetry: the
//! library side of `cargo run --example traced_services` (and of its test).
//!
//! Each service is an axum app; each calls the next through a reqwest client with a
//! breaker per host (`breaker_runtime::reqwest::CircuitBreakerMiddleware`) and carries
//! the trace context in W3C `traceparent` headers, so one checkout is one trace across
//! the three. When payments goes down, orders' breaker to it opens (a
//! `circuit_breaker.open` span in the orders service, linked to the failing calls) and
//! refuses, answering 503 with `circuit-breaker: open`; edge counts that as a failure of
//! orders and marks its call `error.type = upstream_circuit_breaker_open`.
//!
//! Spans go over OTLP/gRPC (`opentelemetry-otlp`) to [`Collector`], a receiver of this
//! example's own built on `opentelemetry-proto`'s tonic server, or to the collector that
//! `OTEL_EXPORTER_OTLP_ENDPOINT` names.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use breaker_runtime::reqwest::{rejection, CircuitBreakerMiddleware};
use breaker_runtime::CircuitBreaker;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// A span as the receiver got it, with the service that sent it.
#[derive(Debug, Clone)]
pub struct CollectedSpan {
    pub service: String,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    pub name: String,
    pub attributes: BTreeMap<String, String>,
    /// Span events: name and attributes.
    pub events: Vec<(String, BTreeMap<String, String>)>,
    /// Links: trace id, span id and attributes.
    pub links: Vec<(String, String, BTreeMap<String, String>)>,
    /// `OK`, `ERROR` or empty (unset), with the description.
    pub status: String,
    /// When it started (Unix nanoseconds).
    pub start: u64,
}

/// An OTLP/gRPC trace receiver on 127.0.0.1: it keeps every span it is sent.
#[derive(Clone, Default)]
pub struct Collector {
    spans: Arc<Mutex<Vec<CollectedSpan>>>,
}

impl Collector {
    /// Starts receiving on a free loopback port; returns the endpoint to export to.
    pub async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("an address");
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        let service = TraceServiceServer::new(self.clone());
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(incoming)
                .await
                .expect("the receiver serves")
        });
        format!("http://{addr}")
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<CollectedSpan> {
        self.spans.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn text(value: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(n)) => n.to_string(),
        Some(Value::DoubleValue(x)) => x.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn attributes(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), text(&kv.value)))
        .collect()
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut kept = self.spans.lock().unwrap_or_else(|e| e.into_inner());
        for resource in request.into_inner().resource_spans {
            let resource_attributes = resource
                .resource
                .map(|r| attributes(&r.attributes))
                .unwrap_or_default();
            let fallback = resource_attributes
                .get("service.name")
                .cloned()
                .unwrap_or_default();
            for scope in resource.scope_spans {
                for span in scope.spans {
                    let attributes = attributes(&span.attributes);
                    let status = span.status.map_or(String::new(), |s| match s.code {
                        1 => "OK".to_string(),
                        2 => format!("ERROR {}", s.message),
                        _ => String::new(),
                    });
                    kept.push(CollectedSpan {
                        service: attributes
                            .get("service")
                            .cloned()
                            .unwrap_or(fallback.clone()),
                        trace_id: hex(&span.trace_id),
                        span_id: hex(&span.span_id),
                        parent_span_id: hex(&span.parent_span_id),
                        name: span.name,
                        events: span
                            .events
                            .iter()
                            .map(|e| (e.name.clone(), self::attributes(&e.attributes)))
                            .collect(),
                        links: span
                            .links
                            .iter()
                            .map(|l| {
                                (
                                    hex(&l.trace_id),
                                    hex(&l.span_id),
                                    self::attributes(&l.attributes),
                                )
                            })
                            .collect(),
                        attributes,
                        status,
                        start: span.start_time_unix_nano,
                    });
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// `traceparent` headers in and out of `http::HeaderMap`s.
struct Headers<'a>(&'a mut http::HeaderMap);

impl Injector for Headers<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

struct ReadHeaders<'a>(&'a http::HeaderMap);

impl Extractor for ReadHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// The client side of propagation: each request carries the current span's context.
struct Propagate;

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for Propagate {
    async fn handle(
        &self,
        mut request: reqwest::Request,
        extensions: &mut http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let context = tracing::Span::current().context();
        TraceContextPropagator::new().inject_context(&context, &mut Headers(request.headers_mut()));
        next.run(request, extensions).await
    }
}

/// The server side: each request is a span, the child of the caller's context.
async fn traced(State(service): State<&'static str>, request: Request, next: Next) -> Response {
    let parent = TraceContextPropagator::new().extract(&ReadHeaders(request.headers()));
    let span = tracing::info_span!(
        "request",
        otel.name = format!("{service} {} {}", request.method(), request.uri().path()),
        otel.kind = "server",
        service,
        http.response.status_code = tracing::field::Empty,
    );
    let _ = span.set_parent(parent);
    let response = next.run(request).instrument(span.clone()).await;
    span.record("http.response.status_code", response.status().as_u16());
    response
}

/// A client to another service: the trace context goes along, and a breaker per host
/// (opening after `fail_max` failures, open for 30 s) is around each call.
fn client(caller: &'static str, fail_max: u32) -> ClientWithMiddleware {
    ClientBuilder::new(reqwest::Client::new())
        .with(Propagate)
        .with(CircuitBreakerMiddleware::new(move |authority: &str| {
            CircuitBreaker::builder(format!("{caller}->[{authority}]"))
                .fail_max(fail_max)
                .reset_timeout(Duration::from_secs(30))
        }))
        .build()
}

/// What another service answered: its status, and whether its breaker refused.
struct Answer {
    status: StatusCode,
    refused_upstream: bool,
}

/// A call to another service, in a client span named `name`: its answer, or the
/// rejection of this service's breaker to it.
async fn call(
    client: &ClientWithMiddleware,
    service: &'static str,
    name: &'static str,
    url: String,
) -> Result<Answer, breaker_runtime::CircuitBreakerError> {
    let span = tracing::info_span!("call", otel.name = name, otel.kind = "client", service);
    let sent = client.post(url).send().instrument(span).await;
    match sent {
        Ok(response) => Ok(Answer {
            status: response.status(),
            refused_upstream: breaker_runtime::boundary::is_upstream_rejection(response.headers()),
        }),
        Err(error) => match rejection(&error) {
            Some(rejection) => Err(rejection.clone()),
            None => Ok(Answer {
                status: StatusCode::BAD_GATEWAY,
                refused_upstream: false,
            }),
        },
    }
}

/// The payments service, which can be switched down.
#[derive(Default)]
pub struct Payments {
    pub down: AtomicBool,
}

/// The three services, started on loopback.
pub struct Services {
    pub payments: Arc<Payments>,
    pub edge: SocketAddr,
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("an address");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    addr
}

/// Starts payments, orders and edge, each calling the next.
pub async fn start() -> Services {
    let payments = Arc::new(Payments::default());
    let charge = {
        let payments = Arc::clone(&payments);
        move || async move {
            if payments.down.load(Ordering::SeqCst) {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::OK
            }
        }
    };
    let payments_addr = serve(
        Router::new()
            .route("/charge", post(charge))
            .layer(axum::middleware::from_fn_with_state("payments", traced)),
    )
    .await;

    // Orders: its breaker to payments opens after 3 failures, and then refuses at once.
    let to_payments = client("orders", 3);
    let order = move || {
        let to_payments = to_payments.clone();
        async move {
            match call(
                &to_payments,
                "orders",
                "payments.charge",
                format!("http://{payments_addr}/charge"),
            )
            .await
            {
                Ok(answer) if answer.status.is_success() => StatusCode::CREATED.into_response(),
                Ok(_) => (StatusCode::BAD_GATEWAY, "payments failed").into_response(),
                // 503, Retry-After and `circuit-breaker: open` (breaker_runtime's `axum`).
                Err(rejection) => rejection.into_response(),
            }
        }
    };
    let orders_addr = serve(
        Router::new()
            .route("/orders", post(order))
            .layer(axum::middleware::from_fn_with_state("orders", traced)),
    )
    .await;

    // Edge: its breaker to orders tolerates more; it sees orders' refusals as failures
    // of orders, marked as an upstream breaker's.
    let to_orders = client("edge", 20);
    let checkout = move || {
        let to_orders = to_orders.clone();
        async move {
            match call(
                &to_orders,
                "edge",
                "orders.create",
                format!("http://{orders_addr}/orders"),
            )
            .await
            {
                Ok(answer) if answer.refused_upstream => (
                    answer.status,
                    "orders' breaker refused: circuit-breaker: open",
                )
                    .into_response(),
                Ok(answer) if answer.status.is_success() => {
                    (answer.status, "ordered").into_response()
                }
                Ok(answer) => (answer.status, "orders failed").into_response(),
                Err(rejection) => rejection.into_response(),
            }
        }
    };
    let edge = serve(
        Router::new()
            .route("/checkout", get(checkout))
            .layer(axum::middleware::from_fn_with_state("edge", traced)),
    )
    .await;
    Services { payments, edge }
}

/// The story: two checkouts, payments goes down, three checkouts fail and open orders'
/// breaker to payments, two more are refused by it. Returns each checkout's status and
/// what edge says of it.
pub async fn story(services: &Services) -> Vec<(u16, String)> {
    let client = reqwest::Client::new();
    let mut answers = Vec::new();
    for n in 0..7 {
        if n == 2 {
            services.payments.down.store(true, Ordering::SeqCst);
        }
        let response = client
            .get(format!("http://{}/checkout", services.edge))
            .send()
            .await
            .expect("edge answers");
        let status = response.status().as_u16();
        answers.push((status, response.text().await.unwrap_or_default()));
    }
    answers
}

/// The received spans as indented trees, one per trace, with the breaker's attributes,
/// events and links.
pub fn render(spans: &[CollectedSpan]) -> String {
    let by_id: HashMap<&str, &CollectedSpan> =
        spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let mut traces: BTreeMap<&str, Vec<&CollectedSpan>> = BTreeMap::new();
    for span in spans {
        traces.entry(span.trace_id.as_str()).or_default().push(span);
    }
    // In the order the traces began; within one, children in the order they began.
    let mut traces: Vec<(&str, Vec<&CollectedSpan>)> = traces.into_iter().collect();
    for (_, members) in &mut traces {
        members.sort_by_key(|s| s.start);
    }
    traces.sort_by_key(|(_, members)| members.first().map(|s| s.start));
    let mut out = String::new();
    for (trace, members) in &traces {
        out.push_str(&format!("trace {}\n", &trace[..16]));
        let roots = members
            .iter()
            .filter(|s| !members.iter().any(|p| p.span_id == s.parent_span_id));
        for root in roots {
            tree(&mut out, root, members, &by_id, 1);
        }
    }
    out
}

fn tree(
    out: &mut String,
    span: &CollectedSpan,
    members: &[&CollectedSpan],
    by_id: &HashMap<&str, &CollectedSpan>,
    depth: usize,
) {
    let pad = "  ".repeat(depth);
    let mut line = format!("{pad}{} [{}]", span.name, span.service);
    for (key, value) in &span.attributes {
        if key.starts_with("circuit_breaker.") || key == "error.type" {
            line.push_str(&format!(" {key}={value}"));
        }
    }
    if !span.status.is_empty() {
        line.push_str(&format!(" status={}", span.status));
    }
    out.push_str(&line);
    out.push('\n');
    for (name, attributes) in &span.events {
        let mut line = format!("{pad}  • {name}");
        for key in [
            "circuit_breaker.open.reason",
            "circuit_breaker.failures",
            "circuit_breaker.retry_after",
            "error.type",
        ] {
            if let Some(value) = attributes.get(key) {
                line.push_str(&format!(" {key}={value}"));
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    for (trace, linked, attributes) in &span.links {
        let kind = attributes
            .get("circuit_breaker.link.type")
            .map_or("link", String::as_str);
        let target = by_id
            .get(linked.as_str())
            .map_or("?".to_string(), |s| format!("{} [{}]", s.name, s.service));
        out.push_str(&format!(
            "{pad}  ↪ {kind}: {target} in trace {}\n",
            &trace[..16]
        ));
    }
    for child in members.iter().filter(|c| c.parent_span_id == span.span_id) {
        tree(out, child, members, by_id, depth + 1);
    }
}

/// Traces to OTLP/gRPC at `endpoint` (or where `OTEL_EXPORTER_OTLP_ENDPOINT` says, for
/// `None`), through `tracing-opentelemetry`'s layer: every span of the services and the
/// breakers' spans and events (`breaker_runtime` at DEBUG, the rest at INFO). Call it
/// inside a tokio runtime (the exporter's gRPC client runs on it); shut the provider
/// down to flush.
pub fn install(endpoint: Option<String>) -> opentelemetry_sdk::trace::SdkTracerProvider {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::WithExportConfig as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let exporter = opentelemetry_otlp::SpanExporter::builder().with_tonic();
    let exporter = match endpoint {
        Some(endpoint) => exporter.with_endpoint(endpoint),
        None => exporter,
    }
    .build()
    .expect("an OTLP exporter");
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name("traced-services")
                .build(),
        )
        .with_batch_exporter(exporter)
        .build();
    let filter = tracing_subscriber::filter::Targets::new()
        .with_target("breaker_runtime", tracing::Level::DEBUG)
        .with_default(tracing::Level::INFO);
    tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("traced_services")))
        .with(filter)
        .init();
    provider
}
