//! The Redis backend: one replica's connection to the fleet, and the background task
//! that does all of its I/O.

use std::fmt;
use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use std::collections::HashMap;

use super::layout;
use super::link::{Link, Wake};
use super::replica::{parse_state, Cause, Member, Reply, Request, View};
use super::scripts::Scripts;
use super::target::{Addresses, Credentials, Target};
use crate::breaker::WeakBreaker;
use crate::config::Rules;
use crate::sync::lock;
use crate::traceparent::TraceParent;
use crate::{CircuitBreaker, Name};

/// One replica's connection to the fleet on Redis: build it with
/// [`RedisBackend::builder`], join breakers to it with
/// [`Builder::shared`](crate::Builder::shared), or [`install`] it for the
/// `#[circuit_breaker(shared)]` functions.
///
/// Clones share the connection. Two backends built in one process are two replicas
/// (each with its own identity, connections and background thread): that is how tests
/// put a fleet in one process.
///
/// Its `Debug` and `Display` never show a password.
#[derive(Clone)]
pub struct RedisBackend {
    inner: Arc<Backend>,
}

pub(super) struct Backend {
    /// Tells this backend from every other built in the process (from 1), for a name
    /// built again with another backend (`ConfigError::NameTaken`).
    pub(super) id: u32,
    pub(super) target: Target,
    /// The addresses with any password replaced by `***`.
    shown: String,
    pub(super) namespace: String,
    /// This replica's identity in votes and lease tokens.
    pub(super) rid: String,
    pub(super) wake: Arc<Wake>,
    members: Mutex<Members>,
    task: OnceLock<()>,
    pub(super) scripts: Scripts,
}

/// The breakers of one backend, by name (two breakers of one name in one backend are
/// two members), and those that joined since the task last looked.
#[derive(Default)]
struct Members {
    by_name: HashMap<Name, Vec<Member>>,
    joined: Vec<Name>,
}

