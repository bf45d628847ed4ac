//! Four services on loopback, edge → orders → payments → bank, traced with
//! OpenTelemetry: the library side of `cargo run --example traced_services` (and of its
//! test).
//!
//! Each service is an axum app; each calls the next through a reqwest client with a
//! breaker per host (`breaker_runtime::reqwest::CircuitBreakerMiddleware`) and carries
//! the trace context in W3C `traceparent` headers, so one checkout is one trace across
//! the four. When the bank goes down, payments' breaker to it opens (a
//! `circuit_breaker.open` span in the payments service, linked to the failing calls) and
//! payments answers `503` with `Retry-After` and `circuit-breaker: open`. Orders, hearing
//! that advice, opens its breaker to payments at once until the same instant, and says so
//! to edge, which does the same (`circuit_breaker.open.reason = retry_after`, with the
//! advised time and its source, `upstream_breaker`); all three probe together when
//! payments does. Deaf to the advice, orders and edge count failures to their own
//! `fail_max` and probe on their own cycle. Every breaker runs on one manual clock, moved
//! a second per checkout, so the story is the same on every run.
//!
//! Spans go over OTLP/gRPC (`opentelemetry-otlp`) to [`Collector`], a receiver of this
//! example's own built on `opentelemetry-proto`'s tonic server, or to the collector that
//! `OTEL_EXPORTER_OTLP_ENDPOINT` names.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use breaker_runtime::keyed::Breakers;
use breaker_runtime::reqwest::{rejection, CircuitBreakerMiddleware, ServerErrors};
use breaker_runtime::{CircuitBreaker, Clock, Listener, ManualClock, State as BreakerState};
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

/// The server side: each request is a span, the child of the caller's context, marked
/// with the run it belongs to.
async fn traced(
    State((service, run)): State<(&'static str, &'static str)>,
    request: Request,
    next: Next,
) -> Response {
    let parent = TraceContextPropagator::new().extract(&ReadHeaders(request.headers()));
    let span = tracing::info_span!(
        "request",
        otel.name = format!("{service} {} {}", request.method(), request.uri().path()),
        otel.kind = "server",
        service,
        run,
        http.response.status_code = tracing::field::Empty,
    );
    let _ = span.set_parent(parent);
    let response = next.run(request).instrument(span.clone()).await;
    span.record("http.response.status_code", response.status().as_u16());
    response
}

/// Whether the services listen to each other's advice: orders' and edge's clients read
/// `Retry-After` and open at once on one advised failure (`open_on_retry_after`), as an
/// upstream's `circuit-breaker: open` marker speaks for the whole service; or they
/// ignore it, and open by their own `fail_max` and `reset_timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hearing {
    /// Advice is heard.
    Advice,
    /// Advice is ignored.
    Deaf,
}

impl Hearing {
    /// `advice` or `deaf`: the `run` attribute of the run's spans.
    pub fn as_str(self) -> &'static str {
        match self {
            Hearing::Advice => "advice",
            Hearing::Deaf => "deaf",
        }
    }
}

/// When a hop let a probe through, on the services' clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// `payments`, `orders` or `edge`: whose breaker.
    pub hop: String,
    /// Seconds since the story began.
    pub at: u64,
}

/// Records every half-open transition of the chain's breakers, with the time.
struct Probes {
    clock: ManualClock,
    seen: Mutex<Vec<Probe>>,
}

impl Listener for Probes {
    fn on_state_change(&self, breaker: &CircuitBreaker, _: BreakerState, to: BreakerState) {
        if to == BreakerState::HalfOpen {
            let hop = breaker
                .name()
                .split("->")
                .next()
                .unwrap_or_default()
                .to_string();
            let at = self.clock.now().as_secs();
            self.seen
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(Probe { hop, at });
        }
    }
}

