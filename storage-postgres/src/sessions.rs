//! Sessions: one row each, saved with a version check.

use super::*;

#[async_trait]
impl SessionStore for PostgresStore {
    async fn create(&self, mut record: SessionRecord, ttl: Duration) -> StoreResult<SessionRecord> {
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
            None => Err(StoreError::Conflict("session id exists".into())),
        }
    }

    async fn load(&self, entity: &EntityId, id: &SessionId) -> StoreResult<Option<SessionRecord>> {
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
    ) -> StoreResult<Option<SessionRecord>> {
        let (reply, answer) = oneshot::channel();
        let read = reads::Read {
            entity: entity.clone(),
            id: *id,
            fresh_ms: ms(ttl) - ms(ttl) / 20,
            reply,
        };
        let gone = || StoreError::internal("postgres: session reader stopped");
        self.reads.send(read).await.map_err(|_| gone())?;
        let Some((record, stale)) = answer.await.map_err(|_| gone())?? else {
            return Ok(None);
        };
        if stale {
            self.touch(entity, id, ttl).await?;
        }
        Ok(Some(record))
    }

    async fn save(&self, record: &SessionRecord, ttl: Duration) -> StoreResult<u64> {
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
            Some(_) => Err(StoreError::Conflict(format!(
                "session is not at version {}",
                record.version
            ))),
            None => Err(StoreError::NotFound("session".into())),
        }
    }

    async fn touch(&self, entity: &EntityId, id: &SessionId, ttl: Duration) -> StoreResult<bool> {
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

    async fn delete(&self, entity: &EntityId, id: &SessionId) -> StoreResult<bool> {
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
    ) -> StoreResult<SessionPage> {
        let after = match cursor {
            None => None,
            Some(c) => Some(
                SessionId::parse(c)
                    .ok_or_else(|| StoreError::invalid_value("invalid session cursor"))?,
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
        let mut sessions = rows
            .iter()
            .map(Self::decode)
            .collect::<StoreResult<Vec<_>>>()?;
        let next_cursor = (sessions.len() > limit).then(|| sessions[limit - 1].id.to_string());
        sessions.truncate(limit);
        Ok(SessionPage {
            sessions,
            next_cursor,
        })
    }

    async fn count(&self, entity: &EntityId) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sessions WHERE entity_id = $1 AND expires_at > now()",
        )
        .bind(entity.as_str())
        .fetch_one(&self.pool)
        .await
        .map_err(|e| map_err("count sessions", e))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(|e| map_err("ping", e))?;
        Ok(())
    }
}
