//! Providers: where an entity's tools, resources, resource templates and prompts come from.
//!
//! The code registry (what `McpServer::builder(…).with(…)` registered) is the first provider;
//! the stored catalog ([`StoredCatalog`], items managed through the admin API) is the next;
//! federation adds more. A request sees one catalog, the providers' registries merged in order:
//! **the first provider offering a name wins** (a tool or prompt name, a resource URI, a
//! template's URI template), so code-defined items cannot be shadowed by data, and an entity's
//! own stored items win over global ones.
//!
//! Everything the engine does around an item applies to every provider's items alike, in both
//! eras: the entity's visibility rules, scopes, limits, middleware, cancellation and logging.

mod items;
mod stored;

pub use stored::{StoredCatalog, DEFAULT_REFRESH};

use std::sync::Arc;

use async_trait::async_trait;
use dashmap::DashMap;
use tokio::sync::broadcast;

use crate::auth::Principal;
use crate::error::Result;
use crate::ids::EntityId;
use crate::registry::Registry;
use crate::storage::Transforms;

/// What changed in a provider: one entity's items, or (`None`) possibly every entity's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderChange {
    /// The entity whose catalog changed; `None` for all of them.
    pub entity: Option<EntityId>,
}

/// A source of items for an entity.
///
/// Contract:
/// - [`catalog`](Self::catalog) is called for every request that lists or uses an item, so it
///   answers from memory in the steady state, and returns **the same `Arc`** while nothing
///   changed (the server skips re-merging when every provider's `Arc` is unchanged).
/// - The returned registry is what `entity`, as `principal`, is offered; the engine still
///   applies visibility and scopes on top.
/// - A change is announced on [`changes`](Self::changes) once this instance serves it.
#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// The items `entity` is offered now.
    async fn catalog(
        &self,
        entity: &EntityId,
        principal: Option<&Principal>,
    ) -> Result<Arc<Registry>>;

    /// Announces changes (as seen by this instance), if the provider's items can change.
    fn changes(&self) -> Option<broadcast::Receiver<ProviderChange>> {
        None
    }
}

/// Merged catalogs kept at most before all are forgotten (a flood of entity ids must not grow
/// the cache without bound).
const MERGED_CACHE_CAP: usize = 100_000;

pub(crate) struct Merged {
    parts: Vec<Arc<Registry>>,
    transforms: Option<Transforms>,
    result: Arc<Registry>,
}

/// The code registry followed by the other providers, merged per entity.
pub(crate) struct Providers {
    code: Arc<Registry>,
    others: Vec<Arc<dyn Provider>>,
    /// Per entity: the parts last merged, the transforms applied, and the result.
    merged: DashMap<EntityId, Merged>,
}

impl Providers {
    pub(crate) fn new(code: Registry, others: Vec<Arc<dyn Provider>>) -> Self {
        Self {
            code: Arc::new(code),
            others,
            merged: DashMap::new(),
        }
    }

    /// The code registry alone.
    pub(crate) fn code(&self) -> &Registry {
        &self.code
    }

    /// What `entity` sees: the code registry, then each provider's items, under the names
    /// its `transforms` give them.
    pub(crate) async fn catalog(
        &self,
        entity: &EntityId,
        principal: Option<&Principal>,
        transforms: Option<&Transforms>,
    ) -> Result<Arc<Registry>> {
        let transforms = transforms.filter(|t| !t.is_identity());
        if self.others.is_empty() && transforms.is_none() {
            return Ok(Arc::clone(&self.code));
        }
        let mut parts = Vec::with_capacity(1 + self.others.len());
        parts.push(Arc::clone(&self.code));
        for p in &self.others {
            let r = p.catalog(entity, principal).await?;
            if !r.is_empty() {
                parts.push(r);
            }
        }
        if parts.len() == 1 && transforms.is_none() {
            return Ok(Arc::clone(&self.code));
        }
        if let Some(hit) = self.merged.get(entity) {
            let same = hit.parts.len() == parts.len()
                && hit.parts.iter().zip(&parts).all(|(a, b)| Arc::ptr_eq(a, b))
                && hit.transforms.as_ref() == transforms;
            if same {
                return Ok(Arc::clone(&hit.result));
            }
        }
        let mut merged = if parts.len() == 1 {
            Registry::merged(&parts[..1])
        } else {
            Registry::merged(&parts)
        };
        if let Some(t) = transforms {
            merged = merged.transformed(t);
        }
        let result = Arc::new(merged);
        if self.merged.len() >= MERGED_CACHE_CAP {
            self.merged.clear();
        }
        self.merged.insert(
            entity.clone(),
            Merged {
                parts,
                transforms: transforms.cloned(),
                result: Arc::clone(&result),
            },
        );
        Ok(result)
    }
}