impl Backend {
    /// The live members named `name`.
    pub(super) fn members_named(&self, name: &str) -> Vec<Member> {
        let members = lock(&self.members);
        members
            .by_name
            .get(name)
            .map(|named| {
                named
                    .iter()
                    .filter(|m| m.breaker.is_alive())
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every live member (the dead are forgotten on the way).
    pub(super) fn all_members(&self) -> Vec<Member> {
        let mut members = lock(&self.members);
        members.by_name.retain(|_, named| {
            named.retain(|m| m.breaker.is_alive());
            !named.is_empty()
        });
        members.by_name.values().flatten().cloned().collect()
    }

    /// The names of every member.
    pub(super) fn names(&self) -> Vec<Name> {
        self.all_members();
        lock(&self.members).by_name.keys().cloned().collect()
    }

    /// The names of the members in `bucket`.
    pub(super) fn names_in(&self, bucket: u16) -> Vec<Name> {
        let members = lock(&self.members);
        members
            .by_name
            .iter()
            .filter(|(_, named)| named.first().is_some_and(|m| m.bucket == bucket))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// The buckets with members, in order.
    pub(super) fn buckets(&self) -> Vec<u16> {
        let members = lock(&self.members);
        let mut buckets: Vec<u16> = members
            .by_name
            .values()
            .filter_map(|named| named.first().map(|m| m.bucket))
            .collect();
        buckets.sort_unstable();
        buckets.dedup();
        buckets
    }

    /// The members that joined since the last call.
    pub(super) fn take_joined(&self) -> Vec<Name> {
        std::mem::take(&mut lock(&self.members).joined)
    }
}

/// Configures a [`RedisBackend`]; from [`RedisBackend::builder`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct RedisBackendBuilder {
    addresses: Addresses,
    namespace: String,
    username: Option<String>,
    password: Option<String>,
    /// For `rediss://`: the root certificate to trust instead of the system's.
    #[cfg(feature = "redis-tls")]
    tls_root: Option<Vec<u8>>,
}

/// Why a [`RedisBackend`] could not be built. Its messages never show a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisBackendError {
    pub(super) message: String,
}

impl fmt::Display for RedisBackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RedisBackendError {}

impl RedisBackend {
    /// Starts configuring a backend for the Redis at `url`
    /// (`redis://[user[:password]@]host[:port][/db]`, or `redis+unix:///path`).
    pub fn builder(url: impl Into<String>) -> RedisBackendBuilder {
        RedisBackendBuilder::new(Addresses::Url(url.into()))
    }

    /// Starts configuring a backend for the master that Redis Sentinels name
    /// `master_name`, given the sentinels' URLs (`redis://host:26379`, with the
    /// sentinels' own credentials if they need any; `rediss://` for TLS, feature
    /// `redis-tls`). The builder's [`username`](RedisBackendBuilder::username) and
    /// [`password`](RedisBackendBuilder::password) are the master's.
    ///
    /// The backend follows failovers: it asks a sentinel for the master at every
    /// (re)connection and on each `+switch-master`, reconnects in the background (no
    /// caller waits), and writes back the fleet's newest state where the new master lost
    /// it.
    ///
    /// ```
    /// use breaker_runtime::shared::RedisBackend;
    ///
    /// let backend = RedisBackend::sentinel(
    ///     ["redis://10.0.0.1:26379", "redis://10.0.0.2:26379", "redis://10.0.0.3:26379"],
    ///     "mymaster",
    /// )
    /// .namespace("checkout")
    /// .password("s3cret")
    /// .build()?;
    /// # Ok::<(), breaker_runtime::shared::RedisBackendError>(())
    /// ```
    pub fn sentinel<S: Into<String>>(
        sentinels: impl IntoIterator<Item = S>,
        master_name: impl Into<String>,
    ) -> RedisBackendBuilder {
        RedisBackendBuilder::new(Addresses::Sentinel {
            sentinels: sentinels.into_iter().map(Into::into).collect(),
            master: master_name.into(),
        })
    }

    /// The namespace its breakers' keys live in.
    pub fn namespace(&self) -> &str {
        &self.inner.namespace
    }

    /// The Redis key of the fleet record of the breaker `name` (a hash: `state`, `gen`,
    /// `open_until`, ...), for an operator's `HGETALL`. Records are spread over 64
    /// buckets per namespace; see the README's "Running a fleet".
    ///
    /// ```
    /// # use breaker_runtime::shared::RedisBackend;
    /// let backend = RedisBackend::builder("redis://127.0.0.1:6379").namespace("checkout").build()?;
    /// let key = backend.record_key("payments");
    /// assert!(key.starts_with("brk:v2:{checkout:") && key.ends_with("}:r:payments"));
    /// # Ok::<(), breaker_runtime::shared::RedisBackendError>(())
    /// ```
    pub fn record_key(&self, name: &str) -> String {
        layout::record_key(&self.inner.namespace, name)
    }

    /// The channel a breaker's fleet events are published on (its bucket's).
    pub fn channel(&self, name: &str) -> String {
        layout::channel(&self.inner.namespace, layout::bucket(name))
    }

    /// Whether the last exchange with Redis succeeded.
    pub fn is_healthy(&self) -> bool {
        self.inner
            .wake
            .healthy
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// Joins `breaker` to the fleet breaker of its name, and starts the background task
    /// with the first.
    pub(crate) fn join(&self, breaker: &CircuitBreaker, quorum: u32) {
        let link = Arc::new(Link::new(
            breaker.name_handle().clone(),
            quorum,
            self.inner.wake.clone(),
        ));
        if !breaker.sinks().join(link.clone()) {
            return;
        }
        let namespace = &self.inner.namespace;
        let bucket = layout::bucket(&link.name);
        let member = Member {
            key: layout::record_key(namespace, &link.name),
            version_key: layout::version_key(namespace, bucket),
            channel: layout::channel(namespace, bucket),
            bucket,
            link,
            breaker: breaker.downgrade(),
            rules: Rules::from(breaker.config()),
        };
        // Room for the link in the task's queue: raising a flag never allocates.
        self.inner.wake.reserve();
        let mut members = lock(&self.inner.members);
        members.joined.push(member.link.name.clone());
        members
            .by_name
            .entry(member.link.name.clone())
            .or_default()
            .push(member);
        drop(members);
        self.inner
            .task
            .get_or_init(|| spawn(Arc::downgrade(&self.inner)));
        self.inner.wake.notify.notify_one();
    }
}

#[cfg(feature = "redis-cluster")]
impl RedisBackend {
    /// Starts configuring a backend for a Redis Cluster (feature `redis-cluster`, Redis
    /// 7 or later), given some of its nodes' URLs (the others are discovered). The
    /// builder's [`username`](RedisBackendBuilder::username) and
    /// [`password`](RedisBackendBuilder::password) apply to every node.
    ///
    /// A bucket of breakers (records, version counter, event channel) lives in one hash
    /// slot, so every script runs on one shard; events go by sharded publish/subscribe
    /// (`SPUBLISH`/`SSUBSCRIBE`) to that shard's subscribers only. The backend follows
    /// failovers and resharding: a slot that moves away is subscribed again at its new
    /// owner and its breakers read again; no caller waits.
    ///
    /// ```
    /// use breaker_runtime::shared::RedisBackend;
    ///
    /// let backend = RedisBackend::cluster(["redis://10.0.0.1:6379", "redis://10.0.0.2:6379"])
    ///     .namespace("checkout")
    ///     .build()?;
    /// # Ok::<(), breaker_runtime::shared::RedisBackendError>(())
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "redis-cluster")))]
    pub fn cluster<S: Into<String>>(nodes: impl IntoIterator<Item = S>) -> RedisBackendBuilder {
        RedisBackendBuilder::new(Addresses::Cluster(
            nodes.into_iter().map(Into::into).collect(),
        ))
    }
}

