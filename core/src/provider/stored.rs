//! The stored catalog as a provider: each entity's items and the global ones, read from the
//! shared [`CatalogStore`] once, kept as a frozen registry, and refreshed when the store's
//! epoch moves.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use dashmap::DashMap;
use tokio::sync::{broadcast, RwLock};

use super::{Provider, ProviderChange};
use crate::auth::Principal;
use crate::catalog::{CatalogItem, CatalogScope, McpServerSpec};
use crate::error::Result;
use crate::ids::EntityId;
use crate::registry::{Registry, RegistryBuilder};
use crate::storage::CatalogStore;

/// How often an instance checks the store's catalog epoch, by default: a change made on
/// another instance is served here within this (plus one read).
pub const DEFAULT_REFRESH: Duration = Duration::from_millis(250);

/// Entities whose catalog one instance keeps at most before it forgets them all.
const CACHE_CAP: usize = 100_000;

/// Versions read per store call while refreshing.
const VERSIONS_PER_READ: usize = 500;

/// Items defined as data ([`CatalogItem`]), per entity and global (`*`), served from a
/// per-instance cache.
///
/// Freshness: every `refresh` the instance reads the store's epoch (one small read, whatever
/// the traffic); when it moved, it reads the versions of the scopes it holds and drops the
/// stale ones, which the next request reloads. No request reads the store in the steady state.
/// [`invalidate`](Self::invalidate) drops a scope at once (the instance that made a change
/// serves it immediately).
#[derive(Clone)]
pub struct StoredCatalog {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn CatalogStore>,
    /// The global items and their version, once read.
    global: RwLock<Option<(u64, Arc<[CatalogItem]>)>>,
    entities: DashMap<EntityId, Cached>,
    /// Moves at every refresh that found changes and every invalidation: a load that started
    /// before is not cached (it may predate the change).
    generation: AtomicU64,
    changes: broadcast::Sender<ProviderChange>,
    refresh: Duration,
    /// Where HTTP tools send their requests.
    outbound: Option<Arc<dyn crate::catalog::Outbound>>,
    /// The refresher starts with the first request (inside the runtime, wherever the provider
    /// was built).
    refresher: std::sync::Once,
}

struct Cached {
    version: u64,
    global_version: u64,
    registry: Arc<Registry>,
    mounts: Arc<[McpServerSpec]>,
}

impl StoredCatalog {
    /// A provider over `store`, checking for changes every `refresh` once it serves its first
    /// request (a task that stops when the last clone is dropped).
    pub fn new(store: Arc<dyn CatalogStore>, refresh: Duration) -> Self {
        Self::with_outbound(store, refresh, None)
    }

    /// [`new`](Self::new), with the sender of HTTP tools' requests (the server's network
    /// policy); without one, a stored HTTP tool answers that HTTP tools are disabled.
    pub fn with_outbound(
        store: Arc<dyn CatalogStore>,
        refresh: Duration,
        outbound: Option<Arc<dyn crate::catalog::Outbound>>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                global: RwLock::new(None),
                entities: DashMap::new(),
                generation: AtomicU64::new(0),
                changes: broadcast::channel(256).0,
                refresh: refresh.max(Duration::from_millis(10)),
                outbound,
                refresher: std::sync::Once::new(),
            }),
        }
    }

    /// Forgets what this instance holds for `scope` (everything, for the global scope), so the
    /// next request reads it again.
    pub fn invalidate(&self, scope: &CatalogScope) {
        self.inner.generation.fetch_add(1, Ordering::SeqCst);
        match scope {
            CatalogScope::Entity(e) => {
                self.inner.entities.remove(e);
            }
            CatalogScope::Global => {
                if let Ok(mut g) = self.inner.global.try_write() {
                    *g = None;
                }
                self.inner.entities.clear();
            }
        }
        let entity = match scope {
            CatalogScope::Entity(e) => Some(e.clone()),
            CatalogScope::Global => None,
        };
        let _ = self.inner.changes.send(ProviderChange { entity });
    }

    /// Whether HTTP tools can make requests here.
    pub fn has_outbound(&self) -> bool {
        self.inner.outbound.is_some()
    }

    /// The sender of HTTP tools' requests, if any (also what fetches an OpenAPI document by
    /// URL, under the same network policy).
    pub fn outbound(&self) -> Option<&Arc<dyn crate::catalog::Outbound>> {
        self.inner.outbound.as_ref()
    }

    /// The upstream MCP servers mounted for `entity`: the global ones, then its own (which
    /// replace a global one of the same name). The same `Arc` while nothing changed.
    pub async fn mounts(&self, entity: &EntityId) -> Result<Arc<[McpServerSpec]>> {
        self.inner.refresher.call_once(|| {
            tokio::spawn(refresher(Arc::downgrade(&self.inner), self.inner.refresh));
        });
        if let Some(c) = self.inner.entities.get(entity) {
            return Ok(Arc::clone(&c.mounts));
        }
        Ok(self.inner.load(entity).await?.1)
    }

    /// The store behind it.
    pub fn store(&self) -> &Arc<dyn CatalogStore> {
        &self.inner.store
    }
}

