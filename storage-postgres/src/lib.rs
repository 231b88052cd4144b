//! # fastmcp-storage-postgres
//!
//! [`PostgresStore`]: the storage traits on PostgreSQL (sqlx), for teams whose operational
//! database is Postgres. Schema: `migrations/` at the workspace root, embedded as [`MIGRATOR`] and
//! applied at start-up (or by `fastmcp migrate`).
//!
//! - Sessions are rows keyed `(entity_id, id)`; `load_and_touch` is a `SELECT` (coalesced with
//!   concurrent ones into one statement) plus an `UPDATE` only when the expiry is due; saves are
//!   compare-and-swap on `version`.
//! - Each stream's events carry a per-stream `seq` taken from `stream_seqs` under a row lock in the
//!   same statement, so numbers become visible in order. `LISTEN/NOTIFY` wakes subscribers on
//!   every instance; each subscriber also re-reads on a short interval, so a missed notification
//!   delays an event but never loses it.
//! - A background task deletes expired sessions, old events, replies and logs. It is plain
//!   `DELETE … WHERE` on time columns: safe to run on many instances at once.
//!
//! Queries are checked at run time (no database at build time); see `docs/decisions.md`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fastmcp_core::error::{Error, Result};
use fastmcp_core::storage::{Event, EventId, EventStream, SessionPage};
use fastmcp_core::{
    redact_url, ApiKeyRecord, ApiKeyStore, EntityConfig, EntityConfigStore, EntityId, KeyStore,
    LimitStore, LogKind, LogRecord, LogStore, MessageQueue, SessionId, SessionRecord, SessionStore,
    StreamKey,
};
use serde_json::Value;
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use sqlx::types::Json;
use sqlx::Row;
use tokio::sync::{broadcast, mpsc, oneshot};

mod reads;

/// Re-exported so users get the matching client version.
pub use sqlx;

/// The schema, embedded: `MIGRATOR.run(&pool)` brings a database up to date.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

const EVENTS_CHANNEL: &str = "fastmcp_events";
const REPLIES_CHANNEL: &str = "fastmcp_replies";

/// Settings of the PostgreSQL backend.
#[derive(Clone)]
pub struct PostgresConfig {
    /// `postgres://user:password@host:port/db`.
    pub url: String,
    /// Pool size of this instance.
    pub max_connections: u32,
    /// Apply pending migrations when connecting.
    pub migrate: bool,
    /// Events older than this are deleted.
    pub event_retention: Duration,
    /// Undelivered replies older than this are deleted.
    pub reply_ttl: Duration,
    /// Log records older than this are deleted.
    pub log_retention: Duration,
    /// How often subscribers re-read without a notification, and reply waiters re-check.
    pub poll_interval: Duration,
    /// How often the cleanup task runs.
    pub cleanup_interval: Duration,
}

impl PostgresConfig {
    /// Defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 16,
            migrate: true,
            event_retention: Duration::from_secs(3600),
            reply_ttl: Duration::from_secs(300),
            log_retention: Duration::from_secs(30 * 24 * 3600),
            poll_interval: Duration::from_millis(1000),
            cleanup_interval: Duration::from_secs(30),
        }
    }
}

impl std::fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .field("migrate", &self.migrate)
            .field("event_retention", &self.event_retention)
            .field("log_retention", &self.log_retention)
            .finish()
    }
}

/// The PostgreSQL backend. Cloning shares the pool and the notification listener.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    cfg: Arc<PostgresConfig>,
    /// NOTIFY payloads (`e:` stream keys, `r:` reply keys) fanned out to local waiters.
    hub: broadcast::Sender<String>,
    /// Session reads of the request path, coalesced into batches (see `reads`).
    reads: mpsc::Sender<reads::Read>,
    /// Decoded session records, used only when the database confirms their version.
    cache: Arc<reads::RecordCache>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("cfg", &self.cfg)
            .finish()
    }
}

fn map_err(what: &str, e: sqlx::Error) -> Error {
    let code = match &e {
        sqlx::Error::Database(db) => db.code().map(|c| c.to_string()),
        _ => None,
    };
    // Class 22 (data exception): a value PostgreSQL cannot store, such as a NUL character
    // inside JSON or text. The client sent it; it is not a server fault.
    if code.as_deref().is_some_and(|c| c.starts_with("22")) {
        return Error::invalid_params(format!("{what}: a value cannot be stored ({e})"));
    }
    let transient = match &e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Tls(_) => true,
        // 08 connection exception, 53 insufficient resources (too many connections), 57P01-03
        // shutdown / cannot connect now, 57014 statement timeout, 40 serialization or deadlock.
        sqlx::Error::Database(_) => code.as_deref().is_some_and(|c| {
            c.starts_with("08")
                || c.starts_with("53")
                || c.starts_with("57P")
                || c == "57014"
                || c.starts_with("40")
        }),
        _ => false,
    };
    if transient {
        Error::unavailable(format!("postgres: {what}"), e)
    } else {
        Error::backend(format!("postgres: {what}"), e)
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1)
}

fn stream_key(entity: &EntityId, stream: &StreamKey) -> String {
    format!("e:{}/{}/{}", entity, stream.session, stream.name)
}

fn reply_key(entity: &EntityId, session: &SessionId, key: &str) -> String {
    format!("r:{entity}/{session}/{key}")
}

