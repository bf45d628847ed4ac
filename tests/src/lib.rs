//! Shared helpers for the workspace's integration, behaviour and compile-fail tests.

pub mod cluster;
pub mod fleet;
pub mod proxy;
pub mod redis_server;
pub mod sentinel;
pub mod traffic;

use std::sync::{Arc, Mutex};

/// The runtime under another path, as a facade crate would re-export it: for testing
/// the attribute's `crate = "..."`.
pub use breaker_runtime as facade;

// Shared with the runtime's own behaviour tests, which keep the file beside them.
#[path = "../../breaker-runtime/src/tests/support.rs"]
mod support;
pub use support::{assert_rejected, Recorder, TestError};

/// One `tracing` event as a subscriber received it: its level, its fields (strings as
/// they are, everything else in its `Debug` form, `message` included) and the names of
/// the spans it was recorded in, outermost first, with their fields.
#[derive(Debug, Clone)]
pub struct CapturedEvent {
    /// The event's callsite name (`name:` in the macro, else where it was written).
    pub name: String,
    /// The event's level.
    pub level: tracing::Level,
    /// Its fields by name.
    pub fields: std::collections::BTreeMap<String, String>,
    /// The spans it belongs to: name and fields.
    pub spans: Vec<(String, std::collections::BTreeMap<String, String>)>,
}

impl CapturedEvent {
    /// The field `name`, if the event has it.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

/// Captures every event of every thread from now on (background threads included),
/// through a global subscriber installed once per test binary.
pub fn capture_global_events() -> Arc<Mutex<Vec<CapturedEvent>>> {
    use tracing_subscriber::layer::SubscriberExt;
    static EVENTS: std::sync::OnceLock<Arc<Mutex<Vec<CapturedEvent>>>> = std::sync::OnceLock::new();
    EVENTS
        .get_or_init(|| {
            let events = Arc::new(Mutex::new(Vec::new()));
            let subscriber = tracing_subscriber::registry().with(Capture(events.clone()));
            tracing::subscriber::set_global_default(subscriber)
                .expect("no other global subscriber in this test binary");
            events
        })
        .clone()
}

/// Runs `f` under a subscriber that captures every event (all levels), and returns them.
pub fn capture_events(f: impl FnOnce()) -> Vec<CapturedEvent> {
    use tracing_subscriber::layer::SubscriberExt;
    let events = Arc::new(Mutex::new(Vec::new()));
    let subscriber = tracing_subscriber::registry().with(Capture(events.clone()));
    tracing::subscriber::with_default(subscriber, || {
        // A callsite another test's thread registered while this subscriber was being
        // set may have cached "never" (a race in tracing-core's registry): ask again.
        tracing::callsite::rebuild_interest_cache();
        f()
    });
    let captured = events.lock().unwrap().clone();
    captured
}

struct Capture(Arc<Mutex<Vec<CapturedEvent>>>);

#[derive(Default)]
struct Fields(std::collections::BTreeMap<String, String>);

impl tracing::field::Visit for Fields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }
}

impl<S> tracing_subscriber::Layer<S> for Capture
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields.0);
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let spans = ctx
            .event_scope(event)
            .map(|scope| {
                scope
                    .from_root()
                    .map(|span| {
                        let fields = span
                            .extensions()
                            .get::<std::collections::BTreeMap<String, String>>()
                            .cloned()
                            .unwrap_or_default();
                        (span.name().to_string(), fields)
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.0.lock().unwrap().push(CapturedEvent {
            name: event.metadata().name().to_string(),
            level: *event.metadata().level(),
            fields: fields.0,
            spans,
        });
    }
}

/// Polls `condition` until it holds or `limit` passes; returns how long it took. For
/// fleet tests, whose deadlines run on the Redis server's clock (no manual clock reaches
/// it): they wait for a state, never for a fixed time.
pub fn poll_until(
    limit: std::time::Duration,
    mut condition: impl FnMut() -> bool,
) -> Option<std::time::Duration> {
    let start = std::time::Instant::now();
    loop {
        if condition() {
            return Some(start.elapsed());
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::park_timeout(std::time::Duration::from_millis(1));
    }
}

/// A dependency on loopback: a TCP service that counts the requests reaching it and
/// answers each line with `200` while up and `503` while down.
pub struct LoopbackService {
    port: u16,
    /// Requests that reached the service.
    pub hits: Arc<std::sync::atomic::AtomicU32>,
    down: Arc<std::sync::atomic::AtomicBool>,
}

impl LoopbackService {
    /// Starts the service on `127.0.0.1`, on a port of its own; up.
    pub fn start() -> LoopbackService {
        use std::io::{BufRead, BufReader, Write};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let down = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (h, d) = (hits.clone(), down.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (h, d) = (h.clone(), d.clone());
                std::thread::spawn(move || {
                    let mut writer = stream.try_clone().unwrap();
                    for line in BufReader::new(stream).lines() {
                        if line.is_err() {
                            break;
                        }
                        h.fetch_add(1, Ordering::SeqCst);
                        let answer = if d.load(Ordering::SeqCst) {
                            "503\n"
                        } else {
                            "200\n"
                        };
                        if writer.write_all(answer.as_bytes()).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        LoopbackService { port, hits, down }
    }

    /// Makes it answer `503` (`true`) or `200` (`false`).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, std::sync::atomic::Ordering::SeqCst);
    }

    /// One request over a new connection: `Ok` for `200`, [`TestError::Down`] otherwise.
    pub fn call(&self) -> Result<(), TestError> {
        use std::io::{BufRead, BufReader, Write};
        let mut stream =
            std::net::TcpStream::connect(("127.0.0.1", self.port)).map_err(|_| TestError::Down)?;
        stream.write_all(b"GET\n").map_err(|_| TestError::Down)?;
        let mut answer = String::new();
        BufReader::new(stream)
            .read_line(&mut answer)
            .map_err(|_| TestError::Down)?;
        if answer.trim() == "200" {
            Ok(())
        } else {
            Err(TestError::Down)
        }
    }
}

/// Whether the command `tool` is installed (`--version` runs). Outside CI a test that
/// needs it is skipped without it; in CI, where `.ci/run` installs it from Debian's
/// `package`, its absence is a failure.
pub fn installed(tool: &str, package: &str) -> bool {
    let found = std::process::Command::new(tool)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok();
    assert!(
        found || std::env::var_os("CI").is_none(),
        "{tool} is not installed (Debian package `{package}`)"
    );
    found
}

/// The workspace's target directory (for files tests leave behind, and for the
/// examples' binaries).
pub fn target_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}
