//! Keyed breakers (`breaker_runtime::keyed::Breakers`): one breaker per key, memory
//! bounded by `max_keys`, eviction of idle closed breakers only (whatever their
//! failures), the overflow breaker for keys beyond the cap, and names: an evicted key
//! leaves the registry at once, and a name stands for one breaker. Idle time runs on a
//! manual clock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use breaker_runtime::keyed::Breakers;
use breaker_runtime::{registry, CircuitBreaker, ConfigError, ErrorKind, ManualClock, State};
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
fn a_key_is_evicted_when_closed_and_idle_whatever_its_failures() {
    let clock = ManualClock::new();
    let hosts = set(8, &clock);
    let _ = hosts.call("idle", ok);
    let _ = hosts.call("failing", down); // one failure, then never used again
    let _ = hosts.call("recent", ok);
    let _ = hosts.call("held", ok);
    let _ = hosts.call("disabled", ok);
    for _ in 0..3 {
        let _ = hosts.call("open", down);
    }
    let held = hosts.get("held").unwrap();
    hosts.get("disabled").unwrap().disable();
    clock.advance(9 * MINUTE);
    let _ = hosts.call("recent", ok); // used 1 min before the others turn idle
    clock.advance(MINUTE);
    assert_eq!(hosts.sweep(), 2);
    assert!(hosts.get("idle").is_none(), "closed and idle");
    assert!(
        hosts.get("failing").is_none(),
        "a stale failure does not pin it"
    );
    assert_eq!(hosts.get("open").unwrap().state(), State::Open);
    assert!(hosts.get("recent").is_some(), "used within idle_ttl");
    assert!(
        hosts.get("held").unwrap().ptr_eq(&held),
        "a handle someone holds is not evicted: the set would make a second one"
    );
    assert!(
        hosts.get("disabled").unwrap().is_disabled(),
        "an operator's choice stays"
    );
    assert_eq!(hosts.len(), 4);
    // The evicted key comes back with a fresh breaker.
    let _ = hosts.call("failing", ok);
    assert_eq!(hosts.get("failing").unwrap().fail_counter(), 0);
    clock.advance(MINUTE);
    let _ = hosts.call("recent", ok);
    let _ = hosts.call("failing", ok);
    assert_eq!(hosts.sweep(), 0, "nothing else idle long enough");
    drop(held);
    assert_eq!(hosts.sweep(), 1, "let go of, the idle one is evicted");
    assert!(hosts.get("held").is_none());
}

