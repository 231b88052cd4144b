//! How the store reaches Redis: one server (`redis://`, `rediss://`) or a Redis Cluster
//! (`redis+cluster://`, `rediss+cluster://`, seed nodes separated by commas).
//!
//! Two kinds of connection:
//! - [`Shared`]: the multiplexed connection every request uses. On one server it is a
//!   `ConnectionManager` (reconnects by itself); on a cluster the redis crate's cluster client,
//!   which routes each command by its key's slot, follows `MOVED`/`ASK` and refreshes its slot
//!   map after a failover.
//! - [`Blocking`]: a connection of its own for `XREAD BLOCK` and `BLPOP`, which would stall
//!   every command queued behind them on a shared connection. On a cluster it goes to the node
//!   that serves the key's slot: the node last seen serving it, else a seed, following `MOVED`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fastmcp_core::redact_url;
use fastmcp_core::storage::{StoreError, StoreResult};
use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::Slot;
use redis::{
    Client, Cmd, ConnectionAddr, ConnectionInfo, ErrorKind, FromRedisValue, IntoConnectionInfo,
    Pipeline, RedisError, RedisFuture, ServerErrorKind, TlsCertificates, Value,
};

use crate::map_err;

/// Connect timeout of every connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Response timeout of the shared connection (blocking ones get theirs from the block time).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Redirections followed by one blocking command before it gives up (a slot moves once per
/// failover or migration; more means the cluster is still settling).
const MAX_REDIRECTS: usize = 3;

/// The store URL, parsed: one server, or the seed nodes of a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// `redis://` or `rediss://`, as given.
    One(String),
    /// One `redis://` or `rediss://` URL per seed node (credentials repeated on each).
    Cluster(Vec<String>),
}

impl Target {
    /// `redis+cluster://[user:pass@]host:port,host:port[/]` (or `rediss+cluster://`) names a
    /// cluster; anything else is one server. A cluster has database 0 only, so a path naming
    /// another is refused rather than ignored.
    pub(crate) fn parse(url: &str) -> Result<Self, String> {
        let Some((scheme, rest)) = url.split_once("://") else {
            return Ok(Self::One(url.into()));
        };
        let base = match scheme {
            "redis+cluster" => "redis",
            "rediss+cluster" => "rediss",
            _ => return Ok(Self::One(url.into())),
        };
        let (auth, hosts) = match rest.rsplit_once('@') {
            Some((auth, hosts)) => (format!("{auth}@"), hosts),
            None => (String::new(), rest),
        };
        let (hosts, path) = hosts.split_once('/').unwrap_or((hosts, ""));
        if !matches!(path, "" | "0") {
            return Err(format!(
                "a Redis Cluster has database 0 only, not {path:?}: drop the path from the URL"
            ));
        }
        let seeds: Vec<String> = hosts
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(|h| format!("{base}://{auth}{h}"))
            .collect();
        if seeds.is_empty() {
            return Err("a Redis Cluster URL names no node: redis+cluster://host:port,…".into());
        }
        Ok(Self::Cluster(seeds))
    }
}