/// A client to another service: the trace context goes along, and a breaker per host
/// (opening after `fail_max` failures, open for `reset_timeout`, or for as long as the
/// upstream advises when `hearing` says so) is around each call.
fn client(
    caller: &'static str,
    fail_max: u32,
    reset_timeout: Duration,
    hearing: Hearing,
    probes: &Arc<Probes>,
) -> (ClientWithMiddleware, Breakers<String>) {
    let clock = probes.clock.clone();
    let listener: Arc<dyn Listener> = probes.clone();
    let breakers = Breakers::builder(move |authority: &String| {
        CircuitBreaker::builder(format!("{caller}->[{authority}]"))
            .fail_max(fail_max)
            .reset_timeout(reset_timeout)
            .clock(clock.clone())
            .listener_arc(listener.clone())
    })
    .clock(probes.clock.clone())
    .build();
    let heard = hearing == Hearing::Advice;
    let middleware = CircuitBreakerMiddleware::with_breakers(breakers.clone())
        .classify(ServerErrors::new().honour_retry_after(heard))
        .open_on_retry_after(heard);
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(Propagate)
        .with(middleware)
        .build();
    (client, breakers)
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

/// A service's answer after a failed call to `upstream`: when its own breaker to it is
/// open now (that failure tripped it, or advice opened it), the same answer as its
/// refusals give (`503`, `Retry-After` for the time left, `circuit-breaker: open`), so
/// that its callers know at once how long it can do nothing; `502` otherwise.
fn failed(breakers: &Breakers<String>, upstream: SocketAddr, what: &'static str) -> Response {
    let breaker = breakers.get(&format!("http://{upstream}"));
    match breaker.and_then(|b| (b.state() == BreakerState::Open).then(|| b.retry_after())) {
        Some(Some(left)) => {
            let seconds = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            let mut response = (StatusCode::SERVICE_UNAVAILABLE, what).into_response();
            let headers = response.headers_mut();
            headers.insert(http::header::RETRY_AFTER, seconds.into());
            headers.insert(
                breaker_runtime::boundary::HEADER,
                http::HeaderValue::from_static(breaker_runtime::boundary::HEADER_OPEN),
            );
            response
        }
        _ => (StatusCode::BAD_GATEWAY, what).into_response(),
    }
}

/// The bank, payments' dependency, which can be switched down.
#[derive(Default)]
pub struct Bank {
    pub down: AtomicBool,
}

/// The chain, started on loopback: its services' clock, the bank's switch, the requests
/// that reached payments, and the probes of each hop.
pub struct Services {
    pub clock: ManualClock,
    pub bank: Arc<Bank>,
    pub edge: SocketAddr,
    pub hearing: Hearing,
    payments_hits: Arc<AtomicUsize>,
    probes: Arc<Probes>,
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("an address");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    addr
}

/// Starts bank, payments, orders and edge, each calling the next, every breaker on one
/// manual clock (the story moves it a second per checkout).
pub async fn start(hearing: Hearing) -> Services {
    let run = hearing.as_str();
    let probes = Arc::new(Probes {
        clock: ManualClock::new(),
        seen: Mutex::new(Vec::new()),
    });
    let bank = Arc::new(Bank::default());
    let pay = {
        let bank = Arc::clone(&bank);
        move || async move {
            if bank.down.load(Ordering::SeqCst) {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::OK
            }
        }
    };
    let bank_addr = serve(
        Router::new()
            .route("/pay", post(pay))
            .layer(axum::middleware::from_fn_with_state(("bank", run), traced)),
    )
    .await;

    // Payments: its breaker to the bank opens after 3 failures, for 30 s. A bank
    // without advice: payments' own breaker decides, and then says how long.
    let (to_bank, bank_breakers) = client("payments", 3, Duration::from_secs(30), hearing, &probes);
    let payments_hits = Arc::new(AtomicUsize::new(0));
    let charge = {
        let hits = Arc::clone(&payments_hits);
        move || {
            let (to_bank, bank_breakers) = (to_bank.clone(), bank_breakers.clone());
            hits.fetch_add(1, Ordering::SeqCst);
            async move {
                let url = format!("http://{bank_addr}/pay");
                match call(&to_bank, "payments", "bank.pay", url).await {
                    Ok(answer) if answer.status.is_success() => StatusCode::OK.into_response(),
                    Ok(_) => failed(&bank_breakers, bank_addr, "the bank failed"),
                    // 503, Retry-After and `circuit-breaker: open` (breaker_runtime's `axum`).
                    Err(rejection) => rejection.into_response(),
                }
            }
        }
    };
    let payments_addr = serve(Router::new().route("/charge", post(charge)).layer(
        axum::middleware::from_fn_with_state(("payments", run), traced),
    ))
    .await;

    // Orders and edge: their breakers tolerate 5 failures and open for 10 s, unless the
    // service they call says how long it is out.
    let (to_payments, payments_breakers) =
        client("orders", 5, Duration::from_secs(10), hearing, &probes);
    let order = move || {
        let (to_payments, payments_breakers) = (to_payments.clone(), payments_breakers.clone());
        async move {
            let url = format!("http://{payments_addr}/charge");
            match call(&to_payments, "orders", "payments.charge", url).await {
                Ok(answer) if answer.status.is_success() => StatusCode::CREATED.into_response(),
                Ok(answer) if answer.refused_upstream => {
                    failed(&payments_breakers, payments_addr, "payments refused")
                }
                Ok(_) => failed(&payments_breakers, payments_addr, "payments failed"),
                Err(rejection) => rejection.into_response(),
            }
        }
    };
    let orders_addr = serve(Router::new().route("/orders", post(order)).layer(
        axum::middleware::from_fn_with_state(("orders", run), traced),
    ))
    .await;

    let (to_orders, _) = client("edge", 5, Duration::from_secs(10), hearing, &probes);
    let checkout = move || {
        let to_orders = to_orders.clone();
        async move {
            let url = format!("http://{orders_addr}/orders");
            match call(&to_orders, "edge", "orders.create", url).await {
                Ok(answer) if answer.status.is_success() => {
                    (answer.status, "ordered").into_response()
                }
                Ok(answer) if answer.refused_upstream => {
                    (answer.status, "orders refused: circuit-breaker: open").into_response()
                }
                Ok(answer) => (answer.status, "orders failed").into_response(),
                Err(_) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "edge's breaker refused: not sent",
                )
                    .into_response(),
            }
        }
    };
    let edge = serve(
        Router::new()
            .route("/checkout", get(checkout))
            .layer(axum::middleware::from_fn_with_state(("edge", run), traced)),
    )
    .await;
    Services {
        clock: probes.clock.clone(),
        bank,
        edge,
        hearing,
        payments_hits,
        probes,
    }
}

