//! The registry: breakers by name, for health endpoints, tests and manual control.

use std::sync::{Mutex, MutexGuard};

use breaker_runtime::{registry, CircuitBreaker, State};

/// Listing the registry holds a strong handle to every breaker for a moment, so a breaker
/// dropped while another test lists is still alive until the listing ends. These tests
/// observe drops, so they take turns.
fn serial() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn built_breakers_register_and_are_controllable_by_name() {
    let _turn = serial();
    let b = CircuitBreaker::builder("registry-by-name")
        .fail_max(4)
        .build();
    let handle = registry::get("registry-by-name").expect("registered");
    assert!(handle.ptr_eq(&b));
    handle.open();
    assert_eq!(b.state(), State::Open);
    let info = registry::list()
        .into_iter()
        .find(|i| i.name == "registry-by-name")
        .unwrap();
    assert_eq!(info.state, State::Open);
    assert_eq!(info.config.fail_max, 4);
    assert!(info.retry_after.is_some());
}

#[test]
fn dropped_breakers_leave_the_registry() {
    let _turn = serial();
    let b = CircuitBreaker::builder("registry-dropped").build();
    assert!(registry::get("registry-dropped").is_some());
    drop(b);
    assert!(registry::get("registry-dropped").is_none());
    assert!(registry::all()
        .iter()
        .all(|b| b.name() != "registry-dropped"));
}

#[test]
fn an_ambiguous_name_is_never_resolved_to_the_wrong_breaker() {
    let _turn = serial();
    let first = CircuitBreaker::builder("registry-twice").build();
    let second = CircuitBreaker::builder("registry-twice").build();
    assert!(
        registry::get("registry-twice").is_none(),
        "two live breakers: no guess"
    );
    assert_eq!(
        registry::all()
            .iter()
            .filter(|b| b.name() == "registry-twice")
            .count(),
        2
    );
    drop(first);
    assert!(registry::get("registry-twice").unwrap().ptr_eq(&second));
}

#[test]
fn unregistered_breakers_stay_private() {
    let _turn = serial();
    let _b = CircuitBreaker::builder("registry-private")
        .unregistered()
        .build();
    assert!(registry::get("registry-private").is_none());
}

#[test]
fn names_made_at_run_time_show_everywhere_a_literal_does() {
    let _turn = serial();
    let host = String::from("api.example.com");
    let b = CircuitBreaker::builder(format!("fetch[{host}]"))
        .fail_max(1)
        .build();
    assert_eq!(b.name(), "fetch[api.example.com]");
    b.open();
    let rejection = b.try_acquire().unwrap_err();
    assert_eq!(rejection.name(), "fetch[api.example.com]");
    assert!(rejection
        .to_string()
        .starts_with("circuit breaker 'fetch[api.example.com]' is open"));
    let found = registry::get("fetch[api.example.com]").expect("listed by its run-time name");
    assert!(found.ptr_eq(&b));
    let info = registry::list()
        .into_iter()
        .find(|i| i.name == "fetch[api.example.com]")
        .expect("in the listing");
    assert_eq!(info.state, State::Open);
    assert!(registry::snapshot()
        .to_string()
        .contains("fetch[api.example.com]"));
    drop((b, found));
    assert!(
        registry::get("fetch[api.example.com]").is_none(),
        "gone when dropped"
    );
}

#[test]
fn thousands_of_breakers_coming_and_going_keep_the_registry_small() {
    let _turn = serial();
    // Each is built, used and dropped; the registry sweeps the dropped ones as it
    // grows, so listing stays proportional to the breakers alive.
    for i in 0..5_000 {
        let b = CircuitBreaker::builder(format!("churn-{i}")).build();
        b.try_acquire().unwrap().success();
    }
    let kept = CircuitBreaker::builder(String::from("churn-kept")).build();
    assert!(registry::get("churn-kept").is_some_and(|b| b.ptr_eq(&kept)));
    assert!(registry::all()
        .iter()
        .all(|b| !b.name().starts_with("churn-") || b.name() == "churn-kept"));
}