impl PostgresStore {
    /// Connects, applies migrations (unless disabled) and starts the notification listener and
    /// the cleanup task. Fails fast if the database cannot be reached now; later outages make
    /// calls fail with `Error::Unavailable` until it is back.
    pub async fn connect(cfg: PostgresConfig) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(cfg.max_connections)
            .acquire_timeout(Duration::from_secs(3))
            .connect(&cfg.url)
            .await
            .map_err(|e| map_err(&format!("connect to {}", redact_url(&cfg.url)), e))?;
        if cfg.migrate {
            MIGRATOR
                .run(&pool)
                .await
                .map_err(|e| Error::backend("postgres: migrations failed", e))?;
        }
        let (hub, _) = broadcast::channel(1024);
        let (reads, read_rx) = mpsc::channel(4096);
        let cache = Arc::new(reads::RecordCache::default());
        tokio::spawn(reads::run(pool.clone(), Arc::clone(&cache), read_rx));
        let store = Self {
            pool,
            cfg: Arc::new(cfg),
            hub,
            reads,
            cache,
        };
        tokio::spawn(listen(store.pool.clone(), store.hub.clone()));
        tokio::spawn(cleanup(store.clone()));
        Ok(store)
    }

    /// The pool (for the catalog upsert, migrations, or the application's own queries).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Records the server's catalog under `server_name`, replacing what an earlier start wrote,
    /// so operators can query it in SQL.
    pub async fn upsert_catalog(
        &self,
        server_name: &str,
        tools: &[fastmcp_core::protocol::ToolInfo],
        resources: &[fastmcp_core::protocol::ResourceInfo],
        templates: &[fastmcp_core::protocol::ResourceTemplateInfo],
        prompts: &[fastmcp_core::protocol::PromptInfo],
    ) -> Result<()> {
        let err = |e| map_err("upsert catalog", e);
        let mut tx = self.pool.begin().await.map_err(err)?;
        for table in [
            "DELETE FROM tools WHERE server_name = $1",
            "DELETE FROM resources WHERE server_name = $1",
            "DELETE FROM prompts WHERE server_name = $1",
        ] {
            sqlx::query(table)
                .bind(server_name)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        for t in tools {
            sqlx::query(
                "INSERT INTO tools (server_name, name, description, input_schema, output_schema, annotations) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(server_name)
            .bind(&t.name)
            .bind(&t.description)
            .bind(Json(&t.input_schema))
            .bind(t.output_schema.as_ref().map(Json))
            .bind(t.annotations.as_ref().and_then(|a| serde_json::to_value(a).ok()).map(Json))
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        }
        let static_rows = resources
            .iter()
            .map(|r| (&r.uri, &r.name, &r.description, &r.mime_type, false));
        let template_rows = templates
            .iter()
            .map(|r| (&r.uri_template, &r.name, &r.description, &r.mime_type, true));
        for (uri, name, description, mime_type, is_template) in static_rows.chain(template_rows) {
            sqlx::query(
                "INSERT INTO resources (server_name, uri, is_template, name, description, mime_type) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(server_name)
            .bind(uri)
            .bind(is_template)
            .bind(name)
            .bind(description)
            .bind(mime_type)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        }
        for p in prompts {
            let args = serde_json::to_value(&p.arguments).unwrap_or(Value::Null);
            sqlx::query("INSERT INTO prompts (server_name, name, description, arguments) VALUES ($1, $2, $3, $4)")
                .bind(server_name)
                .bind(&p.name)
                .bind(&p.description)
                .bind(Json(args))
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        tx.commit().await.map_err(err)
    }

    fn decode(row: &sqlx::postgres::PgRow) -> Result<SessionRecord> {
        let Json(mut rec): Json<SessionRecord> = row
            .try_get("record")
            .map_err(|e| Error::backend("postgres: corrupt session record", e))?;
        let version: i64 = row
            .try_get("version")
            .map_err(|e| Error::backend("postgres: corrupt version", e))?;
        rec.version = u64::try_from(version).unwrap_or(0);
        Ok(rec)
    }
}

/// One listener per process; reconnects by itself. Waiters also poll, so a gap while it
/// reconnects only delays them.
async fn listen(pool: PgPool, hub: broadcast::Sender<String>) {
    loop {
        if hub.receiver_count() == 0 && pool.is_closed() {
            return;
        }
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!(error = %e, "postgres listener: cannot connect; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen_all([EVENTS_CHANNEL, REPLIES_CHANNEL]).await {
            tracing::debug!(error = %e, "postgres listener: LISTEN failed; retrying");
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        // `Ok(None)` or an error: the connection was lost; reconnect.
        while let Ok(Some(n)) = listener.try_recv().await {
            let _ = hub.send(n.payload().to_string());
        }
    }
}

async fn cleanup(store: PostgresStore) {
    let mut tick = tokio::time::interval(store.cfg.cleanup_interval);
    loop {
        tick.tick().await;
        if store.pool.is_closed() {
            return;
        }
        let statements: [(&str, i64); 7] = [
            ("DELETE FROM sessions WHERE expires_at < now()", 0),
            ("DELETE FROM limit_windows WHERE expires_at < now()", 0),
            ("DELETE FROM limit_slots WHERE expires_at < now()", 0),
            ("DELETE FROM events WHERE created_at < now() - make_interval(secs => $1::bigint / 1000.0)", ms(store.cfg.event_retention)),
            (
                // A counter goes only with its session and its events: resetting it under a live
                // reader would make new events look older than what it has seen.
                "DELETE FROM stream_seqs s WHERE s.updated_at < now() - make_interval(secs => $1::bigint / 1000.0) \
                 AND NOT EXISTS (SELECT 1 FROM sessions x WHERE x.entity_id = s.entity_id AND x.id = s.session_id) \
                 AND NOT EXISTS (SELECT 1 FROM events v WHERE v.entity_id = s.entity_id \
                     AND v.session_id = s.session_id AND v.stream = s.stream)",
                ms(store.cfg.event_retention),
            ),
            ("DELETE FROM replies WHERE created_at < now() - make_interval(secs => $1::bigint / 1000.0)", ms(store.cfg.reply_ttl)),
            ("DELETE FROM logs WHERE created_at < now() - make_interval(secs => $1::bigint / 1000.0)", ms(store.cfg.log_retention)),
        ];
        for (sql, arg) in statements {
            let q = sqlx::query(sql);
            let q = if sql.contains("$1") { q.bind(arg) } else { q };
            if let Err(e) = q.execute(&store.pool).await {
                tracing::debug!(error = %e, "postgres cleanup failed; will retry");
            }
        }
    }
}

#[async_trait]
impl SessionStore for PostgresStore {
    async fn create(&self, mut record: SessionRecord, ttl: Duration) -> Result<SessionRecord> {
        record.version = 1;
        // Inserts, or takes over an expired row with the same id; a live one is a conflict.
        let row = sqlx::query(
            "INSERT INTO sessions (entity_id, id, protocol_version, client_info, client_capabilities, \
                 logging_level, state, record, version, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, now() + make_interval(secs => $9::bigint / 1000.0)) \
             ON CONFLICT (entity_id, id) DO UPDATE SET protocol_version = EXCLUDED.protocol_version, \
                 client_info = EXCLUDED.client_info, client_capabilities = EXCLUDED.client_capabilities, \
                 logging_level = EXCLUDED.logging_level, state = EXCLUDED.state, record = EXCLUDED.record, \
                 version = 1, created_at = now(), last_seen_at = now(), expires_at = EXCLUDED.expires_at \
             WHERE sessions.expires_at <= now() \
             RETURNING id",
        )
        .bind(record.entity.as_str())
        .bind(record.id.as_uuid())
        .bind(&record.protocol_version)
        .bind(Json(&*record.client_info))
        .bind(Json(&*record.client_capabilities))
        .bind(record.logging_level.map(|l| l.as_str()))
        .bind(Json(&record.state))
        .bind(Json(&record))
        .bind(ms(ttl))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| map_err("create session", e))?;
        match row {
            Some(_) => Ok(record),
            None => Err(Error::Conflict("session id exists".into())),
        }
    }

    async fn load(&self, entity: &EntityId, id: &SessionId) -> Result<Option<SessionRecord>> {
        let row = sqlx::query(
            "SELECT record, version FROM sessions WHERE entity_id = $1 AND id = $2 AND expires_at > now()",
        )
        .bind(entity.as_str())
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| map_err("load session", e))?;
        row.as_ref().map(Self::decode).transpose()
    }

    /// Reads, and writes only when the expiry is due for a push: an `UPDATE` per request would
    /// create a new row version (and index entry) per request. The TTL is restarted whenever
    /// more than a twentieth of it has passed since the last restart, so a session never
    /// expires earlier than 95% of its TTL after its last request.
    async fn load_and_touch(
        &self,
        entity: &EntityId,
        id: &SessionId,
        ttl: Duration,
    ) -> Result<Option<SessionRecord>> {
        let (reply, answer) = oneshot::channel();
        let read = reads::Read {
            entity: entity.clone(),
            id: *id,
            fresh_ms: ms(ttl) - ms(ttl) / 20,
            reply,
        };
        let gone = || Error::Internal("postgres: session reader stopped".into());
        self.reads.send(read).await.map_err(|_| gone())?;
        let Some((record, stale)) = answer.await.map_err(|_| gone())?? else {
            return Ok(None);
        };
        if stale {
            self.touch(entity, id, ttl).await?;
        }
        Ok(Some(record))
    }

    async fn save(&self, record: &SessionRecord, ttl: Duration) -> Result<u64> {
        let next = record.version + 1;
        let mut stored = record.clone();
        stored.version = next;
        let row = sqlx::query(
            "UPDATE sessions SET protocol_version = $3, client_info = $4, client_capabilities = $5, \
                 logging_level = $6, state = $7, record = $8, version = $9, last_seen_at = now(), \
                 expires_at = now() + make_interval(secs => $10::bigint / 1000.0) \
             WHERE entity_id = $1 AND id = $2 AND expires_at > now() AND version = $11 RETURNING version",
        )
        .bind(record.entity.as_str())
        .bind(record.id.as_uuid())
        .bind(&record.protocol_version)
        .bind(Json(&*record.client_info))
        .bind(Json(&*record.client_capabilities))
        .bind(record.logging_level.map(|l| l.as_str()))
        .bind(Json(&record.state))
        .bind(Json(&stored))
        .bind(i64::try_from(next).unwrap_or(i64::MAX))
        .bind(ms(ttl))
        .bind(i64::try_from(record.version).unwrap_or(i64::MAX))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| map_err("save session", e))?;
        if row.is_some() {
            return Ok(next);
        }
        match self.load(&record.entity, &record.id).await? {
            Some(_) => Err(Error::Conflict(format!(
                "session is not at version {}",
                record.version
            ))),
            None => Err(Error::NotFound("session".into())),
        }
    }

    async fn touch(&self, entity: &EntityId, id: &SessionId, ttl: Duration) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE sessions SET last_seen_at = now(), \
                 expires_at = now() + make_interval(secs => $3::bigint / 1000.0) \
             WHERE entity_id = $1 AND id = $2 AND expires_at > now()",
        )
        .bind(entity.as_str())
        .bind(id.as_uuid())
        .bind(ms(ttl))
        .execute(&self.pool)
        .await
        .map_err(|e| map_err("touch session", e))?;
        Ok(r.rows_affected() == 1)
    }

    async fn delete(&self, entity: &EntityId, id: &SessionId) -> Result<bool> {
        let row = sqlx::query(
            "DELETE FROM sessions WHERE entity_id = $1 AND id = $2 RETURNING expires_at > now() AS live",
        )
        .bind(entity.as_str())
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| map_err("delete session", e))?;
        self.cache.forget(id);
        Ok(row
            .and_then(|r| r.try_get::<bool, _>("live").ok())
            .unwrap_or(false))
    }

    async fn list(
        &self,
        entity: &EntityId,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<SessionPage> {
        let after = match cursor {
            None => None,
            Some(c) => Some(
                SessionId::parse(c)
                    .ok_or_else(|| Error::invalid_params("invalid session cursor"))?,
            ),
        };
        let limit = limit.max(1);
        let rows = sqlx::query(
            "SELECT record, version FROM sessions WHERE entity_id = $1 AND expires_at > now() \
                 AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3",
        )
        .bind(entity.as_str())
        .bind(after.map(|a| a.as_uuid()))
        .bind(i64::try_from(limit + 1).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| map_err("list sessions", e))?;
        let mut sessions = rows.iter().map(Self::decode).collect::<Result<Vec<_>>>()?;
        let next_cursor = (sessions.len() > limit).then(|| sessions[limit - 1].id.to_string());
        sessions.truncate(limit);
        Ok(SessionPage {
            sessions,
            next_cursor,
        })
    }

    async fn count(&self, entity: &EntityId) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sessions WHERE entity_id = $1 AND expires_at > now()",
        )
        .bind(entity.as_str())
        .fetch_one(&self.pool)
        .await
        .map_err(|e| map_err("count sessions", e))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(|e| map_err("ping", e))?;
        Ok(())
    }
}