/// One checkout of the story: when, edge's status, and what edge said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    /// Seconds since the story began.
    pub at: u64,
    pub status: u16,
    pub said: String,
}

/// What a run of the story saw.
#[derive(Debug, Clone)]
pub struct Story {
    pub hearing: Hearing,
    pub checkouts: Vec<Checkout>,
    /// Requests that reached payments while the bank was down, or before a checkout
    /// succeeded again: the load on a service that can do nothing.
    pub reached_payments_during_outage: usize,
    /// When each hop let a probe through.
    pub probes: Vec<Probe>,
}

/// The bank is down from this second...
pub const BANK_DOWN: u64 = 2;
/// ...to this one.
pub const BANK_UP: u64 = 20;
/// Checkouts, one a second.
pub const CHECKOUTS: u64 = 40;

/// The story: a checkout a second for 40 s on the services' clock; the bank is down from
/// 2 s to 20 s. Payments' breaker to the bank opens at the third failure, for 30 s, and
/// says so (`503`, `Retry-After: 30`, `circuit-breaker: open`). Hearing it, orders'
/// breaker to payments opens at that first advised answer for the same 30 s, and edge's
/// from orders likewise: every hop opens on the same checkout, and all three probe at
/// 34 s, when payments does. Deaf, orders and edge keep calling until their own
/// `fail_max`, then probe on their own 10 s cycle, into a payments still open.
pub async fn story(services: &Services) -> Story {
    let client = reqwest::Client::new();
    let mut checkouts = Vec::new();
    let mut reached = 0;
    let mut recovered = false;
    for at in 0..CHECKOUTS {
        if at > 0 {
            services.clock.advance(Duration::from_secs(1));
        }
        services
            .bank
            .down
            .store((BANK_DOWN..BANK_UP).contains(&at), Ordering::SeqCst);
        let before = services.payments_hits.load(Ordering::SeqCst);
        let response = client
            .get(format!("http://{}/checkout", services.edge))
            .send()
            .await
            .expect("edge answers");
        let status = response.status().as_u16();
        let said = response.text().await.unwrap_or_default();
        if at >= BANK_DOWN && !recovered {
            reached += services.payments_hits.load(Ordering::SeqCst) - before;
        }
        recovered |= at >= BANK_DOWN && status == 201;
        checkouts.push(Checkout { at, status, said });
    }
    Story {
        hearing: services.hearing,
        checkouts,
        reached_payments_during_outage: reached,
        probes: services
            .probes
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone(),
    }
}

