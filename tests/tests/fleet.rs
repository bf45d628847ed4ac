//! Fleet-wide breakers against a real Redis (a `redis-server` each test starts for
//! itself): several replicas in one process, each with its own backend, as several
//! processes would be. The fleet's deadlines run on the Redis server's clock, which no
//! manual clock reaches, so these tests wait for states (`poll_until`), bounded.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use breaker_runtime::shared::RedisBackend;
use breaker_runtime::{CircuitBreaker, ErrorKind, State};
use breaker_tests::fleet::{connected, record_key, replica, Replica};
use breaker_tests::redis_server::RedisServer;
use breaker_tests::{poll_until, TestError as E};

fn replicas(
    server: &RedisServer,
    namespace: &str,
    name: &'static str,
    n: usize,
    fail_max: u32,
    reset: Duration,
    quorum: u32,
) -> Vec<Replica> {
    let fleet: Vec<Replica> = (0..n)
        .map(|_| {
            replica(&server.url(), namespace, name, |b| {
                b.fail_max(fail_max).reset_timeout(reset).quorum(quorum)
            })
        })
        .collect();
    connected(&fleet);
    fleet
}

/// The dependency: counts the calls that reach it; fails while `down`.
#[derive(Default)]
struct Downstream {
    hits: AtomicU32,
    down: AtomicBool,
}

impl Downstream {
    fn call(&self) -> Result<(), E> {
        self.hits.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            Err(E::Down)
        } else {
            Ok(())
        }
    }
}

/// A client's pace: about 200 calls a second per thread.
fn pause() {
    std::thread::park_timeout(Duration::from_millis(5));
}

/// The fleet tests take turns: each runs a Redis and a dozen threads, and their timing
/// bounds are about the fleet, not about two cores shared by every test at once.
fn turn() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn replicas_open_together_on_one_replicas_trip() {
    let _turn = turn();
    let Some(server) = RedisServer::start() else {
        return;
    };
    let fleet = Arc::new(replicas(
        &server,
        "together",
        "payments",
        4,
        5,
        Duration::from_secs(60),
        1,
    ));
    let downstream = Arc::new(breaker_tests::LoopbackService::start());
    downstream.set_down(true);
    let stop = Arc::new(AtomicBool::new(false));
    // Replica 0 takes the first failures (its traffic arrives first); the others start
    // calling once it has tripped on its own evidence.
    let threads: Vec<_> = (0..fleet.len() * 2)
        .map(|i| {
            let (fleet, downstream, stop) = (fleet.clone(), downstream.clone(), stop.clone());
            std::thread::spawn(move || {
                let replica = &fleet[i / 2];
                if i >= 2 {
                    while fleet[0].breaker.state() == State::Closed {
                        std::thread::yield_now();
                    }
                }
                while !stop.load(Ordering::SeqCst) {
                    let _ = replica.breaker.call(|| downstream.call());
                    pause();
                }
            })
        })
        .collect();
    poll_until(Duration::from_secs(10), || {
        fleet[0].breaker.state() == State::Open
    })
    .expect("replica 0 trips");
    let together = poll_until(Duration::from_secs(5), || {
        fleet.iter().all(|r| r.breaker.state() == State::Open)
    })
    .expect("every replica opens");
    stop.store(true, Ordering::SeqCst);
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert!(
        together <= Duration::from_millis(200),
        "every replica rejected {together:?} after the opening"
    );
    let hits = downstream.hits.load(Ordering::SeqCst);
    assert!(
        hits <= 5 + 8,
        "{hits} requests reached the failing dependency"
    );
    for replica in fleet.iter() {
        assert_eq!(
            replica.breaker.call(|| downstream.call()),
            Err(E::rejected(ErrorKind::Open, "payments"))
        );
    }
}

/// Calls through every replica, two threads each, at a client's pace, until stopped.
struct Traffic {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Traffic {
    fn start(
        fleet: &Arc<Vec<Replica>>,
        call: impl Fn(&CircuitBreaker) + Send + Sync + 'static,
    ) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let call = Arc::new(call);
        let threads = (0..fleet.len() * 2)
            .map(|i| {
                let (fleet, call, stop) = (fleet.clone(), call.clone(), stop.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        call(&fleet[i / 2].breaker);
                        pause();
                    }
                })
            })
            .collect();
        Traffic { stop, threads }
    }

    fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        self.threads.into_iter().for_each(|t| t.join().unwrap());
    }
}

/// A dependency that records when each call reached it.
#[derive(Default)]
struct Recorded {
    at: std::sync::Mutex<Vec<std::time::Instant>>,
    down: AtomicBool,
}

