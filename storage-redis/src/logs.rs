//! Log records: a capped list per entity and per session.

use super::*;

#[async_trait]
impl LogStore for RedisStore {
    async fn append(&self, record: &LogRecord) -> StoreResult<()> {
        let key = self.keys.logs(&record.entity);
        let text = serde_json::to_string(record)
            .map_err(|e| StoreError::internal(format!("cannot encode log record: {e}")))?;
        let mut con = self.con.clone();
        let _: (i64, ()) = redis::pipe()
            .cmd("LPUSH")
            .arg(&key)
            .arg(text)
            .cmd("LTRIM")
            .arg(&key)
            .arg(0)
            .arg(self.cfg.max_logs_per_entity.saturating_sub(1))
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("append log", e))?;
        Ok(())
    }

    async fn recent(
        &self,
        entity: &EntityId,
        session: Option<&SessionId>,
        limit: usize,
    ) -> StoreResult<Vec<LogRecord>> {
        let key = self.keys.logs(entity);
        let mut con = self.con.clone();
        // The window is bounded, so reading it whole to filter by session is bounded too.
        let raw: Vec<String> = redis::cmd("LRANGE")
            .arg(&key)
            .arg(0)
            .arg(-1)
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("read logs", e))?;
        Ok(raw
            .iter()
            .filter_map(|t| serde_json::from_str::<LogRecord>(t).ok())
            .filter(|r| {
                &r.entity == entity && session.is_none_or(|s| r.session.as_ref() == Some(s))
            })
            .take(limit)
            .collect())
    }
}
