//! The background task of a Redis backend: all of a replica's fleet I/O, on a thread of
//! its own (`breaker-fleet`), so that no caller ever waits on Redis.
//!
//! Its work follows what happens, not how many breakers there are:
//!
//! - **Urgent first.** A call that needs the fleet (a vote, a probe request, a report, a
//!   manual transition, a refresh) queues its breaker's link; each turn of the loop
//!   serves the queue before any I/O of its own, one script per request (only the events
//!   already received are applied before it: one may say the connection is gone).
//! - **Reconnecting.** A backend that was working and loses its connection (a killed
//!   connection, a restarted server) reconnects at once; failures after that back off,
//!   from 100 ms to 5 s.
//! - **Events** on the buckets' channels are applied as they come; between two pieces of
//!   background work the task takes every event already waiting.
//! - **Background work** comes in chunks of [`CHUNK`] breakers, one pipelined round trip
//!   each: reading the records of breakers that joined, of every breaker after a
//!   (re)connection (with the votes of recent trips cast again), and of the breakers of a
//!   bucket whose version moved. Urgent requests and events go between two chunks.
//! - **The poll**, every [`POLL`], reads the buckets' versions with one `MGET`: a
//!   publish missed while the subscription was down is caught there, at a cost that does
//!   not depend on the number of breakers.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use redis::aio::ConnectionManager;

use super::connection::{Commands, Events, Incoming};
use tokio::time::{timeout, Instant};

use super::layout;
use super::link::Wake;
use super::redis::{parse_event, parse_reply, trace_arg, Backend};
use super::replica::{
    fleet_lease_ms, millis_of, open_ms, outcome, state_word, transition, ttl_ms, Member, Replica,
    Request,
};
use super::target::Target;
use crate::Name;
use redis::sentinel::SentinelClient;

/// How long a command to Redis may take (on this task only: callers never wait on
/// Redis). A pipelined chunk gets as long per breaker, up to [`CHUNK_TIMEOUT`].
const COMMAND_TIMEOUT: Duration = Duration::from_millis(200);
const CHUNK_TIMEOUT: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// The safety poll of the buckets' versions, for events missed while unsubscribed.
pub(super) const POLL: Duration = Duration::from_secs(5);
/// Breakers read in one pipelined round trip of background work.
const CHUNK: usize = 256;
/// Reconnection backoff.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// The backend's health as its exchanges have said it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Health {
    Unknown,
    Healthy,
    Degraded,
}

/// A breaker whose record the task must read, and whether its recent trip must be voted
/// again (after a reconnection: the vote may never have arrived).
struct Due {
    name: Name,
    revote: bool,
}

pub(super) struct Task {
    backend: Weak<Backend>,
    wake: Arc<Wake>,
    /// For the events of degradation and recovery.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    label: String,
    connection: Option<Commands>,
    events: Option<Events>,
    /// With Sentinels: the client that asks them for the master, and their
    /// `+switch-master` announcements.
    sentinel: Option<SentinelClient>,
    switches: Option<redis::aio::PubSubStream>,
    health: Health,
    /// When to try (re)connecting next, and the backoff after that.
    retry_at: Instant,
    backoff: Duration,
    next_poll: Instant,
    /// When the task started: its clock's origin, for the replica's bookkeeping.
    started: Instant,
    replica: Replica,
    /// Each bucket's version as last read (`None`: the counter did not exist).
    versions: HashMap<u16, Option<u64>>,
    /// Background work, oldest first.
    backlog: VecDeque<Due>,
    /// The queue's other buffer.
    queued: Vec<Name>,
    /// On a cluster: each bucket's shard (its primary's address) as last read, to
    /// follow slots that move (a failover does not always tell subscribers).
    #[cfg(feature = "redis-cluster")]
    owners: HashMap<u16, String>,
}

