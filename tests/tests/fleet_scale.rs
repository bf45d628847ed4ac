//! A fleet's cost does not grow with its breakers: replicas of many shared breakers on a
//! `redis-server` of the test's own. Idle, a replica sends Redis about one command per
//! poll (the buckets' versions), whatever its number of breakers; an opening reaches the
//! other replica within 200 ms, also while it reads every record again after a
//! reconnection. (The full scale, 10 replicas × 10,000 breakers, is the `fleet_scale`
//! example's, in BENCHMARKS.md.)

use std::time::{Duration, Instant};

use breaker_runtime::shared::RedisBackend;
use breaker_runtime::{CircuitBreaker, State};
use breaker_tests::poll_until;
use breaker_tests::redis_server::RedisServer;
use breaker_tests::TestError;

const BREAKERS: usize = 1_000;

/// One replica: a backend and its `BREAKERS` shared breakers `scale-0`, `scale-1`, ...
struct Replica {
    backend: RedisBackend,
    breakers: Vec<CircuitBreaker>,
}

fn replica(server: &RedisServer, namespace: &str) -> Replica {
    replica_of(server, namespace, BREAKERS)
}

/// One replica with the breakers `scale-0` to `scale-<n - 1>`.
fn replica_of(server: &RedisServer, namespace: &str, n: usize) -> Replica {
    let backend = RedisBackend::builder(server.url())
        .namespace(namespace)
        .build()
        .unwrap();
    let mut replica = Replica {
        backend,
        breakers: Vec::new(),
    };
    replica.join(0..n);
    replica
}

impl Replica {
    /// Its breakers `scale-<i>` for each `i` of `range`.
    fn join(&mut self, range: std::ops::Range<usize>) {
        let backend = self.backend.clone();
        self.breakers.extend(range.map(|i| {
            CircuitBreaker::builder(format!("scale-{i}"))
                .fail_max(1)
                .reset_timeout(Duration::from_secs(600))
                .shared(&backend)
                .unregistered()
                .build()
        }));
    }
}

/// Calls of each command the server ran (scripts' own commands included), from
/// `INFO commandstats`; this test's own `INFO` and `CONFIG` left out.
fn stats(server: &RedisServer) -> Vec<(String, u64)> {
    server
        .command(&["INFO", "commandstats"])
        .split(['\n', ' '])
        .filter_map(|line| line.strip_prefix("cmdstat_"))
        .filter(|line| !line.starts_with("info:") && !line.starts_with("config|"))
        .filter_map(|line| {
            let (name, rest) = line.split_once(':')?;
            let calls = rest
                .strip_prefix("calls=")?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            Some((name.to_string(), calls))
        })
        .collect()
}

/// Calls of `command` (`evalsha`: script runs, each a record read, a vote, a lease...).
fn calls(server: &RedisServer, command: &str) -> u64 {
    stats(server)
        .into_iter()
        .filter(|(name, _)| name == command)
        .map(|(_, n)| n)
        .sum()
}

/// Every command the replicas made the server run, and how many were polls (`MGET`),
/// read at one moment.
fn commands(server: &RedisServer) -> (u64, u64) {
    let stats = stats(server);
    let polls = stats
        .iter()
        .filter(|(name, _)| name == "mget")
        .map(|(_, n)| n)
        .sum();
    (stats.iter().map(|(_, n)| n).sum(), polls)
}

/// Waits for `n` more polls of the buckets' versions (an `MGET` each) than `before`;
/// a poll comes every 5 s per replica. Returns how long they took.
fn polls(server: &RedisServer, before: u64, n: u64) -> Duration {
    poll_until(Duration::from_secs(20), || {
        calls(server, "mget") >= before + n
    })
    .expect("the replicas poll")
}

/// The time an opening on `from` takes to reach `to`'s breaker `i`.
fn propagation(from: &Replica, to: &Replica, i: usize) -> Duration {
    let started = Instant::now();
    let _ = from.breakers[i].call(|| Err::<(), _>(TestError::Down));
    poll_until(Duration::from_secs(5), || {
        to.breakers[i].state() == State::Open
    })
    .expect("the opening reaches the other replica");
    started.elapsed()
}

