//! The outage a circuit breaker exists for, on your machine.
//!
//! `UserAuth` (this program's client side) calls `UserProfile` (a real HTTP service it
//! starts on loopback) through `#[circuit_breaker]`. The script makes UserProfile
//! healthy, then down, then slow, and shows each call: when the breaker counts, opens,
//! rejects in microseconds instead of waiting on the network, probes, and closes.
//!
//! Run it with `cargo run --example user_auth`.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State as AxumState};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use breaker_runtime::listener::add_global_listener_arc;
use breaker_runtime::{circuit_breaker, CircuitBreaker, CircuitBreakerError, Listener, State};

// ---------------------------------------------------------------------------------------
// UserProfile: the dependency, with a switch.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
enum Health {
    Healthy = 0,
    Failing = 1,
    Slow = 2,
}

struct UserProfileService {
    health: AtomicU8,
    /// Requests that reached the service: what a breaker saves it from.
    hits: AtomicU64,
}

impl UserProfileService {
    fn set(&self, health: Health) {
        self.health.store(health as u8, Ordering::SeqCst);
    }
}

async fn profile_handler(
    AxumState(service): AxumState<Arc<UserProfileService>>,
    Path(id): Path<u64>,
) -> (StatusCode, String) {
    service.hits.fetch_add(1, Ordering::SeqCst);
    match service.health.load(Ordering::SeqCst) {
        1 => return (StatusCode::SERVICE_UNAVAILABLE, "overloaded".into()),
        2 => tokio::time::sleep(Duration::from_secs(2)).await,
        _ => {}
    }
    match id {
        1 => (StatusCode::OK, "alice".into()),
        2 => (StatusCode::OK, "bob".into()),
        3 => (StatusCode::OK, "carol".into()),
        _ => (StatusCode::NOT_FOUND, format!("no user {id}")),
    }
}

async fn start_user_profile() -> (SocketAddr, Arc<UserProfileService>) {
    let service = Arc::new(UserProfileService {
        health: AtomicU8::new(0),
        hits: AtomicU64::new(0),
    });
    let app = Router::new()
        .route("/users/{id}", get(profile_handler))
        .with_state(service.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("a local address");
    tokio::spawn(async move {
        axum::serve(listener, app)
            .await
            .expect("the UserProfile server")
    });
    (addr, service)
}

// ---------------------------------------------------------------------------------------
// UserAuth's client: the function under the breaker.

#[derive(Debug)]
enum ProfileError {
    NotFound,
    Status(u16),
    Transport(String),
    Unavailable(CircuitBreakerError),
}

impl From<CircuitBreakerError> for ProfileError {
    fn from(e: CircuitBreakerError) -> Self {
        ProfileError::Unavailable(e)
    }
}

/// A 404 or any other 4xx is an answer from a healthy service (the caller asked for
/// something wrong), so it does not count towards opening the breaker.
#[circuit_breaker(
    name = "user-profile",
    fail_max = 5,
    reset_timeout = "3s",
    call_timeout = "500ms",
    exclude = [ProfileError::NotFound, ProfileError::Status(400..=499)]
)]
async fn get_user_profile(
    client: &reqwest::Client,
    base: &str,
    id: u64,
) -> Result<String, ProfileError> {
    let response = client
        .get(format!("{base}/users/{id}"))
        .send()
        .await
        .map_err(|e| ProfileError::Transport(e.to_string()))?;
    match response.status().as_u16() {
        200 => response
            .text()
            .await
            .map_err(|e| ProfileError::Transport(e.to_string())),
        404 => Err(ProfileError::NotFound),
        code => Err(ProfileError::Status(code)),
    }
}

// ---------------------------------------------------------------------------------------
// The timeline: every line below comes from the breaker's own events, through a listener.

#[derive(Clone, Debug)]
enum Event {
    Admitted { probe: bool },
    Success,
    Failure,
    Rejected(CircuitBreakerError),
    Transition(State, State),
}

#[derive(Default)]
struct Timeline {
    events: Mutex<Vec<(Event, State)>>,
}

