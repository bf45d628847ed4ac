//! Listeners see what happened: each outcome carries the error the call returned and how
//! long it ran, measured with the breaker's clock (pybreaker's `failure(cb, exc)`,
//! Resilience4j's error events with their duration).

use std::fmt;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use breaker_runtime::listener::{CallError, CallOutcome};
use breaker_runtime::{
    circuit_breaker, CircuitBreaker, CircuitBreakerError, Listener, ManualClock, Verdict,
};

/// What each outcome looked like: verdict, error variant and text, elapsed.
#[derive(Default)]
struct Outcomes(Mutex<Vec<String>>);

impl Listener for Outcomes {
    fn on_outcome(&self, _: &CircuitBreaker, outcome: &CallOutcome<'_>) {
        let error = match outcome.error() {
            None => "-".to_string(),
            Some(e @ CallError::Error(_)) => format!("error:{e}"),
            Some(e @ CallError::Display(_)) => format!("display:{e} ({e:?})"),
            Some(e) => format!("debug:{e}"),
        };
        let elapsed = outcome
            .elapsed()
            .map_or("-".to_string(), |d| format!("{d:?}"));
        self.0
            .lock()
            .unwrap()
            .push(format!("{:?} {error} {elapsed}", outcome.verdict()));
    }
}

impl Outcomes {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// A breaker with a manual clock and a listener of its own (tests run in parallel).
struct Watched {
    breaker: CircuitBreaker,
    clock: ManualClock,
    seen: Arc<Outcomes>,
}

impl Watched {
    fn new(name: &'static str) -> Self {
        let (clock, seen) = (ManualClock::new(), Arc::new(Outcomes::default()));
        let breaker = CircuitBreaker::builder(name)
            .fail_max(100)
            .clock(clock.clone())
            .listener_arc(seen.clone())
            .build();
        Watched {
            breaker,
            clock,
            seen,
        }
    }

    /// What the listener saw while `f` ran.
    fn during(&self, f: impl FnOnce()) -> Vec<String> {
        let _ = self.seen.take();
        f();
        self.seen.take()
    }
}

static TYPED: LazyLock<Watched> = LazyLock::new(|| Watched::new("outcomes-typed"));

/// An error type implementing `std::error::Error`, with a source.
#[derive(Debug)]
enum FetchError {
    Timeout(std::io::Error),
    NotFound,
    Rejected,
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Timeout(_) => f.write_str("upstream timed out"),
            FetchError::NotFound => f.write_str("not found"),
            FetchError::Rejected => f.write_str("rejected"),
        }
    }
}

impl std::error::Error for FetchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FetchError::Timeout(e) => Some(e),
            _ => None,
        }
    }
}

impl From<CircuitBreakerError> for FetchError {
    fn from(_: CircuitBreakerError) -> Self {
        FetchError::Rejected
    }
}

#[circuit_breaker(breaker = TYPED.breaker, exclude = [FetchError::NotFound])]
fn fetch(outcome: u8, takes: Duration) -> Result<u8, FetchError> {
    TYPED.clock.advance(takes);
    match outcome {
        0 => Ok(1),
        1 => Err(FetchError::NotFound),
        _ => Err(FetchError::Timeout(std::io::ErrorKind::TimedOut.into())),
    }
}

#[test]
fn an_error_type_is_seen_as_an_error_with_the_calls_duration() {
    // A listener that walks the source chain, as an error reporter would.
    struct Sources(Mutex<Vec<String>>);
    impl Listener for Sources {
        fn on_outcome(&self, _: &CircuitBreaker, outcome: &CallOutcome<'_>) {
            if let Some(error) = outcome.error().and_then(|e| e.as_error()) {
                let source = error.source().map(|s| s.to_string());
                let typed = error.downcast_ref::<FetchError>().is_some();
                self.0.lock().unwrap().push(format!("{source:?} {typed}"));
            }
        }
    }
    let seen = TYPED.during(|| {
        assert_eq!(fetch(0, Duration::from_millis(3)).unwrap(), 1);
        assert!(fetch(1, Duration::from_millis(40)).is_err());
        assert!(fetch(2, Duration::from_secs(2)).is_err());
    });
    assert_eq!(
        seen,
        [
            "Success - 3ms",
            "Success error:not found 40ms", // excluded: a success, with its error
            "Failure error:upstream timed out 2s",
        ]
    );

    let sources = Arc::new(Sources(Mutex::new(Vec::new())));
    let b = CircuitBreaker::builder("outcomes-sources")
        .listener_arc(sources.clone())
        .build();
    let _ = b.call(|| Err::<(), _>(FetchError::Timeout(std::io::ErrorKind::TimedOut.into())));
    // `call` is generic over the error type, so it hands listeners its `Display` and
    // `Debug` forms, not its `std::error::Error` side.
    assert!(sources.0.lock().unwrap().is_empty());
    #[circuit_breaker(breaker = b)]
    fn sourced(b: &CircuitBreaker) -> Result<(), FetchError> {
        let _ = b;
        Err(FetchError::Timeout(std::io::ErrorKind::TimedOut.into()))
    }
    assert!(sourced(&b).is_err());
    assert_eq!(*sources.0.lock().unwrap(), ["Some(\"timed out\") true"]);
}