fn parse_seq(id: &EventId) -> Result<i64> {
    id.0.parse::<i64>()
        .ok()
        .filter(|s| *s >= 0)
        .ok_or_else(|| Error::invalid_params(format!("unknown event id {:?}", id.0)))
}

impl PostgresStore {
    /// Events after `after`, and whether the stream is closed. The closed flag is read *before*
    /// the events: a stream is closed only after its last publish committed, so "closed and no
    /// newer event" seen in this order really is the end.
    async fn read_after(
        &self,
        entity: &EntityId,
        stream: &StreamKey,
        after: i64,
    ) -> Result<(Vec<Event>, bool)> {
        let closed: Option<bool> = sqlx::query_scalar(
            "SELECT closed FROM stream_seqs WHERE entity_id = $1 AND session_id = $2 AND stream = $3",
        )
        .bind(entity.as_str())
        .bind(stream.session.as_uuid())
        .bind(&stream.name)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| map_err("read stream state", e))?;
        let rows = sqlx::query(
            "SELECT seq, message FROM events WHERE entity_id = $1 AND session_id = $2 AND stream = $3 \
                 AND seq > $4 ORDER BY seq",
        )
        .bind(entity.as_str())
        .bind(stream.session.as_uuid())
        .bind(&stream.name)
        .bind(after)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| map_err("read events", e))?;
        let mut events = Vec::with_capacity(rows.len());
        for r in &rows {
            let seq: i64 = r
                .try_get("seq")
                .map_err(|e| Error::backend("postgres: corrupt event", e))?;
            let Json(message): Json<Value> = r
                .try_get("message")
                .map_err(|e| Error::backend("postgres: corrupt event", e))?;
            events.push(Event {
                id: EventId(seq.to_string()),
                message,
            });
        }
        Ok((events, closed.unwrap_or(false)))
    }
}

