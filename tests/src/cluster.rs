//! A Redis Cluster of the test's own on loopback: six `redis-server`s (three primaries,
//! three replicas) joined with `redis-cli --cluster create`, killed when dropped.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::poll_until;
use crate::redis_server::RedisServer;

/// One node as `CLUSTER NODES` describes it.
#[derive(Debug, Clone)]
pub struct Node {
    /// Its cluster id.
    pub id: String,
    /// Its port.
    pub port: u16,
    /// Whether it is a primary.
    pub primary: bool,
    /// The id of its primary, for a replica.
    pub primary_id: Option<String>,
    /// The slots it owns (inclusive ranges).
    pub slots: Vec<(u16, u16)>,
}

/// Six servers in one cluster.
pub struct Cluster {
    /// The servers, in no particular role.
    pub servers: Vec<RedisServer>,
    dir: PathBuf,
}

impl Cluster {
    /// Starts the cluster and waits until every node says it is ok; `None` where
    /// `redis-server` is not installed (outside CI).
    pub fn start() -> Option<Cluster> {
        let dir = std::env::temp_dir().join(format!(
            "breaker-cluster-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).expect("a directory for the cluster's node files");
        let mut servers = Vec::new();
        for i in 0..6 {
            let file = dir.join(format!("nodes-{i}.conf"));
            let _ = std::fs::remove_file(&file);
            let file = file.to_string_lossy().into_owned();
            servers.push(RedisServer::start_cluster_node(&[
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                &file,
                "--cluster-node-timeout",
                "2000",
            ])?);
        }
        let addresses: Vec<String> = servers
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port()))
            .collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .expect("redis-cli runs");
        assert!(
            created.status.success(),
            "redis-cli --cluster create: {}",
            String::from_utf8_lossy(&created.stdout)
        );
        let cluster = Cluster { servers, dir };
        cluster.await_ok();
        Some(cluster)
    }

    /// Waits until every node says `cluster_state:ok` and sees three primaries owning
    /// every slot and three replicas.
    pub fn await_ok(&self) {
        poll_until(Duration::from_secs(30), || {
            self.servers
                .iter()
                .all(|s| s.command(&["CLUSTER", "INFO"]).contains("cluster_state:ok"))
                && self.servers.iter().all(|s| {
                    let nodes = parse_nodes(&s.command(&["CLUSTER", "NODES"]));
                    let slots: u32 = nodes
                        .iter()
                        .filter(|n| n.primary)
                        .flat_map(|n| n.slots.iter())
                        .map(|(a, b)| u32::from(b - a) + 1)
                        .sum();
                    slots == 16384
                        && nodes
                            .iter()
                            .filter(|n| n.primary && !n.slots.is_empty())
                            .count()
                            == 3
                        && nodes.iter().filter(|n| n.primary_id.is_some()).count() == 3
                })
        })
        .expect("the cluster is ok");
    }

    /// The nodes' URLs.
    pub fn urls(&self) -> Vec<String> {
        self.servers.iter().map(RedisServer::url).collect()
    }

    /// The nodes, as the first server sees them.
    pub fn nodes(&self) -> Vec<Node> {
        parse_nodes(&self.servers[0].command(&["CLUSTER", "NODES"]))
    }

    /// The slot of `key`.
    pub fn slot(&self, key: &str) -> u16 {
        self.servers[0]
            .command(&["CLUSTER", "KEYSLOT", key])
            .parse()
            .expect("a slot")
    }

    /// The server that owns `slot` now.
    pub fn primary_of(&self, slot: u16) -> &RedisServer {
        let node = self
            .nodes()
            .into_iter()
            .find(|n| n.primary && n.slots.iter().any(|(a, b)| (*a..=*b).contains(&slot)))
            .expect("every slot has a primary");
        self.server(node.port)
    }

    /// The server on `port`.
    pub fn server(&self, port: u16) -> &RedisServer {
        self.servers
            .iter()
            .find(|s| s.port() == port)
            .expect("one of the cluster's servers")
    }

    /// The node on `port`.
    pub fn node(&self, port: u16) -> Node {
        self.nodes()
            .into_iter()
            .find(|n| n.port == port)
            .expect("one of the cluster's nodes")
    }

