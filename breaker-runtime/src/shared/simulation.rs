//! The fleet protocol under every interleaving a property test can think of: replicas
//! with manual clocks, the server in memory (`memory.rs`), and the events between them
//! lost, delayed and duplicated at will. Each replica runs the very code the Redis task
//! runs (`replica.rs`) on the very breakers users get.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;

use super::link::{Link, Wake};
use super::memory::{Args, Server};
use super::replica::{apply, fleet_lease_ms, millis_of, Member, Replica, Request};
use crate::config::Rules;
use crate::{CircuitBreaker, ManualClock, State};

const NAME: &str = "simulated";

struct Sim {
    server: Server,
    replicas: Vec<Node>,
    /// Events of the server already handed to the replicas' inboxes.
    delivered: usize,
    up: bool,
    fleet_probes: u64,
}

struct Node {
    breaker: CircuitBreaker,
    clock: ManualClock,
    member: Member,
    replica: Replica,
    inbox: VecDeque<super::replica::View>,
    quorum: u32,
}

#[derive(Debug, Clone)]
enum Op {
    /// A call through replica `.0`: `Some(true)` succeeds, `Some(false)` fails, `None`
    /// is neutral.
    Call(usize, Option<bool>),
    Advance(u64),
    /// Replica `.0`'s background task runs once.
    Step(usize),
    /// Replica `.0` takes its next event: dropped, delivered, or delivered twice.
    Deliver(usize, u8),
    /// Redis goes down (`false`) or comes back (`true`).
    Backend(bool),
    /// A manual transition on replica `.0`, for the whole fleet.
    Close(usize),
}

fn op(replicas: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..replicas, prop::option::of(any::<bool>())).prop_map(|(r, o)| Op::Call(r, o)),
        2 => (1u64..400).prop_map(Op::Advance),
        4 => (0..replicas).prop_map(Op::Step),
        3 => (0..replicas, 0u8..3).prop_map(|(r, how)| Op::Deliver(r, how)),
        1 => any::<bool>().prop_map(Op::Backend),
        1 => (0..replicas).prop_map(Op::Close),
    ]
}

impl Sim {
    fn new(replicas: usize, fail_max: u32, quorum: u32) -> Sim {
        let nodes = (0..replicas)
            .map(|i| {
                let clock = ManualClock::new();
                let breaker = CircuitBreaker::builder(NAME)
                    .fail_max(fail_max)
                    .reset_timeout(Duration::from_millis(500))
                    .half_open_timeout(Duration::from_millis(300))
                    .clock(clock.clone())
                    .shared_installed()
                    .unregistered()
                    .build();
                let wake = Arc::new(Wake::new());
                wake.healthy.store(true, Ordering::Release);
                let link = Arc::new(Link::new(NAME.into(), quorum, wake));
                assert!(breaker.sinks().join(link.clone()));
                let member = Member {
                    link,
                    breaker: breaker.downgrade(),
                    rules: Rules::from(breaker.config()),
                    key: NAME.to_string(),
                    version_key: String::new(),
                    channel: String::new(),
                    bucket: 0,
                };
                Node {
                    breaker,
                    clock,
                    member,
                    replica: Replica::new(format!("r{i}")),
                    inbox: VecDeque::new(),
                    quorum,
                }
            })
            .collect();
        Sim {
            server: Server::default(),
            replicas: nodes,
            delivered: 0,
            up: true,
            fleet_probes: 0,
        }
    }

    fn send(&mut self, i: usize, request: Request) {
        let node = &mut self.replicas[i];
        let rules = node.member.rules;
        let args = Args {
            rid: &node.replica.rid,
            quorum: node.quorum,
            reset_ms: millis_of(rules.reset_timeout),
            open_ms: millis_of(rules.reset_timeout),
            lease_ms: fleet_lease_ms(&rules),
            success_threshold: rules.success_threshold,
        };
        let reply = self.server.handle(NAME, &request, &args);
        let now = self.server.now_ms;
        node.replica.on_reply(&node.member, &request, reply, now);
        // Publish what the server published to every inbox.
        for (_, view) in &self.server.published[self.delivered..] {
            for n in &mut self.replicas {
                n.inbox.push_back(*view);
            }
        }
        self.delivered = self.server.published.len();
    }

    fn run(&mut self, op: Op) {
        match op {
            Op::Call(i, outcome) => {
                let breaker = &self.replicas[i].breaker;
                if let Ok(permit) = breaker.try_acquire() {
                    if permit.is_probe() && breaker.word().defers_to_fleet() {
                        self.fleet_probes += 1;
                    }
                    match outcome {
                        Some(true) => permit.success(),
                        Some(false) => permit.failure(),
                        None => permit.ignore(),
                    }
                }
            }
            Op::Advance(ms) => {
                self.server.now_ms += ms;
                for n in &self.replicas {
                    n.clock.advance(Duration::from_millis(ms));
                }
            }
            Op::Step(i) => {
                let now = self.server.now_ms;
                let node = &mut self.replicas[i];
                let requests = node.replica.requests(&node.member, now);
                if self.up {
                    for request in requests {
                        self.send(i, request);
                    }
                } else if !requests.is_empty() {
                    // Every command fails: the task says degraded, the breaker goes local.
                    node.member
                        .link
                        .wake
                        .healthy
                        .store(false, Ordering::Release);
                    node.breaker.fleet_released();
                }
            }
            Op::Deliver(i, how) => {
                let node = &mut self.replicas[i];
                if let Some(view) = node.inbox.pop_front() {
                    for _ in 0..how {
                        apply(&node.member, view);
                    }
                }
            }
            Op::Backend(up) => {
                let was = self.up;
                self.up = up;
                if up && !was {
                    // Each replica reconnects: healthy, reconcile, vote a recent trip again.
                    for i in 0..self.replicas.len() {
                        let node = &self.replicas[i];
                        node.member.link.wake.healthy.store(true, Ordering::Release);
                        self.send(i, Request::Snapshot);
                        let now = self.server.now_ms;
                        let node = &self.replicas[i];
                        if node.replica.revote(&node.member, now) {
                            self.send(i, Request::Vote(None));
                        }
                    }
                }
            }
            Op::Close(i) => self.replicas[i].breaker.close(),
        }
    }

