//! The federation provider: for each entity, the items of the upstream MCP servers mounted
//! for it (its own mounts and the global ones, as the stored catalog holds them), under each
//! mount's namespace.

use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use dashmap::DashMap;
use fastmcp_core::catalog::McpServerSpec;
use fastmcp_core::provider::{Provider, StoredCatalog};
use fastmcp_core::registry::Registry;
use fastmcp_core::storage::SessionStore;
use fastmcp_core::{Change, EntityId, Principal, SessionId};
use tokio::sync::mpsc;

use crate::client::{Announced, Network};
use crate::mount::{AsyncFnPredicate, Health, Mount};

/// How often this instance ends upstream sessions whose downstream session ended, and forgets
/// mounts nobody used for [`IDLE`].
const SWEEP: Duration = Duration::from_secs(30);
/// A mount unused this long is dropped here (its sessions ended); it comes back on next use.
const IDLE: Duration = Duration::from_secs(600);
/// Entities remembered per mount as its users (told of its list changes).
const MAX_USERS: usize = 10_000;
/// Per-entity merged catalogs kept before all are forgotten.
const MAX_MERGED: usize = 100_000;
/// Announcements waiting for the server to send them out.
const ANNOUNCE_BUFFER: usize = 1024;

/// An entity's merged mounts: which mount listings (by identity and generation) made it.
type Merged = (Vec<(usize, u64)>, Arc<Registry>);

/// The stored mount definitions of an entity, and the mounts they resolved to.
type Resolved = (Arc<[McpServerSpec]>, Vec<Arc<Mount>>);

/// One mount's health on this instance.
#[derive(Debug, Clone)]
pub struct MountHealth {
    /// The mount's name.
    pub name: String,
    /// Its URL.
    pub url: String,
    /// What this instance knows of it.
    pub health: Health,
}

/// Mounts upstream MCP servers into entities' catalogs (see the crate docs).
#[derive(Clone)]
pub struct Federation {
    inner: Arc<Inner>,
}

struct Inner {
    stored: StoredCatalog,
    net: Arc<dyn Network>,
    sessions: Arc<dyn SessionStore>,
    /// By the mount's full definition: a changed definition is a new mount.
    mounts: DashMap<String, Arc<Mount>>,
    merged: DashMap<EntityId, Merged>,
    /// Per entity: the stored mounts (by identity) and the mounts they resolved to, so a
    /// request does not look every definition up again.
    resolved: DashMap<EntityId, Resolved>,
    empty: Arc<Registry>,
    announce: mpsc::Sender<(EntityId, Change)>,
    announcements: std::sync::Mutex<Option<mpsc::Receiver<(EntityId, Change)>>>,
    sweeper: std::sync::Once,
}

impl Federation {
    /// A provider of the mounts `stored` holds, reaching upstreams through `net`; `sessions`
    /// tells which downstream sessions still exist.
    pub fn new(
        stored: StoredCatalog,
        net: Arc<dyn Network>,
        sessions: Arc<dyn SessionStore>,
    ) -> Self {
        let (tx, rx) = mpsc::channel(ANNOUNCE_BUFFER);
        Self {
            inner: Arc::new(Inner {
                stored,
                net,
                sessions,
                mounts: DashMap::new(),
                merged: DashMap::new(),
                resolved: DashMap::new(),
                empty: Arc::new(Registry::default()),
                announce: tx,
                announcements: std::sync::Mutex::new(Some(rx)),
                sweeper: std::sync::Once::new(),
            }),
        }
    }

    /// What the server must tell entities' clients (an upstream's list changed): taken once,
    /// by whoever sends `list_changed` notifications.
    pub fn take_announcements(&self) -> Option<mpsc::Receiver<(EntityId, Change)>> {
        self.inner
            .announcements
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// Ends the upstream sessions this instance holds for the downstream session `session`
    /// (it ended here; instances holding others close them at their next sweep).
    pub async fn end_session(&self, entity: &EntityId, session: &SessionId) {
        let mounts: Vec<Arc<Mount>> = self
            .inner
            .mounts
            .iter()
            .map(|m| Arc::clone(m.value()))
            .collect();
        for m in mounts {
            m.end_session(entity, session).await;
        }
    }

    /// Every mount this instance holds, and its health.
    pub fn health(&self) -> Vec<MountHealth> {
        self.inner
            .mounts
            .iter()
            .map(|m| MountHealth {
                name: m.spec.name.clone(),
                url: m.spec.url.clone(),
                health: m.health(),
            })
            .collect()
    }

    /// The health of the mount `spec`, listing it first if this instance has not yet.
    pub async fn status_of(&self, spec: &McpServerSpec) -> Health {
        let Some(mount) = self.inner.mount(spec) else {
            return Health {
                last_error: Some("the mount's definition is unusable".into()),
                ..Default::default()
            };
        };
        mount.lists().await;
        mount.health()
    }
}

impl Inner {
    /// The mount for `spec`, created (with its watcher) on first use.
    fn mount(self: &Arc<Self>, spec: &McpServerSpec) -> Option<Arc<Mount>> {
        let key = serde_json::to_string(spec).ok()?;
        if let Some(m) = self.mounts.get(&key) {
            return Some(Arc::clone(&m));
        }
        let (mount, rx) = match Mount::new(spec.clone(), Arc::clone(&self.net)) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(mount = %spec.name, error = %e, "a mount is unusable");
                return None;
            }
        };
        let mount = Arc::clone(self.mounts.entry(key).or_insert(mount).value());
        tokio::spawn(watch(Arc::downgrade(&mount), rx, self.announce.clone()));
        Some(mount)
    }
}