    /// Fails over the primary of `slot` to its replica (`CLUSTER FAILOVER` on the
    /// replica) and waits until the cluster agrees; returns the new primary's port.
    pub fn failover(&self, slot: u16) -> u16 {
        let primary = self.node(self.primary_of(slot).port());
        let replica = self
            .nodes()
            .into_iter()
            .find(|n| n.primary_id.as_deref() == Some(primary.id.as_str()))
            .unwrap_or_else(|| {
                panic!(
                    "the primary {primary:?} has a replica: {}",
                    self.servers[0].command(&["CLUSTER", "NODES"])
                )
            });
        let server = self.server(replica.port);
        assert_eq!(server.command(&["CLUSTER", "FAILOVER"]), "OK");
        poll_until(Duration::from_secs(20), || {
            self.servers.iter().all(|s| {
                parse_nodes(&s.command(&["CLUSTER", "NODES"]))
                    .iter()
                    .any(|n| n.port == replica.port && n.primary && !n.slots.is_empty())
            })
        })
        .expect("every node sees the replica promoted");
        self.await_ok();
        replica.port
    }

    /// Moves `slot` (and its keys) from its primary to the primary on `to`.
    pub fn move_slot(&self, slot: u16, to: u16) {
        let source = self.node(self.primary_of(slot).port());
        let target = self.node(to);
        let (from_server, to_server) = (self.server(source.port), self.server(to));
        let slot_text = slot.to_string();
        assert_eq!(
            to_server.command(&["CLUSTER", "SETSLOT", &slot_text, "IMPORTING", &source.id]),
            "OK"
        );
        assert_eq!(
            from_server.command(&["CLUSTER", "SETSLOT", &slot_text, "MIGRATING", &target.id]),
            "OK"
        );
        loop {
            let keys = from_server.command(&["CLUSTER", "GETKEYSINSLOT", &slot_text, "100"]);
            let keys: Vec<&str> = keys.split(' ').filter(|k| !k.is_empty()).collect();
            if keys.is_empty() {
                break;
            }
            let port = to.to_string();
            let mut migrate = vec!["MIGRATE", "127.0.0.1", &port, "", "0", "5000", "KEYS"];
            migrate.extend(keys);
            assert_eq!(from_server.command(&migrate), "OK");
        }
        for server in [to_server, from_server] {
            assert_eq!(
                server.command(&["CLUSTER", "SETSLOT", &slot_text, "NODE", &target.id]),
                "OK"
            );
        }
        for server in &self.servers {
            let _ = server.command(&["CLUSTER", "SETSLOT", &slot_text, "NODE", &target.id]);
        }
        poll_until(Duration::from_secs(20), || {
            self.servers.iter().all(|s| {
                parse_nodes(&s.command(&["CLUSTER", "NODES"]))
                    .iter()
                    .any(|n| n.port == to && n.slots.iter().any(|(a, b)| (*a..=*b).contains(&slot)))
            })
        })
        .expect("every node sees the slot moved");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.servers.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `CLUSTER NODES`' lines (which our RESP reader joins with spaces: each line begins with
/// a 40-character id).
fn parse_nodes(text: &str) -> Vec<Node> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let starts: Vec<usize> = (0..words.len())
        .filter(|&i| {
            words[i].len() == 40
                && words[i].bytes().all(|b| b.is_ascii_hexdigit())
                && words.get(i + 1).is_some_and(|w| w.contains('@'))
        })
        .collect();
    starts
        .iter()
        .enumerate()
        .map(|(k, &i)| {
            let end = starts.get(k + 1).copied().unwrap_or(words.len());
            let fields = &words[i..end];
            let port = fields[1]
                .split('@')
                .next()
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            let primary = fields[2].contains("master");
            let slots = fields
                .iter()
                .skip(8)
                .filter(|f| !f.starts_with('['))
                .filter_map(|f| match f.split_once('-') {
                    Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                    None => f.parse().ok().map(|s| (s, s)),
                })
                .collect();
            Node {
                id: fields[0].to_string(),
                port,
                primary,
                primary_id: (fields[3] != "-").then(|| fields[3].to_string()),
                slots,
            }
        })
        .collect()
}