    fn check(&self) {
        assert!(
            self.fleet_probes <= self.server.grants,
            "{} fleet probes ran on {} leases",
            self.fleet_probes,
            self.server.grants
        );
        for (i, n) in self.replicas.iter().enumerate() {
            if n.breaker.word().defers_to_fleet() {
                let heard = n.member.link.fleet_state();
                assert!(
                    matches!(heard, Some(State::Open | State::HalfOpen)),
                    "replica {i} is held by the fleet after applying {heard:?}"
                );
            }
        }
    }
}

/// A fleet probe that ends neutrally (cancelled, or an ignored error) gives its lease
/// back at once: the next probe need not wait for the lease to expire.
#[test]
fn a_neutral_fleet_probe_gives_its_lease_back_at_once() {
    let mut sim = Sim::new(1, 1, 1);
    sim.run(Op::Call(0, Some(false)));
    for _ in 0..3 {
        sim.run(Op::Step(0));
        sim.run(Op::Deliver(0, 1));
    }
    assert!(
        sim.replicas[0].breaker.word().defers_to_fleet(),
        "the fleet opened"
    );
    sim.run(Op::Advance(500));
    // Calls, task runs and deliveries, with the clock standing still: every probe ends
    // neutrally, and each must be followed by another lease.
    for _ in 0..12 {
        sim.run(Op::Call(0, None));
        sim.run(Op::Step(0));
        sim.run(Op::Deliver(0, 1));
        sim.check();
    }
    assert!(
        sim.server.grants >= 3,
        "{} leases granted: a neutral probe kept its lease until it expired",
        sim.server.grants
    );
}

/// A breaker the fleet holds does not probe on its own clock: its first call past the
/// deadline asks the fleet for the probe and is refused until the lease comes.
#[test]
fn a_fleet_held_breaker_waits_for_the_fleets_lease() {
    let mut sim = Sim::new(2, 1, 1);
    sim.run(Op::Call(0, Some(false)));
    for _ in 0..3 {
        for i in 0..2 {
            sim.run(Op::Step(i));
            sim.run(Op::Deliver(i, 1));
        }
    }
    assert!(sim
        .replicas
        .iter()
        .all(|n| n.breaker.word().defers_to_fleet()));
    sim.run(Op::Advance(500));
    let asked = sim.replicas[1].breaker.try_acquire();
    assert_eq!(
        asked.unwrap_err().kind(),
        crate::ErrorKind::Open,
        "no lease yet"
    );
    assert_eq!(sim.replicas[1].breaker.state(), State::Open);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// No probe runs without a lease of its own, and a replica that applied a newer
    /// close is never held open by the fleet: whatever is lost, delayed or duplicated,
    /// and whether Redis is up or down.
    #[test]
    fn the_fleet_protocol_holds_its_invariants(
        replicas in 2usize..5,
        fail_max in 1u32..4,
        quorum in 1u32..3,
        ops in prop::collection::vec(op(4), 1..200),
    ) {
        let mut sim = Sim::new(replicas, fail_max, quorum);
        for op in ops {
            let op = match op {
                Op::Call(i, o) => Op::Call(i % replicas, o),
                Op::Step(i) => Op::Step(i % replicas),
                Op::Deliver(i, how) => Op::Deliver(i % replicas, how),
                Op::Close(i) => Op::Close(i % replicas),
                other => other,
            };
            sim.run(op);
            sim.check();
        }
    }

    /// With the backend down from the start, every replica behaves exactly as an
    /// unshared breaker given the same calls and the same time.
    #[test]
    fn with_the_backend_down_each_replica_is_a_local_breaker(
        fail_max in 1u32..4,
        ops in prop::collection::vec(op(2), 1..200),
    ) {
        let mut sim = Sim::new(2, fail_max, 1);
        sim.run(Op::Backend(false));
        let twins: Vec<CircuitBreaker> = sim
            .replicas
            .iter()
            .map(|n| {
                CircuitBreaker::builder("local twin")
                    .config(*n.breaker.config())
                    .clock(n.clock.clone())
                    .unregistered()
                    .build()
            })
            .collect();
        for op in ops {
            let op = match op {
                Op::Backend(_) | Op::Close(_) => continue,
                Op::Call(i, o) => Op::Call(i % 2, o),
                Op::Step(i) => Op::Step(i % 2),
                Op::Deliver(i, how) => Op::Deliver(i % 2, how),
                other => other,
            };
            if let Op::Call(i, outcome) = op {
                let twin = &twins[i];
                if let Ok(permit) = twin.try_acquire() {
                    match outcome {
                        Some(true) => permit.success(),
                        Some(false) => permit.failure(),
                        None => permit.ignore(),
                    }
                }
            }
            sim.run(op);
            for (n, twin) in sim.replicas.iter().zip(&twins) {
                prop_assert_eq!(n.breaker.state(), twin.state());
                prop_assert_eq!(n.breaker.fail_counter(), twin.fail_counter());
                prop_assert_eq!(n.breaker.success_counter(), twin.success_counter());
            }
        }
    }
}