#[async_trait]
impl MessageQueue for PostgresStore {
    async fn publish(
        &self,
        entity: &EntityId,
        stream: &StreamKey,
        message: &Value,
    ) -> Result<EventId> {
        // One statement: the counter row's lock serialises publishers of a stream until commit,
        // so seq order is commit order; the NOTIFY is delivered at that commit.
        let seq: i64 = sqlx::query_scalar(
            "WITH s AS ( \
                 INSERT INTO stream_seqs (entity_id, session_id, stream, next_seq) VALUES ($1, $2, $3, 1) \
                 ON CONFLICT (entity_id, session_id, stream) \
                 DO UPDATE SET next_seq = stream_seqs.next_seq + 1, updated_at = now() \
                 RETURNING next_seq), \
             n AS (SELECT pg_notify($5, $6)) \
             INSERT INTO events (entity_id, session_id, stream, seq, message) \
             SELECT $1, $2, $3, s.next_seq, $4 FROM s, n RETURNING seq",
        )
        .bind(entity.as_str())
        .bind(stream.session.as_uuid())
        .bind(&stream.name)
        .bind(Json(message))
        .bind(EVENTS_CHANNEL)
        .bind(stream_key(entity, stream))
        .fetch_one(&self.pool)
        .await
        .map_err(|e| map_err("publish", e))?;
        Ok(EventId(seq.to_string()))
    }

