//! Fleet-wide breakers on a Redis Sentinel set of the test's own (a master, a replica and
//! three sentinels on loopback): a failover asked of the sentinels, and one forced by
//! freezing the master (`SIGSTOP`). Breakers keep serving locally throughout; the
//! backends follow the new master once the sentinels name it, the fleet's open state
//! survives, a trip after the failover reaches every replica within 200 ms, and never
//! do two fleet probes overlap for longer than one lease.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use breaker_runtime::shared::RedisBackend;
use breaker_runtime::{CircuitBreaker, State};
use breaker_tests::sentinel::{SentinelSet, DOWN_AFTER, MASTER};
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

/// Calls through every replica's `probed` breaker, two threads each, against a dependency
/// that stays down, recording when each probe ran (start and end); and through `held`,
/// recording the slowest call.
struct Traffic {
    stop: Arc<AtomicBool>,
    probes: Arc<Mutex<Vec<(Instant, Instant)>>>,
    slowest: Arc<Mutex<Duration>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Traffic {
    fn start(fleet: &Arc<Vec<Replica>>) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let probes = Arc::new(Mutex::new(Vec::new()));
        let slowest = Arc::new(Mutex::new(Duration::ZERO));
        let threads = (0..fleet.len() * 2)
            .map(|i| {
                let (fleet, stop, probes, slowest) =
                    (fleet.clone(), stop.clone(), probes.clone(), slowest.clone());
                std::thread::spawn(move || {
                    let replica = &fleet[i / 2];
                    while !stop.load(Ordering::SeqCst) {
                        let _ = replica.probed.call(|| {
                            let started = Instant::now();
                            // The probe's work: a little while, so overlaps would show.
                            std::thread::park_timeout(Duration::from_millis(20));
                            probes.lock().unwrap().push((started, Instant::now()));
                            Err::<(), _>(E::Down)
                        });
                        let started = Instant::now();
                        let _ = replica.held.call(|| Ok::<_, E>(()));
                        let took = started.elapsed();
                        let mut slowest = slowest.lock().unwrap();
                        *slowest = (*slowest).max(took);
                        drop(slowest);
                        std::thread::park_timeout(Duration::from_millis(5));
                    }
                })
            })
            .collect();
        Traffic {
            stop,
            probes,
            slowest,
            threads,
        }
    }

    /// Waits for three probes from now: the fleet keeps probing on the new master.
    fn keeps_probing(&self) {
        let now = Instant::now();
        poll_until(Duration::from_secs(10), || {
            self.probes
                .lock()
                .unwrap()
                .iter()
                .filter(|p| p.0 >= now)
                .count()
                >= 3
        })
        .expect("the fleet keeps probing after the failover");
    }

    /// Stops, and checks: no caller waited, and no two probes overlapped for longer
    /// than one lease.
    fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        self.threads.into_iter().for_each(|t| t.join().unwrap());
        let slowest = *self.slowest.lock().unwrap();
        assert!(
            slowest < Duration::from_millis(50),
            "a call through an open breaker took {slowest:?}: it waited on Redis"
        );
        let mut probes = self.probes.lock().unwrap().clone();
        probes.sort();
        for (i, a) in probes.iter().enumerate() {
            for b in &probes[i + 1..] {
                let overlap = a.1.min(b.1).saturating_duration_since(b.0);
                assert!(
                    overlap <= LEASE,
                    "two fleet probes ran together for {overlap:?}"
                );
            }
        }
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
fn fleet_before_the_failover(set: &SentinelSet, namespace: &str) -> (Arc<Vec<Replica>>, Traffic) {
    let fleet = Arc::new(vec![replica(set, namespace), replica(set, namespace)]);
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
    let traffic = Traffic::start(&fleet);
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
    traffic.stop();
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
    traffic.stop();
}
