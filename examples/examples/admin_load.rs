//! The admin router under load, at the scale keyed sets bring:
//! `cargo run --release --example admin_load` registers 100,000 keyed breakers, serves
//! the router on loopback, and measures what an operator's requests cost the service:
//!
//! - a full page (5,000 breakers) alone, and a walk over every page;
//! - the summary;
//! - a one-breaker `GET` while ten clients fetch full pages at once, over and over: its
//!   median, 99th percentile and worst latency (the router walks the registry off the
//!   async workers, one walk per core at a time, so the small request is not held up);
//! - the process's resident memory before and at the worst of that load (a request's
//!   memory is its page's, not the registry's).
//!
//! `--quick` runs 10,000 breakers and fewer requests (CI's smoke run); `--breakers N`
//! sets the number. Every loop is bounded in count.

use std::time::{Duration, Instant};

use axum::Router;
use breaker_runtime::admin::{self, Access};
use breaker_runtime::keyed::Breakers;
use breaker_runtime::CircuitBreaker;

/// Resident memory of this process, in bytes.
fn resident() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|pages| pages.parse::<u64>().ok())
        .unwrap_or(0)
        * 4096
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The `q` quantile of sorted durations.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

#[tokio::main]
async fn main() {
    let mut breakers = 100_000u32;
    let mut rounds = 20usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => {
                breakers = 10_000;
                rounds = 3;
            }
            "--breakers" => {
                breakers = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--breakers N")
            }
            other => panic!("unknown argument {other}: --quick, --breakers N"),
        }
    }

    // A keyed set of `breakers` keys, one in a hundred open.
    let started = Instant::now();
    let hosts: Breakers<u32> = Breakers::builder(|host: &u32| {
        CircuitBreaker::builder(format!("upstream[host{host:06}.example.com]")).fail_max(1)
    })
    .name("upstream")
    .max_keys(breakers as usize + 1)
    .build();
    for host in 0..breakers {
        let fails = host % 100 == 0;
        let _ = hosts.call(&host, || {
            if fails {
                Err(std::io::Error::other("503"))
            } else {
                Ok(())
            }
        });
    }
    println!(
        "{breakers} keyed breakers registered in {:.2} s",
        started.elapsed().as_secs_f64()
    );

    let app = Router::new().nest_service("/admin", admin::router(Access::read_only()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}/admin", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::new();

    let timed = move |url: String| {
        let client = client.clone();
        async move {
            let start = Instant::now();
            let body = client
                .get(&url)
                .send()
                .await
                .expect("the router answers")
                .bytes()
                .await
                .expect("a body");
            (start.elapsed(), body)
        }
    };

    let (page, body) = timed(format!("{base}/breakers?limit=5000")).await;
    println!(
        "a full page (5,000 breakers, {} KB of JSON): {:.1} ms",
        body.len() / 1024,
        millis(page)
    );
    let start = Instant::now();
    let mut cursor: Option<String> = None;
    let mut walked = 0;
    loop {
        let url = match &cursor {
            Some(after) => format!("{base}/breakers?limit=5000&after={}", encode(after)),
            None => format!("{base}/breakers?limit=5000"),
        };
        let (_, body) = timed(url).await;
        let page: serde_json::Value = serde_json::from_slice(&body).unwrap();
        walked += page["breakers"].as_array().unwrap().len();
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    println!(
        "every page, one after the other ({walked} breakers): {:.1} ms",
        millis(start.elapsed())
    );
    let (summary, _) = timed(format!("{base}/summary")).await;
    println!("the summary: {:.1} ms", millis(summary));

    // Ten clients fetching full pages at once, `rounds` each; meanwhile one breaker read
    // again and again.
    let before = resident();
    let loaders: Vec<_> = (0..10)
        .map(|client_no| {
            let timed = timed.clone();
            let base = base.clone();
            tokio::spawn(async move {
                for round in 0..rounds {
                    // Pages from all over the registry.
                    let after = format!(
                        "upstream[host{:06}",
                        (client_no * 7_919 + round * 104_729) % breakers as usize
                    );
                    timed(format!(
                        "{base}/breakers?limit=5000&after={}",
                        encode(&after)
                    ))
                    .await;
                }
            })
        })
        .collect();
    let mut small = Vec::new();
    let mut peak = before;
    let one = format!(
        "{base}/breakers/{}",
        encode("upstream[host000042.example.com]")
    );
    while loaders.iter().any(|l| !l.is_finished()) && small.len() < 100_000 {
        let (took, _) = timed(one.clone()).await;
        small.push(took);
        peak = peak.max(resident());
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    for loader in loaders {
        loader.await.unwrap();
    }
    small.sort();
    println!(
        "a one-breaker GET during ten concurrent full-page requests ({} of them): median {:.2} ms, p99 {:.2} ms, worst {:.2} ms",
        small.len(),
        millis(quantile(&small, 0.5)),
        millis(quantile(&small, 0.99)),
        millis(*small.last().unwrap())
    );
    println!(
        "resident memory: {:.0} MB before, {:.0} MB at the worst of the load (+{:.1} MB for ten pages of 5,000 in flight)",
        before as f64 / 1e6,
        peak as f64 / 1e6,
        (peak.saturating_sub(before)) as f64 / 1e6
    );
}

/// `text` percent-encoded for a query value or a path segment.
fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}
