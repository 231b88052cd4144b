//! Log records, newest first, pruned by the cleanup task: by age, and to the newest
//! `logs_per_entity` of each entity.

use super::*;

#[async_trait]
impl LogStore for PostgresStore {
    async fn append(&self, record: &LogRecord) -> StoreResult<()> {
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
        if let Ok(mut writers) = self.log_writers.lock() {
            if !writers.contains(record.entity.as_str()) {
                writers.insert(record.entity.as_str().to_string());
            }
        }
        Ok(())
    }

    async fn recent(
        &self,
        entity: &EntityId,
        session: Option<&SessionId>,
        limit: usize,
    ) -> StoreResult<Vec<LogRecord>> {
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
        let corrupt = |e| StoreError::backend("postgres: corrupt log row", e);
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
