//! Listeners attached while calls run: a listener hears whole calls or none of them.

use std::time::Duration;

use breaker_runtime::listener;
use breaker_runtime::{Advice, AdviceSource, CircuitBreaker, Verdict, Window};

use super::support::Verdicts;

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
    let heard = Verdicts::of(name);
    let id = listener::add_global_listener_arc(heard.clone());
    failed.failure();
    advised.failure_with_advice(
        Advice::new(Duration::from_secs(1), AdviceSource::RetryAfter).unwrap(),
    );
    drop(dropped);
    b.try_acquire().unwrap().success();
    listener::remove_global_listener(id);
    assert_eq!(
        heard.heard(),
        [Verdict::Success],
        "only the call admitted while it listened"
    );
}