impl RedisBackendBuilder {
    fn new(addresses: Addresses) -> Self {
        RedisBackendBuilder {
            addresses,
            namespace: "breaker".to_string(),
            username: None,
            password: None,
            #[cfg(feature = "redis-tls")]
            tls_root: None,
        }
    }

    /// The namespace of its breakers' keys (default `breaker`): two namespaces never
    /// share state, even for breakers of the same name.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// The ACL user to authenticate as (overrides one in the URL).
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// The password to authenticate with (overrides one in the URL). Never shown.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// For a `rediss://` URL (feature `redis-tls`): trust this root certificate (PEM)
    /// instead of the system's, as for a managed Redis with its own certificate authority.
    #[cfg(feature = "redis-tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis-tls")))]
    pub fn tls_root_certificate(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls_root = Some(pem.into());
        self
    }

    /// Parses and validates; does no I/O, so it succeeds while Redis is down.
    pub fn build(self) -> Result<RedisBackend, RedisBackendError> {
        if self.namespace.is_empty() || self.namespace.contains(['{', '}', ' ']) {
            return Err(RedisBackendError {
                message: format!(
                    "the namespace {:?} is not valid: use a non-empty name without braces or spaces, e.g. \"checkout\"",
                    self.namespace
                ),
            });
        }
        let target = self.addresses.target(&Credentials {
            username: self.username.as_deref(),
            password: self.password.as_deref(),
            #[cfg(feature = "redis-tls")]
            tls_root: self.tls_root.as_deref(),
        })?;
        static BUILT: AtomicU32 = AtomicU32::new(0);
        Ok(RedisBackend {
            inner: Arc::new(Backend {
                id: BUILT.fetch_add(1, Relaxed) + 1,
                shown: self.addresses.shown(),
                namespace: self.namespace,
                rid: replica_id(),
                wake: Arc::new(Wake::new()),
                members: Mutex::new(Members::default()),
                task: OnceLock::new(),
                scripts: match target {
                    #[cfg(feature = "redis-cluster")]
                    Target::Cluster(_) => Scripts::sharded(),
                    _ => Scripts::new(),
                },
                target,
            }),
        })
    }
}

impl fmt::Debug for RedisBackendBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBackendBuilder")
            .field("addresses", &self.addresses.shown())
            .field("namespace", &self.namespace)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

impl fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBackend")
            .field("addresses", &self.inner.shown)
            .field("namespace", &self.inner.namespace)
            .field("healthy", &self.is_healthy())
            .finish()
    }
}

