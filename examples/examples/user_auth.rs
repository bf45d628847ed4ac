//! The outage a circuit breaker exists for, on your machine.
//!
//! `UserAuth` (this program) calls `UserProfile` (a real HTTP service it starts on
//! loopback, `examples/src/user_profile.rs`) through `#[circuit_breaker]`. The script
//! makes UserProfile healthy, then down, then slow, and the timeline
//! (`examples/src/timeline.rs`, a listener on the breaker) shows each call: when the
//! breaker counts, opens, rejects in microseconds instead of waiting on the network,
//! probes, and closes.
//!
//! Run it with `cargo run --example user_auth`.

use std::time::{Duration, Instant};

use breaker_examples::timeline::{Call, Kind, Timeline};
use breaker_examples::user_profile::{Health, UserProfile};
use breaker_runtime::{circuit_breaker, CircuitBreakerError};

#[derive(Debug)]
enum ProfileError {
    NotFound,
    Status(u16),
    Transport(String),
    Unavailable(CircuitBreakerError),
}

/// A rejection (or a `call_timeout`) comes back as our own error type.
impl From<CircuitBreakerError> for ProfileError {
    fn from(e: CircuitBreakerError) -> Self {
        ProfileError::Unavailable(e)
    }
}

/// Five failures in a row open the breaker for three seconds; a call running past 500 ms
/// is abandoned and counts as a failure. A 404 or any other 4xx is an answer from a
/// healthy service (the caller asked for something wrong), so it does not count.
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

/// The script's client: calls `get_user_profile` and hands the timeline what happened.
struct UserAuth {
    client: reqwest::Client,
    base: String,
    service: std::sync::Arc<UserProfile>,
    timeline: Timeline,
}

impl UserAuth {
    async fn call(&mut self, id: u64) {
        let hits_before = self.service.hits();
        let t0 = Instant::now();
        let result = get_user_profile(&self.client, &self.base, id).await;
        let latency = t0.elapsed();
        let (kind, detail) = match result {
            Ok(name) => (Kind::Answered, format!("200 {name}")),
            Err(ProfileError::NotFound) => (
                Kind::Answered,
                "404 not found (excluded: not the service's fault)".into(),
            ),
            Err(ProfileError::Status(code)) => (Kind::Failed, format!("{code} from UserProfile")),
            Err(ProfileError::Transport(e)) => (Kind::Failed, format!("transport error: {e}")),
            Err(ProfileError::Unavailable(e)) if e.is_timeout() => (Kind::TimedOut, e.to_string()),
            Err(ProfileError::Unavailable(e)) => (Kind::Rejected, e.to_string()),
        };
        let reached = self.service.hits() - hits_before;
        self.timeline.record(Call {
            kind,
            detail,
            latency,
            reached,
        });
    }

    fn set(&mut self, health: Health) {
        self.service.set(health);
        self.timeline.dependency_changed();
    }

    async fn calls(&mut self, ids: std::ops::RangeInclusive<u64>) {
        for id in ids {
            self.call(id).await;
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let (addr, service) = UserProfile::start().await;
    let mut app = UserAuth {
        client: reqwest::Client::new(),
        base: format!("http://{addr}"),
        service,
        timeline: Timeline::new("user-profile"),
    };
    println!("UserAuth → UserProfile at http://{addr}");
    println!("breaker 'user-profile': fail_max = 5, reset_timeout = 3s, call_timeout = 500ms, 4xx excluded");

    app.timeline.phase("1. UserProfile is healthy");
    app.calls(1..=3).await;

    app.timeline
        .phase("2. An unknown user: a 404 is an answer, not an outage");
    app.call(404).await;

    app.timeline
        .phase("3. UserProfile goes down (503): five failures in a row open the breaker");
    app.set(Health::Failing);
    app.calls(1..=5).await;
    app.timeline
        .phase("   ...and while open, calls fail fast without touching the network");
    app.calls(1..=5).await;

    app.timeline.phase(
        "4. UserProfile recovers; after reset_timeout (3s) a single probe closes the breaker",
    );
    app.set(Health::Healthy);
    tokio::time::sleep(Duration::from_secs(2)).await;
    app.call(1).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    app.calls(1..=3).await;

    app.timeline
        .phase("5. UserProfile turns slow (2s per answer): call_timeout abandons calls at 500ms");
    app.set(Health::Slow);
    app.calls(1..=5).await;
    app.timeline.phase(
        "   ...the breaker is open: callers get an answer at once instead of waiting 500ms each",
    );
    app.calls(1..=5).await;

    app.timeline
        .phase("6. UserProfile is fast again: the probe closes the breaker");
    app.set(Health::Healthy);
    tokio::time::sleep(Duration::from_secs(3)).await;
    app.calls(1..=3).await;

    app.timeline.summary("UserProfile");
}
