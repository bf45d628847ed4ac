//! Counts reach an exporter with no code of the user's: the common setup, where
//! `metrics-exporter-prometheus` serves `/metrics` from its own HTTP listener and nobody
//! calls `breaker_runtime::metrics::publish()`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use breaker_runtime::{metrics, CircuitBreaker};
use metrics_exporter_prometheus::PrometheusBuilder;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One `GET /metrics` over plain HTTP/1.0.
fn scrape(addr: SocketAddr) -> String {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return String::new(); // the listener is still starting
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let mut body = String::new();
    let _ = stream.read_to_string(&mut body);
    body
}

/// Scrapes until `line` shows up, for at most `limit`; returns how long that took.
fn scrape_until(addr: SocketAddr, line: &str, limit: Duration) -> Result<Duration, String> {
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < limit {
        last = scrape(addr);
        if last.lines().any(|l| l == line) {
            return Ok(start.elapsed());
        }
        std::thread::yield_now();
    }
    Err(last)
}

/// The names of this process's threads, from `/proc`.
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_string())
        .collect()
}

#[test]
fn counts_reach_the_prometheus_listener_within_a_second_without_publish() {
    // A free loopback port for the exporter's own listener.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    // The breaker exists before the recorder does, as with a `static` breaker.
    let breaker = CircuitBreaker::builder("exporter-calls")
        .fail_max(100)
        .build();
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .install()
        .expect("the exporter starts");

    for _ in 0..3 {
        breaker.call(|| Ok::<_, BoxError>(())).unwrap();
    }
    let _ = breaker.call(|| Err::<(), BoxError>("down".into()));
    let success = r#"circuit_breaker_calls_total{breaker="exporter-calls",outcome="success"} 3"#;
    let failure = r#"circuit_breaker_calls_total{breaker="exporter-calls",outcome="failure"} 1"#;
    let took = scrape_until(addr, success, Duration::from_secs(5))
        .unwrap_or_else(|body| panic!("never published; last scrape:\n{body}"));
    assert!(took < Duration::from_secs(1), "published after {took:?}");
    scrape_until(addr, failure, Duration::from_secs(1)).unwrap();

    // Later calls keep flowing: a dashboard of calls per second is not flat.
    for _ in 0..4 {
        breaker.call(|| Ok::<_, BoxError>(())).unwrap();
    }
    let success = r#"circuit_breaker_calls_total{breaker="exporter-calls",outcome="success"} 7"#;
    let took = scrape_until(addr, success, Duration::from_secs(5))
        .unwrap_or_else(|body| panic!("later calls never published; last scrape:\n{body}"));
    assert!(took < Duration::from_secs(1), "published after {took:?}");

    // The publisher is a named thread, and it can be stopped.
    assert!(thread_names().iter().any(|n| n == "breaker-metrics"));
    metrics::stop_publisher();
    assert!(!thread_names().iter().any(|n| n == "breaker-metrics"));
}
