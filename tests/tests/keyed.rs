//! Keyed breakers (`breaker_runtime::keyed::Breakers`): one breaker per key, memory
//! bounded by `max_keys`, eviction only of idle, closed, failure-free breakers, and the
//! overflow breaker for keys beyond the cap. Idle time runs on a manual clock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use breaker_runtime::keyed::Breakers;
use breaker_runtime::{CircuitBreaker, ConfigError, ErrorKind, ManualClock, State};
use breaker_tests::TestError;

const MINUTE: Duration = Duration::from_secs(60);

fn ok() -> Result<(), TestError> {
    Ok(())
}

fn down() -> Result<(), TestError> {
    Err(TestError::Down)
}

/// A set of `max_keys` unregistered breakers (fail_max 3) on `clock`, idle after 10 min.
fn set(max_keys: usize, clock: &ManualClock) -> Breakers<String> {
    Breakers::builder(|key: &String| {
        CircuitBreaker::builder(format!("keyed-test[{key}]"))
            .fail_max(3)
            .unregistered()
    })
    .max_keys(max_keys)
    .name("keyed-test")
    .clock(clock.clone())
    .build()
}

#[test]
fn each_key_has_a_breaker_of_its_own() {
    let clock = ManualClock::new();
    let hosts = set(16, &clock);
    for _ in 0..3 {
        assert!(hosts.call("a", down).is_err());
    }
    assert_eq!(hosts.get("a").unwrap().state(), State::Open);
    assert_eq!(
        hosts.call("a", ok).unwrap_err(),
        TestError::rejected(ErrorKind::Open, "keyed-test[a]")
    );
    assert!(hosts.call("b", ok).is_ok(), "another key is not affected");
    assert_eq!(hosts.get("b").unwrap().state(), State::Closed);
    assert_eq!(hosts.len(), 2);
    assert!(hosts.get("c").is_none(), "get makes no breaker");
}

#[test]
fn a_key_is_evicted_only_when_closed_failure_free_and_idle() {
    let clock = ManualClock::new();
    let hosts = set(4, &clock);
    let _ = hosts.call("idle", ok);
    let _ = hosts.call("recent", ok);
    for _ in 0..3 {
        let _ = hosts.call("open", down);
    }
    let _ = hosts.call("failing", down);
    let idle = hosts.get("idle").unwrap();
    clock.advance(9 * MINUTE);
    let _ = hosts.call("recent", ok); // used 1 min before the others turn idle
    clock.advance(MINUTE);
    // Full: a new key sweeps. Only "idle" is closed, failure-free and unused for 10 min.
    assert!(hosts.call("new", ok).is_ok());
    assert!(hosts.get("idle").is_none(), "evicted");
    assert!(hosts.get("new").is_some(), "took the freed place");
    assert_eq!(hosts.get("open").unwrap().state(), State::Open);
    assert_eq!(hosts.get("failing").unwrap().fail_counter(), 1);
    assert!(hosts.get("recent").is_some());
    assert_eq!(hosts.len(), 4);
    // The evicted key comes back with a fresh breaker.
    drop(idle);
    clock.advance(MINUTE);
    let _ = hosts.call("recent", ok);
    let _ = hosts.call("new", ok);
    assert_eq!(hosts.sweep(), 0, "nothing idle long enough");
}

#[test]
fn the_cap_holds_under_100_000_distinct_keys_and_the_overflow_takes_the_rest() {
    let clock = ManualClock::new();
    let hosts = set(1024, &clock);
    for i in 0..100_000u32 {
        assert!(hosts.call(&format!("k{i}"), ok).is_ok());
        if i % 10_000 == 0 {
            clock.advance(Duration::from_secs(2)); // sweeps are due, nothing is idle
        }
    }
    assert_eq!(hosts.len(), 1024);
    let overflow = hosts
        .overflow()
        .expect("keys beyond the cap went through it");
    assert_eq!(overflow.name(), "keyed-test[overflow]");
    assert_eq!(hosts.snapshot().breakers.len(), 1025);
    // Overflowed keys share it: its failures open it for all of them.
    for i in 0..3 {
        let _ = hosts.call(&format!("late{i}"), down);
    }
    assert_eq!(overflow.state(), State::Open);
    assert_eq!(
        hosts.call("another-late-key", ok).unwrap_err(),
        TestError::rejected(ErrorKind::Open, "keyed-test[overflow]")
    );
    assert!(
        hosts.call("k1", ok).is_ok(),
        "keys with a breaker are not affected"
    );
}

