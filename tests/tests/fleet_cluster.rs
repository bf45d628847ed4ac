//! Fleet-wide breakers on a Redis Cluster of the test's own: six nodes on loopback (three
//! primaries, three replicas). Events go by sharded publish/subscribe to their slot's
//! shard only; a failover of a breaker's primary, a reshard of its slot while subscribed
//! and a flushed shard lose no transition, start no second probe, and make no caller
//! wait.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use breaker_runtime::shared::RedisBackend;
use breaker_runtime::{CircuitBreaker, State};
use breaker_tests::cluster::Cluster;
use breaker_tests::fleet::{channel, record_key};
use breaker_tests::traffic::{Calls, Traffic};
use breaker_tests::{poll_until, TestError as E};

/// The tests take turns: each runs six servers and a dozen threads on two cores.
fn turn() -> std::sync::MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

const LEASE: Duration = Duration::from_millis(1_000);

/// One replica: its backend and its breakers by name.
struct Replica {
    backend: RedisBackend,
    breakers: Vec<CircuitBreaker>,
}

impl Replica {
    fn get(&self, name: &str) -> &CircuitBreaker {
        self.breakers
            .iter()
            .find(|b| b.name() == name)
            .expect("a breaker of that name")
    }
}

/// Two replicas with the breakers `names` (`probed` resets in 300 ms, the others stay
/// open ten minutes), connected.
fn fleet(cluster: &Cluster, namespace: &str, names: &[String]) -> Vec<Replica> {
    let replica = || {
        let backend = RedisBackend::cluster(cluster.urls())
            .namespace(namespace)
            .build()
            .expect("valid node addresses");
        let breakers = names
            .iter()
            .map(|name| {
                let reset = if name == "probed" {
                    Duration::from_millis(300)
                } else {
                    Duration::from_secs(600)
                };
                CircuitBreaker::builder(name.clone())
                    .fail_max(1)
                    .reset_timeout(reset)
                    .half_open_timeout(LEASE)
                    .shared(&backend)
                    .unregistered()
                    .build()
            })
            .collect();
        Replica { backend, breakers }
    };
    let fleet = vec![replica(), replica()];
    poll_until(Duration::from_secs(15), || {
        fleet.iter().all(|r| r.backend.is_healthy())
    })
    .expect("both replicas reach the cluster");
    fleet
}

/// The slot of the breaker `name`'s record, channel and bucket.
fn slot_of(cluster: &Cluster, namespace: &str, name: &str) -> u16 {
    let slot = cluster.slot(&record_key(namespace, name));
    assert_eq!(slot, cluster.slot(&channel(namespace, name)));
    slot
}

/// Names whose slots are owned by the primary on `port`, each in a slot of its own.
fn names_on(cluster: &Cluster, namespace: &str, port: u16, n: usize) -> Vec<String> {
    let mut slots = Vec::new();
    let mut names = Vec::new();
    for i in 0..10_000 {
        let name = format!("b{i}");
        let slot = slot_of(cluster, namespace, &name);
        if cluster.primary_of(slot).port() == port && !slots.contains(&slot) {
            slots.push(slot);
            names.push(name);
            if names.len() == n {
                return names;
            }
        }
    }
    panic!("no {n} names in slots of their own on the node on port {port}");
}

/// The time a trip of `name` on replica 0 takes to reach replica 1.
fn propagation(fleet: &[Replica], name: &str) -> Duration {
    let started = Instant::now();
    let _ = fleet[0].get(name).call(|| Err::<(), _>(E::Down));
    poll_until(Duration::from_secs(5), || {
        fleet[1].get(name).state() == State::Open
    })
    .unwrap_or_else(|| panic!("the trip of {name} reaches the other replica"));
    started.elapsed()
}

/// Waits (a poll and a margin) until both replicas are subscribed to `name`'s channel
/// once each, in the shard of the primary on `primary` (at the primary or its replica).
fn subscribed_in_shard(cluster: &Cluster, namespace: &str, name: &str, primary: u16) {
    let id = cluster.node(primary).id;
    let subscribers = || -> u32 {
        cluster
            .nodes()
            .iter()
            .filter(|n| n.port == primary || n.primary_id.as_deref() == Some(id.as_str()))
            .map(|n| {
                cluster
                    .server(n.port)
                    .command(&["PUBSUB", "SHARDNUMSUB", &channel(namespace, name)])
                    .split(' ')
                    .nth(1)
                    .and_then(|c| c.parse::<u32>().ok())
                    .unwrap_or(0)
            })
            .sum()
    };
    poll_until(Duration::from_secs(7), || subscribers() == 2).unwrap_or_else(|| {
        panic!(
            "both replicas subscribe in the shard ({} subscriptions)",
            subscribers()
        )
    });
}

/// Opens `probed` for the fleet and starts the traffic.
fn probing(fleet: &[Replica]) -> Traffic {
    let _ = fleet[0].get("probed").call(|| Err::<(), _>(E::Down));
    poll_until(Duration::from_secs(5), || {
        fleet[1].get("probed").state() != State::Closed
    })
    .expect("the fleet opens probed");
    // Two callers per replica: `probed` probing, every other breaker timed.
    let calls: Vec<Calls> = fleet
        .iter()
        .map(|r| Calls {
            probed: r.get("probed").clone(),
            timed: r
                .breakers
                .iter()
                .filter(|b| b.name() != "probed")
                .cloned()
                .collect(),
        })
        .collect();
    Traffic::start(&calls)
}