#[test]
fn an_idle_replica_costs_one_command_a_poll_and_openings_propagate_in_200_ms() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let (a, b) = (replica(&server, "scale"), replica(&server, "scale"));
    poll_until(Duration::from_secs(10), || {
        a.backend.is_healthy() && b.backend.is_healthy()
    })
    .expect("both replicas reach Redis");
    // Joined: every breaker's record read once.
    poll_until(Duration::from_secs(30), || {
        calls(&server, "evalsha") >= 2 * BREAKERS as u64
    })
    .expect("the replicas read their records");
    // And a poll of each after it (5 s later: long after any read still queued).
    polls(&server, calls(&server, "mget"), 2);

    // Idle: over two polls of each replica, nothing but the polls, each one command.
    let (before, mgets) = commands(&server);
    let took = polls(&server, mgets, 4);
    let (after, mgets_after) = commands(&server);
    let idle = after - before;
    assert_eq!(
        idle,
        mgets_after - mgets,
        "only the polls: {:?}",
        stats(&server)
    );
    let per_replica_second = idle as f64 / 2.0 / took.as_secs_f64();
    assert!(
        per_replica_second <= 1.0,
        "{idle} commands in {took:?} from 2 replicas of {BREAKERS} breakers"
    );

    // Openings at random breakers reach the other replica within 200 ms.
    let mut slowest = Duration::ZERO;
    for trip in 0..20 {
        let i = (trip * 7919 + 13) % BREAKERS;
        slowest = slowest.max(propagation(&a, &b, i));
    }
    assert!(
        slowest <= Duration::from_millis(200),
        "slowest opening took {slowest:?}"
    );

    // While B reads every record again after losing its connections, openings still
    // reach it in time: its events and urgent work go between the chunks of reading.
    server.command(&["CLIENT", "KILL", "TYPE", "pubsub"]);
    server.command(&["CLIENT", "KILL", "TYPE", "normal"]);
    poll_until(Duration::from_secs(10), || {
        b.backend.is_healthy() && a.backend.is_healthy()
    })
    .expect("the replicas reconnect");
    let mut slowest = Duration::ZERO;
    for trip in 0..10 {
        let i = (trip * 104_729 + 501) % BREAKERS;
        if b.breakers[i].state() == State::Open {
            continue;
        }
        slowest = slowest.max(propagation(&a, &b, i));
    }
    assert!(
        slowest <= Duration::from_millis(200),
        "slowest opening during a reconciliation took {slowest:?}"
    );
}

#[test]
fn breakers_joining_a_connected_replica_are_read_once_and_then_cost_nothing() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let mut a = replica_of(&server, "joining", 1);
    poll_until(Duration::from_secs(10), || {
        a.backend.is_healthy() && calls(&server, "evalsha") >= 1
    })
    .expect("A reaches Redis and reads its breaker's record");
    // The rest join a connected replica, into buckets it has not read yet.
    let before = calls(&server, "evalsha");
    a.join(1..BREAKERS);
    poll_until(Duration::from_secs(10), || {
        calls(&server, "evalsha") - before >= (BREAKERS - 1) as u64
    })
    .expect("each joining breaker's record is read");
    // Then nothing more than the polls of the versions: the buckets' first reads took
    // their versions, so the next polls find nothing to read again (a second poll
    // comes 5 s after the first, long after anything the first would have queued).
    let read = calls(&server, "evalsha");
    let (before, mgets) = commands(&server);
    polls(&server, mgets, 2);
    assert_eq!(
        calls(&server, "evalsha"),
        read,
        "the joined breakers' records were read again"
    );
    let (after, mgets_after) = commands(&server);
    assert_eq!(
        after - before,
        mgets_after - mgets,
        "only the polls after joining: {:?}",
        stats(&server)
    );
}

#[test]
fn a_missed_event_is_caught_by_the_next_poll_of_the_versions() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let name = "missed";
    let b = breaker_tests::fleet::replica(&server.url(), "missed", name, |b| {
        b.reset_timeout(Duration::from_secs(600))
    });
    breaker_tests::fleet::connected(std::slice::from_ref(&b));
    poll_until(Duration::from_secs(10), || calls(&server, "evalsha") >= 1)
        .expect("B reads its breaker's record");
    // Another writer opens the fleet's record and bumps its bucket's version, but its
    // event never comes (as if published while B's subscription was down).
    breaker_tests::fleet::write_open_record(&server, "missed", name, 7, "");
    assert_eq!(
        b.breaker.state(),
        State::Closed,
        "no event, nothing seen yet"
    );
    server.command(&["INCR", &breaker_tests::fleet::version_key("missed", name)]);
    // The poll runs every 5 s: within one interval (and a margin), B reads the record.
    poll_until(Duration::from_secs(7), || b.breaker.state() == State::Open)
        .expect("the poll finds the moved version and reads the record");
}
