//! Server secrets (`KeyStore`): created once, first writer wins.

use super::*;

#[async_trait]
impl KeyStore for PostgresStore {
    async fn get_or_create(&self, name: &str, proposed: &[u8]) -> StoreResult<Vec<u8>> {
        // The no-op update makes RETURNING yield the existing row too, in one statement.
        let row = sqlx::query(
            "INSERT INTO server_keys (name, secret) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING secret",
        )
        .bind(name)
        .bind(proposed)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| map_err("read server key", e))?;
        row.try_get("secret")
            .map_err(|e| StoreError::backend("postgres: corrupt server key", e))
    }
}
