//! # fastmcp-storage-redis
//!
//! [`RedisStore`]: both storage traits on Redis, so any number of server instances share
//! sessions, event logs and client replies.
//!
//! ## Layout
//! Every key is defined in `keys.rs`, whose header is the full table (type, contents,
//! lifetime). Every key of a session carries the hash tag `{prefix:entity:session}`, so all
//! multi-key work of one session lands in one Redis Cluster slot.
//!
//! Saves are compare-and-swap in a Lua script; `load_and_touch` is one command (`GETEX … PX`),
//! the only Redis work of a request answered with JSON, pipelined with the reads of concurrent
//! requests on one server (`reads.rs`). Live subscribers and reply waiters use blocking reads (`XREAD BLOCK`,
//! `BLPOP`) on connections of their own, so they never stall the shared multiplexed connection.

mod api_keys;
mod catalog;
mod connection;
mod entity_config;
mod keys;
mod limits;
mod logs;
mod queue;
mod reads;
mod secrets;
mod sessions;

use std::time::Duration;

use async_trait::async_trait;
use connection::{Blocking, Opener, Shared};
use fastmcp_core::storage::{Event, EventId, EventStream, SessionPage};
use fastmcp_core::storage::{StoreError, StoreResult};
use fastmcp_core::{
    redact_url, ApiKeyRecord, ApiKeyStore, EntityConfig, EntityConfigStore, EntityId, KeyStore,
    LimitStore, LogRecord, LogStore, MessageQueue, SessionId, SessionRecord, SessionStore,
    StreamKey,
};
use redis::{RedisError, Script, Value as RV};
use serde_json::Value;

/// Re-exported so users build configs with the matching client version.
pub use redis;

/// Settings of the Redis backend.
#[derive(Clone)]
pub struct RedisConfig {
    /// `redis://[:password@]host:port[/db]` (or `rediss://`) for one server;
    /// `redis+cluster://[:password@]host:port,host:port` (or `rediss+cluster://`) for the seed
    /// nodes of a Redis Cluster.
    pub url: String,
    /// Prefix of every key, so several deployments can share one Redis.
    pub prefix: String,
    /// Approximate cap on events per stream (`XADD MAXLEN ~`).
    pub max_events_per_stream: usize,
    /// A stream idle this long expires as a whole.
    pub stream_ttl: Duration,
    /// How long an undelivered client reply is kept.
    pub reply_ttl: Duration,
    /// How long one blocking read waits before re-checking (bounds shutdown latency).
    pub block_interval: Duration,
    /// Log records kept per entity (the newest).
    pub max_logs_per_entity: usize,
    /// PEM of the CA that signed the server's certificate, for `rediss://` to a server whose
    /// certificate the system's roots do not cover (a private CA). `None`: the system's roots.
    pub ca_pem: Option<Vec<u8>>,
}

impl RedisConfig {
    /// Defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            prefix: "fastmcp".into(),
            max_events_per_stream: 1000,
            stream_ttl: Duration::from_secs(3600),
            reply_ttl: Duration::from_secs(300),
            block_interval: Duration::from_secs(5),
            max_logs_per_entity: 1000,
            ca_pem: None,
        }
    }
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &redact_url(&self.url))
            .field("prefix", &self.prefix)
            .field("max_events_per_stream", &self.max_events_per_stream)
            .field("stream_ttl", &self.stream_ttl)
            .field("reply_ttl", &self.reply_ttl)
            .finish()
    }
}

/// Compare-and-swap on the `VERSION:` prefix of the stored value.
const SAVE: &str = r"
local cur = redis.call('GET', KEYS[1])
if not cur then return -1 end
if string.match(cur, '^(%d+):') ~= ARGV[1] then return -2 end
redis.call('SET', KEYS[1], ARGV[2] .. ':' .. ARGV[3], 'PX', ARGV[4])
return 1";

/// Marks the end of a stream (`close`, `delete_session`); never returned as an event.
const END_FIELD: &str = "end";
const MSG_FIELD: &str = "m";

/// The Redis backend. Cloning shares the connection.
#[derive(Clone)]
pub struct RedisStore {
    con: Shared,
    opener: Opener,
    cfg: RedisConfig,
    keys: keys::Keys,
    save: Script,
    /// Pipelined session reads on one server; `None` on a cluster (see `reads.rs`).
    reads: Option<reads::Reads>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("cfg", &self.cfg)
            .finish()
    }
}

/// Outages are `Unavailable` (retryable): the connection, and a cluster mid-failover or
/// mid-migration (`MOVED` to a node that is gone, `TRYAGAIN`, `CLUSTERDOWN`, `MASTERDOWN`,
/// `READONLY` from a demoted master) once the client's own retries are spent.
fn map_err(what: &str, e: RedisError) -> StoreError {
    use redis::{ErrorKind, ServerErrorKind};
    let failing_over = e.is_cluster_error()
        || matches!(
            e.kind(),
            ErrorKind::Server(ServerErrorKind::MasterDown | ServerErrorKind::ReadOnly)
        );
    if e.is_io_error()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.is_connection_dropped()
        || failing_over
    {
        StoreError::unavailable(format!("redis: {what}"), e)
    } else {
        StoreError::backend(format!("redis: {what}"), e)
    }
}

fn ms(d: Duration) -> u64 {
    d.as_millis().max(1) as u64
}