impl Story {
    /// The checkouts, runs of the same answer on one line: `t=5..33 s  503 edge's
    /// breaker refused: not sent  (×29)`.
    pub fn timeline(&self) -> String {
        let mut out = String::new();
        let mut runs: Vec<(u64, u64, u16, &str)> = Vec::new();
        for c in &self.checkouts {
            match runs.last_mut() {
                Some(run) if run.2 == c.status && run.3 == c.said => run.1 = c.at,
                _ => runs.push((c.at, c.at, c.status, &c.said)),
            }
        }
        for (from, to, status, said) in runs {
            let when = if from == to {
                format!("t={from} s")
            } else {
                format!("t={from}..{to} s")
            };
            let times = if from == to {
                String::new()
            } else {
                format!("  (×{})", to - from + 1)
            };
            out.push_str(&format!("  {when:<12} {status} {said}{times}\n"));
        }
        out
    }

    /// When each hop probed: `payments 34 s · orders 34 s · edge 34 s`.
    pub fn probed(&self) -> String {
        ["payments", "orders", "edge"]
            .iter()
            .map(|hop| {
                let at: Vec<String> = self
                    .probes
                    .iter()
                    .filter(|p| p.hop == *hop)
                    .map(|p| format!("{} s", p.at))
                    .collect();
                format!(
                    "{hop} at {}",
                    if at.is_empty() {
                        "-".into()
                    } else {
                        at.join(", ")
                    }
                )
            })
            .collect::<Vec<_>>()
            .join(" · ")
    }
}

/// The spans of the traces of one run (`advice` or `deaf`): those whose server spans
/// carry `run`.
pub fn of_run(spans: &[CollectedSpan], hearing: Hearing) -> Vec<CollectedSpan> {
    traces_where(spans, |s| {
        s.attributes.get("run").map(String::as_str) == Some(hearing.as_str())
    })
}

/// The traces in which a breaker changed state (opened, probed, closed): the story's
/// turning points, not the checkouts an open breaker refused.
pub fn turning_points(spans: &[CollectedSpan]) -> Vec<CollectedSpan> {
    traces_where(spans, |s| {
        s.events.iter().any(|(name, _)| {
            matches!(
                name.as_str(),
                "circuit_breaker.opened" | "circuit_breaker.half_opened" | "circuit_breaker.closed"
            )
        })
    })
}

/// Every span of the traces that hold a span for which `marks` is true.
fn traces_where(
    spans: &[CollectedSpan],
    marks: impl Fn(&CollectedSpan) -> bool,
) -> Vec<CollectedSpan> {
    let traces: std::collections::HashSet<&str> = spans
        .iter()
        .filter(|s| marks(s))
        .map(|s| s.trace_id.as_str())
        .collect();
    spans
        .iter()
        .filter(|s| traces.contains(s.trace_id.as_str()))
        .cloned()
        .collect()
}

/// The received spans as indented trees, one per trace, with the breaker's attributes,
/// events and links.
pub fn render(spans: &[CollectedSpan]) -> String {
    render_among(spans, spans)
}

/// [`render`] for the traces of `shown`, naming linked spans from all of `spans` (a link
/// to a trace not shown still says what it links to).
pub fn render_among(shown: &[CollectedSpan], spans: &[CollectedSpan]) -> String {
    let by_id: HashMap<&str, &CollectedSpan> =
        spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let spans = shown;
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
            tree(&mut out, root, members, &by_id, 1, "");
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
    parents_service: &str,
) {
    let pad = "  ".repeat(depth);
    // A breaker's span is in the service of the call it belongs to.
    let service = match span.attributes.get("service") {
        Some(service) => service.as_str(),
        None if !parents_service.is_empty() => parents_service,
        None => span.service.as_str(),
    };
    let mut line = format!("{pad}{} [{service}]", span.name);
    for (key, value) in &span.attributes {
        // The name says the key (`orders->[http://127.0.0.1:41691]`).
        if (key.starts_with("circuit_breaker.") && key != "circuit_breaker.key")
            || key == "error.type"
        {
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
            "circuit_breaker.open.advised",
            "circuit_breaker.open.advice_source",
            "circuit_breaker.reset_timeout",
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
        tree(out, child, members, by_id, depth + 1, service);
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
