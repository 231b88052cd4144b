//! The storage contract: where sessions and message streams live, so that any server instance
//! can serve any request.
//!
//! Two object-safe traits, [`SessionStore`] and [`MessageQueue`], used as `Arc<dyn …>`: the
//! backend is chosen at start-up from the store URL, and every call may do I/O. Every method takes
//! the [`EntityId`](crate::EntityId): a backend must behave as if each entity had its own keyspace, so a session
//! or stream id presented under the wrong entity is simply *not found*.
//!
//! # Implementing a backend
//! Implement both traits (one struct usually does), then run the behavioural suite from
//! [`crate::testing`] (feature `test-suite`) with [`crate::store_test_suite!`]; it checks every
//! guarantee written below against your backend.
//!
//! One file per role: `sessions`, `queue`, `logs`, `keys`, `api_keys`, `entity_config`,
//! `limits`; this module re-exports them all and bundles them ([`Stores`]). Every call fails
//! with a [`StoreError`], in storage terms; the engine maps it onward.

use std::sync::Arc;

mod api_keys;
pub mod batching;
mod catalog;
mod entity_config;
mod error;
mod keys;
mod limits;
mod logs;
mod queue;
mod sessions;
pub mod traced;

pub use api_keys::{ApiKeyRecord, ApiKeyStore};
pub use catalog::{CatalogSnapshot, CatalogStore, PutMode};
pub use entity_config::{EntityConfig, EntityConfigStore, EntityLimits, Transforms, Visibility};
pub use error::{StoreError, StoreResult};
pub use keys::KeyStore;
pub use limits::{window_of, LimitStore};
pub use logs::{LogKind, LogRecord, LogStore};
pub use queue::{Event, EventId, EventStream, MessageQueue, StreamKey};
pub use sessions::{now_ms, SessionPage, SessionRecord, SessionStore, SessionTransport};

/// Every storage role of a server, as trait objects. Usually one backend value plays them all
/// ([`Stores::of`]); the server and the behavioural suite both take this bundle.
#[derive(Clone)]
pub struct Stores {
    /// Sessions.
    pub sessions: Arc<dyn SessionStore>,
    /// Event logs and reply routing.
    pub queue: Arc<dyn MessageQueue>,
    /// Log records.
    pub logs: Arc<dyn LogStore>,
    /// Server secrets.
    pub keys: Arc<dyn KeyStore>,
    /// API keys.
    pub api_keys: Arc<dyn ApiKeyStore>,
    /// Limit counters.
    pub limits: Arc<dyn LimitStore>,
    /// Entity configurations.
    pub entity_configs: Arc<dyn EntityConfigStore>,
    /// Catalog items stored as data.
    pub catalog: Arc<dyn CatalogStore>,
}

/// A backend value that plays every storage role (what [`Stores::of`] takes). Implemented for
/// every type that implements all the role traits and `Clone`.
pub trait Backend:
    SessionStore
    + MessageQueue
    + LogStore
    + KeyStore
    + ApiKeyStore
    + LimitStore
    + EntityConfigStore
    + CatalogStore
    + Clone
{
}

impl<S> Backend for S where
    S: SessionStore
        + MessageQueue
        + LogStore
        + KeyStore
        + ApiKeyStore
        + LimitStore
        + EntityConfigStore
        + CatalogStore
        + Clone
{
}

impl Stores {
    /// All roles played by one backend value.
    pub fn of<S: Backend>(store: S) -> Self {
        Stores {
            sessions: Arc::new(store.clone()),
            queue: Arc::new(store.clone()),
            logs: Arc::new(store.clone()),
            keys: Arc::new(store.clone()),
            api_keys: Arc::new(store.clone()),
            limits: Arc::new(store.clone()),
            entity_configs: Arc::new(store.clone()),
            catalog: Arc::new(store),
        }
    }
}