impl fmt::Display for RedisBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (namespace {})",
            self.inner.shown, self.inner.namespace
        )
    }
}

/// 64 random bits, from the standard library's per-process random hasher keys and the
/// time: enough to tell replicas apart.
fn replica_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    format!("{:016x}", hasher.finish())
}

static INSTALLED: OnceLock<RedisBackend> = OnceLock::new();

/// Shared breakers built before a backend was installed: they join it when it is.
static WAITING: Mutex<Vec<(WeakBreaker, u32)>> = Mutex::new(Vec::new());

/// Why [`install`] refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InstallError {
    /// A backend is installed already; it stays.
    AlreadyInstalled,
}

impl fmt::Display for InstallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a fleet backend is installed already: install one per process, at start-up")
    }
}

impl std::error::Error for InstallError {}

/// Sets the process-wide backend that `#[circuit_breaker(shared)]` functions (and
/// breakers built with [`Builder::shared_installed`](crate::Builder::shared_installed))
/// join. Breakers of that kind built before it run locally until it is installed, then
/// join it. A second install is refused.
pub fn install(backend: RedisBackend) -> Result<(), InstallError> {
    let mut waiting = lock(&WAITING);
    INSTALLED
        .set(backend.clone())
        .map_err(|_| InstallError::AlreadyInstalled)?;
    for (breaker, quorum) in waiting.drain(..) {
        if let Some(breaker) = breaker.upgrade() {
            backend.join(&breaker, quorum);
        }
    }
    Ok(())
}

/// The installed backend; or, with none yet, `None`, and `breaker` joins the one
/// installed later.
pub(crate) fn installed_or_wait(breaker: &CircuitBreaker, quorum: u32) -> Option<RedisBackend> {
    let mut waiting = lock(&WAITING);
    if let Some(backend) = INSTALLED.get() {
        return Some(backend.clone());
    }
    // Dropped ones are swept when the list has doubled since the last sweep: a sweep at
    // every push would make n breakers (a keyed set's, say) cost n² steps.
    if waiting.len().is_power_of_two() {
        waiting.retain(|(b, _)| b.is_alive());
    }
    waiting.push((breaker.downgrade(), quorum));
    None
}

/// The id of the backend installed for the process, or 0 while none is.
pub(crate) fn installed_id() -> u32 {
    INSTALLED.get().map_or(0, |backend| backend.inner.id)
}

impl RedisBackend {
    /// Its id in the process (see `Backend::id`).
    pub(crate) fn id(&self) -> u32 {
        self.inner.id
    }
}

// --- the background task ----------------------------------------------------------------

fn spawn(backend: Weak<Backend>) {
    let started = std::thread::Builder::new()
        .name("breaker-fleet".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            match runtime {
                Ok(runtime) => runtime.block_on(super::task::Task::new(backend).run()),
                Err(_error) => {
                    #[cfg(feature = "tracing")]
                    tracing::error!(error = %_error, "could not start the breaker-fleet runtime: breakers stay local");
                }
            }
        });
    if let Err(_error) = started {
        #[cfg(feature = "tracing")]
        tracing::error!(error = %_error, "could not start the breaker-fleet thread: breakers stay local");
    }
}

/// A view from a script's reply: `{state, epoch, gen, open_remaining_ms, cause,
/// trace}`. A `trace` that is not a valid `traceparent` is no trace: the record is
/// shared with whatever else writes to Redis.
fn parse_view(fields: &[redis::Value]) -> Option<View> {
    let text = |v: &redis::Value| -> Option<String> { redis::from_redis_value_ref(v).ok() };
    let number = |v: &redis::Value| -> Option<u64> { redis::from_redis_value_ref(v).ok() };
    Some(View {
        state: parse_state(&text(fields.first()?)?)?,
        epoch: number(fields.get(1)?)?,
        gen: number(fields.get(2)?)?,
        open_remaining: Duration::from_millis(number(fields.get(3)?)?),
        cause: Cause::parse(&text(fields.get(4)?)?)?,
        trace: fields
            .get(5)
            .and_then(text)
            .and_then(|t| TraceParent::parse(&t)),
    })
}