    async fn replay_after(
        &self,
        entity: &EntityId,
        stream: &StreamKey,
        after: Option<&EventId>,
    ) -> Result<Vec<Event>> {
        let after = after.map(parse_seq).transpose()?.unwrap_or(0);
        Ok(self.read_after(entity, stream, after).await?.0)
    }

    async fn subscribe(
        &self,
        entity: &EntityId,
        stream: &StreamKey,
        after: Option<EventId>,
    ) -> Result<EventStream> {
        let after = after.as_ref().map(parse_seq).transpose()?.unwrap_or(0);
        // Registered like a published stream, so `delete_session` ends this subscriber even if
        // nothing was ever published to it.
        sqlx::query(
            "INSERT INTO stream_seqs (entity_id, session_id, stream, next_seq) VALUES ($1, $2, $3, 0) \
             ON CONFLICT (entity_id, session_id, stream) DO NOTHING",
        )
        .bind(entity.as_str())
        .bind(stream.session.as_uuid())
        .bind(&stream.name)
        .execute(&self.pool)
        .await
        .map_err(|e| map_err("subscribe", e))?;
        struct State {
            store: PostgresStore,
            entity: EntityId,
            stream: StreamKey,
            key: String,
            last: i64,
            rx: broadcast::Receiver<String>,
            buf: VecDeque<Event>,
        }
        // Subscribed to notifications before the first read: nothing falls in between.
        let state = State {
            rx: self.hub.subscribe(),
            store: self.clone(),
            entity: entity.clone(),
            stream: stream.clone(),
            key: stream_key(entity, stream),
            last: after,
            buf: VecDeque::new(),
        };
        let s = futures::stream::unfold(state, |mut st| async move {
            loop {
                if let Some(ev) = st.buf.pop_front() {
                    return Some((Ok(ev), st));
                }
                match st.store.read_after(&st.entity, &st.stream, st.last).await {
                    Err(e) => return Some((Err(e), st)),
                    Ok((events, closed)) => {
                        if let Some(last) = events.last() {
                            st.last = last.id.0.parse().unwrap_or(st.last);
                            st.buf.extend(events);
                            continue;
                        }
                        if closed {
                            return None;
                        }
                    }
                }
                let poll = st.store.cfg.poll_interval;
                let deadline = tokio::time::Instant::now() + poll;
                loop {
                    match tokio::time::timeout_at(deadline, st.rx.recv()).await {
                        Ok(Ok(k)) if k == st.key => break,
                        Ok(Ok(_)) => continue,
                        // Lagged: something may have been ours; re-read.
                        Ok(Err(broadcast::error::RecvError::Lagged(_))) => break,
                        Ok(Err(broadcast::error::RecvError::Closed)) | Err(_) => break,
                    }
                }
            }
        });
        Ok(Box::pin(s))
    }

    async fn close(&self, entity: &EntityId, stream: &StreamKey) -> Result<()> {
        sqlx::query(
            "WITH n AS (SELECT pg_notify($4, $5)) \
             INSERT INTO stream_seqs (entity_id, session_id, stream, next_seq, closed) \
             SELECT $1, $2, $3, 0, true FROM n \
             ON CONFLICT (entity_id, session_id, stream) DO UPDATE SET closed = true, updated_at = now()",
        )
        .bind(entity.as_str())
        .bind(stream.session.as_uuid())
        .bind(&stream.name)
        .bind(EVENTS_CHANNEL)
        .bind(stream_key(entity, stream))
        .execute(&self.pool)
        .await
        .map_err(|e| map_err("close stream", e))?;
        Ok(())
    }