#[test]
fn the_fleet_sends_one_probe_per_cycle_and_closes_together() {
    let _turn = turn();
    let Some(server) = RedisServer::start() else {
        return;
    };
    let reset = Duration::from_millis(200);
    let fleet = Arc::new(replicas(&server, "probes", "inventory", 4, 3, reset, 1));
    let downstream = Arc::new(Downstream::default());
    downstream.down.store(true, Ordering::SeqCst);
    // Trip the fleet through replica 0.
    for _ in 0..3 {
        let _ = fleet[0].breaker.call(|| downstream.call());
    }
    poll_until(Duration::from_secs(5), || {
        fleet.iter().all(|r| r.breaker.state() == State::Open)
    })
    .expect("the fleet opens");

    // Twenty cycles with the dependency still down: one probe each, for the whole fleet.
    let probes = Arc::new(Recorded::default());
    probes.down.store(true, Ordering::SeqCst);
    let probing = {
        let probes = probes.clone();
        Traffic::start(&fleet, move |breaker| {
            let _ = breaker.call(|| {
                probes.at.lock().unwrap().push(std::time::Instant::now());
                if probes.down.load(Ordering::SeqCst) {
                    Err(E::Down)
                } else {
                    Ok(())
                }
            });
        })
    };
    poll_until(Duration::from_secs(20), || {
        probes.at.lock().unwrap().len() >= 20
    })
    .expect("twenty cycles");
    let at = probes.at.lock().unwrap().clone();
    for pair in at.windows(2).take(19) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= reset - Duration::from_millis(20),
            "two probes {gap:?} apart: more than one in a cycle ({} probes)",
            at.len()
        );
    }

    // The dependency recovers: the next probe closes every replica.
    probes.down.store(false, Ordering::SeqCst);
    poll_until(Duration::from_secs(5), || {
        fleet.iter().any(|r| r.breaker.state() == State::Closed)
    })
    .expect("the probe closes a replica");
    let together = poll_until(Duration::from_secs(5), || {
        fleet.iter().all(|r| r.breaker.state() == State::Closed)
    })
    .expect("every replica closes");
    probing.stop();
    assert!(
        together <= Duration::from_millis(200),
        "the last replica closed {together:?} after the first"
    );
}

#[test]
fn one_bad_replica_alone_does_not_open_a_fleet_with_quorum_two() {
    let _turn = turn();
    let Some(server) = RedisServer::start() else {
        return;
    };
    let fleet = replicas(
        &server,
        "quorum",
        "search",
        3,
        2,
        Duration::from_secs(60),
        2,
    );
    let downstream = Downstream::default();
    downstream.down.store(true, Ordering::SeqCst);
    for _ in 0..2 {
        let _ = fleet[0].breaker.call(|| downstream.call());
    }
    assert_eq!(fleet[0].breaker.state(), State::Open, "it trips locally");
    // Its vote is in; the others stay closed (checked once the vote has landed).
    poll_until(Duration::from_secs(5), || {
        server
            .command(&["HKEYS", &record_key("quorum", "search")])
            .contains("v:")
    })
    .expect("the vote reaches Redis");
    assert_eq!(fleet[1].breaker.state(), State::Closed);
    assert_eq!(fleet[2].breaker.state(), State::Closed);
    // A second replica tripping makes the quorum: every replica opens.
    for _ in 0..2 {
        let _ = fleet[1].breaker.call(|| downstream.call());
    }
    poll_until(Duration::from_secs(5), || {
        fleet[2].breaker.state() == State::Open
    })
    .expect("the quorum opens the fleet");
}

#[test]
fn names_and_namespaces_never_share_state() {
    let _turn = turn();
    let Some(server) = RedisServer::start() else {
        return;
    };
    let a = replicas(&server, "ns-a", "profile", 2, 1, Duration::from_secs(60), 1);
    let same_name_other_ns = replicas(&server, "ns-b", "profile", 1, 1, Duration::from_secs(60), 1);
    let other_name = replicas(&server, "ns-a", "billing", 1, 1, Duration::from_secs(60), 1);
    let downstream = Downstream::default();
    downstream.down.store(true, Ordering::SeqCst);
    let _ = a[0].breaker.call(|| downstream.call());
    poll_until(Duration::from_secs(5), || {
        a[1].breaker.state() == State::Open
    })
    .expect("its own fleet opens");
    // Give the others every chance to hear something they should not: a full refresh.
    let _ = same_name_other_ns[0].breaker.call(|| Ok::<_, E>(()));
    assert_eq!(same_name_other_ns[0].breaker.state(), State::Closed);
    assert_eq!(other_name[0].breaker.state(), State::Closed);
    let keys = server.command(&["KEYS", "brk:*"]);
    assert!(keys.contains(&record_key("ns-a", "profile")), "{keys}");
    assert!(!keys.contains("ns-b"), "reading creates no key: {keys}");
}