#[test]
fn an_open_key_survives_any_amount_of_churn() {
    let clock = ManualClock::new();
    let hosts = set(8, &clock);
    for _ in 0..3 {
        let _ = hosts.call("victim", down);
    }
    let victim = hosts.get("victim").unwrap();
    for round in 0..50 {
        clock.advance(11 * MINUTE);
        for i in 0..200 {
            let _ = hosts.call(&format!("churn{round}-{i}"), ok);
        }
    }
    let still = hosts.get("victim").expect("never evicted while open");
    assert!(still.ptr_eq(&victim), "the same breaker, not a reset one");
    assert_eq!(still.state(), State::Open);
    assert!(hosts.len() <= 8);
}

#[test]
fn a_keyed_permit_reports_to_its_breaker_and_a_dropped_one_frees_the_probe() {
    let clock = ManualClock::new();
    let hosts: Breakers<String> = Breakers::builder({
        let clock = clock.clone();
        move |key: &String| {
            CircuitBreaker::builder(format!("keyed-permit[{key}]"))
                .fail_max(1)
                .reset_timeout(MINUTE)
                .clock(clock.clone())
                .unregistered()
        }
    })
    .clock(clock.clone())
    .build();
    hosts.try_acquire("h").unwrap().failure();
    assert_eq!(hosts.get("h").unwrap().state(), State::Open);
    clock.advance(MINUTE);
    let probe = hosts.try_acquire("h").unwrap();
    assert!(probe.is_probe());
    assert_eq!(
        hosts.try_acquire("h").unwrap_err().kind(),
        ErrorKind::ProbeInFlight
    );
    drop(probe); // cancelled: neutral, the slot is free again
    let probe = hosts.try_acquire("h").expect("the slot was given back");
    probe.record(&ok());
    assert_eq!(hosts.get("h").unwrap().state(), State::Closed);
}

#[test]
fn call_async_goes_through_the_keys_breaker() {
    let clock = ManualClock::new();
    let hosts = set(4, &clock);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        for _ in 0..3 {
            let r = hosts.call_async("a", async { down() }).await;
            assert_eq!(r.unwrap_err(), TestError::Down, "its own error");
        }
        let r = hosts.call_async("a", async { ok() }).await;
        assert_eq!(
            r.unwrap_err(),
            TestError::rejected(ErrorKind::Open, "keyed-test[a]")
        );
        assert!(hosts.call_async("b", async { ok() }).await.is_ok());
    });
}

#[test]
fn threads_racing_for_keys_make_one_breaker_each_and_never_pass_the_cap() {
    let clock = ManualClock::new();
    let hosts = set(100, &clock);
    let made = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|s| {
        for t in 0..4 {
            let (hosts, made) = (&hosts, Arc::clone(&made));
            s.spawn(move || {
                for i in 0..5_000 {
                    // Every thread asks for the same first 50 keys, then its own.
                    let key = if i < 50 {
                        format!("shared{i}")
                    } else {
                        format!("t{t}-{i}")
                    };
                    let _ = hosts.call(&key, ok);
                    made.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    assert_eq!(made.load(Ordering::Relaxed), 20_000);
    assert_eq!(hosts.len(), 100);
    for i in 0..50 {
        let b = hosts
            .get(format!("shared{i}").as_str())
            .expect("made first");
        assert!(hosts.get(format!("shared{i}").as_str()).unwrap().ptr_eq(&b));
    }
}

#[test]
fn a_set_without_room_is_refused_with_a_reason() {
    let err = Breakers::<u64>::builder(|id: &u64| CircuitBreaker::builder(format!("t{id}")))
        .max_keys(0)
        .try_build()
        .unwrap_err();
    assert_eq!(err, ConfigError::ZeroMaxKeys);
    assert!(err.to_string().starts_with("max_keys must be at least 1"));
}

#[test]
fn integer_keys_and_the_snapshot_in_name_order() {
    let tenants: Breakers<u64> =
        Breakers::new(|id: &u64| CircuitBreaker::builder(format!("tenant[{id}]")).unregistered());
    for id in [3u64, 1, 2] {
        tenants.call(&id, ok).unwrap();
    }
    let names: Vec<String> = tenants
        .snapshot()
        .breakers
        .iter()
        .map(|b| b.name.to_string())
        .collect();
    assert_eq!(names, ["tenant[1]", "tenant[2]", "tenant[3]"]);
    assert!(tenants.snapshot().to_string().contains("tenant[2]"));
}