    async fn delete_session(&self, entity: &EntityId, session: &SessionId) -> Result<()> {
        let err = |e| map_err("delete streams", e);
        let mut tx = self.pool.begin().await.map_err(err)?;
        sqlx::query("DELETE FROM events WHERE entity_id = $1 AND session_id = $2")
            .bind(entity.as_str())
            .bind(session.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        sqlx::query("DELETE FROM replies WHERE entity_id = $1 AND session_id = $2")
            .bind(entity.as_str())
            .bind(session.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        // Closed, not deleted: subscribers positioned anywhere see the end.
        let names: Vec<String> = sqlx::query_scalar(
            "UPDATE stream_seqs SET closed = true, updated_at = now() \
             WHERE entity_id = $1 AND session_id = $2 RETURNING stream",
        )
        .bind(entity.as_str())
        .bind(session.as_uuid())
        .fetch_all(&mut *tx)
        .await
        .map_err(err)?;
        for name in names {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(EVENTS_CHANNEL)
                .bind(stream_key(entity, &StreamKey::new(*session, name)))
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        tx.commit().await.map_err(err)
    }

    async fn deliver_reply(
        &self,
        entity: &EntityId,
        session: &SessionId,
        request_key: &str,
        reply: &Value,
    ) -> Result<()> {
        sqlx::query(
            "WITH n AS (SELECT pg_notify($5, $6)) \
             INSERT INTO replies (entity_id, session_id, request_key, reply) SELECT $1, $2, $3, $4 FROM n \
             ON CONFLICT (entity_id, session_id, request_key) DO UPDATE SET reply = EXCLUDED.reply, created_at = now()",
        )
        .bind(entity.as_str())
        .bind(session.as_uuid())
        .bind(request_key)
        .bind(Json(reply))
        .bind(REPLIES_CHANNEL)
        .bind(reply_key(entity, session, request_key))
        .execute(&self.pool)
        .await
        .map_err(|e| map_err("deliver reply", e))?;
        Ok(())
    }

    async fn take_reply(
        &self,
        entity: &EntityId,
        session: &SessionId,
        request_key: &str,
        timeout: Duration,
    ) -> Result<Option<Value>> {
        let mut rx = self.hub.subscribe();
        let key = reply_key(entity, session, request_key);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let taken: Option<Json<Value>> = sqlx::query_scalar(
                "DELETE FROM replies WHERE entity_id = $1 AND session_id = $2 AND request_key = $3 RETURNING reply",
            )
            .bind(entity.as_str())
            .bind(session.as_uuid())
            .bind(request_key)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| map_err("take reply", e))?;
            if let Some(Json(v)) = taken {
                return Ok(Some(v));
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let wake = (now + self.cfg.poll_interval).min(deadline);
            loop {
                match tokio::time::timeout_at(wake, rx.recv()).await {
                    Ok(Ok(k)) if k == key => break,
                    Ok(Ok(_)) => continue,
                    Ok(Err(_)) | Err(_) => break,
                }
            }
        }
    }
}

#[async_trait]
impl KeyStore for PostgresStore {
    async fn get_or_create(&self, name: &str, proposed: &[u8]) -> Result<Vec<u8>> {
        // The no-op update makes RETURNING yield the existing row too, in one statement.
        let row = sqlx::query(
            "INSERT INTO server_keys (name, secret) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING secret",
        )
        .bind(name)
        .bind(proposed)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| map_err("read server key", e))?;
        row.try_get("secret")
            .map_err(|e| Error::backend("postgres: corrupt server key", e))
    }
}

#[async_trait]
impl ApiKeyStore for PostgresStore {
    async fn put_key(&self, key: &ApiKeyRecord) -> Result<()> {
        let r = sqlx::query(
            "INSERT INTO api_keys (hash, entity_id, id, name, scopes, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&key.hash)
        .bind(key.entity.as_str())
        .bind(&key.id)
        .bind(&key.name)
        .bind(Json(&key.scopes))
        .bind(i64::try_from(key.created_at_ms).unwrap_or(i64::MAX))
        .execute(&self.pool)
        .await;
        match r {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("23505") => {
                Err(Error::Conflict(format!("api key {} exists", key.id)))
            }
            Err(e) => Err(map_err("store api key", e)),
        }
    }

    async fn key_by_hash(&self, hash: &str) -> Result<Option<ApiKeyRecord>> {
        let row = sqlx::query(
            "SELECT hash, entity_id, id, name, scopes, created_at_ms FROM api_keys WHERE hash = $1",
        )
        .bind(hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| map_err("read api key", e))?;
        row.as_ref().map(api_key_from_row).transpose()
    }

    async fn list_keys(&self, entity: &EntityId) -> Result<Vec<ApiKeyRecord>> {
        let rows = sqlx::query(
            "SELECT hash, entity_id, id, name, scopes, created_at_ms FROM api_keys \
             WHERE entity_id = $1 ORDER BY created_at_ms, id",
        )
        .bind(entity.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| map_err("list api keys", e))?;
        rows.iter().map(api_key_from_row).collect()
    }

    async fn revoke_key(&self, entity: &EntityId, id: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM api_keys WHERE entity_id = $1 AND id = $2")
            .bind(entity.as_str())
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(|e| map_err("revoke api key", e))?;
        Ok(r.rows_affected() > 0)
    }
}

fn api_key_from_row(row: &sqlx::postgres::PgRow) -> Result<ApiKeyRecord> {
    let corrupt = |e| Error::backend("postgres: corrupt api key", e);
    let entity: String = row.try_get("entity_id").map_err(corrupt)?;
    let Json(scopes): Json<Vec<String>> = row.try_get("scopes").map_err(corrupt)?;
    let created: i64 = row.try_get("created_at_ms").map_err(corrupt)?;
    Ok(ApiKeyRecord {
        id: row.try_get("id").map_err(corrupt)?,
        entity: EntityId::parse(&entity)
            .map_err(|e| Error::backend("postgres: corrupt api key entity", e))?,
        name: row.try_get("name").map_err(corrupt)?,
        scopes,
        hash: row.try_get("hash").map_err(corrupt)?,
        created_at_ms: u64::try_from(created).unwrap_or(0),
    })
}

#[async_trait]
impl LimitStore for PostgresStore {
    async fn hit(&self, key: &str, window: Duration) -> Result<(u64, Duration)> {
        let (idx, left) = fastmcp_core::storage::window_of(ms(window).unsigned_abs());
        // One row per (key, window): the upsert takes the row lock, so concurrent hits from any
        // instance each see their own count.
        let row = sqlx::query(
            "INSERT INTO limit_windows (key, window_idx, count, expires_at) \
             VALUES ($1, $2, 1, now() + make_interval(secs => $3::bigint / 1000.0)) \
             ON CONFLICT (key, window_idx) DO UPDATE SET count = limit_windows.count + 1 \
             RETURNING count",
        )
        .bind(key)
        .bind(i64::try_from(idx).unwrap_or(i64::MAX))
        .bind(ms(window))
        .fetch_one(&self.pool)
        .await
        .map_err(|e| map_err("count a limit hit", e))?;
        let count: i64 = row
            .try_get("count")
            .map_err(|e| Error::backend("postgres: corrupt limit row", e))?;
        Ok((
            u64::try_from(count).unwrap_or(0),
            Duration::from_millis(left),
        ))
    }

