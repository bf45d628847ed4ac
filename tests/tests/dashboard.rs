//! The admin router's page in a real browser: Debian's `chromium`, headless, driven
//! through the DevTools protocol. With 100,000 keyed breakers: rows and "live" within
//! 2 s, no main-thread task over 200 ms while transitions stream (the page counts them
//! itself, through `PerformanceObserver`), a write shown within a second. A write made
//! through the API shows on a filtered page; the page writes to breakers whose names a
//! URL cannot carry (`..`); an opening an upstream advised shows its period and source,
//! a throttling breaker how much it refuses;
//! after the server restarts, the page reads everything again; and a screenshot goes
//! under `target/`.

mod browser;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use axum::Router;
use breaker_runtime::admin::{self, Access};
use breaker_runtime::keyed::Breakers;
use breaker_runtime::CircuitBreaker;
use breaker_tests::{installed, target_dir};
use browser::Browser;

/// The admin router on a runtime of its own (so that stopping it closes every
/// connection, the event stream's included), nested at `/admin` on `addr` (port 0 for
/// any).
struct Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(addr: SocketAddr, access: Access) -> Server {
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let (bound, bound_to) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let app = Router::new().nest_service("/admin", admin::router(access));
                // The address of a server just stopped may still be in TIME_WAIT: reusing
                // it binds at once, where a retry loop would wait on the clock.
                let socket = tokio::net::TcpSocket::new_v4().unwrap();
                socket.set_reuseaddr(true).unwrap();
                socket
                    .bind(addr)
                    .unwrap_or_else(|e| panic!("bind {addr}: {e}"));
                let listener = socket.listen(1024).unwrap();
                bound.send(listener.local_addr().unwrap()).unwrap();
                tokio::spawn(async move { axum::serve(listener, app).await });
                let _ = stopped.await;
            });
            // Every task goes, the listener and the connections with them.
            runtime.shutdown_timeout(Duration::from_secs(10));
        });
        Server {
            addr: bound_to.recv().unwrap(),
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://{}/admin", self.addr)
    }

    fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One browser at a time: each is a handful of processes, and these tests time what the
/// page does.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// The page's performance mark `name`: milliseconds since its navigation began.
async fn mark(browser: &mut Browser, name: &str) -> f64 {
    browser
        .eval(&format!(
            "(performance.getEntriesByName('{name}')[0] || {{}}).startTime ?? null"
        ))
        .await
        .as_f64()
        .unwrap_or_else(|| panic!("the page marked {name}"))
}