impl RedisStore {
    /// Connects (and fails fast if Redis cannot be reached now); later outages are retried by
    /// the connection manager (one server) or the cluster client (which also follows a
    /// failover), and calls made meanwhile fail with `StoreError::Unavailable`.
    pub async fn connect(cfg: RedisConfig) -> StoreResult<Self> {
        let (con, opener) = connection::connect(&cfg.url, cfg.ca_pem.as_deref()).await?;
        let reads = match &con {
            Shared::One(manager) => Some(reads::Reads::start(manager.clone())),
            Shared::Cluster(_) => None,
        };
        Ok(Self {
            con,
            reads,
            opener,
            keys: keys::Keys::new(cfg.prefix.clone()),
            cfg,
            save: Script::new(SAVE),
        })
    }

    /// A connection of its own for blocking commands on `key` (see [`Blocking`]).
    async fn dedicated(&self, key: &str, longest_block: Duration) -> StoreResult<Blocking> {
        self.opener.blocking(key, longest_block).await
    }

    fn decode(
        entity: &EntityId,
        id: &SessionId,
        raw: Option<String>,
    ) -> StoreResult<Option<SessionRecord>> {
        let Some(raw) = raw else { return Ok(None) };
        let corrupt = || StoreError::Backend {
            message: "redis: corrupt session record".into(),
            source: None,
        };
        let (v, d) = raw.split_once(':').ok_or_else(corrupt)?;
        let mut rec: SessionRecord = serde_json::from_str(d)
            .map_err(|e| StoreError::backend("redis: corrupt session record", e))?;
        rec.version = v.parse().map_err(|_| corrupt())?;
        // The key already scopes by entity; this guards against a hand-edited record.
        if &rec.entity != entity || &rec.id != id {
            return Ok(None);
        }
        Ok(Some(rec))
    }

    fn encode(record: &SessionRecord) -> StoreResult<String> {
        serde_json::to_string(record)
            .map_err(|e| StoreError::internal(format!("cannot encode session: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fastmcp_core::testing::Stores;

    /// The suite runs against the Redis named by FASTMCP_TEST_REDIS_URL (scripts/test.sh starts
    /// one on a free port). Without it the tests are skipped, except under CI, where a missing
    /// backend is a failure.
    async fn stores() -> Option<Stores> {
        let url = fastmcp_core::testing::backend_url("FASTMCP_TEST_REDIS_URL")?;
        let mut cfg = RedisConfig::new(url);
        cfg.prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
        cfg.block_interval = Duration::from_millis(500);
        Some(Stores::of(
            RedisStore::connect(cfg).await.expect("redis reachable"),
        ))
    }

    fastmcp_core::store_test_suite!(optional stores());

    /// The same suite over TLS (`rediss://`, a server certificate from a private CA), against
    /// the TLS port scripts/test.sh opens with certificates from scripts/tls-certs.sh.
    mod over_tls {
        use super::*;

        pub(super) fn ca(var: &str) -> Option<Vec<u8>> {
            let path = fastmcp_core::testing::backend_url(var)?;
            Some(std::fs::read(path).expect("the CA file named by the environment"))
        }

        pub(super) async fn stores() -> Option<Stores> {
            let url = fastmcp_core::testing::backend_url("FASTMCP_TEST_REDIS_TLS_URL")?;
            let mut cfg = RedisConfig::new(url);
            cfg.ca_pem = ca("FASTMCP_TEST_TLS_CA");
            cfg.prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
            cfg.block_interval = Duration::from_millis(500);
            Some(Stores::of(
                RedisStore::connect(cfg)
                    .await
                    .expect("redis reachable over TLS"),
            ))
        }

        fastmcp_core::store_test_suite!(optional stores());
    }

    /// The same suite on a Redis Cluster (3 masters, 3 replicas) that scripts/test.sh starts
    /// with scripts/redis-cluster.sh: every command lands on the node serving its slot, and
    /// blocking reads follow the slot to its node.
    mod over_cluster {
        use super::*;

        async fn stores() -> Option<Stores> {
            let url = fastmcp_core::testing::backend_url("FASTMCP_TEST_REDIS_CLUSTER_URL")?;
            let mut cfg = RedisConfig::new(url);
            cfg.prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
            cfg.block_interval = Duration::from_millis(500);
            Some(Stores::of(
                RedisStore::connect(cfg)
                    .await
                    .expect("redis cluster reachable"),
            ))
        }

        fastmcp_core::store_test_suite!(optional stores());
    }

    /// A certificate from another CA is refused at connect time, with the reason in the chain.
    #[tokio::test]
    async fn tls_with_the_wrong_ca_fails_at_connect() {
        let Some(url) = fastmcp_core::testing::backend_url("FASTMCP_TEST_REDIS_TLS_URL") else {
            return;
        };
        let mut cfg = RedisConfig::new(url);
        cfg.ca_pem = over_tls::ca("FASTMCP_TEST_TLS_WRONG_CA");
        let err = RedisStore::connect(cfg).await.unwrap_err();
        let report = err.report().to_string();
        assert!(report.to_lowercase().contains("certificate"), "{report}");
    }

    /// `rediss://` to a plain-text server fails; it never falls back to plain text.
    #[tokio::test]
    async fn tls_to_a_plain_server_fails() {
        let Some(plain) = fastmcp_core::testing::backend_url("FASTMCP_TEST_REDIS_URL") else {
            return;
        };
        let mut cfg = RedisConfig::new(plain.replacen("redis://", "rediss://", 1));
        cfg.ca_pem = over_tls::ca("FASTMCP_TEST_TLS_CA");
        assert!(RedisStore::connect(cfg).await.is_err());
    }

    #[test]
    fn debug_hides_the_password() {
        let cfg = RedisConfig::new("redis://user:hunter2@localhost:6379/0");
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("user:***@localhost"), "{shown}");
    }

    #[tokio::test]
    async fn unreachable_redis_is_unavailable() {
        let err = RedisStore::connect(RedisConfig::new("redis://127.0.0.1:1"))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    }
}
