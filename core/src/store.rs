//! The storage contract: where sessions and message streams live, so that any server instance
//! can serve any request.
//!
//! Two object-safe traits, [`SessionStore`] and [`MessageQueue`], used as `Arc<dyn …>`: the
//! backend is chosen at start-up from the store URL, and every call may do I/O. Every method takes
//! the [`EntityId`]: a backend must behave as if each entity had its own keyspace, so a session
//! or stream id presented under the wrong entity is simply *not found*.
//!
//! # Implementing a backend
//! Implement both traits (one struct usually does), then run the behavioural suite from
//! [`crate::test_suite`] (feature `test-suite`) with [`crate::store_test_suite!`]; it checks every
//! guarantee written below against your backend.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::Result;
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
    /// Application state kept by handlers through `Context::set_state`.
    #[serde(default)]
    pub state: Map<String, Value>,
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
            state: Map::new(),
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
    /// `Err(Error::Conflict)` if the id exists.
    async fn create(&self, record: SessionRecord, ttl: Duration) -> Result<SessionRecord>;

    /// The record, or `Ok(None)` when it does not exist, expired, or belongs to another entity.
    async fn load(&self, entity: &EntityId, id: &SessionId) -> Result<Option<SessionRecord>>;

    /// [`load`](Self::load) and restart the TTL in one step. Backends should override the
    /// default (two calls) with a single round trip; this is on every request's path.
    async fn load_and_touch(
        &self,
        entity: &EntityId,
        id: &SessionId,
        ttl: Duration,
    ) -> Result<Option<SessionRecord>> {
        let rec = self.load(entity, id).await?;
        if rec.is_some() {
            self.touch(entity, id, ttl).await?;
        }
        Ok(rec)
    }

    /// Compare-and-swap: replaces the stored record if its version equals `record.version`,
    /// restarts the TTL, and returns the new version (`record.version + 1`).
    /// `Err(Error::Conflict)` when the stored version differs; `Err(Error::NotFound)` when the
    /// record is gone.
    async fn save(&self, record: &SessionRecord, ttl: Duration) -> Result<u64>;

    /// Restarts the TTL; `Ok(false)` when the record does not exist.
    async fn touch(&self, entity: &EntityId, id: &SessionId, ttl: Duration) -> Result<bool>;

    /// Removes the record; `Ok(false)` when it did not exist. Idempotent.
    async fn delete(&self, entity: &EntityId, id: &SessionId) -> Result<bool>;

    /// Live records of `entity` in ascending id order, at most `limit` per page, starting after
    /// `cursor` (an opaque string from a previous page).
    async fn list(
        &self,
        entity: &EntityId,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<SessionPage>;

    /// How many live (unexpired, undeleted) records `entity` has. The default pages through
    /// [`SessionStore::list`]; a backend that can count directly overrides it.
    async fn count(&self, entity: &EntityId) -> Result<u64> {
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
    async fn ping(&self) -> Result<()>;
}

/// Names one event log: a session and a stream within it (`sse`, `get`, `post-…`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamKey {
    /// The session the stream belongs to.
    pub session: SessionId,
    /// The stream's name within the session: `[A-Za-z0-9_-]`, never `/`.
    pub name: String,
}

impl StreamKey {
    /// A stream of `session` named `name`.
    pub fn new(session: SessionId, name: impl Into<String>) -> Self {
        Self {
            session,
            name: name.into(),
        }
    }
}

/// A backend-defined event position, strictly increasing within one stream.
///
/// Opaque to callers: they get it from [`MessageQueue::publish`] and hand it back to
/// [`MessageQueue::replay_after`] / [`MessageQueue::subscribe`]. It never contains `/`, so the
/// transport can use `"{stream}/{event}"` as an SSE event id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(pub String);

impl std::fmt::Display for EventId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One published message with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Its position in the stream.
    pub id: EventId,
    /// The JSON-RPC message.
    pub message: Value,
}

/// A live feed of events; ends when the stream is closed or its session's streams are deleted.
pub type EventStream = BoxStream<'static, Result<Event>>;

