//! Per-entity configuration.

use super::*;

#[async_trait]
impl EntityConfigStore for RedisStore {
    async fn entity_config(&self, entity: &EntityId) -> StoreResult<Option<EntityConfig>> {
        let mut con = self.con.clone();
        let text: Option<String> = redis::cmd("GET")
            .arg(self.keys.entity_config(entity))
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("read entity config", e))?;
        text.map(|t| {
            serde_json::from_str(&t)
                .map_err(|e| StoreError::backend("redis: corrupt entity config", e))
        })
        .transpose()
    }

    async fn set_entity_config(
        &self,
        entity: &EntityId,
        config: Option<&EntityConfig>,
    ) -> StoreResult<()> {
        let key = self.keys.entity_config(entity);
        let mut con = self.con.clone();
        let cmd = match config {
            Some(c) => {
                let text = serde_json::to_string(c).map_err(|e| {
                    StoreError::internal(format!("cannot encode entity config: {e}"))
                })?;
                let mut cmd = redis::cmd("SET");
                cmd.arg(&key).arg(text);
                cmd
            }
            None => {
                let mut cmd = redis::cmd("DEL");
                cmd.arg(&key);
                cmd
            }
        };
        let _: redis::Value = cmd
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("write entity config", e))?;
        Ok(())
    }
}
