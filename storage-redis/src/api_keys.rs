//! API keys, by hash, with a per-entity index.

use super::*;

#[async_trait]
impl ApiKeyStore for RedisStore {
    async fn put_key(&self, key: &ApiKeyRecord) -> StoreResult<()> {
        let by_hash = self.keys.api_key(&key.hash);
        let index = self.keys.api_keys(&key.entity);
        let text = serde_json::to_string(key)
            .map_err(|e| StoreError::internal(format!("cannot encode api key: {e}")))?;
        let mut con = self.con.clone();
        // The index entry first (HSETNX): it is what makes (entity, id) unique.
        let fresh: bool = redis::cmd("HSETNX")
            .arg(&index)
            .arg(&key.id)
            .arg(&key.hash)
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("store api key", e))?;
        if !fresh {
            return Err(StoreError::Conflict(format!("api key {} exists", key.id)));
        }
        let set: Option<String> = redis::cmd("SET")
            .arg(&by_hash)
            .arg(text)
            .arg("NX")
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("store api key", e))?;
        if set.is_none() {
            let _: () = redis::cmd("HDEL")
                .arg(&index)
                .arg(&key.id)
                .query_async(&mut con)
                .await
                .map_err(|e| map_err("store api key", e))?;
            return Err(StoreError::Conflict("api key exists".into()));
        }
        Ok(())
    }

    async fn key_by_hash(&self, hash: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let mut con = self.con.clone();
        let text: Option<String> = redis::cmd("GET")
            .arg(self.keys.api_key(hash))
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("read api key", e))?;
        text.map(|t| {
            serde_json::from_str(&t).map_err(|e| StoreError::backend("redis: corrupt api key", e))
        })
        .transpose()
    }

    async fn list_keys(&self, entity: &EntityId) -> StoreResult<Vec<ApiKeyRecord>> {
        let mut con = self.con.clone();
        let hashes: Vec<String> = redis::cmd("HVALS")
            .arg(self.keys.api_keys(entity))
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("list api keys", e))?;
        let mut keys = Vec::new();
        for h in hashes {
            if let Some(k) = self.key_by_hash(&h).await? {
                keys.push(k);
            }
        }
        keys.sort_by(|a, b| (a.created_at_ms, &a.id).cmp(&(b.created_at_ms, &b.id)));
        Ok(keys)
    }

    async fn revoke_key(&self, entity: &EntityId, id: &str) -> StoreResult<bool> {
        let index = self.keys.api_keys(entity);
        let mut con = self.con.clone();
        let hash: Option<String> = redis::cmd("HGET")
            .arg(&index)
            .arg(id)
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("revoke api key", e))?;
        let Some(hash) = hash else { return Ok(false) };
        // Two commands, not one pipeline: the keys lie in different Redis Cluster slots. The
        // key stops working first; an index entry left by a failure in between lists nothing.
        let _: i64 = redis::cmd("DEL")
            .arg(self.keys.api_key(&hash))
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("revoke api key", e))?;
        let _: i64 = redis::cmd("HDEL")
            .arg(&index)
            .arg(id)
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("revoke api key", e))?;
        Ok(true)
    }
}