#[test]
fn every_key_has_a_ttl() {
    let _turn = turn();
    let Some(server) = RedisServer::start() else {
        return;
    };
    let fleet = replicas(&server, "ttl", "orders", 2, 1, Duration::from_secs(30), 1);
    let downstream = Downstream::default();
    downstream.down.store(true, Ordering::SeqCst);
    let _ = fleet[0].breaker.call(|| downstream.call());
    poll_until(Duration::from_secs(5), || {
        fleet[1].breaker.state() == State::Open
    })
    .expect("the fleet opens");
    let keys = server.command(&["KEYS", "*"]);
    assert!(!keys.is_empty());
    for key in keys.split(' ') {
        let ttl: i64 = server.command(&["PTTL", key]).parse().unwrap();
        assert!(ttl > 0, "{key} has no TTL ({ttl})");
    }
}

#[test]
fn with_redis_frozen_every_replica_carries_on_locally_and_converges_after() {
    let _turn = turn();
    let Some(server) = RedisServer::start() else {
        return;
    };
    let fleet = replicas(
        &server,
        "down",
        "shipping",
        2,
        3,
        Duration::from_secs(60),
        1,
    );
    server.freeze();
    let downstream = Downstream::default();
    // Closed calls do not wait on Redis, and no error reaches a caller.
    let mut slowest = Duration::ZERO;
    for _ in 0..200 {
        let started = std::time::Instant::now();
        assert_eq!(fleet[0].breaker.call(|| downstream.call()), Ok(()));
        slowest = slowest.max(started.elapsed());
    }
    assert!(
        slowest < Duration::from_millis(5),
        "a closed call took {slowest:?}"
    );
    // The local breaker trips exactly at fail_max, as an unshared one would.
    downstream.down.store(true, Ordering::SeqCst);
    let before = downstream.hits.load(Ordering::SeqCst);
    for _ in 0..3 {
        assert_eq!(fleet[0].breaker.call(|| downstream.call()), Err(E::Down));
    }
    assert_eq!(fleet[0].breaker.state(), State::Open);
    assert_eq!(
        fleet[0].breaker.call(|| downstream.call()),
        Err(E::rejected(ErrorKind::Open, "shipping"))
    );
    assert_eq!(downstream.hits.load(Ordering::SeqCst) - before, 3);
    poll_until(Duration::from_secs(5), || !fleet[0].backend.is_healthy())
        .expect("the backend notices it cannot reach Redis");
    assert_eq!(
        fleet[1].breaker.state(),
        State::Closed,
        "nothing was shared"
    );
    // Redis returns: the recent trip is voted again and the fleet converges.
    server.thaw();
    poll_until(Duration::from_secs(15), || {
        fleet[1].breaker.state() == State::Open
    })
    .expect("the fleet converges once Redis is back");
    // An event may bring the fleet's state before every backend is through its backoff.
    poll_until(Duration::from_secs(10), || {
        fleet.iter().all(|r| r.backend.is_healthy())
    })
    .expect("every backend reconnects");
}

#[test]
fn a_backend_built_before_its_server_starts_joins_it_later() {
    let _turn = turn();
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    server.kill();
    let fleet = [0, 1].map(|_| replica(&server.url(), "late", "late-start", |b| b.fail_max(1)));
    // Calls work locally meanwhile.
    assert_eq!(fleet[0].breaker.call(|| Ok::<_, E>(7)), Ok(7));
    server.restart();
    poll_until(Duration::from_secs(15), || {
        fleet.iter().all(|r| r.backend.is_healthy())
    })
    .expect("both replicas connect once the server is up");
    let _ = fleet[0].breaker.call(|| Err::<(), _>(E::Down));
    poll_until(Duration::from_secs(5), || {
        fleet[1].breaker.state() == State::Open
    })
    .expect("and share from then on");
}

#[test]
fn a_restart_with_empty_data_changes_nothing_local_and_the_replicas_restore_the_record() {
    let _turn = turn();
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let fleet = replicas(
        &server,
        "restart",
        "pricing",
        2,
        1,
        Duration::from_secs(60),
        1,
    );
    let _ = fleet[0].breaker.call(|| Err::<(), _>(E::Down));
    poll_until(Duration::from_secs(5), || {
        fleet[1].breaker.state() == State::Open
    })
    .expect("the fleet opens");
    server.restart();
    // The record is gone: it reads as closed, but the replicas' opens keep their
    // deadlines, and nothing fails.
    poll_until(Duration::from_secs(15), || {
        fleet.iter().all(|r| r.backend.is_healthy())
    })
    .expect("both reconnect");
    assert!(fleet.iter().all(|r| r.breaker.state() == State::Open));
    assert_eq!(
        fleet[1].breaker.call(|| Ok::<_, E>(())),
        Err(E::rejected(ErrorKind::Open, "pricing"))
    );
    // The replicas write back the newest state they saw (as after a failover that lost
    // the last writes): the same generation, still open, its probe not due before the
    // replicas' own deadlines.
    let key = record_key("restart", "pricing");
    poll_until(Duration::from_secs(5), || {
        server.command(&["HGET", &key, "state"]) == "open"
    })
    .expect("the record is restored");
    assert_eq!(server.command(&["HGET", &key, "gen"]), "1");
    let left: u64 = server
        .command(&[
            "EVAL",
            "local t = redis.call('TIME') \
             return redis.call('HGET', KEYS[1], 'open_until') - (t[1] * 1000 + math.floor(t[2] / 1000))",
            "1",
            &key,
        ])
        .parse()
        .unwrap();
    assert!(left > 50_000 && left <= 60_000, "{left} ms left");
}