impl Task {
    pub(super) fn new(backend: Weak<Backend>) -> Task {
        let (wake, label, rid) = match backend.upgrade() {
            Some(b) => (b.wake.clone(), b.namespace.clone(), b.rid.clone()),
            None => (Arc::new(Wake::new()), String::new(), String::new()),
        };
        let now = Instant::now();
        Task {
            backend,
            wake,
            label,
            connection: None,
            events: None,
            sentinel: None,
            switches: None,
            health: Health::Unknown,
            retry_at: now,
            backoff: BACKOFF_MIN,
            next_poll: now + POLL,
            started: now,
            replica: Replica::new(rid),
            versions: HashMap::new(),
            backlog: VecDeque::new(),
            queued: Vec::new(),
            #[cfg(feature = "redis-cluster")]
            owners: HashMap::new(),
        }
    }

    pub(super) async fn run(mut self) {
        loop {
            let Some(backend) = self.backend.upgrade() else {
                return; // every handle is gone
            };
            // Events waiting are applied first (no I/O): among them may be the news that
            // the connection was lost, and then a request would wait for a dead
            // connection's timeout before reconnecting.
            self.take_events(&backend).await;
            if self.events.is_none() && Instant::now() >= self.retry_at {
                self.connect(&backend).await;
            }
            self.take_joined(&backend);
            self.serve(&backend).await;
            if self.events.is_some() {
                if Instant::now() >= self.next_poll {
                    self.poll(&backend).await;
                } else if !self.backlog.is_empty() {
                    self.work(&backend).await;
                }
            }
            drop(backend);
            self.wait().await;
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Breakers that joined since last time: their records are to be read.
    fn take_joined(&mut self, backend: &Backend) {
        for name in backend.take_joined() {
            self.backlog.push_back(Due {
                name,
                revote: false,
            });
        }
    }

    /// Sleeps until a call asks for something, an event arrives, or a timer is due; not
    /// at all while background work waits.
    async fn wait(&mut self) {
        let deadline = if !self.backlog.is_empty() && self.events.is_some() {
            Instant::now()
        } else if self.events.is_some() {
            self.next_poll
        } else {
            self.retry_at
        }
        .min(Instant::now() + Duration::from_millis(250));
        let notified = self.wake.notify.notified();
        let event = async {
            match &mut self.events {
                Some(events) => events.next().await,
                None => std::future::pending().await,
            }
        };
        let switch = next(&mut self.switches);
        tokio::select! {
            biased;
            _ = notified => {}
            incoming = event => match incoming {
                Some(incoming) => {
                    if let Some(backend) = self.backend.upgrade() {
                        self.incoming(&backend, incoming).await;
                    }
                }
                // The subscription dropped: reconnect and reconcile.
                None => self.failed("the subscription ended"),
            },
            message = switch => match message {
                Some(message) => self.switched(&message),
                None => self.switches = None,
            },
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }

    /// A sentinel announced a new master: if it is ours, reconnect now (to the master
    /// the sentinels name, asked again) and reconcile there.
    fn switched(&mut self, message: &redis::Msg) {
        let Some(backend) = self.backend.upgrade() else {
            return;
        };
        let Target::Sentinel(target) = &backend.target else {
            return;
        };
        let Ok(payload) = message.get_payload::<String>() else {
            return;
        };
        // `<master name> <old ip> <old port> <new ip> <new port>`
        if payload.split(' ').next() == Some(target.master.as_str()) {
            self.resync();
        }
    }

    /// The deployment changed under the task (a failover, a slot that moved): start
    /// over at once on fresh connections, which learn where everything lives now, and
    /// reconcile there. Not a degradation: callers keep the fleet's verdicts meanwhile.
    fn resync(&mut self) {
        self.connection = None;
        self.events = None;
        self.retry_at = Instant::now();
        self.backoff = BACKOFF_MIN;
    }

    /// Every event already waiting, applied (none is left behind a chunk of work).
    async fn take_events(&mut self, backend: &Backend) {
        while let Some(events) = &mut self.events {
            match events.next().now_or_never() {
                Some(Some(incoming)) => self.incoming(backend, incoming).await,
                Some(None) => return self.failed("the subscription ended"),
                None => return,
            }
        }
    }

    /// What the server pushed: an event, or (on a cluster) a subscription lost.
    async fn incoming(&mut self, backend: &Backend, incoming: Incoming) {
        match incoming {
            Incoming::Message(payload) => self.apply(backend, &payload),
            // A slot of ours moved (the server dropped the subscription), or a node's
            // connection dropped (the client's own resubscription sends one SSUBSCRIBE
            // across slots, which the server refuses): start over where everything
            // lives now, subscribing one slot at a time, and read what was missed.
            Incoming::Lost(channel) => {
                if layout::bucket_of_channel(&backend.namespace, &channel).is_some() {
                    self.resync();
                }
            }
            Incoming::Disconnected => self.resync(),
        }
    }

    /// An event from a bucket's channel, applied to the breakers it names. An event
    /// that follows the last version known of its bucket moves it on; one after a gap
    /// (an event missed) has the bucket's records read again.
    fn apply(&mut self, backend: &Backend, payload: &[u8]) {
        let Ok(payload) = std::str::from_utf8(payload) else {
            return;
        };
        let Some(event) = parse_event(payload) else {
            return; // not ours, or garbage: ignored
        };
        for member in backend.members_named(event.name) {
            super::replica::apply(&member, event.view);
        }
        let bucket = layout::bucket(event.name);
        // Before the first read of the versions there is nothing to compare with: that
        // read comes next.
        if let Some(known) = self.versions.get_mut(&bucket) {
            match *known {
                Some(version) if event.version <= version => {} // already seen
                Some(version) if event.version == version + 1 => *known = Some(event.version),
                _ => {
                    *known = Some(event.version);
                    self.reread(backend, bucket);
                }
            }
        }
    }

    /// The records of `bucket`'s breakers to be read again.
    fn reread(&mut self, backend: &Backend, bucket: u16) {
        for name in backend.names_in(bucket) {
            self.backlog.push_back(Due {
                name,
                revote: false,
            });
        }
    }

    /// Opens the command connection (lazily) and the subscription to every bucket's
    /// channel; then reads the versions and queues every breaker's record.
    async fn connect(&mut self, backend: &Backend) {
        #[cfg(feature = "redis-cluster")]
        if let Target::Cluster(target) = &backend.target {
            return self.connect_cluster(backend, target).await;
        }
        let Some(client) = self.server(backend).await else {
            return;
        };
        if self.connection.is_none() {
            let config = redis::aio::ConnectionManagerConfig::new()
                .set_response_timeout(Some(COMMAND_TIMEOUT))
                .set_connection_timeout(Some(CONNECT_TIMEOUT))
                .set_number_of_retries(1);
            match ConnectionManager::new_lazy_with_config(client.clone(), config) {
                Ok(connection) => self.connection = Some(Commands::Server(connection)),
                Err(e) => return self.failed(&format!("{:?}", e.kind())),
            }
        }
        let channels = channels(backend);
        let subscribed = timeout(CONNECT_TIMEOUT, async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channels).await?;
            Ok::<_, redis::RedisError>(pubsub.into_on_message())
        })
        .await;
        match subscribed {
            Ok(Ok(events)) => {
                self.events = Some(Events::Server(events));
                self.connected(backend).await;
            }
            Ok(Err(e)) => self.failed(&format!("{:?}", e.kind())),
            Err(_) => self.failed("timed out connecting"),
        }
    }

    /// Subscribed first, then read: a change after the subscription comes as an event,
    /// one before it is in what is read. The scripts are loaded for the pipelined reads
    /// of the reconciliation.
    async fn connected(&mut self, backend: &Backend) {
        self.versions.clear();
        if self.load_scripts(backend).await && self.read_versions(backend, true).await.is_some() {
            self.next_poll = Instant::now() + POLL;
            self.reconcile(backend);
        }
    }

    /// A cluster: one connection that routes each command to its slot's shard, and
    /// sharded subscriptions to every bucket's channel, one slot at a time.
    #[cfg(feature = "redis-cluster")]
    async fn connect_cluster(&mut self, backend: &Backend, target: &super::target::ClusterTarget) {
        let (pushes, events) = tokio::sync::mpsc::unbounded_channel();
        let client = match target.client(pushes, CONNECT_TIMEOUT, COMMAND_TIMEOUT) {
            Ok(client) => client,
            Err(e) => return self.failed(&format!("{:?}", e.kind())),
        };
        match timeout(CONNECT_TIMEOUT * 2, client.get_async_connection()).await {
            Ok(Ok(connection)) => self.connection = Some(Commands::Cluster(connection)),
            Ok(Err(e)) => return self.failed(&format!("{:?}", e.kind())),
            Err(_) => return self.failed("timed out connecting"),
        }
        self.events = Some(Events::Cluster(events));
        self.owners.clear();
        if self.subscribe(&channels(backend)).await {
            self.connected(backend).await;
            self.follow_slots(backend).await;
        }
    }

    /// On a cluster: reads which shard owns each bucket's slot (one `CLUSTER SLOTS`);
    /// when one changed since the last read (a failover the server did not tell
    /// subscribers of), the task starts over where everything lives now.
    #[cfg(feature = "redis-cluster")]
    async fn follow_slots(&mut self, backend: &Backend) {
        let Some(connection) = &mut self.connection else {
            return;
        };
        let read = timeout(
            COMMAND_TIMEOUT,
            redis::cmd("CLUSTER")
                .arg("SLOTS")
                .query_async::<redis::Value>(connection),
        )
        .await;
        let Ok(Ok(redis::Value::Array(ranges))) = read else {
            return; // the next poll tries again; commands that fail reconnect
        };
        let ranges: Vec<(u16, u16, String)> = ranges.iter().filter_map(slot_range).collect();
        let mut moved = Vec::new();
        for bucket in 0..layout::BUCKETS {
            let slot = layout::slot(&backend.namespace, bucket);
            let Some((_, _, owner)) = ranges.iter().find(|(a, b, _)| (*a..=*b).contains(&slot))
            else {
                continue;
            };
            if let Some(before) = self.owners.insert(bucket, owner.clone()) {
                if before != *owner {
                    moved.push(bucket);
                }
            }
        }
        if !moved.is_empty() {
            // The client routes by the slots it knew: fresh connections know better.
            self.resync();
        }
    }

    /// Subscribes to `channels` on a cluster, one `SSUBSCRIBE` per channel (each is one
    /// slot: a batch across slots is refused with `CROSSSLOT`), all at once; `false`
    /// when it failed (then the task starts over).
    #[cfg(feature = "redis-cluster")]
    async fn subscribe(&mut self, channels: &[String]) -> bool {
        let Some(Commands::Cluster(connection)) = &self.connection else {
            return false;
        };
        let subscriptions = channels.iter().map(|channel| {
            let mut connection = connection.clone();
            async move { connection.ssubscribe(channel).await }
        });
        let subscribed = timeout(
            CONNECT_TIMEOUT * 2,
            futures_util::future::join_all(subscriptions),
        )
        .await;
        match subscribed {
            Ok(results) => match results.into_iter().find_map(Result::err) {
                None => true,
                Some(e) => self.broke::<()>(&format!("{:?}", e.kind())).is_some(),
            },
            Err(_) => self.broke::<()>("timed out subscribing").is_some(),
        }
    }

    /// The server to talk to: the URL's, or the master the sentinels name now (asked at
    /// every connection: after a failover, the old master may still answer, as a
    /// replica). `None` when it could not be learned.
    async fn server(&mut self, backend: &Backend) -> Option<redis::Client> {
        let target = match &backend.target {
            Target::Server(client) => return Some(client.clone()),
            Target::Sentinel(target) => target,
            #[cfg(feature = "redis-cluster")]
            Target::Cluster(_) => return None,
        };
        if self.sentinel.is_none() {
            match target.client() {
                Ok(client) => self.sentinel = Some(client),
                Err(e) => return self.broke(&format!("{:?}", e.kind())),
            }
        }
        let sentinel = self.sentinel.as_mut()?;
        let master = match timeout(CONNECT_TIMEOUT, sentinel.async_get_client()).await {
            Ok(Ok(master)) => master,
            Ok(Err(e)) => return self.broke(&format!("asking the sentinels: {:?}", e.kind())),
            Err(_) => return self.broke("asking the sentinels timed out"),
        };
        // A connection to another server than the master named now is dropped.
        self.connection = None;
        self.watch_switches().await;
        Some(master)
    }

    /// Subscribes to the sentinels' `+switch-master` announcements, if not already: a
    /// failover is then followed at once, not at the next failed command.
    async fn watch_switches(&mut self) {
        if self.switches.is_some() {
            return;
        }
        let Some(sentinel) = self.sentinel.as_mut() else {
            return;
        };
        let watched = timeout(CONNECT_TIMEOUT, async {
            let client = sentinel.async_get_sentinel_client().await?;
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe("+switch-master").await?;
            Ok::<_, redis::RedisError>(pubsub.into_on_message())
        })
        .await;
        // Without it, a failover is still found: by the next command that fails.
        if let Ok(Ok(switches)) = watched {
            self.switches = Some(switches);
        }
    }

    /// Every breaker's record to be read again, and its recent trip voted again.
    fn reconcile(&mut self, backend: &Backend) {
        self.backlog.clear();
        for name in backend.names() {
            self.backlog.push_back(Due { name, revote: true });
        }
    }

    /// The poll: the versions of the buckets this replica has breakers in, in one
    /// `MGET`; a bucket whose version moved has its breakers' records read again.
    async fn poll(&mut self, backend: &Backend) {
        self.next_poll = Instant::now() + POLL;
        self.watch_switches().await;
        #[cfg(feature = "redis-cluster")]
        if matches!(backend.target, Target::Cluster(_)) {
            self.follow_slots(backend).await;
        }
        let Some(moved) = self.read_versions(backend, false).await else {
            return;
        };
        for bucket in moved {
            self.reread(backend, bucket);
        }
    }

    /// Reads the versions of the buckets with breakers; returns the buckets whose version
    /// differs from the last read. `all` (on connecting) takes every bucket's version as
    /// its baseline; otherwise a bucket without one is left to its breakers' first read
    /// (see [`work`](Self::work)): its breakers have just joined, and their reads are
    /// still to come.
    async fn read_versions(&mut self, backend: &Backend, all: bool) -> Option<Vec<u16>> {
        let mut buckets = backend.buckets();
        if !all {
            buckets.retain(|b| self.versions.contains_key(b));
        }
        if buckets.is_empty() {
            return Some(Vec::new());
        }
        let keys: Vec<String> = buckets
            .iter()
            .map(|b| layout::version_key(&backend.namespace, *b))
            .collect();
        let connection = self.connection.as_mut()?;
        let read = timeout(
            COMMAND_TIMEOUT,
            redis::cmd("MGET")
                .arg(&keys)
                .query_async::<Vec<Option<u64>>>(connection),
        )
        .await;
        let values = match read {
            Ok(Ok(values)) => values,
            Ok(Err(e)) => return self.broke(&format!("{:?}", e.kind())),
            Err(_) => return self.broke("a command timed out"),
        };
        self.succeeded();
        let mut moved = Vec::new();
        for (bucket, value) in buckets.into_iter().zip(values) {
            if self.versions.insert(bucket, value) != Some(value) {
                moved.push(bucket);
            }
        }
        Some(moved)
    }

    /// One chunk of background work: the records of up to [`CHUNK`] breakers read in one
    /// pipelined round trip and applied; the recent trips among them voted again.
    async fn work(&mut self, backend: &Backend) {
        let mut chunk = Vec::with_capacity(CHUNK);
        while chunk.len() < CHUNK {
            let Some(due) = self.backlog.pop_front() else {
                break;
            };
            for member in backend.members_named(&due.name) {
                chunk.push((member, due.revote));
            }
        }
        if chunk.is_empty() {
            return;
        }
        let now = self.now_ms();
        let mut requests = Vec::with_capacity(chunk.len());
        for (member, revote) in &chunk {
            // After a (re)connection, the newest view this replica applied is written
            // back where the server lost it (a failover): it is read all the same.
            let read = if *revote {
                self.replica.reconcile(member)
            } else {
                Request::Snapshot
            };
            requests.push((member.clone(), read));
            if *revote && self.replica.revote(member, now) {
                requests.push((member.clone(), Request::Vote(member.link.trace_for(None))));
            }
        }
        // One pipeline per bucket (a bucket is one hash slot: on a cluster, a pipeline
        // goes to one shard), all sent at once. A bucket read for the first time since
        // the connection (its breakers just joined) has its version read first, in the
        // same pipeline: every later transition comes as an event after that version,
        // so the poll need not read the bucket's records a second time.
        requests.sort_by_key(|(member, _)| member.bucket);
        let Some(connection) = &self.connection else {
            return;
        };
        let mut baselines = Vec::new();
        let pipelines = requests
            .chunk_by(|a, b| a.0.bucket == b.0.bucket)
            .map(|run| {
                let bucket = run[0].0.bucket;
                let mut pipe = redis::pipe();
                let baseline = !self.versions.contains_key(&bucket);
                if baseline {
                    pipe.cmd("GET").arg(&run[0].0.version_key);
                }
                baselines.push((bucket, baseline));
                for (member, request) in run {
                    pipe.add_command(invocation(backend, member, request));
                }
                let mut connection = connection.clone();
                async move { pipe.query_async::<Vec<redis::Value>>(&mut connection).await }
            })
            .collect::<Vec<_>>();
        let budget = (COMMAND_TIMEOUT * requests.len() as u32).min(CHUNK_TIMEOUT);
        let replies = timeout(budget, futures_util::future::join_all(pipelines))
            .await
            .map(|replies| replies.into_iter().collect::<Result<Vec<_>, _>>());
        let replies = match replies {
            Ok(Ok(replies)) => replies,
            Ok(Err(e))
                if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
            {
                // The server lost the scripts (flushed, or a failover): load them, and
                // read these again.
                if self.load_scripts(backend).await {
                    for (member, _) in chunk.into_iter().rev() {
                        self.backlog.push_front(Due {
                            name: member.link.name.clone(),
                            revote: false,
                        });
                    }
                }
                return;
            }
            Ok(Err(e)) => return self.fail_chunk(&chunk, &format!("{:?}", e.kind())),
            Err(_) => return self.fail_chunk(&chunk, "a command timed out"),
        };
        self.succeeded();
        let mut values_of_runs = Vec::with_capacity(requests.len());
        for ((bucket, baseline), run) in baselines.into_iter().zip(replies) {
            let mut run = run.into_iter();
            if baseline {
                let version = match run.next() {
                    Some(redis::Value::Nil) => None,
                    Some(value) => redis::from_redis_value::<u64>(value).ok(),
                    None => None,
                };
                self.versions.entry(bucket).or_insert(version);
            }
            values_of_runs.extend(run);
        }
        let now = self.now_ms();
        for ((member, request), values) in requests.iter().zip(values_of_runs) {
            let values = match values {
                redis::Value::Array(values) => values,
                redis::Value::Nil => Vec::new(),
                _ => continue,
            };
            let reply = parse_reply(request, &values);
            self.replica.on_reply(member, request, reply, now);
        }
    }

    /// A chunk that failed: its breakers wait for the reconnection's reconcile.
    fn fail_chunk(&mut self, _chunk: &[(Member, bool)], why: &str) {
        self.connection = None;
        self.failed(why);
    }

    /// Loads the scripts into the server (after it lost them); `false` when it failed.
    async fn load_scripts(&mut self, backend: &Backend) -> bool {
        let Some(connection) = &self.connection else {
            return false;
        };
        // One command each, all at once: on a cluster, each goes to every node.
        let loads = backend.scripts.codes().iter().map(|code| {
            let mut connection = connection.clone();
            async move {
                redis::cmd("SCRIPT")
                    .arg("LOAD")
                    .arg(code)
                    .exec_async(&mut connection)
                    .await
            }
        });
        let loaded = timeout(COMMAND_TIMEOUT * 2, futures_util::future::join_all(loads))
            .await
            .map(|results| results.into_iter().collect::<Result<(), _>>());
        match loaded {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                self.broke::<()>(&format!("{:?}", e.kind()));
                false
            }
            Err(_) => {
                self.broke::<()>("a command timed out");
                false
            }
        }
    }

