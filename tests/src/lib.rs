//! Shared helpers for the workspace's integration, behaviour and compile-fail tests.

use std::sync::{Arc, Mutex};

/// The runtime under another path, as a facade crate would re-export it: for testing
/// the attribute's `crate = "..."`.
pub use breaker_runtime as facade;

use breaker_runtime::{CircuitBreaker, CircuitBreakerError, Listener, State};

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
