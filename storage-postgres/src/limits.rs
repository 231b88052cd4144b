//! Rate windows and call slots, counted atomically in one statement each.

use super::*;

#[async_trait]
impl LimitStore for PostgresStore {
    async fn hit(&self, key: &str, window: Duration) -> StoreResult<(u64, Duration)> {
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
            .map_err(|e| StoreError::backend("postgres: corrupt limit row", e))?;
        Ok((
            u64::try_from(count).unwrap_or(0),
            Duration::from_millis(left),
        ))
    }

    async fn acquire(&self, key: &str, limit: u64, lease: Duration) -> StoreResult<Option<String>> {
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

    async fn release(&self, key: &str, slot: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM limit_slots WHERE key = $1 AND slot = $2")
            .bind(key)
            .bind(slot)
            .execute(&self.pool)
            .await
            .map_err(|e| map_err("release a limit slot", e))?;
        Ok(())
    }
}