#[test]
fn the_snapshot_shows_the_local_state_the_fleet_state_and_the_backend() {
    let _turn = turn();
    let Some(server) = RedisServer::start() else {
        return;
    };
    let backend = RedisBackend::builder(server.url())
        .namespace("snapshot")
        .build()
        .unwrap();
    let breaker = CircuitBreaker::builder("fleet-snapshot")
        .fail_max(1)
        .shared(&backend)
        .build();
    poll_until(Duration::from_secs(10), || backend.is_healthy()).expect("connected");
    let _ = breaker.call(|| Err::<(), _>(E::Down));
    let info = || {
        breaker_runtime::registry::snapshot()
            .breakers
            .into_iter()
            .find(|b| b.name == "fleet-snapshot")
            .unwrap()
    };
    poll_until(Duration::from_secs(5), || {
        info()
            .fleet
            .is_some_and(|f| f.fleet_state == Some(State::Open))
    })
    .expect("the fleet's state is heard");
    let fleet = info().fleet.unwrap();
    assert_eq!(
        fleet.backend,
        breaker_runtime::shared::BackendHealth::Healthy
    );
    assert_eq!(info().state, State::Open);
    let table = breaker_runtime::registry::snapshot().to_string();
    let line = table
        .lines()
        .find(|l| l.starts_with("fleet-snapshot"))
        .unwrap();
    assert!(line.ends_with("open (healthy)"), "{line}");
    // A breaker that asked to be shared with no backend installed says so.
    let alone = CircuitBreaker::builder("fleet-snapshot-alone")
        .shared_installed()
        .build();
    let alone = breaker_runtime::registry::BreakerInfo::of(&alone);
    assert_eq!(
        alone.fleet.map(|f| f.backend),
        Some(breaker_runtime::shared::BackendHealth::NotInstalled)
    );
}

#[test]
fn a_hung_probe_loses_its_lease_and_its_late_result_changes_nothing() {
    let _turn = turn();
    let Some(server) = RedisServer::start() else {
        return;
    };
    let fleet: Arc<Vec<Replica>> = Arc::new(
        (0..2)
            .map(|_| {
                replica(&server.url(), "hung", "catalog", |b| {
                    b.fail_max(1)
                        .reset_timeout(Duration::from_millis(200))
                        .half_open_timeout(Duration::from_millis(300))
                })
            })
            .collect(),
    );
    connected(&fleet);
    let _ = fleet[0].breaker.call(|| Err::<(), _>(E::Down));
    poll_until(Duration::from_secs(5), || {
        fleet.iter().all(|r| r.breaker.state() == State::Open)
    })
    .expect("the fleet opens");

    // The first probe hangs until released (and would then succeed); any later one fails.
    let probes = Arc::new(AtomicU32::new(0));
    let release = Arc::new(AtomicBool::new(false));
    let traffic = {
        let (probes, release) = (probes.clone(), release.clone());
        Traffic::start(&fleet, move |breaker| {
            let _ = breaker.call(|| {
                if probes.fetch_add(1, Ordering::SeqCst) == 0 {
                    poll_until(Duration::from_secs(10), || release.load(Ordering::SeqCst));
                    Ok(())
                } else {
                    Err(E::Down)
                }
            });
        })
    };
    poll_until(Duration::from_secs(5), || {
        probes.load(Ordering::SeqCst) >= 2
    })
    .expect("a new probe once the hung one's lease expired");
    let after_lease = probes.load(Ordering::SeqCst);
    release.store(true, Ordering::SeqCst);
    traffic.stop();
    assert!(after_lease <= 3, "{after_lease} probes: one per lease");
    // The hung probe's late success closed nothing.
    let state = server.command(&["HGET", &record_key("hung", "catalog"), "state"]);
    assert_ne!(state, "closed");
    assert!(fleet.iter().all(|r| r.breaker.state() != State::Closed));
}

