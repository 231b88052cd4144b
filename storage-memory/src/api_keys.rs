//! API keys.

use super::*;

#[async_trait]
impl ApiKeyStore for MemoryStore {
    async fn put_key(&self, key: &ApiKeyRecord) -> StoreResult<()> {
        let clash = self
            .inner
            .api_keys
            .iter()
            .any(|k| k.entity == key.entity && k.id == key.id);
        if clash {
            return Err(StoreError::Conflict(format!("api key {} exists", key.id)));
        }
        match self.inner.api_keys.entry(key.hash.clone()) {
            dashmap::Entry::Occupied(_) => Err(StoreError::Conflict("api key exists".into())),
            dashmap::Entry::Vacant(v) => {
                v.insert(key.clone());
                Ok(())
            }
        }
    }

    async fn key_by_hash(&self, hash: &str) -> StoreResult<Option<ApiKeyRecord>> {
        Ok(self.inner.api_keys.get(hash).map(|k| k.clone()))
    }

    async fn list_keys(&self, entity: &EntityId) -> StoreResult<Vec<ApiKeyRecord>> {
        let mut keys: Vec<ApiKeyRecord> = self
            .inner
            .api_keys
            .iter()
            .filter(|k| &k.entity == entity)
            .map(|k| k.clone())
            .collect();
        keys.sort_by(|a, b| (a.created_at_ms, &a.id).cmp(&(b.created_at_ms, &b.id)));
        Ok(keys)
    }

    async fn revoke_key(&self, entity: &EntityId, id: &str) -> StoreResult<bool> {
        let before = self.inner.api_keys.len();
        self.inner
            .api_keys
            .retain(|_, k| !(&k.entity == entity && k.id == id));
        Ok(self.inner.api_keys.len() < before)
    }
}
