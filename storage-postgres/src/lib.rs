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

mod api_keys;
mod catalog;
mod entity_config;
mod limits;
mod logs;
mod queue;
mod reads;
mod secrets;
mod sessions;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fastmcp_core::storage::{Event, EventId, EventStream, SessionPage};
use fastmcp_core::storage::{StoreError, StoreResult};
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
    /// Log records kept per entity at most, newest first (as the memory and Redis stores do);
    /// the cleanup task trims the entities this instance wrote to since its last pass.
    pub logs_per_entity: u64,
    /// How often subscribers re-read without a notification, and reply waiters re-check.
    pub poll_interval: Duration,
    /// How often the cleanup task runs.
    pub cleanup_interval: Duration,
    /// A CA certificate file (PEM) to verify the server with, beside the URL's own
    /// `sslmode`/`sslrootcert` (for a private CA, with `sslmode=verify-full`).
    pub ca_file: Option<std::path::PathBuf>,
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
            logs_per_entity: 1000,
            poll_interval: Duration::from_millis(1000),
            cleanup_interval: Duration::from_secs(30),
            ca_file: None,
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
    /// Entities this instance appended log records for since the cleanup's last trim.
    log_writers: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("cfg", &self.cfg)
            .finish()
    }
}

fn map_err(what: &str, e: sqlx::Error) -> StoreError {
    let code = match &e {
        sqlx::Error::Database(db) => db.code().map(|c| c.to_string()),
        _ => None,
    };
    // Class 22 (data exception): a value PostgreSQL cannot store, such as a NUL character
    // inside JSON or text. The client sent it; it is not a server fault.
    if code.as_deref().is_some_and(|c| c.starts_with("22")) {
        return StoreError::invalid_value(format!("{what}: a value cannot be stored ({e})"));
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
    let cause = Cause {
        sqlstate: code,
        error: e,
    };
    if transient {
        StoreError::unavailable(format!("postgres: {what}"), cause)
    } else {
        StoreError::backend(format!("postgres: {what}"), cause)
    }
}

/// The driver's error with the SQLSTATE it carried, so an operator reading the log sees the
/// database's own classification (`23505`, `40P01`, …) next to its message.
#[derive(Debug)]
struct Cause {
    sqlstate: Option<String>,
    error: sqlx::Error,
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.sqlstate {
            Some(code) => write!(f, "SQLSTATE {code}: {}", self.error),
            None => write!(f, "{}", self.error),
        }
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
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
    /// calls fail with `StoreError::Unavailable` until it is back.
    pub async fn connect(cfg: PostgresConfig) -> StoreResult<Self> {
        let where_ = format!("connect to {}", redact_url(&cfg.url));
        let mut options: sqlx::postgres::PgConnectOptions =
            cfg.url.parse().map_err(|e| map_err(&where_, e))?;
        if let Some(ca) = &cfg.ca_file {
            options = options.ssl_root_cert(ca);
        }
        let pool = PgPoolOptions::new()
            .max_connections(cfg.max_connections)
            .acquire_timeout(Duration::from_secs(3))
            .connect_with(options)
            .await
            .map_err(|e| map_err(&where_, e))?;
        if cfg.migrate {
            MIGRATOR
                .run(&pool)
                .await
                .map_err(|e| StoreError::backend("postgres: migrations failed", e))?;
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
            log_writers: Arc::default(),
        };
        tokio::spawn(listen(store.pool.clone(), store.hub.clone()));
        tokio::spawn(cleanup(store.clone()));
        Ok(store)
    }

    /// The pool (for the catalog upsert, migrations, or the application's own queries).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Records the server's code catalog under the scope `code:{server_name}`, replacing what
    /// an earlier start wrote, so operators can query it in SQL beside the stored catalog.
    pub async fn upsert_catalog(
        &self,
        server_name: &str,
        tools: &[fastmcp_core::protocol::ToolInfo],
        resources: &[fastmcp_core::protocol::ResourceInfo],
        templates: &[fastmcp_core::protocol::ResourceTemplateInfo],
        prompts: &[fastmcp_core::protocol::PromptInfo],
    ) -> StoreResult<()> {
        let err = |e| map_err("upsert catalog", e);
        let scope = format!("code:{server_name}");
        let mut tx = self.pool.begin().await.map_err(err)?;
        // Instances of one server start together (a rollout, an autoscaler): each replaces the
        // same rows. Without this lock two transactions insert the same keys (23505) or lock
        // rows in opposite orders (40P01). Held until commit; other servers' names hash apart.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('fastmcp/catalog/' || $1, 0))")
            .bind(server_name)
            .execute(&mut *tx)
            .await
            .map_err(|e| map_err("upsert catalog: lock", e))?;
        for table in [
            "DELETE FROM tools WHERE scope = $1",
            "DELETE FROM resources WHERE scope = $1",
            "DELETE FROM prompts WHERE scope = $1",
        ] {
            sqlx::query(table)
                .bind(&scope)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        for t in tools {
            sqlx::query(
                "INSERT INTO tools (scope, name, description, input_schema, output_schema, annotations) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&scope)
            .bind(&t.name)
            .bind(&t.description)
            .bind(Json(&t.input_schema))
            .bind(t.output_schema.as_ref().map(Json))
            .bind(t.annotations.as_ref().and_then(|a| serde_json::to_value(a).ok()).map(Json))
            .execute(&mut *tx)
            .await
            .map_err(|e| map_err("upsert catalog: insert into tools", e))?;
        }
        let static_rows = resources
            .iter()
            .map(|r| (&r.uri, &r.name, &r.description, &r.mime_type, false));
        let template_rows = templates
            .iter()
            .map(|r| (&r.uri_template, &r.name, &r.description, &r.mime_type, true));
        for (uri, name, description, mime_type, is_template) in static_rows.chain(template_rows) {
            sqlx::query(
                "INSERT INTO resources (scope, uri, is_template, name, description, mime_type) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&scope)
            .bind(uri)
            .bind(is_template)
            .bind(name)
            .bind(description)
            .bind(mime_type)
            .execute(&mut *tx)
            .await
            .map_err(|e| map_err("upsert catalog: insert into resources", e))?;
        }
        for p in prompts {
            let args = serde_json::to_value(&p.arguments).unwrap_or(Value::Null);
            sqlx::query(
                "INSERT INTO prompts (scope, name, description, arguments) VALUES ($1, $2, $3, $4)",
            )
            .bind(&scope)
            .bind(&p.name)
            .bind(&p.description)
            .bind(Json(args))
            .execute(&mut *tx)
            .await
            .map_err(|e| map_err("upsert catalog: insert into prompts", e))?;
        }
        tx.commit().await.map_err(err)
    }

    fn decode(row: &sqlx::postgres::PgRow) -> StoreResult<SessionRecord> {
        let Json(mut rec): Json<SessionRecord> = row
            .try_get("record")
            .map_err(|e| StoreError::backend("postgres: corrupt session record", e))?;
        let version: i64 = row
            .try_get("version")
            .map_err(|e| StoreError::backend("postgres: corrupt version", e))?;
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
        trim_logs(&store).await;
    }
}

/// Keeps the newest `logs_per_entity` records of each entity this instance wrote to: every
/// instance trims what it wrote, so together they trim every entity that grows. One index range
/// per entity (the primary key is `(entity_id, id)`).
async fn trim_logs(store: &PostgresStore) {
    let entities: Vec<String> = match store.log_writers.lock() {
        Ok(mut set) => set.drain().collect(),
        Err(_) => return,
    };
    let keep = i64::try_from(store.cfg.logs_per_entity).unwrap_or(i64::MAX);
    for entity in entities {
        let trimmed = sqlx::query(
            "DELETE FROM logs WHERE entity_id = $1 AND id <= \
             (SELECT id FROM logs WHERE entity_id = $1 ORDER BY id DESC OFFSET $2 LIMIT 1)",
        )
        .bind(&entity)
        .bind(keep)
        .execute(&store.pool)
        .await;
        if let Err(e) = trimmed {
            tracing::debug!(error = %e, "postgres log trim failed; will retry");
            if let Ok(mut set) = store.log_writers.lock() {
                set.insert(entity);
            }
        }
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

    /// The same suite over TLS (`sslmode=verify-full`, a server certificate from a private CA),
    /// against the same PostgreSQL with `ssl=on` (scripts/test.sh).
    mod over_tls {
        use super::*;

        pub(super) fn ca(var: &str) -> Option<std::path::PathBuf> {
            fastmcp_core::testing::backend_url(var).map(Into::into)
        }

        async fn stores() -> Option<Stores> {
            let url = fastmcp_core::testing::backend_url("FASTMCP_TEST_DATABASE_TLS_URL")?;
            let mut cfg = PostgresConfig::new(url);
            cfg.ca_file = ca("FASTMCP_TEST_TLS_CA");
            cfg.max_connections = 4;
            Some(Stores::of(
                PostgresStore::connect(cfg)
                    .await
                    .expect("postgres reachable over TLS"),
            ))
        }

        fastmcp_core::store_test_suite!(optional stores());
    }

    /// A certificate from another CA is refused at connect time, with the reason in the chain.
    #[tokio::test]
    async fn tls_with_the_wrong_ca_fails_at_connect() {
        let Some(url) = fastmcp_core::testing::backend_url("FASTMCP_TEST_DATABASE_TLS_URL") else {
            return;
        };
        let mut cfg = PostgresConfig::new(url);
        cfg.ca_file = over_tls::ca("FASTMCP_TEST_TLS_WRONG_CA");
        let err = PostgresStore::connect(cfg).await.unwrap_err();
        let report = err.report().to_string();
        assert!(report.to_lowercase().contains("certificate"), "{report}");
    }

    async fn instance(url: &str) -> PostgresStore {
        let mut cfg = PostgresConfig::new(url);
        cfg.max_connections = 2;
        PostgresStore::connect(cfg)
            .await
            .expect("postgres reachable")
    }

    /// A database of a test's own, for tests of the cleanup task (which is global and would
    /// race the other tests' rows). `drop` closes the store on it and drops it.
    struct OwnDatabase {
        admin: PostgresStore,
        name: String,
    }

    impl OwnDatabase {
        /// Creates it beside the one `url` names; returns it and a configuration for it.
        async fn create(url: &str, prefix: &str) -> (Self, PostgresConfig) {
            let admin = instance(url).await;
            let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(admin.pool())
                .await
                .unwrap();
            let (base, _) = url.rsplit_once('/').unwrap();
            let mut cfg = PostgresConfig::new(format!("{base}/{name}"));
            cfg.max_connections = 2;
            (Self { admin, name }, cfg)
        }

        async fn drop(self, store: PostgresStore) {
            store.pool().close().await;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE {} WITH (FORCE)",
                self.name
            )))
            .execute(self.admin.pool())
            .await
            .unwrap();
        }
    }

    /// Instances of one server start together and each records the catalog: every write must
    /// succeed (it failed with 23505 or 40P01 before the catalog lock), and the rows are one
    /// catalog, not a mix.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_catalog_writes_all_succeed() {
        let Some(url) = fastmcp_core::testing::backend_url("FASTMCP_TEST_DATABASE_URL") else {
            return;
        };
        let server = format!("fleet-{}", uuid::Uuid::new_v4().simple());
        let tools: Vec<_> = (0..20)
            .map(|i| fastmcp_core::protocol::ToolInfo {
                name: format!("t{i}"),
                title: None,
                description: Some("d".into()),
                input_schema: serde_json::json!({"type": "object"}),
                output_schema: None,
                annotations: None,
            })
            .collect();
        let stores = futures::future::join_all((0..6).map(|_| instance(&url))).await;
        let writes = stores
            .iter()
            .map(|s| s.upsert_catalog(&server, &tools, &[], &[], &[]));
        for r in futures::future::join_all(writes).await {
            r.unwrap();
        }
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM tools WHERE scope = $1")
            .bind(format!("code:{server}"))
            .fetch_one(stores[0].pool())
            .await
            .unwrap();
        assert_eq!(n, 20);
    }

    /// The session reads keep one connection while they are busy; an idle instance gives it
    /// back, so the pool can close (and holds no connection it does not use).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn idle_reads_give_their_connection_back() {
        let Some(url) = fastmcp_core::testing::backend_url("FASTMCP_TEST_DATABASE_URL") else {
            return;
        };
        let store = instance(&url).await;
        let entity = fastmcp_core::testing::random_entity();
        let ttl = Duration::from_secs(60);
        let rec = store
            .create(SessionRecord::new(entity.clone()), ttl)
            .await
            .unwrap();
        for _ in 0..3 {
            let seen = store.load_and_touch(&entity, &rec.id, ttl).await.unwrap();
            assert_eq!(seen.map(|r| r.id), Some(rec.id));
        }
        tokio::time::timeout(Duration::from_secs(15), store.pool().close())
            .await
            .expect("the pool closes once the reads are idle");
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
        std::sync::Arc::make_mut(&mut changed.state).insert("by".into(), serde_json::json!("b"));
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
        let (db, mut cfg) = OwnDatabase::create(&url, "retention").await;
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
        db.drop(store).await;
    }

    /// An entity's log is trimmed to its newest `logs_per_entity` records, as in the other
    /// stores, however recent they are. Its own database, as above.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn logs_are_capped_per_entity() {
        let Some(url) = fastmcp_core::testing::backend_url("FASTMCP_TEST_DATABASE_URL") else {
            return;
        };
        let (db, mut cfg) = OwnDatabase::create(&url, "logcap").await;
        cfg.logs_per_entity = 10;
        cfg.cleanup_interval = Duration::from_millis(100);
        let store = PostgresStore::connect(cfg).await.unwrap();
        let (busy, quiet) = (
            fastmcp_core::testing::random_entity(),
            fastmcp_core::testing::random_entity(),
        );
        let record = |entity: &fastmcp_core::EntityId, i: usize| LogRecord {
            entity: entity.clone(),
            session: None,
            kind: LogKind::Log,
            level: fastmcp_core::protocol::LoggingLevel::Info,
            message: format!("record {i}"),
            data: Value::Null,
            // Now: only the count may remove them, not the age.
            created_at_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        };
        for i in 0..25 {
            store.append(&record(&busy, i)).await.unwrap();
        }
        for i in 0..3 {
            store.append(&record(&quiet, i)).await.unwrap();
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let kept = store.recent(&busy, None, 100).await.unwrap();
            if kept.len() == 10 {
                assert_eq!(kept[0].message, "record 24", "the newest stay");
                assert_eq!(kept[9].message, "record 15");
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} rows kept",
                kept.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(store.recent(&quiet, None, 100).await.unwrap().len(), 3);
        db.drop(store).await;
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
