//! The registry: breakers by name, for health endpoints, tests and manual control.

use std::sync::{Mutex, MutexGuard};

use breaker_runtime::{registry, CircuitBreaker, ConfigError, ManualClock, State};

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
fn a_name_stands_for_one_breaker() {
    let _turn = serial();
    let first = CircuitBreaker::builder("registry-twice")
        .fail_max(2)
        .build();
    let second = CircuitBreaker::builder("registry-twice")
        .fail_max(2)
        .build();
    assert!(
        second.ptr_eq(&first),
        "the same settings: the live breaker, handed back"
    );
    assert!(registry::get("registry-twice").unwrap().ptr_eq(&first));
    assert_eq!(
        registry::all()
            .iter()
            .filter(|b| b.name() == "registry-twice")
            .count(),
        1
    );
    let other = CircuitBreaker::builder("registry-twice")
        .fail_max(3)
        .try_build();
    assert_eq!(other.unwrap_err(), ConfigError::NameTaken);
    let clocked = CircuitBreaker::builder("registry-twice")
        .fail_max(2)
        .clock(ManualClock::new())
        .try_build();
    assert_eq!(
        clocked.unwrap_err(),
        ConfigError::NameTaken,
        "another clock"
    );
    // An unregistered breaker is private: its name need not be unique.
    let private = CircuitBreaker::builder("registry-twice")
        .fail_max(3)
        .unregistered()
        .build();
    assert!(!private.ptr_eq(&first));
    // Once the breaker is dropped, the name is free for other settings.
    drop((first, second));
    let fresh = CircuitBreaker::builder("registry-twice")
        .fail_max(3)
        .build();
    assert!(registry::get("registry-twice").unwrap().ptr_eq(&fresh));
}

#[test]
fn clones_of_one_manual_clock_are_one_clock() {
    let _turn = serial();
    let clock = ManualClock::new();
    let first = CircuitBreaker::builder("registry-clock")
        .clock(clock.clone())
        .build();
    let again = CircuitBreaker::builder("registry-clock")
        .clock(clock.clone())
        .build();
    assert!(again.ptr_eq(&first));
    let message = std::panic::catch_unwind(|| {
        CircuitBreaker::builder("registry-clock")
            .clock(ManualClock::new())
            .build()
    })
    .unwrap_err();
    let message = message.downcast_ref::<String>().unwrap();
    assert!(
        message.contains("'registry-clock'") && message.contains("unregistered()"),
        "{message}"
    );
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

/// The snapshot table's line for `name`.
fn table_line(name: &str) -> String {
    registry::snapshot()
        .to_string()
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no line for {name}"))
        .to_string()
}

#[test]
fn the_table_says_when_a_probe_is_due_and_names_failures_and_calls() {
    use breaker_runtime::Window;
    use std::time::Duration;

    // Its snapshots hold every breaker for a moment, like the listings above.
    let _turn = serial();

    let clock = ManualClock::new();
    let open = CircuitBreaker::builder("registry-due")
        .fail_max(1)
        .clock(clock.clone())
        .build();
    open.try_acquire().unwrap().failure();
    assert!(table_line("registry-due").contains(" 60.0s "));
    clock.advance(Duration::from_secs(61));
    let line = table_line("registry-due");
    assert!(line.contains(" probe due "), "{line}");
    assert!(!line.contains(" 0.0s "), "{line}");

    let rate = CircuitBreaker::builder("registry-rate")
        .failure_rate(50)
        .slow_call(Duration::from_secs(1))
        .window(Window::Calls(4))
        .clock(clock.clone())
        .build();
    rate.try_acquire().unwrap().failure();
    let line = table_line("registry-rate");
    assert!(
        line.contains("rate: 1 failure, 0 slow in 1 call (below min_calls)"),
        "{line}"
    );
    for _ in 0..3 {
        rate.try_acquire().unwrap().success();
    }
    let line = table_line("registry-rate");
    assert!(
        line.contains("rate: 1 failure, 0 slow in 4 calls (25.0% failed, 0.0% slow)"),
        "{line}"
    );
}