/// A published event: `epoch gen state remaining_ms cause trace version name` (`trace`
/// is `-` for none; `version` the bucket's version the transition made).
pub(super) struct Event<'a> {
    pub(super) view: View,
    pub(super) version: u64,
    pub(super) name: &'a str,
}

pub(super) fn parse_event(payload: &str) -> Option<Event<'_>> {
    let mut parts = payload.splitn(8, ' ');
    let epoch = parts.next()?.parse().ok()?;
    let gen = parts.next()?.parse().ok()?;
    let state = parse_state(parts.next()?)?;
    let remaining = parts.next()?.parse().ok()?;
    let cause = Cause::parse(parts.next()?)?;
    let trace = TraceParent::parse(parts.next()?);
    let version = parts.next()?.parse().ok()?;
    let name = parts.next()?;
    Some(Event {
        view: View {
            state,
            epoch,
            gen,
            open_remaining: Duration::from_millis(remaining),
            cause,
            trace,
        },
        version,
        name,
    })
}

/// A `traceparent` argument: empty for none.
pub(super) fn trace_arg(trace: Option<TraceParent>) -> String {
    trace.map(|t| t.to_string()).unwrap_or_default()
}

/// A script's reply to `request`.
pub(super) fn parse_reply(request: &Request, values: &[redis::Value]) -> Reply {
    let word = |i: usize| -> Option<String> {
        values
            .get(i)
            .and_then(|v| redis::from_redis_value_ref(v).ok())
    };
    let number = |i: usize| -> Option<u64> {
        values
            .get(i)
            .and_then(|v| redis::from_redis_value_ref(v).ok())
    };
    match request {
        Request::Acquire(_) => match (word(0).as_deref(), number(2), number(1)) {
            (Some("granted"), Some(gen), _) => Reply::Granted { gen },
            (_, _, wait) => Reply::Denied {
                wait_ms: wait.unwrap_or(0),
                view: parse_view(values.get(2..).unwrap_or_default()),
            },
        },
        Request::Report(..) => Reply::View(parse_view(values.get(1..).unwrap_or_default())),
        Request::Force(_) | Request::Vote(_) | Request::Snapshot | Request::Restore(_) => {
            Reply::View(parse_view(values))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::target::redact;
    use crate::State;

    #[test]
    fn passwords_are_never_shown() {
        assert_eq!(
            redact("redis://user:hunter2@cache:6379/0"),
            "redis://user:***@cache:6379/0"
        );
        assert_eq!(redact("redis://:hunter2@cache"), "redis://:***@cache");
        assert_eq!(redact("redis://cache:6379"), "redis://cache:6379");
        let backend = RedisBackend::builder("redis://:hunter2@127.0.0.1:6379")
            .password("swordfish")
            .build()
            .unwrap();
        let shown = format!("{backend:?} {backend}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("swordfish"),
            "{shown}"
        );
        let builder = RedisBackend::builder("redis://u:hunter2@h").password("swordfish");
        let shown = format!("{builder:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("swordfish"),
            "{shown}"
        );
    }

    #[test]
    fn bad_settings_are_refused_with_what_to_write() {
        let e = RedisBackend::builder("http://:hunter2@cache")
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("is not a Redis URL"), "{e}");
        assert!(e.to_string().contains("redis://127.0.0.1:6379"), "{e}");
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = RedisBackend::builder("redis://cache")
            .namespace("a{b}")
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("without braces or spaces"), "{e}");
        assert!(RedisBackend::builder("redis://cache")
            .namespace("")
            .build()
            .is_err());
        let none: [&str; 0] = [];
        let e = RedisBackend::sentinel(none, "mymaster")
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("no sentinel given"), "{e}");
        let e = RedisBackend::sentinel(["redis://s1:26379"], "")
            .build()
            .unwrap_err();
        assert!(
            e.to_string().contains("`sentinel monitor <name> ...`"),
            "{e}"
        );
        let e = RedisBackend::sentinel(["redis://:hunter2@s1:26379", "nonsense"], "m")
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("nonsense is not a Redis URL"), "{e}");
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let backend = RedisBackend::sentinel(["redis://:hunter2@s1:26379"], "m")
            .password("swordfish")
            .build()
            .unwrap();
        let shown = format!("{backend:?} {backend}");
        assert!(
            shown.contains("sentinel m at redis://:***@s1:26379"),
            "{shown}"
        );
        assert!(
            !shown.contains("hunter2") && !shown.contains("swordfish"),
            "{shown}"
        );
    }

    #[test]
    fn events_and_views_are_parsed_strictly() {
        let event = parse_event("1700000000000 3 open 59000 auto - 17 user profile").unwrap();
        let view = event.view;
        assert_eq!((event.name, event.version), ("user profile", 17));
        assert_eq!(
            (view.state, view.gen, view.cause, view.trace),
            (State::Open, 3, Cause::Auto, None)
        );
        assert_eq!(view.open_remaining, Duration::from_secs(59));
        let trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let payload = format!("1 4 closed 0 auto {trace} 5 n");
        let event = parse_event(&payload).unwrap();
        assert_eq!(
            event.view.trace.map(|t| t.to_string()).as_deref(),
            Some(trace)
        );
        let event = parse_event("1 4 closed 0 auto 00-garbage 5 n").unwrap();
        assert_eq!(
            (event.view.trace, event.name),
            (None, "n"),
            "a garbage trace is no trace"
        );
        assert!(parse_event("x 3 open 1 auto - 5 n").is_none());
        assert!(parse_event("1 3 exploded 1 auto - 5 n").is_none());
        assert!(parse_event("1 3 open 1 sideways - 5 n").is_none());
        assert!(parse_event("1 3 open 1 auto - n").is_none(), "no version");
        assert!(parse_event("1 3 open").is_none());
    }
}

