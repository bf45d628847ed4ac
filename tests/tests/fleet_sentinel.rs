//! Fleet-wide breakers on a Redis Sentinel set of the test's own (a master, a replica and
//! three sentinels on loopback): a failover asked of the sentinels, and one forced by
//! freezing the master (`SIGSTOP`). Breakers keep serving locally throughout; the
//! backends follow the new master once the sentinels name it, the fleet's open state
//! survives, a trip after the failover reaches every replica within 200 ms, and never
//! do two fleet probes overlap for longer than one lease.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use breaker_runtime::shared::RedisBackend;
use breaker_runtime::{CircuitBreaker, State};
use breaker_tests::sentinel::{SentinelSet, DOWN_AFTER, MASTER};
use breaker_tests::traffic::{Calls, Traffic};
use breaker_tests::{poll_until, TestError as E};

/// The tests take turns: each runs five servers and a dozen threads on two cores.
fn turn() -> std::sync::MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

/// A replica: its backend (through the sentinels) and three breakers: `held` (opened
/// before the failover, held open by the fleet), `after` (tripped after it) and
/// `probed` (probing throughout).
struct Replica {
    backend: RedisBackend,
    held: CircuitBreaker,
    after: CircuitBreaker,
    probed: CircuitBreaker,
}

const LEASE: Duration = Duration::from_millis(1_000);

fn replica(set: &SentinelSet, namespace: &str) -> Replica {
    let backend = RedisBackend::sentinel(set.urls(), MASTER)
        .namespace(namespace)
        .build()
        .expect("valid sentinel addresses");
    let breaker = |name: &str, reset: Duration| {
        CircuitBreaker::builder(name.to_string())
            .fail_max(1)
            .reset_timeout(reset)
            .half_open_timeout(LEASE)
            .shared(&backend)
            .unregistered()
            .build()
    };
    Replica {
        held: breaker("held", Duration::from_secs(600)),
        after: breaker("after", Duration::from_secs(600)),
        probed: breaker("probed", Duration::from_millis(300)),
        backend,
    }
}

/// The number of subscribers the server on `port`'s channel of `name` has.
fn subscribers(set: &SentinelSet, namespace: &str, name: &str) -> u32 {
    let channel = breaker_tests::fleet::channel(namespace, name);
    set.master()
        .command(&["PUBSUB", "NUMSUB", &channel])
        .split(' ')
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Both replicas, connected through the sentinels, `held` open for the fleet and
/// `probed` probing against a dependency that stays down.
fn fleet_before_the_failover(set: &SentinelSet, namespace: &str) -> (Vec<Replica>, Traffic) {
    let fleet = vec![replica(set, namespace), replica(set, namespace)];
    poll_until(Duration::from_secs(10), || {
        fleet.iter().all(|r| r.backend.is_healthy())
    })
    .expect("both replicas reach the master through the sentinels");
    let _ = fleet[0].held.call(|| Err::<(), _>(E::Down));
    let _ = fleet[0].probed.call(|| Err::<(), _>(E::Down));
    poll_until(Duration::from_secs(5), || {
        fleet[1].held.state() == State::Open && fleet[1].probed.state() != State::Closed
    })
    .expect("the fleet opens");
    // Two callers per replica: `probed` probing, `held` timed.
    let calls: Vec<Calls> = fleet
        .iter()
        .map(|r| Calls {
            probed: r.probed.clone(),
            timed: vec![r.held.clone()],
        })
        .collect();
    let traffic = Traffic::start(&calls);
    (fleet, traffic)
}

/// After the failover: both replicas follow the new master within
/// `down-after-milliseconds` + 2 s of the sentinels naming it; `held` is still open on
/// both and in the new master's record; a trip reaches the other replica within 200 ms.
fn check_after_the_failover(set: &SentinelSet, namespace: &str, fleet: &[Replica]) {
    let followed = poll_until(DOWN_AFTER + Duration::from_secs(2), || {
        fleet.iter().all(|r| r.backend.is_healthy()) && subscribers(set, namespace, "after") >= 2
    });
    followed.expect("both replicas follow the new master");
    assert!(
        fleet.iter().all(|r| r.held.state() == State::Open),
        "the fleet-held open breaker is still open"
    );
    let key = breaker_tests::fleet::record_key(namespace, "held");
    poll_until(Duration::from_secs(2), || {
        set.master().command(&["HGET", &key, "state"]) == "open"
    })
    .expect("and so is its record on the new master");
    let started = Instant::now();
    let _ = fleet[0].after.call(|| Err::<(), _>(E::Down));
    poll_until(Duration::from_secs(2), || {
        fleet[1].after.state() == State::Open
    })
    .expect("a trip after the failover reaches the other replica");
    let took = started.elapsed();
    assert!(
        took <= Duration::from_millis(200),
        "a trip after the failover took {took:?} to reach the other replica"
    );
}

#[test]
fn a_failover_asked_of_the_sentinels_is_followed() {
    let _turn = turn();
    let Some(set) = SentinelSet::start() else {
        return;
    };
    let (fleet, traffic) = fleet_before_the_failover(&set, "asked");
    let old = set.master_port();
    set.failover();
    set.await_new_master(old, Duration::from_secs(15));
    check_after_the_failover(&set, "asked", &fleet);
    traffic.keeps_probing();
    traffic.stop(LEASE);
}

#[test]
fn a_frozen_master_is_failed_over_and_followed() {
    let _turn = turn();
    let Some(set) = SentinelSet::start() else {
        return;
    };
    let (fleet, traffic) = fleet_before_the_failover(&set, "frozen");
    let old = set.master_port();
    set.master().freeze();
    // While the sentinels decide, the replicas serve every call locally.
    set.await_new_master(old, Duration::from_secs(20));
    check_after_the_failover(&set, "frozen", &fleet);
    traffic.keeps_probing();
    traffic.stop(LEASE);
}
