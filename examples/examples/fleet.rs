//! Three replicas of a service share one breaker through Redis: when one trips, the
//! others reject without a failure of their own; one probe tests the dependency for the
//! whole fleet; all three close together; and when Redis goes away, each carries on as a
//! local breaker.
//!
//! `cargo run --example fleet` starts a `redis-server` of its own (Debian package
//! `redis-server`), or uses the one at `REDIS_URL`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use breaker_examples::own_redis::OwnRedis;
use breaker_runtime::shared::RedisBackend;
use breaker_runtime::{CircuitBreaker, CircuitBreakerError, State};

/// The dependency the replicas call: counts its requests, fails while `down`.
#[derive(Default)]
struct Inventory {
    hits: AtomicU32,
    down: AtomicBool,
}

async fn start_inventory() -> (SocketAddr, Arc<Inventory>) {
    let inventory = Arc::new(Inventory::default());
    let state = inventory.clone();
    let app = Router::new().route(
        "/stock",
        get(move || {
            let state = state.clone();
            async move {
                state.hits.fetch_add(1, Ordering::SeqCst);
                if state.down.load(Ordering::SeqCst) {
                    (StatusCode::SERVICE_UNAVAILABLE, "down")
                } else {
                    (StatusCode::OK, "42")
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, inventory)
}

#[derive(Debug)]
enum StockError {
    Unavailable(u16),
    Transport,
    Rejected(CircuitBreakerError),
}

impl From<CircuitBreakerError> for StockError {
    fn from(e: CircuitBreakerError) -> Self {
        StockError::Rejected(e)
    }
}

impl std::fmt::Display for StockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StockError::Unavailable(code) => write!(f, "inventory answered {code}"),
            StockError::Transport => f.write_str("inventory could not be reached"),
            StockError::Rejected(e) => e.fmt(f),
        }
    }
}

/// One replica: its own connection to the fleet, and its breaker for "inventory".
struct Replica {
    name: &'static str,
    backend: RedisBackend,
    breaker: CircuitBreaker,
}

impl Replica {
    async fn call(&self, client: &reqwest::Client, url: &str, clock: Instant) {
        let before = Instant::now();
        let result = self
            .breaker
            .call_async(async {
                let response = client
                    .get(url)
                    .send()
                    .await
                    .map_err(|_| StockError::Transport)?;
                match response.status().as_u16() {
                    200 => Ok(()),
                    code => Err(StockError::Unavailable(code)),
                }
            })
            .await;
        let took = before.elapsed();
        let what = match result {
            Ok(()) => "200 ok".to_string(),
            Err(StockError::Unavailable(code)) => format!("{code} from inventory"),
            Err(StockError::Transport) => "transport error".to_string(),
            Err(StockError::Rejected(e)) => format!("rejected: {e}"),
        };
        println!(
            "{:>6.2}s  replica {}  {:<9}  {what:<62} {:>8.1?}",
            clock.elapsed().as_secs_f64(),
            self.name,
            self.breaker.state().to_string(),
            took
        );
    }
}

async fn wait_for(what: &str, limit: Duration, condition: impl Fn() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn phase(title: &str) {
    println!("\n── {title}");
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // `REDIS_URL`, or a redis-server of the example's own.
    let mut redis = std::env::var("REDIS_URL").is_err().then(OwnRedis::start);
    let redis_url = redis.as_ref().map_or_else(
        || std::env::var("REDIS_URL").unwrap(),
        |own| own.url().to_string(),
    );
    let (addr, inventory) = start_inventory().await;
    let url = format!("http://{addr}/stock");
    let client = reqwest::Client::new();
    let replicas: Vec<Replica> = ["A", "B", "C"]
        .into_iter()
        .map(|name| {
            let backend = RedisBackend::builder(redis_url.as_str())
                .namespace("fleet-example")
                .build()
                .expect("a valid URL");
            let breaker = CircuitBreaker::builder("inventory")
                .fail_max(3)
                .reset_timeout(Duration::from_secs(2))
                .shared(&backend)
                .unregistered()
                .build();
            Replica {
                name,
                backend,
                breaker,
            }
        })
        .collect();
    println!("three replicas share the breaker 'inventory' (fail_max = 3, reset_timeout = 2s) through {}", replicas[0].backend);
    wait_for("Redis", Duration::from_secs(10), || {
        replicas.iter().all(|r| r.backend.is_healthy())
    })
    .await;
    let clock = Instant::now();

    phase("1. inventory is healthy");
    for r in &replicas {
        r.call(&client, &url, clock).await;
    }

    phase("2. inventory fails: replica A trips on its own three failures...");
    inventory.down.store(true, Ordering::SeqCst);
    for _ in 0..3 {
        replicas[0].call(&client, &url, clock).await;
    }
    wait_for("the fleet to open", Duration::from_secs(5), || {
        replicas.iter().all(|r| r.breaker.state() == State::Open)
    })
    .await;
    println!("   ...and B and C reject without a failure of their own");
    let hits = inventory.hits.load(Ordering::SeqCst);
    for r in &replicas[1..] {
        r.call(&client, &url, clock).await;
    }
    assert_eq!(
        inventory.hits.load(Ordering::SeqCst),
        hits,
        "B and C sent nothing"
    );

    phase("3. inventory recovers; after reset_timeout one probe tests it for the whole fleet");
    inventory.down.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let hits = inventory.hits.load(Ordering::SeqCst);
    while replicas.iter().any(|r| r.breaker.state() != State::Closed) {
        for r in &replicas {
            r.call(&client, &url, clock).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let probes = inventory.hits.load(Ordering::SeqCst) - hits;
    println!("   the fleet closed after {probes} request(s) reached inventory: one probe, for three replicas");

    phase("4. Redis goes away: every replica carries on as a local breaker");
    if let Some(own) = redis.as_mut() {
        own.stop();
    }
    wait_for("the backends to notice", Duration::from_secs(10), || {
        replicas.iter().all(|r| !r.backend.is_healthy())
    })
    .await;
    inventory.down.store(true, Ordering::SeqCst);
    for r in &replicas {
        for _ in 0..4 {
            r.call(&client, &url, clock).await;
        }
    }
    println!("   each replica tripped on its own three failures and rejected the fourth call: no error from Redis reached a caller");
}