    async fn acquire(&self, key: &str, limit: u64, lease: Duration) -> Result<Option<String>> {
        let err = |e| map_err("take a limit slot", e);
        let id = uuid::Uuid::new_v4().simple().to_string();
        let mut tx = self.pool.begin().await.map_err(err)?;
        // Serialises takers of this key (on every instance) until commit.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))")
            .bind(key)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        sqlx::query("DELETE FROM limit_slots WHERE key = $1 AND expires_at <= now()")
            .bind(key)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        let row = sqlx::query("SELECT count(*) AS n FROM limit_slots WHERE key = $1")
            .bind(key)
            .fetch_one(&mut *tx)
            .await
            .map_err(err)?;
        let held: i64 = row.try_get("n").unwrap_or(i64::MAX);
        if u64::try_from(held).unwrap_or(u64::MAX) >= limit {
            tx.rollback().await.map_err(err)?;
            return Ok(None);
        }
        sqlx::query(
            "INSERT INTO limit_slots (key, slot, expires_at) \
             VALUES ($1, $2, now() + make_interval(secs => $3::bigint / 1000.0))",
        )
        .bind(key)
        .bind(&id)
        .bind(ms(lease))
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(Some(id))
    }

    async fn release(&self, key: &str, slot: &str) -> Result<()> {
        sqlx::query("DELETE FROM limit_slots WHERE key = $1 AND slot = $2")
            .bind(key)
            .bind(slot)
            .execute(&self.pool)
            .await
            .map_err(|e| map_err("release a limit slot", e))?;
        Ok(())
    }
}

#[async_trait]
impl EntityConfigStore for PostgresStore {
    async fn entity_config(&self, entity: &EntityId) -> Result<Option<EntityConfig>> {
        let row = sqlx::query("SELECT config FROM entity_configs WHERE entity_id = $1")
            .bind(entity.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| map_err("read entity config", e))?;
        row.map(|r| {
            r.try_get::<Json<EntityConfig>, _>("config")
                .map(|Json(c)| c)
                .map_err(|e| Error::backend("postgres: corrupt entity config", e))
        })
        .transpose()
    }

    async fn set_entity_config(
        &self,
        entity: &EntityId,
        config: Option<&EntityConfig>,
    ) -> Result<()> {
        let q = match config {
            Some(c) => sqlx::query(
                "INSERT INTO entity_configs (entity_id, config, updated_at) VALUES ($1, $2, now()) \
                 ON CONFLICT (entity_id) DO UPDATE SET config = EXCLUDED.config, updated_at = now()",
            )
            .bind(entity.as_str())
            .bind(Json(c)),
            None => sqlx::query("DELETE FROM entity_configs WHERE entity_id = $1")
                .bind(entity.as_str()),
        };
        q.execute(&self.pool)
            .await
            .map_err(|e| map_err("write entity config", e))?;
        Ok(())
    }
}

#[async_trait]
impl LogStore for PostgresStore {
    async fn append(&self, record: &LogRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO logs (entity_id, session_id, kind, level, message, data, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, to_timestamp($7::double precision / 1000.0))",
        )
        .bind(record.entity.as_str())
        .bind(record.session.map(|s| s.as_uuid()))
        .bind(record.kind.as_str())
        .bind(record.level.as_str())
        .bind(&record.message)
        .bind(Json(&record.data))
        .bind(i64::try_from(record.created_at_ms).unwrap_or(0))
        .execute(&self.pool)
        .await
        .map_err(|e| map_err("append log", e))?;
        Ok(())
    }