static BOXED: LazyLock<Watched> = LazyLock::new(|| Watched::new("outcomes-boxed"));

#[circuit_breaker(breaker = BOXED.breaker)]
async fn boxed(fail: bool) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    BOXED.clock.advance(Duration::from_micros(1500));
    if fail {
        Err("connection reset".into())
    } else {
        Ok(())
    }
}

static ANYHOW: LazyLock<Watched> = LazyLock::new(|| Watched::new("outcomes-anyhow"));

#[circuit_breaker(breaker = ANYHOW.breaker)]
fn with_anyhow() -> anyhow::Result<()> {
    Err(anyhow::anyhow!("disk full"))
}

/// Only `Debug`.
#[derive(Debug)]
struct Code(#[allow(dead_code)] u16);

impl From<CircuitBreakerError> for Code {
    fn from(_: CircuitBreakerError) -> Self {
        Code(0)
    }
}

static DEBUG_ONLY: LazyLock<Watched> = LazyLock::new(|| Watched::new("outcomes-debug"));

#[circuit_breaker(breaker = DEBUG_ONLY.breaker)]
fn debug_only() -> Result<(), Code> {
    Err(Code(503))
}

/// Neither `Error` nor `Debug`.
struct Opaque;

impl From<CircuitBreakerError> for Opaque {
    fn from(_: CircuitBreakerError) -> Self {
        Opaque
    }
}

static OPAQUE: LazyLock<Watched> = LazyLock::new(|| Watched::new("outcomes-opaque"));

#[circuit_breaker(breaker = OPAQUE.breaker, ignore = [Opaque])]
fn opaque() -> Result<(), Opaque> {
    Err(Opaque)
}

#[tokio::test]
async fn boxed_and_anyhow_errors_are_seen_as_errors_others_by_debug_or_not_at_all() {
    let _ = BOXED.seen.take();
    assert!(boxed(true).await.is_err());
    assert_eq!(BOXED.seen.take(), ["Failure error:connection reset 1.5ms"]);
    assert_eq!(
        ANYHOW.during(|| assert!(with_anyhow().is_err())),
        ["Failure error:disk full 0ns"]
    );
    assert_eq!(
        DEBUG_ONLY.during(|| assert!(debug_only().is_err())),
        ["Failure debug:Code(503) 0ns"]
    );
    assert_eq!(
        OPAQUE.during(|| assert!(opaque().is_err())),
        ["Ignore - 0ns"]
    );
    let call = Watched::new("outcomes-call");
    assert_eq!(
        call.during(|| {
            let _ = call
                .breaker
                .call(|| Err::<(), _>(std::io::Error::other("disk full")));
        }),
        [r#"Failure display:disk full (Custom { kind: Other, error: "disk full" }) 0ns"#],
        "CircuitBreaker::call shows the Display form, and the Debug form beside it"
    );
}

static TIMED: LazyLock<Watched> = LazyLock::new(|| Watched::new("outcomes-timeout"));

#[circuit_breaker(breaker = TIMED.breaker, call_timeout = "50ms")]
async fn hangs() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    std::future::pending::<()>().await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_call_timeout_is_a_failure_whose_error_is_the_timeout() {
    let _ = TIMED.seen.take();
    assert!(hangs().await.is_err());
    let seen = TIMED.seen.take();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(
        seen[0].starts_with(
            "Failure error:call through circuit breaker 'outcomes-timeout' timed out after 50ms"
        ),
        "{seen:?}"
    );
}

#[test]
fn listeners_written_for_the_short_methods_still_get_them() {
    #[derive(Default)]
    struct Short(Mutex<Vec<&'static str>>);
    impl Listener for Short {
        fn on_success(&self, _: &CircuitBreaker) {
            self.0.lock().unwrap().push("success");
        }
        fn on_failure(&self, _: &CircuitBreaker) {
            self.0.lock().unwrap().push("failure");
        }
        fn on_ignored(&self, _: &CircuitBreaker) {
            self.0.lock().unwrap().push("ignored");
        }
    }
    let short = Arc::new(Short::default());
    let b = CircuitBreaker::builder("outcomes-short")
        .listener_arc(short.clone())
        .build();
    b.try_acquire().unwrap().success();
    b.try_acquire().unwrap().failure();
    b.try_acquire().unwrap().ignore();
    drop(b.try_acquire().unwrap());
    assert_eq!(
        *short.0.lock().unwrap(),
        ["success", "failure", "ignored", "ignored"]
    );
    let _ = Verdict::Success;
}
