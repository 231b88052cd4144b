//! Session reads on the request path, coalesced.
//!
//! Every handshake-era request reads its session, so on PostgreSQL the request rate is bounded by
//! how many single-row `SELECT`s the pool can turn around. Reads that arrive while earlier ones
//! are in flight are sent as one `SELECT … FROM unnest(…)`: the database sees one statement per
//! batch, not one per request, and every request still reads the committed row (no cache, so no
//! cross-instance staleness). An idle instance sends a batch of one at once: no added latency.
//!
//! Decoded records are also kept per instance, but only ever used after the database confirms
//! that the row still has the cached `version`: the statement then sends no record at all, so
//! neither side pays for the JSON. A save on any instance bumps the version, so a stale copy is
//! never served.

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;

use fastmcp_core::storage::batching::next_batch;
use fastmcp_core::storage::StoreResult;
use fastmcp_core::{EntityId, SessionId, SessionRecord};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnection, PgPool, PgRow};
use sqlx::Postgres;
use sqlx::{Row, ValueRef};
use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout;

/// At most this many reads share one statement (bounds the statement's parameter arrays).
const MAX_BATCH: usize = 256;

/// The batches' connection goes back to the pool after this long without a read, so that an
/// idle instance holds none (and `PgPool::close` can finish).
const KEEP_IDLE: Duration = Duration::from_secs(1);

/// Above this many cached records the cache starts over (it is an optimisation, never a source
/// of truth, so dropping it only costs one full read per session).
const MAX_CACHED: usize = 100_000;

/// A loaded session and whether its expiry is due for a touch.
pub(crate) type Loaded = Option<(SessionRecord, bool)>;

/// Decoded records by session id, each valid only for the `version` it carries.
#[derive(Default)]
pub(crate) struct RecordCache(DashMap<SessionId, Arc<SessionRecord>>);

impl RecordCache {
    fn get(&self, entity: &EntityId, id: &SessionId) -> Option<Arc<SessionRecord>> {
        self.0
            .get(id)
            .map(|r| Arc::clone(&r))
            .filter(|r| &r.entity == entity)
    }

    pub(crate) fn put(&self, record: SessionRecord) {
        if self.0.len() >= MAX_CACHED {
            self.0.clear();
        }
        self.0.insert(record.id, Arc::new(record));
    }

    pub(crate) fn forget(&self, id: &SessionId) {
        self.0.remove(id);
    }
}

pub(crate) struct Read {
    pub(crate) entity: EntityId,
    pub(crate) id: SessionId,
    /// Touch when the expiry is earlier than now + this.
    pub(crate) fresh_ms: i64,
    pub(crate) reply: oneshot::Sender<StoreResult<Loaded>>,
}

/// Collects reads and runs them one batch at a time: reads that arrive while a batch is in
/// flight form the next one. One statement in flight beat two, four and eight in
/// `scripts/bench-stores.sh` (bigger batches; see `docs/decisions.md`). Ends when every sender is
/// dropped.
///
/// With one statement in flight one connection suffices, and it is kept: taken from the pool
/// each time, the statements went round all of the pool's connections, each a database process
/// woken with cold caches. A kept connection may have died since the last batch (the database
/// restarted), which the pool would have noticed before handing it out: a batch that fails on
/// it is tried once more on a fresh connection (the statement only reads). After [`KEEP_IDLE`]
/// without a read the connection goes back to the pool.
pub(crate) async fn run(pool: PgPool, cache: Arc<RecordCache>, mut rx: mpsc::Receiver<Read>) {
    let mut batch = Vec::with_capacity(64);
    let mut kept: Option<PoolConnection<Postgres>> = None;
    loop {
        let n = if kept.is_some() {
            match timeout(KEEP_IDLE, next_batch(&mut rx, &mut batch, MAX_BATCH)).await {
                Ok(n) => n,
                Err(_) => {
                    if let Some(conn) = kept.take() {
                        release(conn).await;
                    }
                    continue;
                }
            }
        } else {
            next_batch(&mut rx, &mut batch, MAX_BATCH).await
        };
        if n == 0 {
            break;
        }
        let batch = std::mem::take(&mut batch);
        let known: Vec<Option<Arc<SessionRecord>>> =
            batch.iter().map(|r| cache.get(&r.entity, &r.id)).collect();
        let first = match kept.take() {
            Some(conn) => Some(fetch_on(conn, &batch, &known, &mut kept).await),
            None => None,
        };
        let rows = match first {
            Some(Ok(rows)) => Ok(rows),
            _ => match reader(&pool).await {
                Ok(conn) => fetch_on(conn, &batch, &known, &mut kept).await,
                Err(e) => Err(e),
            },
        };
        answer(&cache, batch, &known, rows);
    }
}