    async fn recent(
        &self,
        entity: &EntityId,
        session: Option<&SessionId>,
        limit: usize,
    ) -> Result<Vec<LogRecord>> {
        let rows = sqlx::query(
            "SELECT session_id, kind, level, message, data, \
                 (extract(epoch FROM created_at) * 1000)::bigint AS at_ms \
             FROM logs WHERE entity_id = $1 AND ($2::uuid IS NULL OR session_id = $2) \
             ORDER BY id DESC LIMIT $3",
        )
        .bind(entity.as_str())
        .bind(session.map(|s| s.as_uuid()))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| map_err("read logs", e))?;
        let corrupt = |e| Error::backend("postgres: corrupt log row", e);
        rows.iter()
            .map(|r| {
                let session: Option<uuid::Uuid> = r.try_get("session_id").map_err(corrupt)?;
                let kind: String = r.try_get("kind").map_err(corrupt)?;
                let level: String = r.try_get("level").map_err(corrupt)?;
                let Json(data): Json<Value> = r.try_get("data").map_err(corrupt)?;
                let at: i64 = r.try_get("at_ms").map_err(corrupt)?;
                Ok(LogRecord {
                    entity: entity.clone(),
                    session: session.and_then(|u| SessionId::parse(&u.to_string())),
                    kind: LogKind::parse(&kind).unwrap_or(LogKind::Log),
                    level: fastmcp_core::protocol::LoggingLevel::parse(&level)
                        .unwrap_or(fastmcp_core::protocol::LoggingLevel::Info),
                    message: r.try_get("message").map_err(corrupt)?,
                    data,
                    created_at_ms: u64::try_from(at).unwrap_or(0),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fastmcp_core::testing::Stores;

    /// Runs against the server named by FASTMCP_TEST_DATABASE_URL (scripts/test.sh starts a
    /// throwaway PostgreSQL cluster); skipped without it, except under CI.
    async fn stores() -> Option<Stores> {
        let url = fastmcp_core::testing::backend_url("FASTMCP_TEST_DATABASE_URL")?;
        let mut cfg = PostgresConfig::new(url);
        cfg.poll_interval = Duration::from_millis(200);
        cfg.max_connections = 4;
        Some(Stores::of(
            PostgresStore::connect(cfg)
                .await
                .expect("postgres reachable"),
        ))
    }

    fastmcp_core::store_test_suite!(optional stores());

    async fn instance(url: &str) -> PostgresStore {
        let mut cfg = PostgresConfig::new(url);
        cfg.max_connections = 2;
        PostgresStore::connect(cfg)
            .await
            .expect("postgres reachable")
    }

    /// Each instance keeps decoded records; a save or delete made through another instance must
    /// still be what the next read returns.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cached_records_follow_other_instances() {
        let Some(url) = fastmcp_core::testing::backend_url("FASTMCP_TEST_DATABASE_URL") else {
            return;
        };
        let (a, b) = (instance(&url).await, instance(&url).await);
        let entity = fastmcp_core::testing::random_entity();
        let ttl = Duration::from_secs(60);
        let rec = a
            .create(SessionRecord::new(entity.clone()), ttl)
            .await
            .unwrap();
        let seen = a
            .load_and_touch(&entity, &rec.id, ttl)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(seen.version, 1);
        let mut changed = b.load(&entity, &rec.id).await.unwrap().unwrap();
        changed.state.insert("by".into(), serde_json::json!("b"));
        b.save(&changed, ttl).await.unwrap();
        let seen = a
            .load_and_touch(&entity, &rec.id, ttl)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(seen.version, 2);
        assert_eq!(seen.state.get("by"), Some(&serde_json::json!("b")));
        // Cached again at version 2, then deleted elsewhere.
        assert!(a
            .load_and_touch(&entity, &rec.id, ttl)
            .await
            .unwrap()
            .is_some());
        assert!(b.delete(&entity, &rec.id).await.unwrap());
        assert!(a
            .load_and_touch(&entity, &rec.id, ttl)
            .await
            .unwrap()
            .is_none());
    }

    /// `logs` rows older than the configured retention are deleted by the cleanup task. Runs in a
    /// database of its own: the cleanup is global and would race the other tests' rows.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn log_retention_is_enforced() {
        let Some(url) = fastmcp_core::testing::backend_url("FASTMCP_TEST_DATABASE_URL") else {
            return;
        };
        let admin = instance(&url).await;
        let db = format!("retention_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
            .execute(admin.pool())
            .await
            .unwrap();
        let (base, _) = url.rsplit_once('/').unwrap();
        let mut cfg = PostgresConfig::new(format!("{base}/{db}"));
        cfg.max_connections = 2;
        cfg.log_retention = Duration::from_millis(300);
        cfg.cleanup_interval = Duration::from_millis(100);
        let store = PostgresStore::connect(cfg).await.unwrap();
        let entity = fastmcp_core::testing::random_entity();
        let record = LogRecord {
            entity: entity.clone(),
            session: None,
            kind: LogKind::Log,
            level: fastmcp_core::protocol::LoggingLevel::Info,
            message: "kept for a while".into(),
            data: Value::Null,
            created_at_ms: 0,
        };
        store.append(&record).await.unwrap();
        assert_eq!(store.recent(&entity, None, 10).await.unwrap().len(), 1);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !store.recent(&entity, None, 10).await.unwrap().is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "log row outlived its retention"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        store.pool().close().await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE {db} WITH (FORCE)"
        )))
        .execute(admin.pool())
        .await
        .unwrap();
    }

    #[test]
    fn debug_hides_the_password() {
        let shown = format!("{:?}", PostgresConfig::new("postgres://app:hunter2@db/mcp"));
        assert!(
            !shown.contains("hunter2") && shown.contains("app:***@db"),
            "{shown}"
        );
    }
}