/// Hears a mount's announcements: a list change re-lists it and tells its users' clients.
async fn watch(
    mount: Weak<Mount>,
    mut rx: mpsc::UnboundedReceiver<Announced>,
    announce: mpsc::Sender<(EntityId, Change)>,
) {
    while let Some(a) = rx.recv().await {
        let Some(m) = mount.upgrade() else { return };
        m.mark_stale();
        if a == Announced::ListChanged {
            m.relist().await;
            let users: Vec<EntityId> = m.users.iter().map(|e| e.key().clone()).collect();
            for entity in users {
                for change in [Change::Tools, Change::Prompts, Change::Resources] {
                    // Full: the clients re-list anyway on the next announcement.
                    let _ = announce.try_send((entity.clone(), change));
                }
            }
        }
    }
}

struct Gone(Arc<dyn SessionStore>);

#[async_trait]
impl AsyncFnPredicate for Gone {
    async fn test(&self, entity: &EntityId, session: &SessionId) -> bool {
        matches!(self.0.load(entity, session).await, Ok(None))
    }
}

async fn sweeper(inner: Weak<Inner>) {
    let mut tick = tokio::time::interval(SWEEP);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let gone = Gone(Arc::clone(&inner.sessions));
        let mounts: Vec<(String, Arc<Mount>)> = inner
            .mounts
            .iter()
            .map(|e| (e.key().clone(), Arc::clone(e.value())))
            .collect();
        for (key, m) in mounts {
            let idle = m
                .last_used
                .lock()
                .map(|t| t.elapsed() > IDLE)
                .unwrap_or(false);
            if idle {
                inner.mounts.remove(&key);
                inner.merged.clear();
                inner.resolved.clear();
            }
            m.close_sessions(idle, &gone).await;
        }
    }
}

#[async_trait]
impl<T: AsyncFnPredicate> AsyncFnPredicate for &T {
    async fn test(&self, entity: &EntityId, session: &SessionId) -> bool {
        (**self).test(entity, session).await
    }
}

#[async_trait]
impl Provider for Federation {
    async fn catalog(
        &self,
        entity: &EntityId,
        _principal: Option<&Principal>,
    ) -> fastmcp_core::Result<Arc<Registry>> {
        let inner = &self.inner;
        let specs = inner.stored.mounts(entity).await?;
        if specs.is_empty() {
            return Ok(Arc::clone(&inner.empty));
        }
        inner.sweeper.call_once(|| {
            tokio::spawn(sweeper(Arc::downgrade(inner)));
        });
        let cached = inner
            .resolved
            .get(entity)
            .filter(|r| Arc::ptr_eq(&r.0, &specs))
            .map(|r| r.1.clone());
        let mounts = match cached {
            Some(m) => m,
            None => {
                let m: Vec<Arc<Mount>> = specs.iter().filter_map(|s| inner.mount(s)).collect();
                if inner.resolved.len() >= MAX_MERGED {
                    inner.resolved.clear();
                }
                inner
                    .resolved
                    .insert(entity.clone(), (Arc::clone(&specs), m.clone()));
                m
            }
        };
        // Listed concurrently: a slow upstream delays the first listing by its own wait only.
        let listed = futures::future::join_all(mounts.iter().map(|m| async move {
            if m.users.len() < MAX_USERS && !m.users.contains_key(entity) {
                m.users.insert(entity.clone(), ());
            }
            let (lists, generation) = m.lists().await;
            (
                Arc::as_ptr(m) as usize,
                generation,
                m.registry(&lists, generation),
            )
        }))
        .await;
        let key: Vec<(usize, u64)> = listed.iter().map(|(p, g, _)| (*p, *g)).collect();
        if let Some(hit) = inner.merged.get(entity) {
            if hit.0 == key {
                return Ok(Arc::clone(&hit.1));
            }
        }
        let parts: Vec<Arc<Registry>> = listed.into_iter().map(|(_, _, r)| r).collect();
        let merged = Arc::new(Registry::merged(&parts));
        if inner.merged.len() >= MAX_MERGED {
            inner.merged.clear();
        }
        inner
            .merged
            .insert(entity.clone(), (key, Arc::clone(&merged)));
        Ok(merged)
    }
}

impl std::fmt::Debug for Federation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Federation")
            .field("mounts", &self.inner.mounts.len())
            .finish()
    }
}
