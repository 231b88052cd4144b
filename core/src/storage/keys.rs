//! Server-wide secrets.

use async_trait::async_trait;

use super::error::StoreResult;

/// Server-wide secrets shared by every instance (the key that signs 2026-07-28 `requestState`).
///
/// Guarantees: `get_or_create` is atomic across instances: of concurrent callers proposing
/// different values for a new name, exactly one value is stored and every caller gets that one
/// back; an existing secret is never replaced. Secrets do not expire. Names are chosen by the
/// server (never by a client).
#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    /// The secret stored under `name`, storing `proposed` first if there is none.
    async fn get_or_create(&self, name: &str, proposed: &[u8]) -> StoreResult<Vec<u8>>;
}
