//! Sessions.

use super::*;

#[async_trait]
impl SessionStore for MemoryStore {
    async fn create(&self, mut record: SessionRecord, ttl: Duration) -> StoreResult<SessionRecord> {
        let key = (record.entity.clone(), record.id);
        let now = Instant::now();
        match self.inner.sessions.entry(key) {
            Entry::Occupied(mut o) if o.get().expires_at <= now => {
                record.version = 1;
                o.insert(SessionEntry {
                    record: record.clone(),
                    expires_at: now + ttl,
                });
            }
            Entry::Occupied(_) => return Err(StoreError::Conflict("session id exists".into())),
            Entry::Vacant(v) => {
                record.version = 1;
                v.insert(SessionEntry {
                    record: record.clone(),
                    expires_at: now + ttl,
                });
            }
        }
        Ok(record)
    }

    async fn load(&self, entity: &EntityId, id: &SessionId) -> StoreResult<Option<SessionRecord>> {
        let key = (entity.clone(), *id);
        let now = Instant::now();
        Ok(self
            .inner
            .sessions
            .get(&key)
            .filter(|e| e.expires_at > now)
            .map(|e| e.record.clone()))
    }

    async fn load_and_touch(
        &self,
        entity: &EntityId,
        id: &SessionId,
        ttl: Duration,
    ) -> StoreResult<Option<SessionRecord>> {
        let key = (entity.clone(), *id);
        let now = Instant::now();
        Ok(self
            .inner
            .sessions
            .get_mut(&key)
            .filter(|e| e.expires_at > now)
            .map(|mut e| {
                e.expires_at = now + ttl;
                e.record.clone()
            }))
    }

    async fn save(&self, record: &SessionRecord, ttl: Duration) -> StoreResult<u64> {
        let key = (record.entity.clone(), record.id);
        let now = Instant::now();
        let Some(mut e) = self
            .inner
            .sessions
            .get_mut(&key)
            .filter(|e| e.expires_at > now)
        else {
            return Err(StoreError::NotFound("session".into()));
        };
        if e.record.version != record.version {
            return Err(StoreError::Conflict(format!(
                "session is at version {}, not {}",
                e.record.version, record.version
            )));
        }
        let mut next = record.clone();
        next.version = record.version + 1;
        e.record = next;
        e.expires_at = now + ttl;
        Ok(record.version + 1)
    }

    async fn touch(&self, entity: &EntityId, id: &SessionId, ttl: Duration) -> StoreResult<bool> {
        let key = (entity.clone(), *id);
        let now = Instant::now();
        match self
            .inner
            .sessions
            .get_mut(&key)
            .filter(|e| e.expires_at > now)
        {
            Some(mut e) => {
                e.expires_at = now + ttl;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn delete(&self, entity: &EntityId, id: &SessionId) -> StoreResult<bool> {
        let key = (entity.clone(), *id);
        let now = Instant::now();
        Ok(self
            .inner
            .sessions
            .remove(&key)
            .is_some_and(|(_, e)| e.expires_at > now))
    }

    async fn count(&self, entity: &EntityId) -> StoreResult<u64> {
        let now = Instant::now();
        let n = self
            .inner
            .sessions
            .iter()
            .filter(|e| &e.key().0 == entity && e.expires_at > now)
            .count();
        Ok(n as u64)
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
        let now = Instant::now();
        // Linear in all sessions: listing is an admin operation, not on any request path.
        let mut hits: Vec<SessionRecord> = self
            .inner
            .sessions
            .iter()
            .filter(|e| &e.key().0 == entity && e.expires_at > now)
            .filter(|e| after.is_none_or(|a| e.key().1 > a))
            .map(|e| e.record.clone())
            .collect();
        hits.sort_by_key(|r| r.id);
        let limit = limit.max(1);
        let next_cursor = (hits.len() > limit).then(|| hits[limit - 1].id.to_string());
        hits.truncate(limit);
        Ok(SessionPage {
            sessions: hits,
            next_cursor,
        })
    }

    async fn ping(&self) -> StoreResult<()> {
        Ok(())
    }
}