#[test]
fn a_killed_subscription_is_reconnected_and_reconciled() {
    let _turn = turn();
    let Some(server) = RedisServer::start() else {
        return;
    };
    let fleet = replicas(
        &server,
        "resubscribe",
        "search",
        2,
        1,
        Duration::from_secs(60),
        1,
    );
    assert!(
        server
            .command(&["CLIENT", "KILL", "TYPE", "pubsub"])
            .parse::<u32>()
            .unwrap()
            >= 2
    );
    let _ = fleet[0].breaker.call(|| Err::<(), _>(E::Down));
    poll_until(Duration::from_secs(10), || {
        fleet[1].breaker.state() == State::Open
    })
    .expect("the other replica hears of the opening after resubscribing");
}

#[test]
fn killed_connections_are_made_again_at_once_and_an_opening_still_spreads_in_200_ms() {
    let _turn = turn();
    let Some(server) = RedisServer::start() else {
        return;
    };
    let fleet = replicas(
        &server,
        "killed",
        "orders",
        2,
        1,
        Duration::from_secs(60),
        1,
    );
    // A proxy's idle timeout, a server restart: every connection goes at once. A
    // replica that was working reconnects without backing off first.
    server.commands(&[
        &["CLIENT", "KILL", "TYPE", "normal"],
        &["CLIENT", "KILL", "TYPE", "pubsub"],
    ]);
    let started = std::time::Instant::now();
    let _ = fleet[0].breaker.call(|| Err::<(), _>(E::Down));
    poll_until(Duration::from_secs(5), || {
        fleet[1].breaker.state() == State::Open
    })
    .expect("the opening reaches the other replica");
    let took = started.elapsed();
    assert!(
        took <= Duration::from_millis(200),
        "an opening right after the connections were killed took {took:?}"
    );
}

#[test]
fn a_flushed_record_reads_as_closed_and_local_opens_keep_their_deadlines() {
    let _turn = turn();
    let Some(server) = RedisServer::start() else {
        return;
    };
    let fleet = replicas(&server, "flush", "stock", 2, 1, Duration::from_secs(60), 1);
    let _ = fleet[0].breaker.call(|| Err::<(), _>(E::Down));
    poll_until(Duration::from_secs(5), || {
        fleet[1].breaker.state() == State::Open
    })
    .expect("the fleet opens");
    assert_eq!(server.command(&["FLUSHALL"]), "OK");
    // A refresh (asked by the rejected call) finds no record: nothing changes locally.
    assert_eq!(
        fleet[1].breaker.call(|| Ok::<_, E>(())),
        Err(E::rejected(ErrorKind::Open, "stock"))
    );
    assert!(fleet.iter().all(|r| r.breaker.state() == State::Open));
    assert_eq!(
        server.command(&["EXISTS", &record_key("flush", "stock")]),
        "0",
        "reading creates nothing"
    );
}

#[test]
fn a_password_is_used_and_never_shown() {
    let _turn = turn();
    let Some(server) = RedisServer::start_with(&["--requirepass", "s3cret-pass"]) else {
        return;
    };
    let url = format!("redis://:s3cret-pass@127.0.0.1:{}", server.port());
    let right = RedisBackend::builder(&url)
        .namespace("auth")
        .build()
        .unwrap();
    let shown = format!("{right:?} {right}");
    assert!(!shown.contains("s3cret-pass"), "{shown}");
    assert!(shown.contains("***"), "{shown}");
    let wrong = RedisBackend::builder(server.url())
        .password("not-the-password")
        .namespace("auth")
        .build()
        .unwrap();
    assert!(!format!("{wrong:?}").contains("not-the-password"));
    let a = CircuitBreaker::builder("auth-shared")
        .fail_max(1)
        .shared(&right)
        .unregistered()
        .build();
    let b = CircuitBreaker::builder("auth-shared")
        .fail_max(1)
        .shared(&wrong)
        .unregistered()
        .build();
    poll_until(Duration::from_secs(10), || right.is_healthy())
        .expect("the right password connects");
    // The wrong one never does; its breaker works locally, with no error of Redis's.
    assert_eq!(b.call(|| Ok::<_, E>(1)), Ok(1));
    assert!(!wrong.is_healthy());
    let _ = a.call(|| Err::<(), _>(E::Down));
    assert_eq!(a.state(), State::Open);
    assert_eq!(
        b.state(),
        State::Closed,
        "a replica that cannot authenticate stays local"
    );
    assert!(
        !server.command(&["AUTH", "s3cret-pass"]).is_empty(),
        "the server was reachable all along"
    );
}

