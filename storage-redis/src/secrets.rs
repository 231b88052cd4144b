//! Server secrets (`KeyStore`): created once, first writer wins.

use super::*;

#[async_trait]
impl KeyStore for RedisStore {
    async fn get_or_create(&self, name: &str, proposed: &[u8]) -> StoreResult<Vec<u8>> {
        let key = self.keys.secret(name);
        let mut con = self.con.clone();
        // SET NX then GET: whoever wins the SET, every caller reads the one stored value.
        let (stored,): (Option<Vec<u8>>,) = redis::pipe()
            .cmd("SET")
            .arg(&key)
            .arg(proposed)
            .arg("NX")
            .ignore()
            .cmd("GET")
            .arg(&key)
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("read server key", e))?;
        stored.ok_or_else(|| StoreError::internal("server key vanished after SET NX"))
    }
}
