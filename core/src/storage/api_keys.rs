//! API keys of the built-in key authenticator.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::error::StoreResult;
use crate::ids::EntityId;

/// An API key as stored: its metadata and the SHA-256 of the key, never the key itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    /// Public identifier (also part of the key text), unique per entity.
    pub id: String,
    /// The entity the key acts for.
    pub entity: EntityId,
    /// A label for operators.
    pub name: String,
    /// Scopes granted to the key's principal.
    pub scopes: Vec<String>,
    /// Lower-case hex SHA-256 of the full key text.
    pub hash: String,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_at_ms: u64,
}

/// API keys for the built-in key authenticator, shared by every instance.
///
/// Guarantees: lookups are by hash only (the key text is never stored); a revoked key is gone
/// for every instance as soon as `revoke_key` returns; listing and revoking are entity-scoped
/// (an id under another entity is not found).
#[async_trait]
pub trait ApiKeyStore: Send + Sync + 'static {
    /// Stores a new key; `Conflict` if its hash or its (entity, id) exists.
    async fn put_key(&self, key: &ApiKeyRecord) -> StoreResult<()>;
    /// The key whose hash is `hash`, if not revoked.
    async fn key_by_hash(&self, hash: &str) -> StoreResult<Option<ApiKeyRecord>>;
    /// The keys of `entity`, oldest first.
    async fn list_keys(&self, entity: &EntityId) -> StoreResult<Vec<ApiKeyRecord>>;
    /// Revokes (deletes) a key of `entity`; whether it existed.
    async fn revoke_key(&self, entity: &EntityId, id: &str) -> StoreResult<bool>;
}
