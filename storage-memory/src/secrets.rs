//! Server secrets (`KeyStore`).

use super::*;

#[async_trait]
impl KeyStore for MemoryStore {
    async fn get_or_create(&self, name: &str, proposed: &[u8]) -> StoreResult<Vec<u8>> {
        Ok(self
            .inner
            .keys
            .entry(name.to_string())
            .or_insert_with(|| proposed.to_vec())
            .clone())
    }
}
