//! Keyed fleet breakers: `per = ...` with `shared` on the attribute, and a `Breakers` set
//! whose template is shared. Every key is a fleet breaker of its own, `<name>[<key>]`;
//! evicting an idle key drops it locally only: the fleet's record stays to its TTL, and
//! the key's next breaker finds the fleet's state there. On a `redis-server` of the
//! test's own, with a second replica built by hand.

use std::time::Duration;

use breaker_runtime::keyed::Breakers;
use breaker_runtime::registry::{self, BreakerInfo};
use breaker_runtime::shared::{self, BackendHealth, RedisBackend};
use breaker_runtime::{circuit_breaker, CircuitBreaker, ErrorKind, ManualClock, State};
use breaker_tests::fleet::{connected, record_key, replica};
use breaker_tests::redis_server::RedisServer;
use breaker_tests::{poll_until, TestError as E};

#[circuit_breaker(name = "fleet-per", fail_max = 2, reset_timeout = "60s", shared, per = host)]
fn fetch(host: &str, up: bool) -> Result<String, E> {
    match up {
        true => Ok(format!("{host}: 200")),
        false => Err(E::Status(503)),
    }
}

fn joined(name: &str) -> bool {
    registry::get(name)
        .and_then(|b| BreakerInfo::of(&b).fleet)
        .is_some_and(|f| f.backend == BackendHealth::Healthy)
}

#[test]
fn per_key_breakers_of_the_attribute_are_fleet_breakers_one_per_key() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let backend = RedisBackend::builder(server.url())
        .namespace("per")
        .build()
        .unwrap();
    shared::install(backend).unwrap();
    assert_eq!(fetch("a.example", true).unwrap(), "a.example: 200");
    assert_eq!(fetch("b.example", true).unwrap(), "b.example: 200");
    poll_until(Duration::from_secs(10), || {
        joined("fleet-per[a.example]") && joined("fleet-per[b.example]")
    })
    .expect("each key's breaker joins the installed backend");

    // Another replica trips `a.example`: only that key opens here.
    let other = replica(&server.url(), "per", "fleet-per[a.example]", |b| {
        b.fail_max(2)
    });
    connected(std::slice::from_ref(&other));
    for _ in 0..2 {
        let _ = other.breaker.call(|| Err::<(), _>(E::Down));
    }
    poll_until(Duration::from_secs(5), || {
        registry::get("fleet-per[a.example]").unwrap().state() == State::Open
    })
    .expect("the key's breaker opens with the fleet");
    assert_eq!(
        fetch("a.example", true),
        Err(E::rejected(ErrorKind::Open, "fleet-per[a.example]"))
    );
    assert_eq!(fetch("b.example", true).unwrap(), "b.example: 200");

    // A key tripped here opens the other replica's breaker of that key, and the fleet's
    // record is the key's own.
    let watcher = replica(&server.url(), "per", "fleet-per[c.example]", |b| {
        b.fail_max(2)
    });
    connected(std::slice::from_ref(&watcher));
    for _ in 0..2 {
        assert_eq!(fetch("c.example", false), Err(E::Status(503)));
    }
    poll_until(Duration::from_secs(5), || {
        watcher.breaker.state() == State::Open
    })
    .expect("the trip of one key reaches the other replica's breaker of that key");
    let record = record_key("per", "fleet-per[c.example]");
    assert_eq!(server.command(&["HGET", &record, "state"]), "open");
    let untouched = record_key("per", "fleet-per[b.example]");
    assert_ne!(server.command(&["HGET", &untouched, "state"]), "open");
}

#[test]
fn an_evicted_key_leaves_the_fleets_record_to_its_ttl_and_its_next_breaker_follows_it() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let backend = RedisBackend::builder(server.url())
        .namespace("hosts")
        .build()
        .unwrap();
    let clock = ManualClock::new();
    let hosts: Breakers<String> = Breakers::builder(move |host: &String| {
        CircuitBreaker::builder(format!("hosts[{host}]"))
            .fail_max(2)
            .reset_timeout(Duration::from_secs(60))
            .shared(&backend)
    })
    .idle_ttl(Duration::from_secs(60))
    .clock(clock.clone())
    .build();
    assert!(hosts.call("b", || Ok::<_, E>(())).is_ok());
    let other = replica(&server.url(), "hosts", "hosts[b]", |b| b.fail_max(2));
    connected(std::slice::from_ref(&other));
    poll_until(Duration::from_secs(10), || joined("hosts[b]"))
        .expect("the key's breaker joins the set's backend");

    // The key trips here and the other replica follows; the other replica closes it
    // for the fleet, and this key's breaker follows.
    for _ in 0..2 {
        let _ = hosts.call("b", || Err::<(), _>(E::Down));
    }
    poll_until(Duration::from_secs(5), || {
        other.breaker.state() == State::Open
    })
    .expect("the key's trip reaches the other replica");
    other.breaker.close();
    poll_until(Duration::from_secs(5), || {
        hosts.get("b").unwrap().state() == State::Closed
    })
    .expect("the fleet's close reaches the key's breaker");
    let record = record_key("hosts", "hosts[b]");
    let generation = server.command(&["HGET", &record, "gen"]);

    // Idle for the set's TTL, the key is evicted here...
    clock.advance(Duration::from_secs(61));
    assert_eq!(hosts.sweep(), 1);
    assert!(hosts.get("b").is_none());
    assert!(
        registry::get("hosts[b]").is_none(),
        "gone from the registry"
    );
    // ...and the fleet's record is not: it stays, with its generation, until its TTL.
    assert_eq!(server.command(&["HGET", &record, "state"]), "closed");
    assert_eq!(server.command(&["HGET", &record, "gen"]), generation);
    let ttl: i64 = server.command(&["PTTL", &record]).parse().unwrap();
    // Twice the longest open-and-probe cycle: an opening an upstream advised lasts up to
    // retry_after_cap, by default 5 minutes.
    assert!(
        (1..=15 * 60_000).contains(&ttl),
        "the record keeps its TTL ({ttl} ms)"
    );

    // The other replica trips the key meanwhile: the key's next breaker here, made on
    // its next call, finds the fleet open.
    for _ in 0..2 {
        let _ = other.breaker.call(|| Err::<(), _>(E::Down));
    }
    poll_until(Duration::from_secs(5), || {
        server.command(&["HGET", &record, "state"]) == "open"
    })
    .expect("the other replica opens the fleet's record");
    let _ = hosts.call("b", || Ok::<_, E>(()));
    poll_until(Duration::from_secs(5), || {
        hosts.get("b").unwrap().state() == State::Open
    })
    .expect("the key's new breaker follows the fleet's record");
    assert_eq!(
        hosts.call("b", || Ok::<_, E>(())),
        Err(E::rejected(ErrorKind::Open, "hosts[b]"))
    );
    assert_eq!(
        registry::all()
            .iter()
            .filter(|b| b.name() == "hosts[b]")
            .count(),
        1,
        "one live breaker bears the key's name"
    );
}
