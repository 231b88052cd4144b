//! Per-entity configuration.

use super::*;

#[async_trait]
impl EntityConfigStore for MemoryStore {
    async fn entity_config(&self, entity: &EntityId) -> StoreResult<Option<EntityConfig>> {
        Ok(self.inner.entity_configs.get(entity).map(|c| c.clone()))
    }

    async fn set_entity_config(
        &self,
        entity: &EntityId,
        config: Option<&EntityConfig>,
    ) -> StoreResult<()> {
        match config {
            Some(c) => {
                self.inner.entity_configs.insert(entity.clone(), c.clone());
            }
            None => {
                self.inner.entity_configs.remove(entity);
            }
        }
        Ok(())
    }
}
