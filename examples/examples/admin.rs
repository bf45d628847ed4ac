//! A service with breakers and their admin router: `cargo run --example admin`, then open
//! the dashboard it prints (http://127.0.0.1:3000/admin).
//!
//! Three dependencies fail now and then (`warehouse` in bursts, `payments` at a rate that
//! comes and goes, and one of three hosts behind a breaker per host), so the page has
//! something to show. `/metrics` serves Prometheus text for the rules and the dashboard
//! under `ops/`.
//!
//! - `--listen ADDR` (default `127.0.0.1:3000`; port 0 for any): the address printed
//!   first, as `listening on http://ADDR`;
//! - `ADMIN_TOKEN`: writes need it as a bearer token (the page has a field for it);
//!   unset, one is made and printed;
//! - `REDIS_URL`: `payments` is shared with every process started with the same URL
//!   (a fleet: run two, force one open on one, watch the other);
//! - `--for SECS`: exits after that long (CI runs it for a few seconds).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::http::header;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use axum::Router;
use breaker_examples::observability::prometheus;
use breaker_runtime::admin::{self, Access};
use breaker_runtime::keyed::Breakers;
use breaker_runtime::shared::RedisBackend;
use breaker_runtime::{CircuitBreaker, Window};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A dependency's answer at `tick` (one every 50 ms): `fails(tick)` says whether it fails.
async fn call(breaker: &CircuitBreaker, fails: bool) {
    let _ = breaker
        .call_async(async move {
            tokio::time::sleep(Duration::from_millis(2)).await;
            match fails {
                true => Err::<(), BoxError>("503 Service Unavailable".into()),
                false => Ok(()),
            }
        })
        .await;
}

/// A cheap deterministic noise in 0..100.
fn noise(tick: u64, salt: u64) -> u64 {
    let mut x = tick.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt;
    x ^= x >> 29;
    x.wrapping_mul(0xBF58_476D_1CE4_E5B9) >> 57
}

async fn traffic(hosts: Breakers<String>) {
    let warehouse = CircuitBreaker::builder("warehouse")
        .fail_max(5)
        .reset_timeout(Duration::from_secs(5))
        .build();
    let backend = std::env::var("REDIS_URL").ok().map(|url| {
        RedisBackend::builder(url)
            .namespace("admin-example")
            .build()
            .expect("REDIS_URL: a redis:// URL")
    });
    let mut payments = CircuitBreaker::builder("payments")
        .failure_rate(50)
        .slow_call(Duration::from_millis(40))
        .slow_rate(80)
        .window(Window::Calls(20))
        .min_calls(10)
        .reset_timeout(Duration::from_secs(8));
    if let Some(backend) = &backend {
        payments = payments.shared(backend);
    }
    let payments = payments.build();
    let tick = AtomicU64::new(0);
    let mut every = tokio::time::interval(Duration::from_millis(50));
    loop {
        every.tick().await;
        let t = tick.fetch_add(1, Ordering::Relaxed);
        // Warehouse: down for 3 s out of every 30.
        call(&warehouse, t % 600 >= 540).await;
        // Payments: 10% failures, 70% for 4 s out of every 45.
        let bad = if t % 900 >= 820 { 70 } else { 10 };
        call(&payments, noise(t, 1) * 100 / 128 < bad).await;
        // One host of three is flaky.
        for (i, host) in ["eu.example", "us.example", "ap.example"]
            .iter()
            .enumerate()
        {
            let fails = i == 2 && noise(t, 7) < 48;
            let _ = hosts
                .call_async(*host, async move {
                    match fails {
                        true => Err::<(), BoxError>("connection reset".into()),
                        false => Ok(()),
                    }
                })
                .await;
        }
    }
}

#[tokio::main]
async fn main() {
    let mut listen: SocketAddr = "127.0.0.1:3000".parse().unwrap();
    let mut run_for = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => {
                listen = args
                    .next()
                    .and_then(|a| a.parse().ok())
                    .expect("--listen ADDR")
            }
            "--for" => {
                let secs = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .expect("--for SECS");
                run_for = Some(Duration::from_secs(secs));
            }
            other => panic!("unknown argument {other}: --listen ADDR, --for SECS"),
        }
    }
    let token = std::env::var("ADMIN_TOKEN").unwrap_or_else(|_| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        format!(
            "{:016x}{:016x}",
            noise(nanos, 3) ^ nanos,
            nanos.rotate_left(17)
        )
    });

    let prometheus = prometheus();
    // Published as one set, `fetch`: its keys by state, their calls and transitions.
    let hosts: Breakers<String> = Breakers::builder(|host: &String| {
        CircuitBreaker::builder(format!("fetch[{host}]"))
            .fail_max(3)
            .reset_timeout(Duration::from_secs(4))
    })
    .name("fetch")
    .build();
    let app = Router::new()
        .route("/", get(|| async { Redirect::to("/admin") }))
        .route(
            "/metrics",
            get(move || {
                let prometheus = prometheus.clone();
                async move {
                    breaker_runtime::metrics::publish();
                    (
                        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                        prometheus.render(),
                    )
                        .into_response()
                }
            }),
        )
        .nest_service("/admin", admin::router(Access::bearer(token.clone())));

    let listener = tokio::net::TcpListener::bind(listen).await.expect("bind");
    let addr = listener.local_addr().unwrap();
    println!("listening on http://{addr}");
    println!("dashboard:  http://{addr}/admin   (writes: bearer token {token})");
    println!("metrics:    http://{addr}/metrics");
    tokio::spawn(traffic(hosts));
    let started = Instant::now();
    let server = axum::serve(listener, app);
    match run_for {
        Some(limit) => {
            let _ = tokio::time::timeout(limit, server).await;
            println!("ran for {:?}", started.elapsed());
        }
        None => server.await.expect("serve"),
    }
}