/// Per-session event logs plus routing of client replies, shaped like a log rather than a job
/// queue, so an SSE stream can be resumed from any instance with `Last-Event-ID`.
///
/// Guarantees every implementation gives:
/// - **Durable publish**: when `publish` returns, the event is stored; every instance can replay it.
/// - **Order**: ids are strictly increasing per stream, in publish order; replay and subscribe
///   yield events in that order, with no duplicates and no gaps (other than trimmed ones).
/// - **Retention**: a stream keeps at least its most recent events up to the backend's
///   configured count and age; older ones may be trimmed. Streams of a deleted session go away.
/// - **Entity scoping**: a stream or reply is only reachable under the entity it was written with.
#[async_trait]
pub trait MessageQueue: Send + Sync + 'static {
    /// Appends `message` to the stream and returns its id.
    async fn publish(
        &self,
        entity: &EntityId,
        stream: &StreamKey,
        message: &Value,
    ) -> Result<EventId>;

    /// The retained events strictly after `after` (all retained events when `None`), in order.
    async fn replay_after(
        &self,
        entity: &EntityId,
        stream: &StreamKey,
        after: Option<&EventId>,
    ) -> Result<Vec<Event>>;

    /// Everything after `after` (replayed) followed by live events as they are published, with
    /// no gap and no duplicate between the two. Ends after the last event once the stream is
    /// [closed](Self::close), or when the session's streams are [deleted](Self::delete_session).
    async fn subscribe(
        &self,
        entity: &EntityId,
        stream: &StreamKey,
        after: Option<EventId>,
    ) -> Result<EventStream>;

    /// Marks the stream finished: subscribers end once they have seen every event.
    async fn close(&self, entity: &EntityId, stream: &StreamKey) -> Result<()>;

    /// Drops every stream and pending reply of a session; live subscribers end.
    async fn delete_session(&self, entity: &EntityId, session: &SessionId) -> Result<()>;

    /// Hands the client's answer to a server-to-client request (keyed by that request's id) to
    /// whichever instance is waiting in [`take_reply`](Self::take_reply). A reply that arrives
    /// before anyone waits is kept (for the backend's reply TTL), so there is no race.
    async fn deliver_reply(
        &self,
        entity: &EntityId,
        session: &SessionId,
        request_key: &str,
        reply: &Value,
    ) -> Result<()>;

    /// Waits up to `timeout` for the reply to `request_key` and consumes it; `Ok(None)` on timeout.
    /// Each reply is taken at most once.
    async fn take_reply(
        &self,
        entity: &EntityId,
        session: &SessionId,
        request_key: &str,
        timeout: Duration,
    ) -> Result<Option<Value>>;
}

/// What kind of event a [`LogRecord`] records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogKind {
    /// A `ctx.debug/info/…` message.
    Log,
    /// A `ctx.report_progress` event.
    Progress,
    /// A request that failed (JSON-RPC error or tool `isError`).
    Error,
}

impl LogKind {
    /// The stored name (`log`, `progress`, `error`), as serde writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            LogKind::Log => "log",
            LogKind::Progress => "progress",
            LogKind::Error => "error",
        }
    }

    /// The kind of a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        [LogKind::Log, LogKind::Progress, LogKind::Error]
            .into_iter()
            .find(|k| k.as_str() == name)
    }
}

/// One log record: every `ctx` log message and progress/error event, whatever the client's
/// logging level (that level filters what is *sent*, not what is *kept*).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    /// The tenant.
    pub entity: EntityId,
    /// The session, when the event happened inside one.
    pub session: Option<SessionId>,
    /// What kind of event.
    pub kind: LogKind,
    /// Severity.
    pub level: LoggingLevel,
    /// Human-readable text.
    pub message: String,
    /// Structured payload (the log data, or the progress numbers).
    pub data: Value,
    /// When, milliseconds since the Unix epoch.
    pub created_at_ms: u64,
}