/// The Lua scripts and the in-memory model (`memory.rs`) agree, request for request, on
/// a real Redis: what the property tests prove of the model holds of the scripts.
#[cfg(all(test, not(loom)))]
mod scripts_agree_with_the_model {
    use proptest::prelude::*;

    use super::*;
    use crate::events::Manual;
    use crate::shared::link::Ticket;
    use crate::shared::memory::{Args, Server};
    use crate::shared::replica::{outcome, transition};
    use crate::{State, Verdict};

    struct RedisProcess(std::process::Child, u16);

    impl Drop for RedisProcess {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn redis_server() -> Option<RedisProcess> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "no", "--logfile", ""])
            .stdout(std::process::Stdio::null())
            .spawn();
        let Ok(child) = child else {
            assert!(std::env::var_os("CI").is_none(), "CI installs redis-server");
            eprintln!("skipped: install the Debian package `redis-server`");
            return None;
        };
        let server = RedisProcess(child, port);
        let start = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "redis-server starts"
            );
            std::thread::yield_now();
        }
        Some(server)
    }

    #[derive(Debug, Clone)]
    enum Step {
        /// A vote from replica n, for an opening of duration o (an index: the reset
        /// timeout, or an advice shorter or longer), in span m (none for `None`).
        Vote(u8, u8, Option<u8>),
        Acquire,
        /// Report the last granted lease (or a made-up stale one) with this verdict, a
        /// failure reopening for duration o, in span m.
        Report(bool, Option<bool>, u8, Option<u8>),
        Snapshot,
        Force(u8),
        /// Write back a view: epoch older than, the same as, or newer than the record's
        /// (0, 1, 2), a generation, a state and a cause (indices), in span m.
        Restore(u8, u64, u8, u8, Option<u8>),
    }

    fn step() -> impl Strategy<Value = Step> {
        let span = prop::option::of(0u8..3);
        prop_oneof![
            3 => (0u8..3, 0u8..3, span.clone()).prop_map(|(r, o, s)| Step::Vote(r, o, s)),
            2 => Just(Step::Acquire),
            2 => (any::<bool>(), prop::option::of(any::<bool>()), 0u8..3, span.clone())
                .prop_map(|(l, v, o, s)| Step::Report(l, v, o, s)),
            1 => Just(Step::Snapshot),
            2 => (0u8..5).prop_map(Step::Force),
            2 => (0u8..3, 0u64..6, 0u8..3, 0u8..4, span)
                .prop_map(|(e, g, st, c, s)| Step::Restore(e, g, st, c, s)),
        ]
    }

    /// The span `n` of the test, as a traceparent.
    fn span(n: Option<u8>) -> Option<TraceParent> {
        n.map(|n| TraceParent {
            trace_id: [n + 1; 16],
            span_id: [n + 1; 8],
            flags: 1,
        })
    }

    /// The parts of a reply that do not depend on which clock read the time.
    fn shape(reply: &Reply) -> String {
        let view = |v: &Option<View>| v.map(|v| (v.state, v.gen, v.cause, v.trace));
        match reply {
            Reply::View(v) => format!("view {:?}", view(v)),
            Reply::Granted { gen } => format!("granted {gen}"),
            Reply::Denied { view: v, .. } => format!("denied {:?}", view(v)),
        }
    }

    #[test]
    fn a_vote_keeps_only_a_traceparent_that_has_the_form() {
        let Some(server) = redis_server() else {
            return;
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = redis::Client::open(format!("redis://127.0.0.1:{}", server.1)).unwrap();
        let mut connection = runtime
            .block_on(client.get_multiplexed_async_connection())
            .unwrap();
        let scripts = Scripts::new();
        let valid = span(Some(0)).unwrap().to_string();
        let oversized = format!("{valid}{}", "0".repeat(200));
        let cases = [
            (valid.as_str(), Some(span(Some(0)).unwrap())),
            (oversized.as_str(), None),
            ("00-zzzz-garbage", None),
            ("", None),
        ];
        for (n, (trace, kept)) in cases.into_iter().enumerate() {
            let key = layout::record_key("trace", &format!("t{n}"));
            let mut vote = scripts.vote.key(&key);
            vote.key(layout::version_key(
                "trace",
                layout::bucket(&format!("t{n}")),
            ))
            .arg(layout::channel("trace", 0))
            .arg(format!("t{n}"))
            .arg(600_000u64);
            for arg in ["r0", "1", "60000", "60000", trace] {
                vote.arg(arg);
            }
            let values: Vec<redis::Value> = runtime
                .block_on(vote.invoke_async(&mut connection))
                .unwrap();
            let view = parse_view(&values).expect("a view");
            assert_eq!(view.state, crate::State::Open);
            assert_eq!(view.trace, kept, "{trace:?}");
            let stored: String = runtime
                .block_on(
                    redis::cmd("HGET")
                        .arg(&key)
                        .arg("trace")
                        .query_async(&mut connection),
                )
                .unwrap();
            assert_eq!(
                stored.len(),
                if kept.is_some() { TraceParent::LEN } else { 0 }
            );
        }
    }

    #[test]
    fn request_for_request() {
        let Some(server) = redis_server() else {
            return;
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = redis::Client::open(format!("redis://127.0.0.1:{}", server.1)).unwrap();
        let connection = runtime
            .block_on(client.get_multiplexed_async_connection())
            .unwrap();
        let scripts = Scripts::new();
        let case = std::sync::atomic::AtomicU32::new(0);
        proptest!(ProptestConfig::with_cases(64), |(steps in prop::collection::vec(step(), 1..40))| {
            let case = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut connection = connection.clone();
            let name = format!("{case}");
            let key = layout::record_key("agree", &name);
            let version = layout::version_key("agree", layout::bucket(&name));
            // The model's clock starts later than epoch 1, an epoch older than any.
            let mut model = Server::default();
            model.now_ms = 1_000;
            let mut granted: Option<Ticket> = None;
            let mut seq = 0u32;
            // The record's epoch on each side (the two clocks differ): a restore's epoch
            // is written relative to it.
            let (mut epoch_redis, mut epoch_model) = (1u64, 1u64);
            let restore = |e: u8, gen: u64, st: u8, c: u8, s: Option<u8>, epoch: u64| {
                Request::Restore(View {
                    epoch: [1, epoch, 9_000_000_000_000_000][usize::from(e)],
                    gen,
                    state: [State::Closed, State::Open, State::HalfOpen][usize::from(st)],
                    open_remaining: Duration::from_secs(30),
                    cause: [Cause::Auto, Cause::Manual, Cause::Forced, Cause::Disabled][usize::from(c)],
                    trace: span(s),
                })
            };
            for step in steps {
                seq += 1;
                let request = match &step {
                    Step::Restore(e, g, st, c, s) => restore(*e, *g, *st, *c, *s, epoch_redis),
                    Step::Vote(_, _, s) => Request::Vote(span(*s)),
                    Step::Acquire => Request::Acquire(format!("t{seq}")),
                    Step::Report(last, verdict, _, s) => {
                        let ticket = match (last, &granted) {
                            (true, Some(ticket)) => ticket.clone(),
                            _ => Ticket { token: "stale".into(), gen: 7 },
                        };
                        let verdict = match verdict {
                            Some(true) => Verdict::Success,
                            Some(false) => Verdict::Failure,
                            None => Verdict::Ignore,
                        };
                        Request::Report(ticket, verdict, span(*s))
                    }
                    Step::Snapshot => Request::Snapshot,
                    Step::Force(n) => Request::Force(
                        [Manual::Open, Manual::HalfOpen, Manual::Close, Manual::ForceOpen, Manual::Disable]
                            [usize::from(*n)],
                    ),
                };
                let rid = match step { Step::Vote(r, _, _) => format!("r{r}"), _ => "r0".into() };
                // A long reset and lease: no deadline passes between the two clocks.
                let (reset, lease) = (60_000u64, 30_000u64);
                // An opening's duration: the reset timeout, or an upstream's advice,
                // shorter or longer.
                let open = match step {
                    Step::Vote(_, o, _) | Step::Report(_, _, o, _) => [reset, 5_000, 240_000][usize::from(o)],
                    _ => reset,
                };
                let args: Vec<String> = match &request {
                    Request::Force(m) => vec![transition(*m).into(), reset.to_string()],
                    Request::Vote(s) => vec![rid.clone(), "2".into(), reset.to_string(), open.to_string(), trace_arg(*s)],
                    Request::Report(t, v, s) => vec![t.token.clone(), t.gen.to_string(), outcome(*v).into(), "1".into(), open.to_string(), trace_arg(*s)],
                    Request::Acquire(token) => vec![token.clone(), lease.to_string()],
                    Request::Snapshot => vec![],
                    Request::Restore(v) => vec![
                        v.epoch.to_string(),
                        v.gen.to_string(),
                        crate::shared::replica::state_word(v.state).into(),
                        v.open_remaining.as_millis().to_string(),
                        v.cause.word().into(),
                        trace_arg(v.trace),
                    ],
                };
                let script = match &request {
                    Request::Restore(_) => &scripts.restore,
                    Request::Force(_) => &scripts.force,
                    Request::Vote(_) => &scripts.vote,
                    Request::Report(..) => &scripts.report,
                    Request::Acquire(_) => &scripts.acquire,
                    Request::Snapshot => &scripts.snapshot,
                };
                let mut invocation = script.key(&key);
                invocation.key(&version).arg(layout::channel("agree", 0)).arg(&name).arg(600_000u64);
                for arg in &args {
                    invocation.arg(arg);
                }
                let values: Vec<redis::Value> = runtime
                    .block_on(invocation.invoke_async(&mut connection))
                    .unwrap();
                let from_redis = parse_reply(&request, &values);
                let for_model = match &step {
                    Step::Restore(e, g, st, c, s) => restore(*e, *g, *st, *c, *s, epoch_model),
                    _ => request.clone(),
                };
                let from_model = model.handle(&name, &for_model, &Args {
                    rid: &rid,
                    quorum: 2,
                    reset_ms: reset,
                    open_ms: open,
                    lease_ms: lease,
                    success_threshold: 1,
                });
                prop_assert_eq!(shape(&from_redis), shape(&from_model), "{:?}", step);
                if let (Reply::View(Some(a)), Reply::View(Some(b))) = (&from_redis, &from_model) {
                    (epoch_redis, epoch_model) = (a.epoch, b.epoch);
                }
                if let (Reply::Granted { gen }, Request::Acquire(token)) = (&from_redis, &request) {
                    granted = Some(Ticket { token: token.clone(), gen: *gen });
                }
            }
        });
    }
}
