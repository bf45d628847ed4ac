//! The fleet task's two connections, whatever the deployment: one for commands (scripts,
//! reads) and one stream of what the server pushes (events, and on a cluster the slots
//! that moved away).

use futures_util::StreamExt;
use redis::aio::{ConnectionLike, ConnectionManager};
use redis::{Cmd, Pipeline, RedisFuture, Value};

/// Where commands go: a connection manager for one server (or the master the sentinels
/// named), a cluster connection that routes each command by its keys' slot.
#[derive(Clone)]
pub(super) enum Commands {
    Server(ConnectionManager),
    #[cfg(feature = "redis-cluster")]
    Cluster(redis::cluster_async::ClusterConnection),
}

impl ConnectionLike for Commands {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Commands::Server(c) => c.req_packed_command(cmd),
            #[cfg(feature = "redis-cluster")]
            Commands::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Commands::Server(c) => c.req_packed_commands(cmd, offset, count),
            #[cfg(feature = "redis-cluster")]
            Commands::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Commands::Server(c) => c.get_db(),
            #[cfg(feature = "redis-cluster")]
            Commands::Cluster(c) => c.get_db(),
        }
    }
}

/// What the server pushed.
pub(super) enum Incoming {
    /// An event's payload.
    Message(Vec<u8>),
    /// The server dropped this replica's subscription to a channel (its slot moved to
    /// another shard): subscribe again where it lives now, and read what was missed.
    #[cfg_attr(not(feature = "redis-cluster"), allow(dead_code))]
    Lost(String),
    /// A connection to a node dropped (the client reconnects it): subscribe to every
    /// channel again, and reconcile.
    #[cfg_attr(not(feature = "redis-cluster"), allow(dead_code))]
    Disconnected,
}

/// The stream of what the server pushes.
pub(super) enum Events {
    Server(redis::aio::PubSubStream),
    #[cfg(feature = "redis-cluster")]
    Cluster(tokio::sync::mpsc::UnboundedReceiver<redis::PushInfo>),
}

impl Events {
    /// The next push that matters; `None` when the stream ended.
    pub(super) async fn next(&mut self) -> Option<Incoming> {
        match self {
            Events::Server(stream) => {
                let message = stream.next().await?;
                Some(Incoming::Message(message.get_payload_bytes().to_vec()))
            }
            #[cfg(feature = "redis-cluster")]
            Events::Cluster(pushes) => loop {
                if let Some(incoming) = of_push(pushes.recv().await?) {
                    return Some(incoming);
                }
            },
        }
    }
}

/// A cluster's push, as what it means to the task (confirmations mean nothing).
#[cfg(feature = "redis-cluster")]
fn of_push(push: redis::PushInfo) -> Option<Incoming> {
    let text = |v: &Value| match v {
        Value::BulkString(bytes) => Some(bytes.clone()),
        Value::SimpleString(s) => Some(s.clone().into_bytes()),
        _ => None,
    };
    match push.kind {
        redis::PushKind::SMessage | redis::PushKind::Message => {
            push.data.get(1).and_then(text).map(Incoming::Message)
        }
        redis::PushKind::SUnsubscribe => push
            .data
            .first()
            .and_then(text)
            .and_then(|c| String::from_utf8(c).ok())
            .map(Incoming::Lost),
        redis::PushKind::Disconnection => Some(Incoming::Disconnected),
        _ => None,
    }
}