#[test]
fn manual_transitions_act_on_the_fleet_and_this_replica_on_one() {
    let _turn = turn();
    let Some(server) = RedisServer::start() else {
        return;
    };
    let fleet = replicas(
        &server,
        "manual",
        "reports",
        3,
        5,
        Duration::from_secs(60),
        1,
    );
    let all = |test: &dyn Fn(&CircuitBreaker) -> bool| {
        poll_until(Duration::from_secs(5), || {
            fleet.iter().all(|r| test(&r.breaker))
        })
    };
    fleet[0].breaker.force_open();
    all(&|b| b.is_forced_open()).expect("force_open reaches every replica");
    assert_eq!(
        fleet[2].breaker.call(|| Ok::<_, E>(())),
        Err(E::rejected(ErrorKind::ForcedOpen, "reports"))
    );
    fleet[1].breaker.close();
    all(&|b| b.state() == State::Closed && !b.is_forced_open())
        .expect("close reaches every replica");
    fleet[2].breaker.disable();
    all(&|b| b.is_disabled()).expect("disable reaches every replica");
    fleet[0].breaker.close();
    all(&|b| !b.is_disabled()).expect("and close ends it everywhere");
    fleet[1].breaker.open();
    all(&|b| b.state() == State::Open).expect("open reaches every replica");
    fleet[1].breaker.close();
    all(&|b| b.state() == State::Closed).expect("closed again");

    // One replica alone.
    fleet[2].breaker.this_replica().force_open();
    assert!(fleet[2].breaker.is_forced_open());
    // The others hear nothing of it (a refresh of theirs finds the fleet closed).
    let _ = fleet[0].breaker.call(|| Ok::<_, E>(()));
    assert_eq!(
        server.command(&["HGET", &record_key("manual", "reports"), "cause"]),
        "manual",
        "the fleet's last transition is still the close"
    );
    assert!(!fleet[0].breaker.is_forced_open() && !fleet[1].breaker.is_forced_open());
}

#[test]
fn an_acl_user_authenticates_and_a_wrong_one_stays_local() {
    let _turn = turn();
    let Some(server) = RedisServer::start_with(&[
        "--user",
        "default",
        "off",
        "--user",
        "fleet",
        "on",
        ">fleet-pw",
        "~brk:*",
        "&brk:*",
        "+@all",
    ]) else {
        return;
    };
    let user = RedisBackend::builder(server.url())
        .username("fleet")
        .password("fleet-pw")
        .namespace("acl")
        .build()
        .unwrap();
    let wrong = RedisBackend::builder(format!("redis://fleet:nope@127.0.0.1:{}", server.port()))
        .namespace("acl")
        .build()
        .unwrap();
    assert!(!format!("{wrong:?} {wrong}").contains("nope"));
    let a = CircuitBreaker::builder("acl-shared")
        .fail_max(1)
        .shared(&user)
        .unregistered()
        .build();
    let b = CircuitBreaker::builder("acl-shared")
        .fail_max(1)
        .shared(&wrong)
        .unregistered()
        .build();
    poll_until(Duration::from_secs(10), || user.is_healthy()).expect("the ACL user connects");
    let _ = a.call(|| Err::<(), _>(E::Down));
    poll_until(Duration::from_secs(5), || {
        let replies = server.commands(&[
            &["AUTH", "fleet", "fleet-pw"],
            &["EXISTS", &record_key("acl", "acl-shared")],
        ]);
        replies[1] == "1"
    })
    .expect("its vote is written under the user's key pattern");
    assert!(!wrong.is_healthy());
    assert_eq!(
        b.call(|| Ok::<_, E>(2)),
        Ok(2),
        "the other replica works locally"
    );
}

#[test]
fn a_garbage_record_is_ignored_then_overwritten_and_never_trusted() {
    let _turn = turn();
    let Some(server) = RedisServer::start() else {
        return;
    };
    // A hash someone else wrote under our key: absurd numbers, unknown state.
    let key = &record_key("garbage", "ledger");
    server.command(&[
        "HSET",
        key,
        "epoch",
        "99999999999999999999",
        "gen",
        "-3",
        "state",
        "exploded",
        "open_until",
        "1e308",
        "probe",
        "x",
        "cause",
        "nonsense",
    ]);
    let fleet = replicas(
        &server,
        "garbage",
        "ledger",
        2,
        1,
        Duration::from_secs(60),
        1,
    );
    // Read as nothing: the replicas stay closed and work.
    assert_eq!(fleet[1].breaker.call(|| Ok::<_, E>(3)), Ok(3));
    assert!(fleet.iter().all(|r| r.breaker.state() == State::Closed));
    // The next transition overwrites it with a record of ours.
    let _ = fleet[0].breaker.call(|| Err::<(), _>(E::Down));
    poll_until(Duration::from_secs(5), || {
        fleet[1].breaker.state() == State::Open
    })
    .expect("the fleet opens over the garbage");
    assert_eq!(server.command(&["HGET", key, "state"]), "open");
    assert!(fleet[1].breaker.retry_after().unwrap() <= Duration::from_secs(60));
    // A key of another type entirely is replaced the same way.
    server.command(&["DEL", key]);
    server.command(&["SET", key, "not a hash"]);
    fleet[1].breaker.close();
    poll_until(Duration::from_secs(5), || {
        server.command(&["TYPE", key]) == "hash"
    })
    .expect("overwritten by the close");
}

