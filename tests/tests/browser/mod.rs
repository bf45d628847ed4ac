//! Headless chromium driven through the DevTools protocol: a page opened, JavaScript
//! evaluated in it (promises awaited), the answer as JSON. For tests of what the admin
//! page does in a real browser: how fast it shows its rows, what it shows after a write,
//! the long tasks it counts itself.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How chromium runs in the tests: headless, as root (no sandbox), quiet (no first-run
/// page, no background fetches).
pub const HEADLESS: [&str; 7] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// A headless chromium with one page, killed (and its profile removed) when dropped.
pub struct Browser {
    child: Child,
    profile: std::path::PathBuf,
    page: Socket,
    next_id: u64,
}

impl Browser {
    /// Starts chromium on `about:blank`; `None` when it is not installed (outside CI).
    pub async fn launch() -> Option<Browser> {
        if !breaker_tests::installed("chromium", "chromium") {
            return None;
        }
        static LAUNCHED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let profile = std::env::temp_dir().join(format!(
            "breaker-cdp-{}-{}",
            std::process::id(),
            LAUNCHED.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let mut child = Command::new("chromium")
            .args(HEADLESS)
            .args([
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromium runs");
        // It says where its DevTools listen on its standard error.
        let stderr = child.stderr.take().unwrap();
        let (found, listening) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Read to the end, so that chromium never blocks on a full pipe.
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("ws://") {
                    let _ = found.send(line[at..].trim().to_string());
                }
            }
        });
        let browser_ws = listening
            .recv_timeout(Duration::from_secs(30))
            .expect("chromium says where its DevTools listen");
        let host = browser_ws
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .unwrap()
            .to_string();
        // The page's own socket, from the list of targets.
        let targets: Value = reqwest::get(format!("http://{host}/json/list"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let page_ws = targets
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "page")
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .expect("a page target")
            .to_string();
        let (page, _) = tokio_tungstenite::connect_async(page_ws).await.unwrap();
        let mut browser = Browser {
            child,
            profile,
            page,
            next_id: 0,
        };
        browser.call("Page.enable", json!({})).await;
        Some(browser)
    }

    /// Sends a command and waits for its answer (events meanwhile are skipped).
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let command = json!({ "id": id, "method": method, "params": params });
        self.page
            .send(Message::text(command.to_string()))
            .await
            .unwrap();
        let answer = async {
            while let Some(message) = self.page.next().await {
                let Ok(Message::Text(text)) = message else {
                    continue;
                };
                let value: Value = serde_json::from_str(&text).unwrap();
                if value["id"] == id {
                    return value;
                }
            }
            panic!("chromium went away");
        };
        let value = tokio::time::timeout(Duration::from_secs(60), answer)
            .await
            .unwrap_or_else(|_| panic!("chromium did not answer {method} within a minute"));
        assert!(value.get("error").is_none(), "{method}: {value}");
        value["result"].clone()
    }

    /// Opens `url` and waits for its `load` event.
    pub async fn open(&mut self, url: &str) {
        self.call("Page.navigate", json!({ "url": url })).await;
        self.eval("new Promise(r => document.readyState === 'complete' ? r() : addEventListener('load', () => r()))")
            .await;
    }

    /// Evaluates `expression` in the page, awaiting a promise; its value as JSON.
    pub async fn eval(&mut self, expression: &str) -> Value {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": expression, "awaitPromise": true, "returnByValue": true }),
            )
            .await;
        assert!(
            result.get("exceptionDetails").is_none(),
            "{expression}: {result}"
        );
        result["result"]["value"].clone()
    }

    /// Waits (in the page, on its own clock) until `condition` holds, at most
    /// `limit_ms`; the milliseconds it took, or `None`.
    pub async fn until(&mut self, condition: &str, limit_ms: u64) -> Option<f64> {
        let value = self
            .eval(&format!(
                "new Promise(resolve => {{
                    const start = performance.now();
                    const check = () => {{
                        if ({condition}) return resolve(performance.now() - start);
                        if (performance.now() - start > {limit_ms}) return resolve(null);
                        setTimeout(check, 10);
                    }};
                    check();
                }})"
            ))
            .await;
        value.as_f64()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