    /// Does what the queued breakers' calls asked for, each request as soon as possible.
    async fn serve(&mut self, backend: &Backend) {
        let mut queued = std::mem::take(&mut self.queued);
        self.wake.take_queue(&mut queued);
        for name in &queued {
            for member in backend.members_named(name) {
                let now = self.now_ms();
                for request in self.replica.requests(&member, now) {
                    if !self.send(backend, &member, request).await {
                        self.queued = queued;
                        return;
                    }
                }
            }
        }
        self.queued = queued;
    }

    /// Sends one request and applies its reply; `false` when the backend failed.
    async fn send(&mut self, backend: &Backend, member: &Member, request: Request) -> bool {
        let Some(connection) = self.connection.as_mut() else {
            return false;
        };
        let script = backend.scripts.of(&request);
        let mut call = script.key(&member.key);
        call.key(&member.version_key);
        for arg in arguments(backend, member, &request) {
            call.arg(arg);
        }
        match timeout(
            COMMAND_TIMEOUT,
            call.invoke_async::<Vec<redis::Value>>(connection),
        )
        .await
        {
            Ok(Ok(values)) => {
                self.succeeded();
                let reply = parse_reply(&request, &values);
                let now = self.now_ms();
                self.replica.on_reply(member, &request, reply, now);
                true
            }
            Ok(Err(e)) => self.broke::<bool>(&format!("{:?}", e.kind())).is_some(),
            Err(_) => self.broke::<bool>("a command timed out").is_some(),
        }
    }