#[test]
fn a_paused_server_is_a_slow_one_and_no_caller_waits() {
    let _turn = turn();
    let Some(server) = RedisServer::start() else {
        return;
    };
    let fleet = replicas(&server, "pause", "feeds", 2, 2, Duration::from_secs(60), 1);
    assert_eq!(server.command(&["CLIENT", "PAUSE", "1500", "ALL"]), "OK");
    let mut slowest = Duration::ZERO;
    for _ in 0..2 {
        let started = std::time::Instant::now();
        let _ = fleet[0].breaker.call(|| Err::<(), _>(E::Down));
        slowest = slowest.max(started.elapsed());
    }
    assert_eq!(
        fleet[0].breaker.state(),
        State::Open,
        "tripped locally, at once"
    );
    assert!(
        slowest < Duration::from_millis(5),
        "a call took {slowest:?}"
    );
    // Once the pause ends, the trip reaches the fleet.
    poll_until(Duration::from_secs(15), || {
        fleet[1].breaker.state() == State::Open
    })
    .expect("the fleet converges after the pause");
}

#[test]
fn a_partition_of_one_leaves_that_replica_local_and_the_others_sharing() {
    let _turn = turn();
    let Some(server) = RedisServer::start() else {
        return;
    };
    let proxy = breaker_tests::proxy::Proxy::start(server.port());
    let Replica {
        backend: cut_off,
        breaker: lonely,
    } = replica(&proxy.url(), "partition", "partitioned", |b| b.fail_max(1));
    let others = replicas(
        &server,
        "partition",
        "partitioned",
        2,
        1,
        Duration::from_secs(60),
        1,
    );
    poll_until(Duration::from_secs(10), || cut_off.is_healthy())
        .expect("connected through the proxy");
    proxy.blackhole();
    // The cut-off replica trips: its vote cannot get out, and nothing waits for it.
    let started = std::time::Instant::now();
    let _ = lonely.call(|| Err::<(), _>(E::Down));
    assert!(started.elapsed() < Duration::from_millis(5));
    assert_eq!(lonely.state(), State::Open);
    poll_until(Duration::from_secs(5), || !cut_off.is_healthy()).expect("it notices");
    assert!(others.iter().all(|r| r.breaker.state() == State::Closed));
    // The others still reach Redis and serve calls.
    assert!(others.iter().all(|r| r.backend.is_healthy()));
    assert_eq!(others[0].breaker.call(|| Ok::<_, E>(1)), Ok(1));
    // Healed: the cut-off replica reconnects, and its recent trip is voted again.
    proxy.heal();
    poll_until(Duration::from_secs(15), || cut_off.is_healthy()).expect("reconnected");
    poll_until(Duration::from_secs(5), || {
        others.iter().all(|r| r.breaker.state() == State::Open)
    })
    .expect("its trip reaches the fleet once healed");
}

#[test]
fn a_slow_link_to_redis_is_a_degraded_one_and_no_caller_waits_for_it() {
    let _turn = turn();
    let Some(server) = RedisServer::start() else {
        return;
    };
    let proxy = breaker_tests::proxy::Proxy::start(server.port());
    let Replica {
        backend: slow,
        breaker,
    } = replica(&proxy.url(), "slow", "slowed", |b| b.fail_max(1));
    let others = replicas(&server, "slow", "slowed", 1, 1, Duration::from_secs(60), 1);
    poll_until(Duration::from_secs(10), || slow.is_healthy()).expect("connected");
    // Every reply now takes longer than the task's 200 ms command timeout.
    proxy.delay(Duration::from_millis(400));
    let started = std::time::Instant::now();
    let _ = breaker.call(|| Err::<(), _>(E::Down));
    assert!(
        started.elapsed() < Duration::from_millis(5),
        "the caller did not wait"
    );
    poll_until(Duration::from_secs(5), || !slow.is_healthy()).expect("degraded by slowness");
    assert_eq!(
        breaker.call(|| Ok::<_, E>(())),
        Err(E::rejected(ErrorKind::Open, "slowed"))
    );
    proxy.heal();
    poll_until(Duration::from_secs(15), || slow.is_healthy()).expect("healthy once fast again");
    poll_until(Duration::from_secs(5), || {
        others[0].breaker.state() == State::Open
    })
    .expect("and its trip is the fleet's");
}

