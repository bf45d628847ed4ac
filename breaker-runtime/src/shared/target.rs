//! Where a backend finds Redis: one server at a URL, the master a set of Sentinels names
//! (followed through failovers by the task), or (feature `redis-cluster`) a Redis
//! Cluster. Everything here is parsed and validated when the backend is built, without
//! I/O.

use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{ConnectionAddr, IntoConnectionInfo};

use super::redis::RedisBackendError;

/// The addresses a builder was given.
#[derive(Clone)]
pub(super) enum Addresses {
    /// One server.
    Url(String),
    /// The Sentinels watching the master named `master`.
    Sentinel {
        sentinels: Vec<String>,
        master: String,
    },
    /// Some nodes of a cluster (the rest are discovered).
    #[cfg(feature = "redis-cluster")]
    Cluster(Vec<String>),
}

/// The credentials and certificates of a builder.
pub(super) struct Credentials<'a> {
    pub(super) username: Option<&'a str>,
    pub(super) password: Option<&'a str>,
    #[cfg(feature = "redis-tls")]
    pub(super) tls_root: Option<&'a [u8]>,
}

/// How the task reaches Redis.
pub(super) enum Target {
    Server(redis::Client),
    Sentinel(SentinelTarget),
    #[cfg(feature = "redis-cluster")]
    Cluster(ClusterTarget),
}

/// A Redis Cluster: its seed nodes, with the builder's credentials.
#[cfg(feature = "redis-cluster")]
pub(super) struct ClusterTarget {
    nodes: Vec<redis::ConnectionInfo>,
    login: (Option<String>, Option<String>),
    #[cfg(feature = "redis-tls")]
    tls_root: Option<Vec<u8>>,
}

#[cfg(feature = "redis-cluster")]
impl ClusterTarget {
    /// A client whose connections speak RESP3 and push sharded messages, confirmations
    /// and disconnections to `pushes`. Its own retries are few and its timeouts the
    /// task's: the task decides when to give up and reconnect.
    pub(super) fn client(
        &self,
        pushes: tokio::sync::mpsc::UnboundedSender<redis::PushInfo>,
        connect_timeout: std::time::Duration,
        command_timeout: std::time::Duration,
    ) -> redis::RedisResult<redis::cluster::ClusterClient> {
        let mut builder = redis::cluster::ClusterClientBuilder::new(self.nodes.clone())
            .use_protocol(redis::ProtocolVersion::RESP3)
            .push_sender(pushes)
            .retries(2)
            .min_retry_wait(10)
            .max_retry_wait(100)
            .connection_timeout(connect_timeout)
            .response_timeout(command_timeout);
        if let Some(username) = &self.login.0 {
            builder = builder.username(username);
        }
        if let Some(password) = &self.login.1 {
            builder = builder.password(password);
        }
        #[cfg(feature = "redis-tls")]
        if let Some(root) = &self.tls_root {
            builder = builder.certs(redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(root.clone()),
            });
        }
        builder.build()
    }
}

/// A master named by Sentinels: the task asks them for it at every (re)connection and
/// watches their `+switch-master` announcements.
pub(super) struct SentinelTarget {
    pub(super) master: String,
    sentinels: Vec<ConnectionAddr>,
    /// The sentinels' credentials (from their URLs).
    sentinel_login: (Option<String>, Option<String>),
    /// The master's credentials (the builder's).
    login: (Option<String>, Option<String>),
    tls: bool,
    #[cfg(feature = "redis-tls")]
    tls_root: Option<Vec<u8>>,
}

impl SentinelTarget {
    /// A client for the Sentinels (each task has its own: it keeps connections).
    pub(super) fn client(&self) -> redis::RedisResult<SentinelClient> {
        let mut builder = SentinelClientBuilder::new(
            self.sentinels.iter().cloned(),
            &self.master,
            SentinelServerType::Master,
        )?;
        if let Some(username) = &self.sentinel_login.0 {
            builder = builder.set_client_to_sentinel_username(username);
        }
        if let Some(password) = &self.sentinel_login.1 {
            builder = builder.set_client_to_sentinel_password(password);
        }
        if let Some(username) = &self.login.0 {
            builder = builder.set_client_to_redis_username(username);
        }
        if let Some(password) = &self.login.1 {
            builder = builder.set_client_to_redis_password(password);
        }
        if self.tls {
            builder = builder.set_client_to_redis_tls_mode(redis::TlsMode::Secure);
        }
        #[cfg(feature = "redis-tls")]
        if let Some(root) = &self.tls_root {
            let certificates = || redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(root.clone()),
            };
            builder = builder.set_client_to_redis_certificates(certificates());
            if self.tls {
                builder = builder.set_client_to_sentinel_certificates(certificates());
            }
        }
        builder.build()
    }
}

impl Addresses {
    /// The addresses as shown in `Debug`, `Display` and errors: never a password.
    pub(super) fn shown(&self) -> String {
        match self {
            Addresses::Url(url) => redact(url),
            Addresses::Sentinel { sentinels, master } => {
                let sentinels: Vec<String> = sentinels.iter().map(|s| redact(s)).collect();
                format!("sentinel {master} at {}", sentinels.join(", "))
            }
            #[cfg(feature = "redis-cluster")]
            Addresses::Cluster(nodes) => {
                let nodes: Vec<String> = nodes.iter().map(|s| redact(s)).collect();
                format!("cluster at {}", nodes.join(", "))
            }
        }
    }

