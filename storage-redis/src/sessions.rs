//! Sessions: one hash per session, saved with a compare-and-swap script, listed through a per-entity index.

use super::*;

#[async_trait]
impl SessionStore for RedisStore {
    async fn create(&self, mut record: SessionRecord, ttl: Duration) -> StoreResult<SessionRecord> {
        record.version = 1;
        let key = self.keys.session(&record.entity, &record.id);
        let data = Self::encode(&record)?;
        let mut con = self.con.clone();
        let created: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(format!("1:{data}"))
            .arg("NX")
            .arg("PX")
            .arg(ms(ttl))
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("create session", e))?;
        if created.is_none() {
            return Err(StoreError::Conflict("session id exists".into()));
        }
        // Listing index: a different slot on Cluster, so a separate command; list() prunes
        // ids whose record is gone.
        let _: () = redis::cmd("ZADD")
            .arg(self.keys.session_index(&record.entity))
            .arg(0)
            .arg(record.id.to_string())
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("index session", e))?;
        Ok(record)
    }

    async fn load(&self, entity: &EntityId, id: &SessionId) -> StoreResult<Option<SessionRecord>> {
        let mut con = self.con.clone();
        let raw: Option<String> = redis::cmd("GET")
            .arg(self.keys.session(entity, id))
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("load session", e))?;
        Self::decode(entity, id, raw)
    }

    async fn load_and_touch(
        &self,
        entity: &EntityId,
        id: &SessionId,
        ttl: Duration,
    ) -> StoreResult<Option<SessionRecord>> {
        let key = self.keys.session(entity, id);
        if let Some(reads) = &self.reads {
            let raw = reads.get_and_touch(key, ms(ttl)).await?;
            return Self::decode(entity, id, raw);
        }
        let mut con = self.con.clone();
        let raw: Option<String> = redis::cmd("GETEX")
            .arg(&key)
            .arg("PX")
            .arg(ms(ttl))
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("load session", e))?;
        Self::decode(entity, id, raw)
    }

    async fn save(&self, record: &SessionRecord, ttl: Duration) -> StoreResult<u64> {
        let key = self.keys.session(&record.entity, &record.id);
        let next = record.version + 1;
        let mut stored = record.clone();
        stored.version = next;
        let data = Self::encode(&stored)?;
        let mut con = self.con.clone();
        let r: i64 = self
            .save
            .key(&key)
            .arg(record.version.to_string())
            .arg(next.to_string())
            .arg(&data)
            .arg(ms(ttl))
            .invoke_async(&mut con)
            .await
            .map_err(|e| map_err("save session", e))?;
        match r {
            1 => Ok(next),
            -1 => Err(StoreError::NotFound("session".into())),
            _ => Err(StoreError::Conflict(format!(
                "session is not at version {}",
                record.version
            ))),
        }
    }

    async fn touch(&self, entity: &EntityId, id: &SessionId, ttl: Duration) -> StoreResult<bool> {
        let mut con = self.con.clone();
        let n: i64 = redis::cmd("PEXPIRE")
            .arg(self.keys.session(entity, id))
            .arg(ms(ttl))
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("touch session", e))?;
        Ok(n == 1)
    }

    async fn delete(&self, entity: &EntityId, id: &SessionId) -> StoreResult<bool> {
        let mut con = self.con.clone();
        let n: i64 = redis::cmd("DEL")
            .arg(self.keys.session(entity, id))
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("delete session", e))?;
        let _: i64 = redis::cmd("ZREM")
            .arg(self.keys.session_index(entity))
            .arg(id.to_string())
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("unindex session", e))?;
        Ok(n == 1)
    }

    async fn list(
        &self,
        entity: &EntityId,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<SessionPage> {
        let limit = limit.max(1);
        let mut start = match cursor {
            None => "-".to_string(),
            Some(c) => {
                SessionId::parse(c)
                    .ok_or_else(|| StoreError::invalid_value("invalid session cursor"))?;
                format!("({c}")
            }
        };
        let idx = self.keys.session_index(entity);
        let mut con = self.con.clone();
        let mut found: Vec<SessionRecord> = Vec::new();
        // Ids of expired records are pruned as they are met, so a page may take several reads.
        loop {
            let ids: Vec<String> = redis::cmd("ZRANGEBYLEX")
                .arg(&idx)
                .arg(&start)
                .arg("+")
                .arg("LIMIT")
                .arg(0)
                .arg(limit + 1)
                .query_async(&mut con)
                .await
                .map_err(|e| map_err("list sessions", e))?;
            for raw in &ids {
                let live = match SessionId::parse(raw) {
                    Some(id) => self.load(entity, &id).await?,
                    None => None,
                };
                match live {
                    Some(rec) => found.push(rec),
                    None => {
                        let _: i64 = redis::cmd("ZREM")
                            .arg(&idx)
                            .arg(raw)
                            .query_async(&mut con)
                            .await
                            .map_err(|e| map_err("prune index", e))?;
                    }
                }
                if found.len() > limit {
                    break;
                }
            }
            match ids.last() {
                Some(last) if found.len() <= limit && ids.len() > limit => {
                    start = format!("({last}")
                }
                _ => break,
            }
        }
        let next_cursor = (found.len() > limit).then(|| found[limit - 1].id.to_string());
        found.truncate(limit);
        Ok(SessionPage {
            sessions: found,
            next_cursor,
        })
    }

    async fn ping(&self) -> StoreResult<()> {
        let mut con = self.con.clone();
        let _: String = redis::cmd("PING")
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("ping", e))?;
        Ok(())
    }
}
