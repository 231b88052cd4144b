//! Sessions: the record every instance reads and writes, and the store that keeps it.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::StoreResult;
use crate::ids::{EntityId, SessionId};
use crate::protocol::LoggingLevel;

/// Everything the server remembers about one MCP session between requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The session id (also the storage key, with the entity).
    pub id: SessionId,
    /// The tenant that owns the session; fixed for its lifetime.
    pub entity: EntityId,
    /// Negotiated revision; `None` until `initialize` (a legacy SSE session exists before it).
    #[serde(default)]
    pub protocol_version: Option<String>,
    /// `clientInfo` from `initialize` (shared: cloning a record must stay cheap, it happens on
    /// every request).
    #[serde(default)]
    pub client_info: Arc<Value>,
    /// `capabilities` from `initialize` (shared, as above).
    #[serde(default)]
    pub client_capabilities: Arc<Value>,
    /// Set by `notifications/initialized`.
    #[serde(default)]
    pub initialized: bool,
    /// Minimum level of `notifications/message` sent to this session (`logging/setLevel`);
    /// `None` means the server's default.
    #[serde(default)]
    pub logging_level: Option<LoggingLevel>,
    /// Resource URIs subscribed with `resources/subscribe`.
    #[serde(default)]
    pub subscriptions: BTreeSet<String>,
    /// Application state kept by handlers through `Context::set_state` (shared, as above: a
    /// request that does not change it does not copy it).
    #[serde(default)]
    pub state: Arc<Map<String, Value>>,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_at_ms: u64,
    /// Optimistic-concurrency version, owned by the store: 1 after `create`, +1 per `save`.
    #[serde(default)]
    pub version: u64,
    /// Subject of the principal that opened the session; only it may use the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// How the client is connected: where server-initiated messages for it go.
    #[serde(default, skip_serializing_if = "SessionTransport::is_streamable_http")]
    pub transport: SessionTransport,
}

/// The transport a handshake-era session was opened on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionTransport {
    /// Streamable HTTP (`/{entity}/mcp`): server-initiated messages go on the GET stream.
    #[default]
    StreamableHttp,
    /// HTTP+SSE (2024-11-05): every message goes on the session's one event stream.
    LegacySse,
}

impl SessionTransport {
    /// The name of the stream that carries messages not tied to a request.
    pub fn standalone_stream(self) -> &'static str {
        match self {
            SessionTransport::StreamableHttp => "get",
            SessionTransport::LegacySse => "sse",
        }
    }

    fn is_streamable_http(&self) -> bool {
        *self == SessionTransport::StreamableHttp
    }
}

impl SessionRecord {
    /// A new, not yet initialized session for `entity`.
    pub fn new(entity: EntityId) -> Self {
        Self {
            id: SessionId::new_random(),
            entity,
            protocol_version: None,
            client_info: Arc::new(Value::Null),
            client_capabilities: Arc::new(Value::Null),
            initialized: false,
            logging_level: None,
            subscriptions: BTreeSet::new(),
            state: Arc::default(),
            created_at_ms: now_ms(),
            version: 0,
            principal: None,
            transport: SessionTransport::StreamableHttp,
        }
    }

    /// `clientInfo.name`, if the client sent one.
    pub fn client_name(&self) -> Option<&str> {
        self.client_info.get("name").and_then(Value::as_str)
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// One page of [`SessionStore::list`].
#[derive(Debug, Clone, Default)]
pub struct SessionPage {
    /// Sessions in ascending id order.
    pub sessions: Vec<SessionRecord>,
    /// Pass to the next call to continue; `None` at the end.
    pub next_cursor: Option<String>,
}

/// Durable, entity-scoped session records with an idle TTL.
///
/// Guarantees every implementation gives:
/// - **Entity scoping**: a record is visible only under the entity it was created with; every
///   method called with another entity behaves as if the id did not exist.
/// - **TTL**: a record not touched (by `create`, `save`, `touch` or `load_and_touch`) for its TTL
///   is gone: `load` returns `Ok(None)` from then on. Expiry may be lazy but never late by more
///   than the backend's sweep interval for anything observable through this trait.
/// - **Optimistic concurrency**: `save` succeeds only if the stored `version` equals the
///   record's, and bumps it; two instances can never silently overwrite each other.
/// - **Durability**: once a call returns `Ok`, every instance sharing the backend sees its effect.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Stores a new record with version 1 and returns it as stored.
    /// `Err(StoreError::Conflict)` if the id exists.
    async fn create(&self, record: SessionRecord, ttl: Duration) -> StoreResult<SessionRecord>;

    /// The record, or `Ok(None)` when it does not exist, expired, or belongs to another entity.
    async fn load(&self, entity: &EntityId, id: &SessionId) -> StoreResult<Option<SessionRecord>>;

    /// [`load`](Self::load) and restart the TTL in one step. Backends should override the
    /// default (two calls) with a single round trip; this is on every request's path.
    async fn load_and_touch(
        &self,
        entity: &EntityId,
        id: &SessionId,
        ttl: Duration,
    ) -> StoreResult<Option<SessionRecord>> {
        let rec = self.load(entity, id).await?;
        if rec.is_some() {
            self.touch(entity, id, ttl).await?;
        }
        Ok(rec)
    }

    /// Compare-and-swap: replaces the stored record if its version equals `record.version`,
    /// restarts the TTL, and returns the new version (`record.version + 1`).
    /// `Err(StoreError::Conflict)` when the stored version differs; `Err(StoreError::NotFound)` when the
    /// record is gone.
    async fn save(&self, record: &SessionRecord, ttl: Duration) -> StoreResult<u64>;

    /// Restarts the TTL; `Ok(false)` when the record does not exist.
    async fn touch(&self, entity: &EntityId, id: &SessionId, ttl: Duration) -> StoreResult<bool>;

    /// Removes the record; `Ok(false)` when it did not exist. Idempotent.
    async fn delete(&self, entity: &EntityId, id: &SessionId) -> StoreResult<bool>;

    /// Live records of `entity` in ascending id order, at most `limit` per page, starting after
    /// `cursor` (an opaque string from a previous page).
    async fn list(
        &self,
        entity: &EntityId,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<SessionPage>;

    /// How many live (unexpired, undeleted) records `entity` has. The default pages through
    /// [`SessionStore::list`]; a backend that can count directly overrides it.
    async fn count(&self, entity: &EntityId) -> StoreResult<u64> {
        let (mut n, mut cursor) = (0u64, None::<String>);
        loop {
            let page = self.list(entity, cursor.as_deref(), 500).await?;
            n += page.sessions.len() as u64;
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(n),
            }
        }
    }

    /// Cheap reachability check for `/ready`.
    async fn ping(&self) -> StoreResult<()>;
}
