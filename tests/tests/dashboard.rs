//! The admin router's page in a real browser: Debian's `chromium`, headless, loads it;
//! with a thousand breakers listed, one forced open through the API shows as forced open
//! on the page within a second (the DOM as the page left it); and a screenshot goes under
//! `target/`.
//!
//! Chromium's `--dump-dom` waits (with `--virtual-time-budget`) until no request is
//! pending, and the page's event stream is one that never ends: so the test serves the
//! page from a runtime of its own and shuts it down, closing the stream, once the page
//! has shown the write: on a transition the page sets the row's state, then asks for the
//! breaker's counts, and that request is what the test waits for (at most a second).

use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::Router;
use breaker_runtime::admin::{self, Access};
use breaker_runtime::CircuitBreaker;
use breaker_tests::{installed, poll_until, target_dir};

/// The admin router on a runtime of its own; records the paths the page asks for.
struct Page {
    url: String,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Page {
    fn serve() -> Page {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = requests.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let (address, addressed) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let app = Router::new()
                    .nest("/admin", admin::router(Access::unauthenticated_writes()))
                    .layer(middleware::from_fn(move |request: Request, next: Next| {
                        recorded
                            .lock()
                            .unwrap()
                            .push(request.uri().path().to_string());
                        next.run(request)
                    }));
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                address.send(listener.local_addr().unwrap()).unwrap();
                tokio::spawn(async move { axum::serve(listener, app).await });
                let _ = stopped.await;
            });
            // Every connection goes with the runtime, the event stream included.
            runtime.shutdown_background();
        });
        let addr = addressed.recv().unwrap();
        Page {
            url: format!("http://{addr}/admin"),
            requests,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// How many requests for a path ending with `tail` the page has made.
    fn asked(&self, tail: &str) -> usize {
        let requests = self.requests.lock().unwrap();
        requests.iter().filter(|p| p.ends_with(tail)).count()
    }

    /// Waits for the page's event stream (opened once the table is drawn), at most 30 s.
    fn streaming(&self) {
        poll_until(Duration::from_secs(30), || {
            self.asked("/breakers/events") > 0
        })
        .expect("the page opens its event stream");
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

impl Drop for Page {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Headless chromium on `url`, with `args` (`--dump-dom`, `--screenshot=...`).
fn chromium(url: &str, args: &[String]) -> std::thread::JoinHandle<Output> {
    let profile = std::env::temp_dir().join(format!(
        "breaker-chromium-{}-{}",
        std::process::id(),
        args.len()
    ));
    let mut command = Command::new("chromium");
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=2000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stderr(Stdio::null());
    std::thread::spawn(move || {
        let output = command.output().expect("chromium runs");
        let _ = std::fs::remove_dir_all(profile);
        output
    })
}

#[test]
fn a_breaker_forced_open_through_the_api_shows_on_the_page_within_a_second() {
    if !installed("chromium", "chromium") {
        return;
    }
    let _target = CircuitBreaker::builder("page-target").build();
    let _other = CircuitBreaker::builder("page-other[eu.example]").build();
    // A large service's page: a thousand more.
    let _many: Vec<CircuitBreaker> = (0..1_000)
        .map(|i| CircuitBreaker::builder(format!("page-many-{i}")).build())
        .collect();
    let mut page = Page::serve();
    let browser = chromium(&page.url, &["--dump-dom".to_string()]);
    page.streaming();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = runtime.block_on(async {
        reqwest::Client::new()
            .post(format!("{}/breakers/page-target/state", page.url))
            .header("content-type", "application/json")
            .body(r#"{"state": "forced_open"}"#)
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 200);
    poll_until(Duration::from_secs(1), || {
        page.asked("/breakers/page-target") > 0
    })
    .expect("within a second the page hears of the write and asks for the breaker");
    page.stop();

    let dom = String::from_utf8(browser.join().unwrap().stdout).unwrap();
    assert!(
        dom.contains(r#"<tr data-name="page-target" data-phase="forced_open">"#),
        "the page shows the breaker forced open: {dom}"
    );
    assert!(dom.contains(r#"<tr data-name="page-other[eu.example]" data-phase="closed">"#));
    assert!(dom.matches(r#"<tr data-name="page-many-"#).count() == 1_000);
}

#[test]
fn a_screenshot_of_the_page_goes_under_target() {
    if !installed("chromium", "chromium") {
        return;
    }
    let shown = CircuitBreaker::builder("page-shot")
        .fail_max(1)
        .reset_timeout(Duration::from_secs(60))
        .build();
    let _ = shown.call(|| Err::<(), _>(breaker_tests::TestError::Down));
    let _ = CircuitBreaker::builder("page-shot-closed").build();
    let file = target_dir().join("admin-dashboard.png");
    let _ = std::fs::remove_file(&file);
    let mut page = Page::serve();
    let browser = chromium(
        &page.url,
        &[
            format!("--screenshot={}", file.display()),
            "--window-size=1280,720".to_string(),
        ],
    );
    page.streaming();
    page.stop();
    assert!(browser.join().unwrap().status.success());
    let png = std::fs::read(&file).expect("the screenshot is written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a PNG of the page"
    );
}