#[test]
fn keys_with_one_stale_failure_each_do_not_push_new_keys_into_the_overflow() {
    let clock = ManualClock::new();
    let hosts = set(4, &clock);
    // Someone who picks keys fills the set with one failure each.
    for i in 0..4 {
        let _ = hosts.call(&format!("junk{i}"), down);
    }
    clock.advance(10 * MINUTE);
    // Two new keys fail: each has its own breaker, so neither opens a shared one.
    for key in ["new1", "new2"] {
        let _ = hosts.call(key, down);
        assert!(hosts.get(key).is_some(), "{key} has a breaker of its own");
    }
    assert!(hosts.overflow().is_none(), "nothing overflowed");
    assert!(hosts.call("innocent", ok).is_ok());
    assert!(hosts.get("innocent").is_some());
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
    assert_eq!(overflow.name(), "keyed-test{overflow}");
    assert_eq!(hosts.snapshot().breakers.len(), 1025);
    // Overflowed keys share it: its failures open it for all of them.
    for i in 0..3 {
        let _ = hosts.call(&format!("late{i}"), down);
    }
    assert_eq!(overflow.state(), State::Open);
    assert_eq!(
        hosts.call("another-late-key", ok).unwrap_err(),
        TestError::rejected(ErrorKind::Open, "keyed-test{overflow}")
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

/// A set of registered breakers named `<prefix>[<key>]`, idle after a minute.
fn registered(prefix: &'static str, clock: &ManualClock) -> Breakers<String> {
    Breakers::builder(move |key: &String| {
        CircuitBreaker::builder(format!("{prefix}[{key}]")).fail_max(3)
    })
    .idle_ttl(MINUTE)
    .clock(clock.clone())
    .build()
}

/// How many live registered breakers bear `name`.
fn bearing(name: &str) -> usize {
    registry::all().iter().filter(|b| b.name() == name).count()
}

#[test]
fn an_evicted_key_leaves_the_registry_at_once_and_its_successor_is_the_one_found() {
    let clock = ManualClock::new();
    let hosts = registered("evict-reg", &clock);
    hosts.call("a", ok).unwrap();
    assert!(registry::get("evict-reg[a]").is_some());
    clock.advance(MINUTE + Duration::from_secs(1));
    assert_eq!(hosts.sweep(), 1);
    assert!(
        registry::get("evict-reg[a]").is_none(),
        "not listed from the moment it is evicted"
    );
    assert_eq!(bearing("evict-reg[a]"), 0);
    hosts.call("a", ok).unwrap();
    assert_eq!(
        bearing("evict-reg[a]"),
        1,
        "exactly one live breaker bears the name"
    );
    for i in 0..20_000 {
        hosts.call(&format!("other{}", i % 100), ok).unwrap();
    }
    // The operator's workflow: by name, force it open; the key's calls are refused.
    let by_name = registry::get("evict-reg[a]").expect("the re-created breaker is found");
    assert!(by_name.ptr_eq(&hosts.get("a").unwrap()));
    by_name.force_open();
    assert_eq!(
        hosts.call("a", ok).unwrap_err(),
        TestError::rejected(ErrorKind::ForcedOpen, "evict-reg[a]")
    );
}

#[test]
fn two_sets_from_one_template_share_each_keys_breaker_and_keep_their_own_overflow() {
    let template = |key: &String| CircuitBreaker::builder(format!("twin[{key}]")).fail_max(2);
    // Two clients built from one factory: no names given to their sets.
    let first: Breakers<String> = Breakers::builder(template).max_keys(1).build();
    let second: Breakers<String> = Breakers::builder(template).max_keys(1).build();
    first.call("h", ok).unwrap();
    second.call("h", ok).unwrap();
    let shared = first.get("h").unwrap();
    assert!(
        shared.ptr_eq(&second.get("h").unwrap()),
        "one name, one breaker"
    );
    assert_eq!(bearing("twin[h]"), 1);
    for _ in 0..2 {
        let _ = first.call("h", down);
    }
    assert_eq!(
        second.call("h", ok).unwrap_err(),
        TestError::rejected(ErrorKind::Open, "twin[h]"),
        "the host is down for both clients"
    );
    // Each set's overflow breaker is its own: one set's overflow does not open the other's.
    for _ in 0..2 {
        let _ = first.call("x", down);
    }
    let (one, two) = (first.overflow().unwrap(), {
        second.call("y", ok).unwrap();
        second.overflow().unwrap()
    });
    assert_ne!(one.name(), two.name());
    assert_eq!(one.state(), State::Open);
    assert_eq!(two.state(), State::Closed);
    for overflow in [&one, &two] {
        let found = registry::get(overflow.name()).expect("each overflow breaker is found");
        assert!(found.ptr_eq(overflow));
    }
}

#[test]
fn a_key_spelled_overflow_keeps_its_own_breaker() {
    let clock = ManualClock::new();
    let hosts: Breakers<String> = Breakers::builder(|key: &String| {
        CircuitBreaker::builder(format!("spelled[{key}]")).fail_max(1)
    })
    .name("spelled")
    .max_keys(1)
    .clock(clock.clone())
    .build();
    hosts.call("overflow", ok).unwrap();
    hosts.call("beyond-the-cap", ok).unwrap();
    let key = hosts.get("overflow").unwrap();
    let overflow = hosts.overflow().unwrap();
    assert!(!key.ptr_eq(&overflow));
    assert_ne!(key.name(), overflow.name());
    assert!(registry::get("spelled[overflow]").unwrap().ptr_eq(&key));
    assert!(registry::get(overflow.name()).unwrap().ptr_eq(&overflow));
}

#[test]
fn the_same_name_with_other_settings_is_refused_not_shared() {
    let clock = ManualClock::new();
    let strict: Breakers<String> = Breakers::builder(|key: &String| {
        CircuitBreaker::builder(format!("clash[{key}]")).fail_max(1)
    })
    .clock(clock.clone())
    .build();
    strict.call("h", ok).unwrap();
    let lenient = CircuitBreaker::builder("clash[h]").fail_max(10).try_build();
    assert_eq!(lenient.unwrap_err(), ConfigError::NameTaken);
    // Asking for the very same settings is asking for that breaker.
    let same = CircuitBreaker::builder("clash[h]").fail_max(1).build();
    assert!(same.ptr_eq(&strict.get("h").unwrap()));
}

#[test]
fn live_registered_breakers_never_share_a_name() {
    let clock = ManualClock::new();
    let hosts = registered("unique", &clock);
    for _ in 0..3 {
        for i in 0..50 {
            hosts.call(&format!("k{i}"), ok).unwrap();
        }
        // Checked right after the keys evicted last round were made again.
        let names: Vec<String> = registry::all()
            .iter()
            .map(|b| b.name().to_string())
            .collect();
        let distinct: std::collections::HashSet<&String> = names.iter().collect();
        assert_eq!(names.len(), distinct.len(), "{names:?}");
        clock.advance(2 * MINUTE);
        assert_eq!(hosts.sweep(), 50);
    }
}