/// Where log records are kept for operators (the admin API reads them).
///
/// Guarantees: records are entity-scoped like everything else; `recent` returns the newest
/// first, at most `limit`; a backend keeps at least its configured recent window per entity
/// (memory and Redis: a bounded window; PostgreSQL: durably, with configurable retention).
#[async_trait]
pub trait LogStore: Send + Sync + 'static {
    /// Stores one record.
    async fn append(&self, record: &LogRecord) -> Result<()>;

    /// The newest records of `entity` (only those of `session` when given), newest first.
    async fn recent(
        &self,
        entity: &EntityId,
        session: Option<&SessionId>,
        limit: usize,
    ) -> Result<Vec<LogRecord>>;
}

/// Server-wide secrets shared by every instance (the key that signs 2026-07-28 `requestState`).
///
/// Guarantees: `get_or_create` is atomic across instances: of concurrent callers proposing
/// different values for a new name, exactly one value is stored and every caller gets that one
/// back; an existing secret is never replaced. Secrets do not expire. Names are chosen by the
/// server (never by a client).
#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    /// The secret stored under `name`, storing `proposed` first if there is none.
    async fn get_or_create(&self, name: &str, proposed: &[u8]) -> Result<Vec<u8>>;
}

/// An API key as stored: its metadata and the SHA-256 of the key, never the key itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    /// Public identifier (also part of the key text), unique per entity.
    pub id: String,
    /// The entity the key acts for.
    pub entity: EntityId,
    /// A label for operators.
    pub name: String,
    /// Scopes granted to the key's principal.
    pub scopes: Vec<String>,
    /// Lower-case hex SHA-256 of the full key text.
    pub hash: String,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_at_ms: u64,
}

/// API keys for the built-in key authenticator, shared by every instance.
///
/// Guarantees: lookups are by hash only (the key text is never stored); a revoked key is gone
/// for every instance as soon as `revoke_key` returns; listing and revoking are entity-scoped
/// (an id under another entity is not found).
#[async_trait]
pub trait ApiKeyStore: Send + Sync + 'static {
    /// Stores a new key; `Conflict` if its hash or its (entity, id) exists.
    async fn put_key(&self, key: &ApiKeyRecord) -> Result<()>;
    /// The key whose hash is `hash`, if not revoked.
    async fn key_by_hash(&self, hash: &str) -> Result<Option<ApiKeyRecord>>;
    /// The keys of `entity`, oldest first.
    async fn list_keys(&self, entity: &EntityId) -> Result<Vec<ApiKeyRecord>>;
    /// Revokes (deletes) a key of `entity`; whether it existed.
    async fn revoke_key(&self, entity: &EntityId, id: &str) -> Result<bool>;
}

/// Which registered items of one kind an entity sees.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Visibility {
    /// When set, only these names are visible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow: Option<Vec<String>>,
    /// These names are hidden (applied after `allow`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hide: Vec<String>,
}

impl Visibility {
    /// Whether `name` is visible.
    pub fn shows(&self, name: &str) -> bool {
        self.allow
            .as_ref()
            .is_none_or(|a| a.iter().any(|x| x == name))
            && !self.hide.iter().any(|h| h == name)
    }
}

/// An entity's own limits, overriding the server's. `None` keeps the server's value; `Some(0)`
/// lifts the limit for this entity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityLimits {
    /// Requests per second to the MCP endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_second: Option<u64>,
    /// Tool calls running at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrent_calls: Option<u64>,
    /// Live sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_sessions: Option<u64>,
}

/// An entity's configuration: which tools (by name), resources (by URI or URI template) and
/// prompts (by name) it sees, and its own limits. Hidden items are absent from lists and answer
/// like unknown ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EntityConfig {
    /// Tools by name.
    #[serde(default)]
    pub tools: Visibility,
    /// Resources by URI, templates by `uriTemplate`.
    #[serde(default)]
    pub resources: Visibility,
    /// Prompts by name.
    #[serde(default)]
    pub prompts: Visibility,
    /// Limits overriding the server's (configurations stored before this field have none).
    #[serde(default)]
    pub limits: EntityLimits,
}