impl Listener for Timeline {
    fn before_call(&self, b: &CircuitBreaker) {
        let probe = b.state() == State::HalfOpen;
        self.record(b, Event::Admitted { probe });
    }
    fn on_success(&self, b: &CircuitBreaker) {
        self.record(b, Event::Success);
    }
    fn on_failure(&self, b: &CircuitBreaker) {
        self.record(b, Event::Failure);
    }
    fn on_rejected(&self, b: &CircuitBreaker, error: &CircuitBreakerError) {
        self.record(b, Event::Rejected(error.clone()));
    }
    fn on_state_change(&self, b: &CircuitBreaker, from: State, to: State) {
        self.record(b, Event::Transition(from, to));
    }
}

impl Timeline {
    fn record(&self, b: &CircuitBreaker, event: Event) {
        if b.name() == "user-profile" {
            self.events.lock().unwrap().push((event, b.state()));
        }
    }

    fn take(&self) -> Vec<(Event, State)> {
        std::mem::take(&mut *self.events.lock().unwrap())
    }
}

struct Paint {
    on: bool,
}

impl Paint {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

/// What happened to one kind of call, for the summary.
#[derive(Default)]
struct Tally {
    calls: u64,
    reached: u64,
    total: Duration,
}

struct Demo {
    client: reqwest::Client,
    base: String,
    service: Arc<UserProfileService>,
    timeline: Arc<Timeline>,
    paint: Paint,
    started: Instant,
    calls: u64,
    tallies: BTreeMap<&'static str, Tally>,
    /// Mean latency of the calls that failed in the current outage: what each rejected
    /// call would have cost without the breaker.
    outage_cost: Vec<Duration>,
    saved: Duration,
}

impl Demo {
    fn phase(&mut self, title: &str) {
        println!("\n{}", self.paint.paint("1", &format!("── {title}")));
    }

    fn set_health(&mut self, health: Health) {
        self.service.set(health);
        self.outage_cost.clear();
    }

    async fn call(&mut self, id: u64) {
        self.calls += 1;
        let hits_before = self.service.hits.load(Ordering::SeqCst);
        let t0 = Instant::now();
        let result = get_user_profile(&self.client, &self.base, id).await;
        let latency = t0.elapsed();
        let reached = self.service.hits.load(Ordering::SeqCst) - hits_before;

        let (kind, detail) = match &result {
            Ok(name) => ("answered", format!("200 {name}")),
            Err(ProfileError::NotFound) => (
                "answered",
                "404 not found (excluded: not the service's fault)".into(),
            ),
            Err(ProfileError::Status(code)) => ("failed", format!("{code} from UserProfile")),
            Err(ProfileError::Transport(e)) => ("failed", format!("transport error: {e}")),
            Err(ProfileError::Unavailable(e)) if e.is_timeout() => ("timed out", e.to_string()),
            Err(ProfileError::Unavailable(e)) => ("rejected", e.to_string()),
        };
        let tally = self.tallies.entry(kind).or_default();
        tally.calls += 1;
        tally.reached += reached;
        tally.total += latency;
        match kind {
            "failed" | "timed out" => self.outage_cost.push(latency),
            "rejected" if !self.outage_cost.is_empty() => {
                let mean =
                    self.outage_cost.iter().sum::<Duration>() / self.outage_cost.len() as u32;
                self.saved += mean.saturating_sub(latency);
            }
            _ => {}
        }

        // An outcome is shown in the state its call was admitted in; a transition in the
        // state it led to.
        let mut admitted_in = None;
        for (event, state) in self.timeline.take() {
            let at = format!("{:>7.3}s", self.started.elapsed().as_secs_f64());
            let column = |s: State| format!("{:<9}", s.to_string());
            let line = match event {
                Event::Admitted { probe } => {
                    admitted_in = Some((state, probe));
                    continue;
                }
                Event::Transition(from, to) => {
                    let code = if to == State::Open { "1;31" } else { "1;32" };
                    let text = format!("{from} → {to}");
                    format!(
                        "{at}  {}  {}",
                        self.paint.paint(code, &column(to)),
                        self.paint.paint(code, &text)
                    )
                }
                Event::Success | Event::Failure => {
                    let (during, probe) = admitted_in.unwrap_or((state, false));
                    let (code, verdict) = match (&event, probe) {
                        (Event::Success, false) => ("32", "ok"),
                        (Event::Success, true) => ("32", "ok, probe"),
                        (_, false) => ("31", "FAILED"),
                        (_, true) => ("31", "FAILED, probe"),
                    };
                    self.outcome_line(&at, &column(during), code, verdict, &detail, latency)
                }
                Event::Rejected(error) => self.outcome_line(
                    &at,
                    &column(state),
                    "33",
                    "rejected",
                    &error.to_string(),
                    latency,
                ),
            };
            println!("{line}");
        }
    }

