//! Per-entity configuration.

use super::*;

#[async_trait]
impl EntityConfigStore for PostgresStore {
    async fn entity_config(&self, entity: &EntityId) -> StoreResult<Option<EntityConfig>> {
        let row = sqlx::query("SELECT config FROM entity_configs WHERE entity_id = $1")
            .bind(entity.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| map_err("read entity config", e))?;
        row.map(|r| {
            r.try_get::<Json<EntityConfig>, _>("config")
                .map(|Json(c)| c)
                .map_err(|e| StoreError::backend("postgres: corrupt entity config", e))
        })
        .transpose()
    }

    async fn set_entity_config(
        &self,
        entity: &EntityId,
        config: Option<&EntityConfig>,
    ) -> StoreResult<()> {
        let q = match config {
            Some(c) => sqlx::query(
                "INSERT INTO entity_configs (entity_id, config, updated_at) VALUES ($1, $2, now()) \
                 ON CONFLICT (entity_id) DO UPDATE SET config = EXCLUDED.config, updated_at = now()",
            )
            .bind(entity.as_str())
            .bind(Json(c)),
            None => sqlx::query("DELETE FROM entity_configs WHERE entity_id = $1")
                .bind(entity.as_str()),
        };
        q.execute(&self.pool)
            .await
            .map_err(|e| map_err("write entity config", e))?;
        Ok(())
    }
}
