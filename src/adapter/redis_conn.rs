//! How the Redis adapter reaches Redis: one server (a redis-rs
//! `ConnectionManager`, which reconnects by itself) or a Redis Cluster (a
//! redis-rs cluster connection, which sends each command to the master of
//! its key's slot, follows MOVED after a failover, and subscribes again
//! after a reconnection). The adapter's tasks speak to a [`Conn`] and do not
//! care which.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, ProtocolVersion, PushInfo, RedisFuture, RedisResult, Value};
use tokio::sync::mpsc;

use crate::hub::HubCore;
use crate::Error;

pub(super) const MIN_BACKOFF: Duration = Duration::from_millis(100);
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Where the cluster's Redis is.
pub(super) enum Server {
    Node(redis::Client),
    /// Some nodes of a Redis Cluster (the others are found from them).
    Cluster(Vec<redis::ConnectionInfo>),
}

/// What a connection is for.
pub(super) struct Options {
    pub response_timeout: Duration,
    /// Subscriptions: their messages arrive here (RESP3 pushes), and they
    /// are made again after a reconnection.
    pub pushes: Option<mpsc::UnboundedSender<PushInfo>>,
}

impl Options {
    pub fn commands() -> Options {
        Options { response_timeout: RESPONSE_TIMEOUT, pushes: None }
    }
}

/// How a subscription listens.
#[derive(Debug, Clone, Copy)]
pub(super) enum Listen {
    Channel,
    Pattern,
    Shard,
    /// Stops listening to a shard channel.
    ShardLeave,
}

#[derive(Clone)]
pub(super) enum Conn {
    Node(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Server {
    /// `url`, or with `cluster` comma-separated nodes of a Redis Cluster; nothing connects yet.
    pub fn open(url: &str, cluster: bool) -> Result<Server, Error> {
        let bad = |e: redis::RedisError| Error::Config(format!("redis_url {url:?}: {e}"));
        if !cluster {
            return redis::Client::open(url).map(Server::Node).map_err(bad);
        }
        let nodes = url.split(',').map(str::trim).filter(|n| !n.is_empty());
        let nodes: Result<Vec<_>, _> = nodes.map(redis::IntoConnectionInfo::into_connection_info).collect();
        Ok(Server::Cluster(nodes.map_err(bad)?))
    }

    async fn connect_once(&self, options: &Options) -> RedisResult<Conn> {
        match self {
            Server::Node(client) => {
                let mut config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(options.response_timeout))
                    .set_number_of_retries(2)
                    .set_max_delay(MAX_BACKOFF);
                let mut client = client.clone();
                if let Some(pushes) = &options.pushes {
                    // Pushes (subscription messages) need RESP3.
                    let info = client.get_connection_info().clone();
                    let resp3 = info.redis_settings().clone().set_protocol(ProtocolVersion::RESP3);
                    client = redis::Client::open(info.set_redis_settings(resp3))?;
                    config = config.set_push_sender(pushes.clone()).set_automatic_resubscription();
                }
                Ok(Conn::Node(client.get_connection_manager_with_config(config).await?))
            }
            Server::Cluster(nodes) => {
                let mut builder = ClusterClient::builder(nodes.clone())
                    .connection_timeout(CONNECT_TIMEOUT)
                    .response_timeout(options.response_timeout)
                    .retries(4);
                if let Some(pushes) = &options.pushes {
                    builder = builder.use_protocol(ProtocolVersion::RESP3).push_sender(pushes.clone());
                }
                Ok(Conn::Cluster(builder.build()?.get_async_connection().await?))
            }
        }
    }

    /// The first connection, retried with backoff until it works or the hub stops.
    pub async fn connect(&self, options: Options, core: &HubCore, what: &str) -> Option<Conn> {
        let mut backoff = MIN_BACKOFF;
        loop {
            match self.connect_once(&options).await {
                Ok(conn) => return Some(conn),
                Err(e) => tracing::warn!(error = %e, "cannot reach Redis to {what}; retrying"),
            }
            if pause(core, &mut backoff).await {
                return None;
            }
        }
    }
}

/// Waits `backoff` (doubled for next time); true when the hub stops meanwhile.
pub(super) async fn pause(core: &HubCore, backoff: &mut Duration) -> bool {
    let wait = *backoff;
    *backoff = (*backoff * 2).min(MAX_BACKOFF);
    tokio::select! {
        _ = tokio::time::sleep(wait) => false,
        _ = core.shutdown.cancelled() => true,
    }
}

impl Conn {
    pub async fn listen(&mut self, how: Listen, channel: &str) -> RedisResult<()> {
        match (self, how) {
            (Conn::Node(c), Listen::Channel) => c.subscribe(channel).await,
            (Conn::Node(c), Listen::Pattern) => c.psubscribe(channel).await,
            (Conn::Node(c), Listen::Shard) => redis::cmd("SSUBSCRIBE").arg(channel).exec_async(c).await,
            (Conn::Node(c), Listen::ShardLeave) => redis::cmd("SUNSUBSCRIBE").arg(channel).exec_async(c).await,
            (Conn::Cluster(c), Listen::Channel) => c.subscribe(channel).await,
            (Conn::Cluster(c), Listen::Pattern) => c.psubscribe(channel).await,
            (Conn::Cluster(c), Listen::Shard) => c.ssubscribe(channel).await,
            (Conn::Cluster(c), Listen::ShardLeave) => c.sunsubscribe(channel).await,
        }
    }

    /// Sends commands in order: one pipeline to one server; one at a time
    /// to a cluster, where a pipeline goes to one node and these commands'
    /// keys and channels live on several.
    pub async fn run_in_order(&mut self, commands: Vec<Cmd>) -> RedisResult<()> {
        match self {
            Conn::Node(c) => {
                let mut pipe = redis::pipe();
                for cmd in commands {
                    pipe.add_command(cmd).ignore();
                }
                pipe.query_async(c).await
            }
            Conn::Cluster(c) => {
                let mut first_error = None;
                for cmd in commands {
                    if let Err(e) = cmd.exec_async(c).await {
                        first_error.get_or_insert(e);
                    }
                }
                first_error.map_or(Ok(()), Err)
            }
        }
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Node(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Node(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Node(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// The subscriber count of a `PUBSUB NUMSUB`/`SHARDNUMSUB` answer: `[channel,
/// n]` from one server, a map of them (summed by the cluster connection)
/// from a cluster.
pub(super) fn subscribers(answer: &Value) -> Option<usize> {
    let count = |v: &Value| match v {
        Value::Int(n) => usize::try_from(*n).ok(),
        Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        _ => None,
    };
    match answer {
        Value::Array(items) => items.get(1).and_then(count),
        Value::Map(pairs) => pairs.first().and_then(|(_, n)| count(n)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriber_counts_from_a_server_and_from_a_cluster() {
        let ch = || Value::BulkString(b"socket.io#/#".to_vec());
        assert_eq!(subscribers(&Value::Array(vec![ch(), Value::Int(3)])), Some(3));
        assert_eq!(subscribers(&Value::Map(vec![(ch(), Value::Int(2))])), Some(2));
        assert_eq!(subscribers(&Value::Nil), None);
    }

    #[test]
    fn cluster_nodes_are_a_comma_separated_list() {
        let Ok(Server::Cluster(nodes)) = Server::open("redis://127.0.0.1:7000, redis://127.0.0.1:7001", true) else {
            panic!("two nodes")
        };
        assert_eq!(nodes.len(), 2);
        assert!(Server::open("nope://x", true).is_err());
        assert!(matches!(Server::open("redis://127.0.0.1:6379", false), Ok(Server::Node(_))));
    }
}
