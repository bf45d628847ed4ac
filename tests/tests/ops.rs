//! What `ops/` ships, against the real tools: the alert rules pass `promtool check rules`
//! and their unit tests (`promtool test rules`); and a real `prometheus` on loopback,
//! scraping three processes of the `admin` example (two replicas sharing `payments`
//! through a test-owned `redis-server`, and one whose Redis is gone), returns data for
//! every query of the Grafana dashboard and every alert expression once breakers have
//! opened, flapped, disagreed and lost their fleet, and most keys of a keyed set opened.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use breaker_tests::redis_server::RedisServer;
use breaker_tests::{installed, target_dir};
use serde_json::Value;

fn ops() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ops")
}

#[test]
fn the_alert_rules_are_valid_and_pass_their_unit_tests() {
    if !installed("promtool", "prometheus") {
        return;
    }
    let dir = ops().join("prometheus");
    for args in [
        ["check", "rules", "circuit-breakers.rules.yml"],
        ["test", "rules", "circuit-breakers.test.yml"],
    ] {
        let out = Command::new("promtool")
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A process killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The `admin` example's binary, built if it is not yet.
fn admin_example() -> PathBuf {
    let target = target_dir();
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "-q",
            "-p",
            "breaker-examples",
            "--example",
            "admin",
        ])
        .status()
        .expect("cargo");
    assert!(status.success(), "the admin example builds");
    target.join("debug/examples/admin")
}

/// One process of the example, its Redis at `redis`; its address.
fn start_admin(binary: &Path, redis: &str) -> (Running, String) {
    let mut child = Command::new(binary)
        .args(["--listen", "127.0.0.1:0", "--for", "120"])
        .env("REDIS_URL", redis)
        .env("ADMIN_TOKEN", "ops-token")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the admin example");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    // The rest is read too: a closed pipe would fail its next line.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .expect("the example says where it listens")
        .to_string();
    (Running(child), addr)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn change(client: &reqwest::Client, addr: &str, breaker: &str, body: &str) {
    let response = client
        .post(format!("http://{addr}/admin/breakers/{breaker}/state"))
        .header("authorization", "Bearer ops-token")
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{breaker}: {body}");
}

/// Checks `check` at each 50 ms tick until it holds (`true`) or `limit` has passed
/// (`false`): the async `poll_until`, for states only a request can read.
async fn until(limit: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let start = Instant::now();
    let mut ticks = tokio::time::interval(Duration::from_millis(50));
    loop {
        ticks.tick().await;
        if check().await {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
    }
}

/// A GET of Prometheus's HTTP API at `path`, with `params`.
async fn api(
    client: &reqwest::Client,
    prometheus: &str,
    path: &str,
    params: &[(&str, &str)],
) -> Value {
    client
        .get(format!("http://{prometheus}/api/v1/{path}"))
        .query(params)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The result of an instant query.
async fn query(client: &reqwest::Client, prometheus: &str, promql: &str) -> Vec<Value> {
    let response = api(client, prometheus, "query", &[("query", promql)]).await;
    assert_eq!(response["status"], "success", "{promql}: {response}");
    response["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Every `expr` of the dashboard's panels, with Grafana's variables given values.
fn dashboard_queries() -> Vec<String> {
    let text = std::fs::read_to_string(ops().join("grafana/circuit-breakers.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(!panels.is_empty());
    panels
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().clone())
        .map(|t| {
            t["expr"]
                .as_str()
                .unwrap()
                .replace("$breaker", ".*")
                .replace("$__rate_interval", "1m")
                .replace("$__range", "5m")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scraping_the_example_answers_every_dashboard_query_and_alert_expression() {
    if !installed("prometheus", "prometheus") {
        return;
    }
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let binary = tokio::task::spawn_blocking(admin_example).await.unwrap();
    let gone = format!("redis://127.0.0.1:{}", free_port());
    let (_a, a) = start_admin(&binary, &redis.url());
    let (_b, b) = start_admin(&binary, &redis.url());
    let (_c, c) = start_admin(&binary, &gone);

    let dir = std::env::temp_dir().join(format!("breaker-prometheus-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let rules = ops().join("prometheus/circuit-breakers.rules.yml");
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
         rule_files:\n  - {}\n\
         scrape_configs:\n  - job_name: admin\n    static_configs:\n      - targets: ['{a}', '{b}', '{c}']\n",
        rules.canonicalize().unwrap().display()
    );
    std::fs::write(dir.join("prometheus.yml"), config).unwrap();
    let port = free_port();
    let prometheus = format!("127.0.0.1:{port}");
    let _server = Running(
        Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={prometheus}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus"),
    );
    let client = reqwest::Client::new();

    // Every target scraped twice before anything happens, so that counters have a
    // baseline.
    let scraped = until(Duration::from_secs(60), async || {
        let twice = "count(count_over_time(up[1m]) >= 2) == 3";
        match client
            .get(format!("http://{prometheus}/api/v1/query"))
            .query(&[("query", twice)])
            .send()
            .await
        {
            Ok(response) => response.json::<Value>().await.is_ok_and(|v| {
                v["data"]["result"]
                    .as_array()
                    .is_some_and(|r| !r.is_empty())
            }),
            Err(_) => false, // not listening yet
        }
    })
    .await;
    assert!(scraped, "prometheus scrapes the three processes");

    // One replica forced open on its own (the replicas disagree); `warehouse` opened
    // five times (it flaps) and left open.
    change(
        &client,
        &a,
        "payments",
        r#"{"state": "forced_open", "scope": "replica"}"#,
    )
    .await;
    for _ in 0..5 {
        change(&client, &a, "warehouse", r#"{"state": "open"}"#).await;
        change(&client, &a, "warehouse", r#"{"state": "closed"}"#).await;
    }
    change(&client, &a, "warehouse", r#"{"state": "forced_open"}"#).await;
    // Two of the three hosts of the keyed set `fetch` forced open: most of the set.
    for host in ["eu.example", "us.example"] {
        let name = format!("fetch%5B{host}%5D");
        change(&client, &a, &name, r#"{"state": "forced_open"}"#).await;
    }

    let rules = api(&client, &prometheus, "rules", &[]).await;
    let alerts: Vec<String> = rules["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().clone())
        .map(|r| r["query"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(alerts.len(), 5, "prometheus loaded the shipped rules");

    let mut waiting: Vec<String> = dashboard_queries().into_iter().chain(alerts).collect();
    let answered = until(Duration::from_secs(60), async || {
        let mut still = Vec::new();
        for promql in std::mem::take(&mut waiting) {
            if query(&client, &prometheus, &promql).await.is_empty() {
                still.push(promql);
            }
        }
        waiting = still;
        waiting.is_empty()
    })
    .await;
    assert!(answered, "no data for: {waiting:#?}");
    let breakers = api(&client, &prometheus, "label/breaker/values", &[]).await;
    assert!(
        breakers["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b == "payments"),
        "the dashboard's breaker variable has values: {breakers}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