/// A connection for the batches. Its statement plans once: under the default plan cache mode
/// PostgreSQL planned it again at every execution, because the generic plan's estimate (ten
/// rows from `unnest`) costs more than the custom plans' (the batch's real length), and
/// planning was most of the database's time per batch (`perf`, see `docs/decisions.md`). The
/// plan is the same either way: a nested loop over the primary key.
async fn reader(pool: &PgPool) -> Result<PoolConnection<Postgres>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    sqlx::query("SET plan_cache_mode = force_generic_plan")
        .execute(&mut *conn)
        .await?;
    Ok(conn)
}

/// Returns the batches' connection to the pool as the pool's other connections are.
async fn release(mut conn: PoolConnection<Postgres>) {
    if sqlx::query("RESET plan_cache_mode")
        .execute(&mut *conn)
        .await
        .is_err()
    {
        conn.close_on_drop();
    }
}

/// Runs one batch's statement on `conn`, which goes to `kept` if it succeeded and is closed
/// if it failed.
async fn fetch_on(
    mut conn: PoolConnection<Postgres>,
    batch: &[Read],
    known: &[Option<Arc<SessionRecord>>],
    kept: &mut Option<PoolConnection<Postgres>>,
) -> Result<Vec<PgRow>, sqlx::Error> {
    let rows = fetch(&mut conn, batch, known).await;
    if rows.is_ok() {
        *kept = Some(conn);
    } else {
        conn.close_on_drop();
    }
    rows
}

/// The batch's one statement: each read's row, without the record when the cached copy has
/// the row's version.
async fn fetch(
    conn: &mut PgConnection,
    batch: &[Read],
    known: &[Option<Arc<SessionRecord>>],
) -> Result<Vec<PgRow>, sqlx::Error> {
    let entities: Vec<&str> = batch.iter().map(|r| r.entity.as_str()).collect();
    let ids: Vec<uuid::Uuid> = batch.iter().map(|r| r.id.as_uuid()).collect();
    let fresh: Vec<i64> = batch.iter().map(|r| r.fresh_ms).collect();
    let versions: Vec<i64> = known
        .iter()
        .map(|k| {
            k.as_ref()
                .map_or(0, |r| i64::try_from(r.version).unwrap_or(0))
        })
        .collect();
    sqlx::query(
        "SELECT k.ord, s.version, \
             CASE WHEN s.version = k.known THEN NULL ELSE s.record END AS record, \
             s.expires_at < now() + make_interval(secs => k.fresh / 1000.0) AS stale \
         FROM unnest($1::text[], $2::uuid[], $3::bigint[], $4::bigint[]) \
             WITH ORDINALITY AS k(entity_id, id, fresh, known, ord) \
         CROSS JOIN LATERAL (SELECT record, version, expires_at FROM sessions \
             WHERE entity_id = k.entity_id AND id = k.id AND expires_at > now()) s",
    )
    .bind(&entities)
    .bind(&ids)
    .bind(&fresh)
    .bind(&versions)
    .fetch_all(&mut *conn)
    .await
}

/// Answers every read of the batch from its rows (or with the batch's error).
fn answer(
    cache: &RecordCache,
    batch: Vec<Read>,
    known: &[Option<Arc<SessionRecord>>],
    rows: Result<Vec<PgRow>, sqlx::Error>,
) {
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => {
            let err = crate::map_err("load session", e);
            for read in batch {
                let _ = read.reply.send(Err(err.replicate()));
            }
            return;
        }
    };
    let mut results: Vec<StoreResult<Loaded>> = batch.iter().map(|_| Ok(None)).collect();
    for row in &rows {
        let Some(i) = row
            .try_get::<i64, _>("ord")
            .ok()
            .and_then(|o| usize::try_from(o - 1).ok())
            .filter(|&i| i < results.len())
        else {
            continue;
        };
        let stale = row.try_get::<bool, _>("stale").unwrap_or(true);
        let unchanged = row.try_get_raw("record").is_ok_and(|v| v.is_null());
        results[i] = match (&known[i], unchanged) {
            (Some(rec), true) => Ok(Some((SessionRecord::clone(rec), stale))),
            _ => crate::PostgresStore::decode(row).map(|rec| {
                cache.put(rec.clone());
                Some((rec, stale))
            }),
        };
    }
    for (i, (read, result)) in batch.into_iter().zip(results).enumerate() {
        if matches!(result, Ok(None)) && known[i].is_some() {
            cache.forget(&read.id);
        }
        // A waiter that went away (its request was cancelled) needs no answer.
        let _ = read.reply.send(result);
    }
}