/// Clicks the button for `state` in the row of `name`, and waits until the row shows it;
/// the milliseconds that took, on the page's clock.
async fn click(browser: &mut Browser, name: &str, state: &str) -> Option<f64> {
    let row = format!(
        "[...document.querySelectorAll('#rows tr')].find(tr => tr.dataset.name === {name:?})"
    );
    browser
        .eval(&format!(
            "new Promise(resolve => {{
                const row = {row};
                const start = performance.now();
                row.querySelector('button[data-state={state:?}]').click();
                const check = () => {{
                    if ({row}.dataset.phase === {state:?}) return resolve(performance.now() - start);
                    if (performance.now() - start > 5000) return resolve(null);
                    setTimeout(check, 5);
                }};
                check();
            }})"
        ))
        .await
        .as_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_100_000_breakers_the_page_shows_rows_in_2_s_never_blocks_and_shows_a_write_in_1_s() {
    let _turn = TURN.lock().await;
    let Some(mut browser) = Browser::launch().await else {
        return;
    };
    let keys: Breakers<u32> = Breakers::builder(|key: &u32| {
        CircuitBreaker::builder(format!("scale[{key:06}]")).fail_max(1)
    })
    .name("scale")
    .max_keys(200_000)
    .build();
    tokio::task::block_in_place(|| {
        for key in 0..100_000 {
            keys.with_breaker(&key, |_| ());
        }
    });
    let server = Server::start(any_port(), Access::unauthenticated_writes());
    // Transitions before the page connects: in the stream's backlog, and in the summary.
    for key in 0..5 {
        keys.get(&key).unwrap().open();
    }
    // The set's view, as an operator looking at it would have it.
    browser.open(&format!("{}?set=scale", server.url())).await;
    browser
        .until(
            "performance.getEntriesByName('rows').length && performance.getEntriesByName('live').length",
            30_000,
        )
        .await
        .expect("the page shows rows and goes live");
    let (rows, live) = (
        mark(&mut browser, "rows").await,
        mark(&mut browser, "live").await,
    );
    assert!(rows <= 2_000.0, "rows after {rows} ms");
    assert!(live <= 2_000.0, "live after {live} ms");
    let shown = browser
        .eval("document.querySelectorAll('#rows tr').length")
        .await;
    assert_eq!(shown, 200, "a page of rows, not the registry");

    // Transitions stream: 2,000 of them, some to rows on the page, most elsewhere.
    let before = browser
        .eval("Number(document.body.dataset.transitions || 0)")
        .await
        .as_u64()
        .unwrap();
    // A hundred breakers flipped at a time, then the page given until it has heard
    // them: paced by what the page reads, not by the clock.
    for chunk in 0..10u32 {
        for i in chunk * 100..(chunk + 1) * 100 {
            let key = (i * 7919) % 100_000;
            keys.get(&key).unwrap().force_open();
            keys.get(&key).unwrap().close();
        }
        let heard = before + 200 * u64::from(chunk + 1);
        browser
            .until(
                &format!("Number(document.body.dataset.transitions || 0) >= {heard}"),
                30_000,
            )
            .await
            .expect("the page hears all 2,000");
    }
    let long = browser.eval("document.body.dataset.longTasks").await;
    assert_eq!(long, "0", "no main-thread task over 200 ms");
    // The summary it keeps from the stream is the server's (the transitions it was
    // sent at connection, already in the summary it read, are not counted twice).
    let server_summary: serde_json::Value = reqwest::get(format!("{}/summary", server.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let page_summary: serde_json::Value = serde_json::from_str(
        browser
            .eval("document.body.dataset.summary")
            .await
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(page_summary, server_summary["states"]);

    let first = browser
        .eval("document.querySelector('#rows tr').dataset.name")
        .await;
    let took = click(&mut browser, first.as_str().unwrap(), "forced_open")
        .await
        .expect("the write shows");
    assert!(took <= 1_000.0, "shown after {took} ms");
    assert!(keys.get(&0).unwrap().is_forced_open());
    println!("100,000 breakers: rows after {rows:.0} ms, live after {live:.0} ms, a write shown after {took:.0} ms, no long task");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_through_the_api_shows_on_a_filtered_page_within_a_second() {
    let _turn = TURN.lock().await;
    let Some(mut browser) = Browser::launch().await else {
        return;
    };
    let target = CircuitBreaker::builder("page-target").build();
    let _many: Vec<CircuitBreaker> = (0..1_000)
        .map(|i| CircuitBreaker::builder(format!("page-many-{i}")).build())
        .collect();
    let server = Server::start(any_port(), Access::unauthenticated_writes());
    // A filtered view, linked to: the breaker is not on the first page of all of them.
    browser
        .open(&format!("{}?prefix=page-t", server.url()))
        .await;
    browser
        .until("document.getElementById('live').textContent === 'live' && document.querySelectorAll('#rows tr').length === 1", 10_000)
        .await
        .expect("the filtered page shows its one row, live");
    let status = reqwest::Client::new()
        .post(format!("{}/breakers/page-target/state", server.url()))
        .header("content-type", "application/json")
        .body(r#"{"state": "forced_open"}"#)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    let shown = browser
        .until("document.querySelector('#rows tr[data-name=\"page-target\"]').dataset.phase === 'forced_open'", 1_000)
        .await;
    assert!(shown.is_some(), "shown within a second");
    assert!(target.is_forced_open());
    assert_eq!(
        browser
            .eval("document.getElementById('filter').value")
            .await,
        "page-t"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_advised_opening_shows_its_period_and_source_in_its_row() {
    use breaker_runtime::{Advice, AdviceSource, ManualClock};
    let _turn = TURN.lock().await;
    let Some(mut browser) = Browser::launch().await else {
        return;
    };
    let advised = CircuitBreaker::builder("page-advised")
        .open_on_retry_after(true)
        .clock(ManualClock::new())
        .build();
    let server = Server::start(any_port(), Access::read_only());
    browser
        .open(&format!("{}?prefix=page-advised", server.url()))
        .await;
    browser
        .until("document.getElementById('live').textContent === 'live' && document.querySelectorAll('#rows tr').length === 1", 10_000)
        .await
        .expect("the row, live");
    // A 503 with `Retry-After: 30` from the breaker's upstream, seen while the page is open.
    let advice = Advice::new(Duration::from_secs(30), AdviceSource::RetryAfter).unwrap();
    advised.try_acquire().unwrap().failure_with_advice(advice);
    let cell = "document.querySelector('#rows tr[data-name=\"page-advised\"] small.advice')";
    browser
        .until(&format!("{cell} !== null"), 1_000)
        .await
        .expect("the advice shows within a second");
    assert_eq!(
        browser.eval(&format!("{cell}.textContent")).await,
        "advised 30 s · retry_after"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttling_breaker_shows_how_much_it_refuses() {
    use breaker_runtime::ManualClock;
    let _turn = TURN.lock().await;
    let Some(mut browser) = Browser::launch().await else {
        return;
    };
    let throttled = CircuitBreaker::builder("page-throttled")
        .throttle(50)
        .max_throttle(100)
        .min_calls(5)
        .clock(ManualClock::new())
        .build();
    // Five asked, none accepted: it refuses 5 in 6.
    for _ in 0..5 {
        throttled.try_acquire().unwrap().failure();
    }
    let server = Server::start(any_port(), Access::read_only());
    browser
        .open(&format!("{}?prefix=page-throttled", server.url()))
        .await;
    let cell = "document.querySelector('#rows tr[data-name=\"page-throttled\"] small.throttle')";
    browser
        .until(&format!("{cell} !== null"), 10_000)
        .await
        .expect("the row says it throttles");
    assert_eq!(
        browser.eval(&format!("{cell}.textContent")).await,
        "throttling 83%"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_writes_to_any_name() {
    let _turn = TURN.lock().await;
    let Some(mut browser) = Browser::launch().await else {
        return;
    };
    let odd: Vec<CircuitBreaker> = ["..", ".", "events", "a/b"]
        .iter()
        .map(|name| CircuitBreaker::builder(name.to_string()).build())
        .collect();
    let server = Server::start(any_port(), Access::unauthenticated_writes());
    browser.open(&server.url()).await;
    for breaker in &odd {
        let name = breaker.name().to_string();
        browser
            .until(&format!("[...document.querySelectorAll('#rows tr')].some(tr => tr.dataset.name === {name:?})"), 10_000)
            .await
            .unwrap_or_else(|| panic!("{name} is listed"));
        click(&mut browser, &name, "forced_open")
            .await
            .unwrap_or_else(|| panic!("{name} forced open through the page"));
        assert!(breaker.is_forced_open(), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_server_restarts_the_page_reads_everything_again() {
    let _turn = TURN.lock().await;
    let Some(mut browser) = Browser::launch().await else {
        return;
    };
    let breaker = CircuitBreaker::builder("restarted-target").build();
    let mut first = Server::start(any_port(), Access::unauthenticated_writes());
    let addr = first.addr;
    browser
        .open(&format!("{}?prefix=restarted-", first.url()))
        .await;
    browser
        .until(
            "document.getElementById('live').textContent === 'live'",
            10_000,
        )
        .await
        .expect("live");
    // The process goes; meanwhile the breaker opens; a new one (a new router: another
    // incarnation) comes up on the same address.
    first.stop();
    breaker.force_open();
    let _second = Server::start(addr, Access::unauthenticated_writes());
    let shown = browser
        .until("document.querySelector('#rows tr[data-name=\"restarted-target\"]').dataset.phase === 'forced_open'", 20_000)
        .await;
    assert!(
        shown.is_some(),
        "the page reconnects, is told to resync, reads again"
    );
    assert_eq!(
        browser.eval("document.body.dataset.resyncs").await,
        "1",
        "by a resync, not by a replay"
    );
}

#[test]
fn a_screenshot_of_the_page_goes_under_target() {
    if !installed("chromium", "chromium") {
        return;
    }
    let _turn = TURN.blocking_lock();
    let shown = CircuitBreaker::builder("page-shot")
        .fail_max(1)
        .reset_timeout(Duration::from_secs(60))
        .build();
    let _ = shown.call(|| Err::<(), _>(breaker_tests::TestError::Down));
    let _ = CircuitBreaker::builder("page-shot-closed").build();
    let file = target_dir().join("admin-dashboard.png");
    let _ = std::fs::remove_file(&file);
    // The page's stream never ends, and `--screenshot` waits out its virtual time
    // budget: the server stops once the page is shot.
    let mut server = Server::start(any_port(), Access::unauthenticated_writes());
    let profile = std::env::temp_dir().join(format!("breaker-shot-{}", std::process::id()));
    let output = Command::new("chromium")
        .args(browser::HEADLESS)
        .args(["--virtual-time-budget=2000", "--window-size=1280,720"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", file.display()))
        .arg(format!("{}?prefix=page-shot", server.url()))
        .stderr(Stdio::null())
        .output()
        .expect("chromium runs");
    server.stop();
    let _ = std::fs::remove_dir_all(profile);
    assert!(output.status.success());
    let png = std::fs::read(&file).expect("the screenshot is written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a PNG of the page"
    );
}
