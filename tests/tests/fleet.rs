//! Fleet-wide breakers against a real Redis (a `redis-server` each test starts for
//! itself): several replicas in one process, each with its own backend, as several
//! processes would be. The fleet's deadlines run on the Redis server's clock, which no
//! manual clock reaches, so these tests wait for states (`poll_until`), bounded.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use breaker_runtime::shared::RedisBackend;
use breaker_runtime::{CircuitBreaker, ErrorKind, State};
use breaker_tests::redis_server::RedisServer;
use breaker_tests::{poll_until, TestError as E};

/// One replica: a backend of its own, and its breaker for the fleet breaker `name`.
struct Replica {
    backend: RedisBackend,
    breaker: CircuitBreaker,
}

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
            let backend = RedisBackend::builder(server.url())
                .namespace(namespace)
                .build()
                .unwrap();
            let breaker = CircuitBreaker::builder(name)
                .fail_max(fail_max)
                .reset_timeout(reset)
                .shared(&backend)
                .quorum(quorum)
                .unregistered()
                .build();
            Replica { backend, breaker }
        })
        .collect();
    let connected = poll_until(Duration::from_secs(10), || {
        fleet.iter().all(|r| r.backend.is_healthy())
    });
    assert!(connected.is_some(), "every replica reached Redis");
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

/// A client's pace: about 500 calls a second per thread.
fn pause() {
    std::thread::park_timeout(Duration::from_millis(2));
}

#[test]
fn replicas_open_together_on_one_replicas_trip() {
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
    let downstream = Arc::new(Downstream::default());
    downstream.down.store(true, Ordering::SeqCst);
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
    assert!(hits <= 5 + 8, "{hits} calls reached the failing dependency");
    for replica in fleet.iter() {
        assert_eq!(
            replica.breaker.call(|| downstream.call()),
            Err(E::rejected(ErrorKind::Open, "payments"))
        );
    }
}
