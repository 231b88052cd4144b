//! Log records.

use super::*;

#[async_trait]
impl LogStore for MemoryStore {
    async fn append(&self, record: &LogRecord) -> StoreResult<()> {
        let mut logs = self.inner.logs.entry(record.entity.clone()).or_default();
        logs.push_front(record.clone());
        logs.truncate(self.inner.config.max_logs_per_entity);
        Ok(())
    }

    async fn recent(
        &self,
        entity: &EntityId,
        session: Option<&SessionId>,
        limit: usize,
    ) -> StoreResult<Vec<LogRecord>> {
        Ok(self.inner.logs.get(entity).map_or_else(Vec::new, |logs| {
            logs.iter()
                .filter(|r| session.is_none_or(|s| r.session.as_ref() == Some(s)))
                .take(limit)
                .cloned()
                .collect()
        }))
    }
}