    /// A command failed: start over on a new connection (a late reply would answer the
    /// next request, and a connection that failed may not recover on its own).
    fn broke<T>(&mut self, why: &str) -> Option<T> {
        self.connection = None;
        self.failed(why);
        None
    }

    fn succeeded(&mut self) {
        // The backoff starts again once the work of a reconnection is done: a server
        // that answers reads but not writes (a cluster's failover pauses them) is not
        // reconnected to ten times a second.
        if self.backlog.is_empty() {
            self.backoff = BACKOFF_MIN;
        }
        if self.health != Health::Healthy {
            let was = self.health;
            self.health = Health::Healthy;
            self.wake
                .healthy
                .store(true, std::sync::atomic::Ordering::Release);
            if was == Health::Degraded {
                #[cfg(feature = "tracing")]
                crate::telemetry::fleet_recovered(&self.label);
            }
        }
    }

    fn failed(&mut self, _why: &str) {
        // Drop the subscription too: it reconnects with the next attempt, then reconciles.
        self.events = None;
        if self.health == Health::Healthy && self.backoff == BACKOFF_MIN {
            // A backend that was working and done with its last reconnection's work lost
            // its connection (a server restarted, a connection killed or timed out):
            // both connections are made again at once, so that the fleet's events are
            // not held up. A failure again backs off, and so does one that comes before
            // the work of a reconnection is done (a server that takes reads but refuses
            // writes is not reconnected to in a loop).
            self.connection = None;
            self.retry_at = Instant::now();
        } else {
            self.retry_at = Instant::now() + self.backoff;
        }
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
        if self.health == Health::Degraded {
            return;
        }
        self.health = Health::Degraded;
        self.wake
            .healthy
            .store(false, std::sync::atomic::Ordering::Release);
        #[cfg(feature = "tracing")]
        crate::telemetry::fleet_degraded(&self.label, _why);
        if let Some(backend) = self.backend.upgrade() {
            for member in backend.all_members() {
                if let Some(breaker) = member.breaker.upgrade() {
                    breaker.fleet_released();
                }
            }
        }
    }
}

