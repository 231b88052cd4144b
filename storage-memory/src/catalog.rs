//! `CatalogStore`: every scope's items under one lock.

use std::collections::HashMap;

use fastmcp_core::catalog::{CatalogItem, CatalogKind, CatalogScope};
use fastmcp_core::storage::{CatalogSnapshot, CatalogStore, PutMode};

use super::*;

#[derive(Default)]
pub(crate) struct Catalogs {
    epoch: u64,
    scopes: HashMap<CatalogScope, Scope>,
}

#[derive(Default)]
struct Scope {
    version: u64,
    /// In creation order; a replacement keeps its place.
    items: Vec<CatalogItem>,
}

impl MemoryStore {
    fn catalogs(&self) -> StoreResult<std::sync::MutexGuard<'_, Catalogs>> {
        self.inner
            .catalog
            .lock()
            .map_err(|_| StoreError::internal("catalog lock poisoned"))
    }
}

#[async_trait]
impl CatalogStore for MemoryStore {
    async fn put_catalog_item(
        &self,
        scope: &CatalogScope,
        item: &CatalogItem,
        mode: PutMode,
        max_items: usize,
    ) -> StoreResult<u64> {
        let mut all = self.catalogs()?;
        let s = all.scopes.entry(scope.clone()).or_default();
        let at = s
            .items
            .iter()
            .position(|i| i.kind() == item.kind() && i.key() == item.key());
        match (at, mode) {
            (Some(_), PutMode::Create) => {
                return Err(StoreError::Conflict(format!(
                    "a {} keyed `{}` exists in `{scope}`",
                    item.kind().as_str(),
                    item.key()
                )))
            }
            (Some(i), PutMode::Upsert) => s.items[i] = item.clone(),
            (None, _) => {
                if s.items.len() >= max_items {
                    return Err(StoreError::invalid_value(format!(
                        "the catalog of `{scope}` holds {} items, the most allowed",
                        s.items.len()
                    )));
                }
                s.items.push(item.clone());
            }
        }
        s.version += 1;
        let version = s.version;
        all.epoch += 1;
        Ok(version)
    }

    async fn delete_catalog_item(
        &self,
        scope: &CatalogScope,
        kind: CatalogKind,
        key: &str,
    ) -> StoreResult<Option<u64>> {
        let mut all = self.catalogs()?;
        let Some(s) = all.scopes.get_mut(scope) else {
            return Ok(None);
        };
        let Some(i) = s
            .items
            .iter()
            .position(|i| i.kind() == kind && i.key() == key)
        else {
            return Ok(None);
        };
        s.items.remove(i);
        s.version += 1;
        let version = s.version;
        all.epoch += 1;
        Ok(Some(version))
    }

    async fn catalog(&self, scope: &CatalogScope) -> StoreResult<CatalogSnapshot> {
        let all = self.catalogs()?;
        Ok(all
            .scopes
            .get(scope)
            .map(|s| CatalogSnapshot {
                version: s.version,
                items: s.items.clone(),
            })
            .unwrap_or_default())
    }

    async fn catalog_versions(&self, scopes: &[CatalogScope]) -> StoreResult<Vec<u64>> {
        let all = self.catalogs()?;
        Ok(scopes
            .iter()
            .map(|s| all.scopes.get(s).map_or(0, |s| s.version))
            .collect())
    }

    async fn catalog_epoch(&self) -> StoreResult<u64> {
        Ok(self.catalogs()?.epoch)
    }
}
