//! Listeners attached while calls run: a listener hears whole calls or none of them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use breaker_runtime::listener::{self, CallOutcome};
use breaker_runtime::{Advice, AdviceSource, CircuitBreaker, Listener, Verdict, Window};

/// Outcomes of one breaker, heard by a global listener.
struct OutcomesOf(&'static str, Mutex<Vec<Verdict>>);

impl Listener for OutcomesOf {
    fn on_outcome(&self, breaker: &CircuitBreaker, outcome: &CallOutcome<'_>) {
        if breaker.name() == self.0 {
            self.1.lock().unwrap().push(outcome.verdict());
        }
    }
}

#[test]
fn a_listener_attached_mid_call_hears_no_half_call() {
    // Timed, so that each permit keeps its start whether or not anyone listens.
    let name = "permit-mid-call-listener";
    let b = CircuitBreaker::builder(name)
        .failure_rate(50)
        .slow_call(Duration::from_secs(1))
        .window(Window::Calls(100))
        .build();
    let (failed, advised, dropped) = (
        b.try_acquire().unwrap(),
        b.try_acquire().unwrap(),
        b.try_acquire().unwrap(),
    );
    let heard = Arc::new(OutcomesOf(name, Mutex::default()));
    let id = listener::add_global_listener_arc(heard.clone());
    failed.failure();
    advised.failure_with_advice(
        Advice::new(Duration::from_secs(1), AdviceSource::RetryAfter).unwrap(),
    );
    drop(dropped);
    b.try_acquire().unwrap().success();
    listener::remove_global_listener(id);
    assert_eq!(
        *heard.1.lock().unwrap(),
        [Verdict::Success],
        "only the call admitted while it listened"
    );
}