/// One entry of `CLUSTER SLOTS`: `[start, end, [host, port, id, ...], replicas...]`, as
/// the first slot, the last and the primary's `host:port`.
#[cfg(feature = "redis-cluster")]
fn slot_range(entry: &redis::Value) -> Option<(u16, u16, String)> {
    let redis::Value::Array(fields) = entry else {
        return None;
    };
    let number = |v: &redis::Value| redis::from_redis_value_ref::<u16>(v).ok();
    let redis::Value::Array(primary) = fields.get(2)? else {
        return None;
    };
    let host: String = redis::from_redis_value_ref(primary.first()?).ok()?;
    let port = number(primary.get(1)?)?;
    Some((
        number(fields.first()?)?,
        number(fields.get(1)?)?,
        format!("{host}:{port}"),
    ))
}

/// Every bucket's event channel.
fn channels(backend: &Backend) -> Vec<String> {
    (0..layout::BUCKETS)
        .map(|b| layout::channel(&backend.namespace, b))
        .collect()
}

/// The next message of a stream, if there is one; pending forever if not.
async fn next(stream: &mut Option<redis::aio::PubSubStream>) -> Option<redis::Msg> {
    match stream {
        Some(stream) => stream.next().await,
        None => std::future::pending().await,
    }
}

/// The arguments of `request` after the common ones (`channel`, name, TTL).
fn arguments(backend: &Backend, member: &Member, request: &Request) -> Vec<String> {
    let rules = &member.rules;
    let reset = millis_of(rules.reset_timeout).to_string();
    let mut args = vec![
        member.channel.clone(),
        member.link.name.to_string(),
        ttl_ms(rules).to_string(),
    ];
    match request {
        Request::Force(manual) => args.extend([transition(*manual).to_string(), reset]),
        Request::Vote(trace) => args.extend([
            backend.rid.clone(),
            member.link.quorum.to_string(),
            reset,
            open_ms(member).to_string(),
            trace_arg(*trace),
        ]),
        Request::Report(ticket, verdict, trace) => args.extend([
            ticket.token.clone(),
            ticket.gen.to_string(),
            outcome(*verdict).to_string(),
            rules.success_threshold.to_string(),
            open_ms(member).to_string(),
            trace_arg(*trace),
        ]),
        Request::Acquire(token) => args.extend([token.clone(), fleet_lease_ms(rules).to_string()]),
        Request::Snapshot => {}
        Request::Restore(view) => args.extend([
            view.epoch.to_string(),
            view.gen.to_string(),
            state_word(view.state).to_string(),
            u64::try_from(view.open_remaining.as_millis())
                .unwrap_or(u64::MAX)
                .to_string(),
            view.cause.word().to_string(),
            trace_arg(view.trace),
        ]),
    }
    args
}

/// `request` as an `EVALSHA` for a pipeline (the scripts are loaded at connection).
fn invocation(backend: &Backend, member: &Member, request: &Request) -> redis::Cmd {
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(backend.scripts.of(request).get_hash())
        .arg(2)
        .arg(&member.key)
        .arg(&member.version_key)
        .arg(arguments(backend, member, request));
    cmd
}