    /// Parses and validates the addresses; no I/O.
    pub(super) fn target(
        &self,
        credentials: &Credentials<'_>,
    ) -> Result<Target, RedisBackendError> {
        let shown = self.shown();
        let error = |message: String| RedisBackendError { message };
        let parse = |url: &str| {
            if url.starts_with("rediss://") && !cfg!(feature = "redis-tls") {
                return Err(error(format!(
                    "{}: a rediss:// URL needs TLS, the `redis-tls` feature of breaker-runtime: \
                     breaker-runtime = {{ version = \"0.1\", features = [\"redis-tls\"] }}",
                    redact(url)
                )));
            }
            url.into_connection_info().map_err(|e| {
                error(format!(
                    "{} is not a Redis URL ({:?}): write it like redis://127.0.0.1:6379 or redis://user:password@host:6379/0",
                    redact(url),
                    e.kind()
                ))
            })
        };
        match self {
            Addresses::Url(url) => {
                let info = parse(url)?;
                let mut settings = info.redis_settings().clone();
                if let Some(username) = credentials.username {
                    settings = settings.set_username(username);
                }
                if let Some(password) = credentials.password {
                    settings = settings.set_password(password);
                }
                let client = client(info.set_redis_settings(settings), credentials)
                    .map_err(|e| error(format!("{shown}: {:?}", e.kind())))?;
                Ok(Target::Server(client))
            }
            Addresses::Sentinel { sentinels, master } => {
                if sentinels.is_empty() {
                    return Err(error(
                        "no sentinel given: list their addresses, e.g. \
                         RedisBackend::sentinel([\"redis://10.0.0.1:26379\", \"redis://10.0.0.2:26379\"], \"mymaster\")"
                            .into(),
                    ));
                }
                if master.is_empty() {
                    return Err(error(
                        "the master's name is empty: give the name the sentinels monitor it by (`sentinel monitor <name> ...`), e.g. \"mymaster\"".into(),
                    ));
                }
                let infos = sentinels
                    .iter()
                    .map(|url| parse(url))
                    .collect::<Result<Vec<_>, _>>()?;
                let tls = matches!(infos[0].addr(), ConnectionAddr::TcpTls { .. });
                if infos
                    .iter()
                    .any(|i| matches!(i.addr(), ConnectionAddr::TcpTls { .. }) != tls)
                {
                    return Err(error(format!(
                        "{shown}: the sentinels mix redis:// and rediss:// URLs: use one scheme for all"
                    )));
                }
                // The sentinels' own credentials come from their URLs (the first that
                // has any); the builder's are the master's.
                let sentinel_login = infos
                    .iter()
                    .map(|i| i.redis_settings())
                    .find(|s| s.password().is_some() || s.username().is_some())
                    .map_or((None, None), |s| {
                        (
                            s.username().map(str::to_string),
                            s.password().map(str::to_string),
                        )
                    });
                let target = SentinelTarget {
                    master: master.clone(),
                    sentinels: infos.iter().map(|i| i.addr().clone()).collect(),
                    sentinel_login,
                    login: (
                        credentials.username.map(str::to_string),
                        credentials.password.map(str::to_string),
                    ),
                    tls,
                    #[cfg(feature = "redis-tls")]
                    tls_root: credentials.tls_root.map(<[u8]>::to_vec),
                };
                #[cfg(feature = "redis-tls")]
                let _ = rustls::crypto::ring::default_provider().install_default();
                target
                    .client()
                    .map_err(|e| error(format!("{shown}: {:?}", e.kind())))?;
                Ok(Target::Sentinel(target))
            }
            #[cfg(feature = "redis-cluster")]
            Addresses::Cluster(nodes) => {
                if nodes.is_empty() {
                    return Err(error(
                        "no cluster node given: list one or more, e.g. \
                         RedisBackend::cluster([\"redis://10.0.0.1:6379\", \"redis://10.0.0.2:6379\"])"
                            .into(),
                    ));
                }
                let infos = nodes
                    .iter()
                    .map(|url| parse(url))
                    .collect::<Result<Vec<_>, _>>()?;
                // The credentials of the builder, or of the first URL that has any.
                let from_urls = infos
                    .iter()
                    .map(|i| i.redis_settings())
                    .find(|s| s.password().is_some() || s.username().is_some());
                let login = (
                    credentials
                        .username
                        .or_else(|| from_urls.and_then(|s| s.username()))
                        .map(str::to_string),
                    credentials
                        .password
                        .or_else(|| from_urls.and_then(|s| s.password()))
                        .map(str::to_string),
                );
                let target = ClusterTarget {
                    nodes: infos,
                    login,
                    #[cfg(feature = "redis-tls")]
                    tls_root: credentials.tls_root.map(<[u8]>::to_vec),
                };
                #[cfg(feature = "redis-tls")]
                let _ = rustls::crypto::ring::default_provider().install_default();
                let (pushes, _) = tokio::sync::mpsc::unbounded_channel();
                let timeout = std::time::Duration::from_millis(500);
                target
                    .client(pushes, timeout, timeout)
                    .map_err(|e| error(format!("{shown}: {:?}", e.kind())))?;
                Ok(Target::Cluster(target))
            }
        }
    }
}

#[cfg(feature = "redis-tls")]
fn client(
    info: redis::ConnectionInfo,
    credentials: &Credentials<'_>,
) -> redis::RedisResult<redis::Client> {
    // rustls needs a process-wide crypto provider; ring's, unless one is installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match credentials.tls_root {
        Some(root) => redis::Client::build_with_tls(
            info,
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(root.to_vec()),
            },
        ),
        None => redis::Client::open(info),
    }
}

#[cfg(not(feature = "redis-tls"))]
fn client(info: redis::ConnectionInfo, _: &Credentials<'_>) -> redis::RedisResult<redis::Client> {
    redis::Client::open(info)
}

/// `url` with the password, if any, replaced by `***`.
pub(super) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}