#[test]
fn events_go_to_their_shard_only_and_reach_every_replica() {
    let _turn = turn();
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let primary = cluster.primary_of(0).port();
    // Three breakers in three slots of one node, and one elsewhere.
    let mut names = names_on(&cluster, "shards", primary, 3);
    let elsewhere = cluster
        .nodes()
        .into_iter()
        .find(|n| n.primary && !n.slots.is_empty() && n.port != primary)
        .expect("another primary")
        .port;
    names.extend(names_on(&cluster, "shards", elsewhere, 1));
    let fleet = fleet(&cluster, "shards", &names);
    for name in &names {
        let took = propagation(&fleet, name);
        assert!(took <= Duration::from_millis(200), "{name}: {took:?}");
    }
    // Sharded: each channel's subscribers are on its shard, and the events were
    // SPUBLISHed there (a PUBLISH would go to every node).
    for name in &names {
        let owner = cluster.primary_of(slot_of(&cluster, "shards", name));
        let count = owner.command(&["PUBSUB", "SHARDNUMSUB", &channel("shards", name)]);
        assert_eq!(count.split(' ').nth(1), Some("2"), "{name}: {count}");
        assert!(owner
            .command(&["INFO", "commandstats"])
            .contains("cmdstat_spublish"));
    }
    for server in &cluster.servers {
        let stats = server.command(&["INFO", "commandstats"]);
        assert!(
            !stats.contains("cmdstat_publish:"),
            "nothing broadcast: {stats}"
        );
    }
}

#[test]
fn a_failover_of_a_breakers_primary_is_followed() {
    let _turn = turn();
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let held = "held".to_string();
    let slot = slot_of(&cluster, "failover", &held);
    let primary = cluster.primary_of(slot).port();
    // `after` and `probed` live on the same shard as `held`, in slots of their own.
    let mut names = vec![held.clone(), "probed".to_string()];
    names.extend(
        names_on(&cluster, "failover", primary, 4)
            .into_iter()
            .filter(|n| slot_of(&cluster, "failover", n) != slot)
            .take(1),
    );
    let after = names[2].clone();
    let fleet = fleet(&cluster, "failover", &names);
    assert!(propagation(&fleet, &held) <= Duration::from_millis(200));
    let traffic = probing(&fleet);
    let promoted = cluster.failover(slot);
    assert_eq!(cluster.primary_of(slot).port(), promoted);
    // Still open everywhere, and in the new primary's record.
    assert!(fleet.iter().all(|r| r.get(&held).state() == State::Open));
    assert_eq!(
        cluster
            .server(promoted)
            .command(&["HGET", &record_key("failover", &held), "state"]),
        "open"
    );
    // Subscribed in the slot's shard again within a poll (the server need not tell
    // subscribers of a failover; a shard's replicas deliver its messages too); a trip
    // there reaches the other replica in time.
    subscribed_in_shard(&cluster, "failover", &after, promoted);
    let took = propagation(&fleet, &after);
    assert!(
        took <= Duration::from_millis(200),
        "{took:?} after the failover"
    );
    traffic.keeps_probing();
    traffic.stop(LEASE);
}

#[test]
fn a_resharded_slot_is_followed_to_its_new_owner() {
    let _turn = turn();
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let moved = "moved".to_string();
    let slot = slot_of(&cluster, "reshard", &moved);
    let names = vec![moved.clone(), "probed".to_string()];
    let fleet = fleet(&cluster, "reshard", &names);
    let traffic = probing(&fleet);
    let to = cluster
        .nodes()
        .into_iter()
        .find(|n| n.primary && !n.slots.is_empty() && n.port != cluster.primary_of(slot).port())
        .expect("another primary")
        .port;
    cluster.move_slot(slot, to);
    // Both replicas are told their subscription went (SUNSUBSCRIBE), or see the
    // slot's new owner at their next poll, and subscribe again there.
    subscribed_in_shard(&cluster, "reshard", &moved, to);
    let took = propagation(&fleet, &moved);
    assert!(
        took <= Duration::from_millis(200),
        "{took:?} after the reshard"
    );
    traffic.keeps_probing();
    traffic.stop(LEASE);
}

#[test]
fn a_flushed_shard_changes_nothing_local_and_later_trips_propagate() {
    let _turn = turn();
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let primary = cluster.primary_of(0).port();
    let names = names_on(&cluster, "flush", primary, 2);
    let fleet = fleet(&cluster, "flush", &names);
    assert!(propagation(&fleet, &names[0]) <= Duration::from_millis(200));
    assert_eq!(cluster.server(primary).command(&["FLUSHALL"]), "OK");
    assert!(
        fleet
            .iter()
            .all(|r| r.get(&names[0]).state() == State::Open),
        "the opens keep their deadlines"
    );
    let took = propagation(&fleet, &names[1]);
    assert!(
        took <= Duration::from_millis(200),
        "{took:?} after the flush"
    );
    assert!(fleet.iter().all(|r| r.backend.is_healthy()));
}
