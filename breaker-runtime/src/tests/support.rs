//! What the behaviour tests share: the error their functions return, an assertion on
//! rejections, listeners that write events and verdicts down. The tests crate includes this file
//! too (`tests/src/lib.rs`), so both suites speak the same language.

#![allow(dead_code)] // each suite uses its part

use std::sync::{Arc, Mutex};

use breaker_runtime::listener::CallOutcome;
use breaker_runtime::{CircuitBreaker, CircuitBreakerError, ErrorKind, Listener, State, Verdict};

/// The error the tests' functions return: what the dependency did, or the breaker's
/// rejection with its kind and the breaker's name, so that assertions say exactly which
/// breaker refused and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestError {
    /// The dependency failed.
    Down,
    /// The dependency answered "not found" (usually excluded: not its failure).
    NotFound,
    /// The dependency answered with a status code.
    Status(u16),
    /// The dependency timed out on its side.
    Timeout,
    /// The call was cancelled.
    Cancelled,
    /// There was nothing to return.
    Empty,
    /// The breaker refused the call.
    Rejected {
        /// Why.
        kind: ErrorKind,
        /// Which breaker.
        breaker: String,
    },
}

impl TestError {
    /// The rejection `breaker` gives for `kind`.
    pub fn rejected(kind: ErrorKind, breaker: &str) -> Self {
        TestError::Rejected {
            kind,
            breaker: breaker.to_string(),
        }
    }
}

impl From<CircuitBreakerError> for TestError {
    fn from(e: CircuitBreakerError) -> Self {
        TestError::rejected(e.kind(), e.name())
    }
}

impl std::fmt::Display for TestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

impl std::error::Error for TestError {}

/// Asserts that `result` is the rejection of `breaker` for `kind`.
#[track_caller]
pub fn assert_rejected<T: std::fmt::Debug>(
    result: Result<T, CircuitBreakerError>,
    kind: ErrorKind,
    breaker: &str,
) {
    match result {
        Err(e) => assert_eq!((e.kind(), e.name()), (kind, breaker), "{e}"),
        Ok(value) => panic!("expected {breaker} to reject ({kind:?}), got Ok({value:?})"),
    }
}

/// A listener that writes down every event it sees, in order.
#[derive(Default)]
pub struct Recorder {
    events: Mutex<Vec<String>>,
}

impl Recorder {
    /// A recorder to hand to `Builder::listener_arc` while keeping a handle to read it.
    pub fn new() -> Arc<Recorder> {
        Arc::new(Recorder::default())
    }

    /// The events so far, e.g. `["before", "failure", "closed->open", "rejected"]`.
    pub fn events(&self) -> Vec<String> {
        self.events.lock().unwrap().clone()
    }

    /// Only the state changes, e.g. `["closed->open"]`.
    pub fn transitions(&self) -> Vec<String> {
        self.events()
            .into_iter()
            .filter(|e| e.contains("->"))
            .collect()
    }

    /// Forgets what was recorded.
    pub fn clear(&self) {
        self.events.lock().unwrap().clear();
    }

    fn push(&self, event: String) {
        self.events.lock().unwrap().push(event);
    }
}

impl Listener for Recorder {
    fn before_call(&self, _: &CircuitBreaker) {
        self.push("before".into());
    }
    fn on_success(&self, _: &CircuitBreaker) {
        self.push("success".into());
    }
    fn on_failure(&self, _: &CircuitBreaker) {
        self.push("failure".into());
    }
    fn on_ignored(&self, _: &CircuitBreaker) {
        self.push("ignored".into());
    }
    fn on_rejected(&self, _: &CircuitBreaker, _: &CircuitBreakerError) {
        self.push("rejected".into());
    }
    fn on_state_change(&self, _: &CircuitBreaker, from: State, to: State) {
        self.push(format!("{from}->{to}"));
    }
}

/// A listener that writes down the verdict of every outcome it hears: of every breaker
/// it listens to, or, as a global listener, of one breaker by name.
#[derive(Default)]
pub struct Verdicts {
    of: Option<&'static str>,
    heard: Mutex<Vec<Verdict>>,
}

impl Verdicts {
    /// Verdicts of every breaker it listens to.
    pub fn new() -> Arc<Verdicts> {
        Arc::default()
    }

    /// Verdicts of the breaker named `name` only.
    pub fn of(name: &'static str) -> Arc<Verdicts> {
        Arc::new(Verdicts {
            of: Some(name),
            heard: Mutex::default(),
        })
    }

    /// The verdicts so far, in order.
    pub fn heard(&self) -> Vec<Verdict> {
        self.heard.lock().unwrap().clone()
    }
}

impl Listener for Verdicts {
    fn on_outcome(&self, breaker: &CircuitBreaker, outcome: &CallOutcome<'_>) {
        if self.of.map_or(true, |name| breaker.name() == name) {
            self.heard.lock().unwrap().push(outcome.verdict());
        }
    }
}