/// The shared, multiplexed connection of every request. Cloning shares it.
#[derive(Clone)]
pub(crate) enum Shared {
    One(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Shared {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::One(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::One(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::One(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

/// What blocking connections are opened from.
#[derive(Clone)]
pub(crate) enum Opener {
    One(Box<Client>),
    Cluster(Arc<ClusterOpener>),
}

/// Seed nodes, TLS settings, and the node last seen serving each slot.
pub(crate) struct ClusterOpener {
    seeds: Vec<ConnectionInfo>,
    ca_pem: Option<Vec<u8>>,
    /// Bounded by the number of slots (16,384); filled from `MOVED` answers.
    owners: Mutex<HashMap<Slot, String>>,
}

/// Opens both kinds of connection to the Redis named by `url`, failing fast when it cannot be
/// reached now.
pub(crate) async fn connect(url: &str, ca_pem: Option<&[u8]>) -> StoreResult<(Shared, Opener)> {
    let invalid = |e| StoreError::backend(format!("invalid Redis URL {}", redact_url(url)), e);
    let certs = |ca: &[u8]| TlsCertificates {
        client_tls: None,
        root_cert: Some(ca.to_vec()),
    };
    match Target::parse(url).map_err(StoreError::invalid_value)? {
        Target::One(url) => {
            let client = match ca_pem {
                Some(ca) if url.starts_with("rediss://") => {
                    Client::build_with_tls(url.as_str(), certs(ca))
                }
                _ => Client::open(url.as_str()),
            }
            .map_err(invalid)?;
            let cfg = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(CONNECT_TIMEOUT))
                .set_response_timeout(Some(RESPONSE_TIMEOUT))
                .set_number_of_retries(2)
                .set_max_delay(Duration::from_millis(500));
            let con = ConnectionManager::new_with_config(client.clone(), cfg)
                .await
                .map_err(|e| map_err("connect", e))?;
            Ok((Shared::One(con), Opener::One(Box::new(client))))
        }
        Target::Cluster(seeds) => {
            let infos = seeds
                .iter()
                .map(|s| s.as_str().into_connection_info())
                .collect::<Result<Vec<_>, _>>()
                .map_err(invalid)?;
            let mut builder = ClusterClient::builder(infos.clone())
                .connection_timeout(CONNECT_TIMEOUT)
                .response_timeout(RESPONSE_TIMEOUT)
                // A failover takes the cluster's node timeout plus an election. The client
                // retries a command on a moved or unreachable slot with backoff: 50 ms doubling
                // to 1 s, about 4.5 s in all, which rides out a failover on a short node
                // timeout; past that the caller gets `Unavailable` (503, retryable). The
                // crate's default (16 tries from 1.28 s) would hold a request for minutes.
                .retries(8)
                .min_retry_wait(50)
                .max_retry_wait(1_000)
                .retry_wait_formula(50, 2);
            if let (Some(ca), true) = (ca_pem, seeds.iter().any(|s| s.starts_with("rediss://"))) {
                builder = builder.certs(certs(ca));
            }
            let client = builder.build().map_err(invalid)?;
            let con = client
                .get_async_connection()
                .await
                .map_err(|e| map_err("connect to the cluster", e))?;
            let opener = ClusterOpener {
                seeds: infos,
                ca_pem: ca_pem.map(<[u8]>::to_vec),
                owners: Mutex::new(HashMap::new()),
            };
            Ok((Shared::Cluster(con), Opener::Cluster(Arc::new(opener))))
        }
    }
}

/// A connection of its own for blocking commands on one key, with a response timeout that
/// outlasts the blocking time (the client's default, 500 ms, would fail every long block).
pub(crate) struct Blocking {
    con: MultiplexedConnection,
    opener: Opener,
    key: String,
    longest_block: Duration,
}

fn blocking_config(longest_block: Duration) -> redis::AsyncConnectionConfig {
    redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(longest_block + RESPONSE_TIMEOUT))
}

impl Opener {
    /// A blocking connection for commands on `key`, to the node that serves it.
    pub(crate) async fn blocking(
        &self,
        key: &str,
        longest_block: Duration,
    ) -> StoreResult<Blocking> {
        let con = match self {
            Self::One(client) => client
                .get_multiplexed_async_connection_with_config(&blocking_config(longest_block))
                .await
                .map_err(|e| map_err("connect (blocking reader)", e))?,
            Self::Cluster(c) => c.open_for(key, longest_block).await?,
        };
        Ok(Blocking {
            con,
            opener: self.clone(),
            key: key.into(),
            longest_block,
        })
    }
}

impl ClusterOpener {
    fn info_for(&self, addr: &str) -> Option<ConnectionInfo> {
        let (host, port) = addr.rsplit_once(':')?;
        let port: u16 = port.parse().ok()?;
        let seed = self.seeds.first()?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let addr = match seed.addr() {
            ConnectionAddr::TcpTls { insecure, .. } => ConnectionAddr::TcpTls {
                host,
                port,
                insecure: *insecure,
                tls_params: None,
            },
            _ => ConnectionAddr::Tcp(host, port),
        };
        Some(seed.clone().set_addr(addr))
    }

    async fn open(
        &self,
        info: ConnectionInfo,
        longest_block: Duration,
    ) -> Result<MultiplexedConnection, RedisError> {
        let client = match &self.ca_pem {
            Some(ca) if matches!(info.addr(), ConnectionAddr::TcpTls { .. }) => {
                Client::build_with_tls(
                    info,
                    TlsCertificates {
                        client_tls: None,
                        root_cert: Some(ca.clone()),
                    },
                )?
            }
            _ => Client::open(info)?,
        };
        client
            .get_multiplexed_async_connection_with_config(&blocking_config(longest_block))
            .await
    }

    /// The node last seen serving the key's slot if it still answers, else the first seed that
    /// does. Which node that is gets settled by the first command (`MOVED`).
    async fn open_for(
        &self,
        key: &str,
        longest_block: Duration,
    ) -> StoreResult<MultiplexedConnection> {
        let slot = Slot::for_key(key);
        let known = self.owner(slot);
        let mut last = None;
        let candidates = known
            .and_then(|a| self.info_for(&a))
            .into_iter()
            .chain(self.seeds.iter().cloned());
        for info in candidates {
            match self.open(info, longest_block).await {
                Ok(con) => return Ok(con),
                Err(e) => last = Some(e),
            }
        }
        self.forget(slot);
        Err(match last {
            Some(e) => map_err("connect to a cluster node (blocking reader)", e),
            None => StoreError::internal("a Redis Cluster store without seed nodes"),
        })
    }

    fn owner(&self, slot: Slot) -> Option<String> {
        self.owners.lock().ok()?.get(&slot).cloned()
    }

    fn learn(&self, slot: Slot, addr: &str) {
        if let Ok(mut owners) = self.owners.lock() {
            owners.insert(slot, addr.to_string());
        }
    }

    fn forget(&self, slot: Slot) {
        if let Ok(mut owners) = self.owners.lock() {
            owners.remove(&slot);
        }
    }
}

impl Blocking {
    /// Runs `cmd` (on this connection's key). On a cluster, a `MOVED` answer reconnects to the
    /// node it names and runs the command again there; `ASK` (a slot being migrated) runs it
    /// once on the named node after `ASKING`.
    pub(crate) async fn query<T: FromRedisValue>(&mut self, cmd: &Cmd) -> Result<T, RedisError> {
        let Opener::Cluster(cluster) = &self.opener else {
            return cmd.query_async(&mut self.con).await;
        };
        let cluster = cluster.clone();
        let slot = Slot::for_key(&self.key);
        let mut redirects = 0;
        loop {
            let err = match cmd.query_async(&mut self.con).await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let kind = err.kind();
            let target = err.redirect_node().map(|(addr, _)| addr.to_string());
            let (Some(addr), true) = (target, redirects < MAX_REDIRECTS) else {
                if err.is_io_error() || err.is_connection_dropped() || err.is_connection_refusal() {
                    // The node is gone (a failover): the next connection starts from the seeds.
                    cluster.forget(slot);
                }
                return Err(err);
            };
            redirects += 1;
            let Some(info) = cluster.info_for(&addr) else {
                return Err(err);
            };
            let mut con = cluster.open(info, self.longest_block).await?;
            if kind == ErrorKind::Server(ServerErrorKind::Ask) {
                let (v,): (T,) = redis::pipe()
                    .cmd("ASKING")
                    .ignore()
                    .add_command(cmd.clone())
                    .query_async(&mut con)
                    .await?;
                return Ok(v);
            }
            cluster.learn(slot, &addr);
            self.con = con;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_urls_name_their_seeds() {
        assert_eq!(
            Target::parse("redis+cluster://u:p@a:7000,b:7001/").unwrap(),
            Target::Cluster(vec![
                "redis://u:p@a:7000".into(),
                "redis://u:p@b:7001".into()
            ])
        );
        assert_eq!(
            Target::parse("rediss+cluster://h:1").unwrap(),
            Target::Cluster(vec!["rediss://h:1".into()])
        );
        assert_eq!(
            Target::parse("redis://h:1/2").unwrap(),
            Target::One("redis://h:1/2".into())
        );
        assert!(Target::parse("redis+cluster://h:1/3")
            .unwrap_err()
            .contains("database 0"));
        assert!(Target::parse("redis+cluster://").is_err());
    }
}