/// Per-entity configuration, shared by every instance.
///
/// Guarantees: `set` replaces the whole configuration atomically (readers see the old or the
/// new one, never a mix); `None` clears it; configurations are entity-scoped.
#[async_trait]
pub trait EntityConfigStore: Send + Sync + 'static {
    /// The entity's configuration, if one was set.
    async fn entity_config(&self, entity: &EntityId) -> Result<Option<EntityConfig>>;
    /// Replaces (or with `None`, clears) the entity's configuration.
    async fn set_entity_config(
        &self,
        entity: &EntityId,
        config: Option<&EntityConfig>,
    ) -> Result<()>;
}

/// Every storage role of a server, as trait objects. Usually one backend value plays them all
/// ([`Stores::of`]); the server and the behavioural suite both take this bundle.
#[derive(Clone)]
pub struct Stores {
    /// Sessions.
    pub sessions: Arc<dyn SessionStore>,
    /// Event logs and reply routing.
    pub queue: Arc<dyn MessageQueue>,
    /// Log records.
    pub logs: Arc<dyn LogStore>,
    /// Server secrets.
    pub keys: Arc<dyn KeyStore>,
    /// API keys.
    pub api_keys: Arc<dyn ApiKeyStore>,
    /// Limit counters.
    pub limits: Arc<dyn LimitStore>,
    /// Entity configurations.
    pub entity_configs: Arc<dyn EntityConfigStore>,
}

/// A backend value that plays every storage role (what [`Stores::of`] takes). Implemented for
/// every type that implements all the role traits and `Clone`.
pub trait Backend:
    SessionStore
    + MessageQueue
    + LogStore
    + KeyStore
    + ApiKeyStore
    + LimitStore
    + EntityConfigStore
    + Clone
{
}

impl<S> Backend for S where
    S: SessionStore
        + MessageQueue
        + LogStore
        + KeyStore
        + ApiKeyStore
        + LimitStore
        + EntityConfigStore
        + Clone
{
}

impl Stores {
    /// All roles played by one backend value.
    pub fn of<S: Backend>(store: S) -> Self {
        Stores {
            sessions: Arc::new(store.clone()),
            queue: Arc::new(store.clone()),
            logs: Arc::new(store.clone()),
            keys: Arc::new(store.clone()),
            api_keys: Arc::new(store.clone()),
            limits: Arc::new(store.clone()),
            entity_configs: Arc::new(store),
        }
    }
}

/// Counters behind per-entity limits, shared by every instance so a limit holds across them.
///
/// Guarantees: `hit` is atomic (concurrent hits from any instance are all counted, each sees a
/// distinct count) and windows are aligned to the epoch (`now / window`), so every instance
/// agrees on the window; `acquire` never hands out more than `limit` live slots of a key, and a
/// slot not released within its `lease` frees itself (a killed instance cannot leak capacity).
#[async_trait]
pub trait LimitStore: Send + Sync + 'static {
    /// Counts one hit in `key`'s current window; returns the count so far in that window (this
    /// hit included) and the time until the window ends.
    async fn hit(
        &self,
        key: &str,
        window: std::time::Duration,
    ) -> Result<(u64, std::time::Duration)>;

    /// Takes one of `limit` slots of `key` for at most `lease`; `None` when all are taken.
    async fn acquire(
        &self,
        key: &str,
        limit: u64,
        lease: std::time::Duration,
    ) -> Result<Option<String>>;

    /// Gives a slot back (unknown or expired slots are ignored).
    async fn release(&self, key: &str, slot: &str) -> Result<()>;
}

/// The current fixed window of length `window_ms` and the milliseconds left in it.
pub fn window_of(window_ms: u64) -> (u64, u64) {
    let now = now_ms();
    let w = window_ms.max(1);
    (now / w, w - now % w)
}

#[cfg(test)]
mod tests {
    use super::LogKind;

    #[test]
    fn log_kind_names_match_serde_and_round_trip() {
        for k in [LogKind::Log, LogKind::Progress, LogKind::Error] {
            assert_eq!(
                serde_json::to_value(k).unwrap(),
                serde_json::json!(k.as_str())
            );
            assert_eq!(LogKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(LogKind::parse("nope"), None);
    }
}