/// The Redis server's clock (`TIME`), in milliseconds.
fn server_millis(server: &RedisServer) -> u64 {
    let time = server.command(&["TIME"]);
    let (secs, micros) = time.split_once(' ').expect("TIME answers two numbers");
    secs.parse::<u64>().unwrap() * 1_000 + micros.parse::<u64>().unwrap() / 1_000
}

/// When the fleet's record of `name` says it opens until, on the server's clock (ms).
fn record_open_until(server: &RedisServer, namespace: &str, name: &str) -> u64 {
    server
        .command(&["HGET", &record_key(namespace, name), "open_until"])
        .parse()
        .expect("an open record")
}

#[test]
fn an_advised_opening_opens_the_fleet_until_the_same_instant_whatever_a_replicas_clock() {
    use breaker_runtime::{Advice, AdviceSource, ManualClock};
    let _turn = turn();
    let Some(server) = RedisServer::start() else {
        return;
    };
    // Replica 1's clock reads a year ahead of replica 0's, and stands still unless told.
    let skewed = ManualClock::new();
    skewed.advance(Duration::from_secs(365 * 86_400));
    let configure = |b: breaker_runtime::Builder| {
        b.fail_max(3)
            .reset_timeout(Duration::from_secs(60))
            .quorum(1)
    };
    let fleet = [
        replica(&server.url(), "advised", "quotes", configure),
        replica(&server.url(), "advised", "quotes", |b| {
            configure(b).clock(skewed.clone())
        }),
    ];
    connected(&fleet);

    // Replica 0 sees three 503s whose Retry-After says 1.5 s (not its 60 s).
    let advice = Advice::new(Duration::from_millis(1_500), AdviceSource::RetryAfter).unwrap();
    for _ in 0..3 {
        fleet[0]
            .breaker
            .try_acquire()
            .unwrap()
            .failure_with_advice(advice);
    }
    let period = fleet[0].breaker.open_period().unwrap();
    assert!(
        period.abs_diff(Duration::from_millis(1_500)) <= Duration::from_millis(1),
        "the advice, to the millisecond: {period:?}"
    );
    let spread = poll_until(Duration::from_secs(5), || {
        fleet[1].breaker.state() == State::Open
    })
    .expect("replica 1 follows");
    assert!(
        spread <= Duration::from_millis(200),
        "followed after {spread:?}"
    );

    // Both open until the record's deadline, on Redis's clock: within 200 ms of each
    // other and of it, whatever replica 1's clock says.
    let until = record_open_until(&server, "advised", "quotes");
    let server_left = Duration::from_millis(until.saturating_sub(server_millis(&server)));
    let left = [0, 1].map(|n| fleet[n].breaker.retry_after().expect("open"));
    for (n, left) in left.iter().enumerate() {
        let apart = left.abs_diff(server_left);
        assert!(
            apart <= Duration::from_millis(200),
            "replica {n}: {left:?} left, the record {server_left:?}"
        );
    }
    assert!(
        server_left <= Duration::from_millis(1_500),
        "the advice, not reset_timeout"
    );
    assert!(
        left[1] > Duration::from_millis(1_000),
        "replica 1 took the rest of the advice"
    );

    // Nothing reaches the dependency before the deadline; after it, one probe for the
    // whole fleet.
    let downstream = Downstream::default();
    downstream.down.store(true, Ordering::SeqCst);
    let waited = poll_until(Duration::from_secs(5), || {
        for replica in &fleet {
            let _ = replica.breaker.call(|| downstream.call());
        }
        assert_eq!(
            downstream.hits.load(Ordering::SeqCst),
            0,
            "a call before the deadline"
        );
        server_millis(&server) + 50 >= until
    });
    waited.expect("the deadline comes");
    // Replica 1's clock is told the time has passed (it never moves by itself).
    poll_until(Duration::from_secs(5), || server_millis(&server) > until).expect("past it");
    skewed.advance(left[1]);
    let probed = poll_until(Duration::from_secs(5), || {
        for replica in &fleet {
            let _ = replica.breaker.call(|| downstream.call());
        }
        downstream.hits.load(Ordering::SeqCst) > 0
    });
    probed.expect("a probe after the deadline");
    // More calls from both replicas: the probe failed, the fleet is open again (for its
    // reset timeout now), and no second probe goes.
    for _ in 0..50 {
        for replica in &fleet {
            let _ = replica.breaker.call(|| downstream.call());
        }
        pause();
    }
    assert_eq!(
        downstream.hits.load(Ordering::SeqCst),
        1,
        "one probe for the fleet"
    );
    let reopened = record_open_until(&server, "advised", "quotes");
    let reopened_for = reopened.saturating_sub(server_millis(&server));
    assert!(
        reopened_for > 55_000,
        "the failed probe carried no advice: the reset timeout ({reopened_for} ms)"
    );
}