    fn outcome_line(
        &self,
        at: &str,
        state: &str,
        code: &str,
        verdict: &str,
        detail: &str,
        latency: Duration,
    ) -> String {
        let call = format!("call #{:<3}", self.calls);
        let verdict = self.paint.paint(code, &format!("{verdict:<13}"));
        format!(
            "{at}  {state}  {call} {verdict} {detail:<66} {:>9}",
            human(latency)
        )
    }

    fn summary(&self) {
        println!("\n{}", self.paint.paint("1", "── Summary"));
        println!(
            "  {:<12} {:>6} {:>22} {:>14}",
            "outcome", "calls", "reached UserProfile", "mean latency"
        );
        for kind in ["answered", "failed", "timed out", "rejected"] {
            if let Some(t) = self.tallies.get(kind) {
                let mean = t.total / t.calls.max(1) as u32;
                println!(
                    "  {kind:<12} {:>6} {:>22} {:>14}",
                    t.calls,
                    t.reached,
                    human(mean)
                );
            }
        }
        let reached: u64 = self.tallies.values().map(|t| t.reached).sum();
        let rejected = self.tallies.get("rejected").map_or(0, |t| t.calls);
        println!(
            "\n  {} calls made; {} reached UserProfile; {} rejected by the breaker without touching the network.",
            self.calls, reached, rejected
        );
        println!(
            "  Without the breaker those {rejected} calls would have hit a failing service: about {} of waiting saved.",
            human(self.saved)
        );
    }
}

fn human(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos < 1_000 {
        format!("{nanos} ns")
    } else if nanos < 1_000_000 {
        format!("{:.1} µs", nanos as f64 / 1e3)
    } else if nanos < 1_000_000_000 {
        format!("{:.1} ms", nanos as f64 / 1e6)
    } else {
        format!("{:.2} s", nanos as f64 / 1e9)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let (addr, service) = start_user_profile().await;
    let timeline = Arc::new(Timeline::default());
    add_global_listener_arc(timeline.clone());
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let mut demo = Demo {
        client: reqwest::Client::new(),
        base: format!("http://{addr}"),
        service: service.clone(),
        timeline,
        paint: Paint { on: color },
        started: Instant::now(),
        calls: 0,
        tallies: BTreeMap::new(),
        outage_cost: Vec::new(),
        saved: Duration::ZERO,
    };

    println!("UserAuth → UserProfile at http://{addr}");
    println!("breaker 'user-profile': fail_max = 5, reset_timeout = 3s, call_timeout = 500ms, 4xx excluded");

    demo.phase("1. UserProfile is healthy");
    for id in 1..=3 {
        demo.call(id).await;
    }

    demo.phase("2. An unknown user: a 404 is an answer, not an outage");
    demo.call(404).await;

    demo.phase("3. UserProfile goes down (503): five failures in a row open the breaker");
    demo.set_health(Health::Failing);
    for id in 1..=5 {
        demo.call(id).await;
    }
    demo.phase("   ...and while open, calls fail fast without touching the network");
    for id in 1..=5 {
        demo.call(id).await;
    }

    demo.phase(
        "4. UserProfile recovers; after reset_timeout (3s) a single probe closes the breaker",
    );
    demo.set_health(Health::Healthy);
    tokio::time::sleep(Duration::from_secs(2)).await;
    demo.call(1).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    for id in 1..=3 {
        demo.call(id).await;
    }

    demo.phase("5. UserProfile turns slow (2s per answer): call_timeout abandons calls at 500ms");
    demo.set_health(Health::Slow);
    for id in 1..=5 {
        demo.call(id).await;
    }
    demo.phase(
        "   ...the breaker is open: callers get an answer at once instead of waiting 500ms each",
    );
    for id in 1..=5 {
        demo.call(id).await;
    }

    demo.phase("6. UserProfile is fast again: the probe closes the breaker");
    demo.set_health(Health::Healthy);
    tokio::time::sleep(Duration::from_secs(3)).await;
    for id in 1..=3 {
        demo.call(id).await;
    }

    demo.summary();
}