impl Inner {
    async fn global(&self) -> Result<(u64, Arc<[CatalogItem]>)> {
        if let Some(g) = self.global.read().await.as_ref() {
            return Ok(g.clone());
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let snap = self.store.catalog(&CatalogScope::Global).await?;
        let g = (snap.version, Arc::from(snap.items));
        if self.generation.load(Ordering::SeqCst) == generation {
            *self.global.write().await = Some(g.clone());
        }
        Ok(g)
    }

    async fn load(&self, entity: &EntityId) -> Result<(Arc<Registry>, Arc<[McpServerSpec]>)> {
        let generation = self.generation.load(Ordering::SeqCst);
        let (global_version, global) = self.global().await?;
        let own = self
            .store
            .catalog(&CatalogScope::Entity(entity.clone()))
            .await?;
        if global.is_empty() && own.items.is_empty() {
            let empty = (Arc::new(Registry::default()), Arc::from([]));
            self.keep(entity, generation, own.version, global_version, &empty);
            return Ok(empty);
        }
        let mut b = RegistryBuilder::new();
        let mut mounts: Vec<McpServerSpec> = Vec::new();
        // A later item replaces an earlier one of the same name: the entity's own win.
        for item in global.iter().chain(own.items.iter()) {
            if let CatalogItem::McpServer(m) = item {
                mounts.retain(|o| o.name != m.name);
                mounts.push(m.clone());
            }
            super::items::add_to(item, &mut b, self.outbound.as_ref());
        }
        let loaded = (Arc::new(b.build()), Arc::from(mounts));
        self.keep(entity, generation, own.version, global_version, &loaded);
        Ok(loaded)
    }

    fn keep(
        &self,
        entity: &EntityId,
        generation: u64,
        version: u64,
        global_version: u64,
        (registry, mounts): &(Arc<Registry>, Arc<[McpServerSpec]>),
    ) {
        if self.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        if self.entities.len() >= CACHE_CAP {
            self.entities.clear();
        }
        self.entities.insert(
            entity.clone(),
            Cached {
                version,
                global_version,
                registry: Arc::clone(registry),
                mounts: Arc::clone(mounts),
            },
        );
    }

    /// Drops what the store has changed since it was read. Returns whether it could tell.
    async fn sweep(&self) -> Result<()> {
        self.generation.fetch_add(1, Ordering::SeqCst);
        let held_global = self.global.read().await.as_ref().map(|g| g.0);
        let global_now = self
            .store
            .catalog_versions(&[CatalogScope::Global])
            .await?
            .first()
            .copied()
            .unwrap_or(0);
        if held_global.is_some_and(|v| v != global_now) {
            *self.global.write().await = None;
            self.entities.clear();
            let _ = self.changes.send(ProviderChange { entity: None });
            return Ok(());
        }
        let held: Vec<(EntityId, u64)> = self
            .entities
            .iter()
            .map(|e| (e.key().clone(), e.value().version))
            .collect();
        for chunk in held.chunks(VERSIONS_PER_READ) {
            let scopes: Vec<CatalogScope> = chunk
                .iter()
                .map(|(e, _)| CatalogScope::Entity(e.clone()))
                .collect();
            let now = self.store.catalog_versions(&scopes).await?;
            for ((entity, was), is) in chunk.iter().zip(now) {
                let stale_global = self
                    .entities
                    .get(entity)
                    .is_some_and(|c| c.global_version != global_now);
                if *was != is || stale_global {
                    self.entities.remove(entity);
                    let _ = self.changes.send(ProviderChange {
                        entity: Some(entity.clone()),
                    });
                }
            }
        }
        Ok(())
    }
}

async fn refresher(inner: Weak<Inner>, every: Duration) {
    let mut seen: Option<u64> = None;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let epoch = match inner.store.catalog_epoch().await {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e.report(), "cannot read the catalog epoch");
                continue;
            }
        };
        if seen == Some(epoch) {
            continue;
        }
        match inner.sweep().await {
            Ok(()) => seen = Some(epoch),
            Err(e) => tracing::warn!(error = %e.report(), "cannot refresh the stored catalog"),
        }
    }
}

#[async_trait]
impl Provider for StoredCatalog {
    async fn catalog(
        &self,
        entity: &EntityId,
        _principal: Option<&Principal>,
    ) -> Result<Arc<Registry>> {
        self.inner.refresher.call_once(|| {
            tokio::spawn(refresher(Arc::downgrade(&self.inner), self.inner.refresh));
        });
        if let Some(c) = self.inner.entities.get(entity) {
            return Ok(Arc::clone(&c.registry));
        }
        Ok(self.inner.load(entity).await?.0)
    }

    fn changes(&self) -> Option<broadcast::Receiver<ProviderChange>> {
        Some(self.inner.changes.subscribe())
    }
}
