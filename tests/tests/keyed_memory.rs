//! The memory an idle key costs, measured as the process's resident memory grows: at
//! 100,000 keys of a keyed set, with the `metrics` feature, a Prometheus recorder
//! installed and every series published and rendered, each key costs at most 700 bytes
//! (its breaker, its name, its entries in the set and the registry; no series and no
//! counters of its own). A test of its own, in a process of its own: nothing else
//! allocates meanwhile.

use breaker_runtime::keyed::Breakers;
use breaker_runtime::{metrics, CircuitBreaker, CircuitBreakerError};
use metrics_exporter_prometheus::PrometheusBuilder;

/// The process's resident memory, in bytes.
fn resident() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// A host name as a key: `host000042.example.com`, 22 bytes.
fn host(i: u32) -> String {
    format!("host{i:06}.example.com")
}

#[test]
fn an_idle_key_costs_at_most_700_bytes_at_100_000_keys() {
    const KEYS: u32 = 100_000;
    let exporter = PrometheusBuilder::new().install_recorder().unwrap();
    let hosts: Breakers<String> =
        Breakers::builder(|host: &String| CircuitBreaker::builder(format!("upstream[{host}]")))
            .name("upstream")
            .max_keys(2 * KEYS as usize)
            .build();
    let ok = || Ok::<_, CircuitBreakerError>(());
    // Warm up what is made once: the recorder's series, the set's counters, the thread's
    // lanes, the tables' first sizes.
    for i in 0..1_000 {
        hosts.call(&host(i), ok).unwrap();
    }
    metrics::publish();
    let warm = exporter.render();

    let before = resident();
    for i in 1_000..1_000 + KEYS {
        hosts.call(&host(i), ok).unwrap();
    }
    metrics::publish();
    let scraped = exporter.render();
    let after = resident();

    assert_eq!(hosts.len(), 1_000 + KEYS as usize);
    assert_eq!(
        scraped.lines().count(),
        warm.lines().count(),
        "no series per key"
    );
    let per_key = (after - before) / KEYS as usize;
    println!("{per_key} bytes per idle key at {KEYS} keys (resident memory)");
    assert!(per_key <= 700, "{per_key} bytes per key");
}
