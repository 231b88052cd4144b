//! Static API keys per entity, kept hashed in the shared store.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine as _;
use fastmcp_core::{
    ApiKeyRecord, ApiKeyStore, AuthError, Authenticator, EntityId, Principal, RequestHeaders,
};

use super::{digest, sha256_hex, Verified};

/// Prefix of keys made by [`ApiKeyAuth::mint`].
const KEY_PREFIX: &str = "fmk_";

/// A freshly minted key: the text (shown once) and what is stored.
pub struct MintedKey {
    /// `fmk_{id}_{secret}`: give this to the client; it is not kept anywhere.
    pub key: String,
    /// The stored record (hash only).
    pub record: ApiKeyRecord,
}

/// Static API keys per entity, kept hashed in the shared store. Verified keys are cached per
/// instance for `cache_ttl`, so a revocation takes at most that long to reach every instance.
pub struct ApiKeyAuth {
    store: Arc<dyn ApiKeyStore>,
    cache: Verified<(Option<Arc<Principal>>, Instant)>,
    cache_ttl: Duration,
}

impl ApiKeyAuth {
    /// Keys from `store`, cached for `cache_ttl` (zero: every request reads the store).
    pub fn new(store: Arc<dyn ApiKeyStore>, cache_ttl: Duration) -> Self {
        Self {
            store,
            cache: Verified::new(),
            cache_ttl,
        }
    }

    /// Makes a new key for `entity` and stores its hash.
    pub async fn mint(
        store: &dyn ApiKeyStore,
        entity: &EntityId,
        name: &str,
        scopes: Vec<String>,
    ) -> fastmcp_core::Result<MintedKey> {
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
        let secret: [u8; 32] = rand::random();
        let key = format!(
            "{KEY_PREFIX}{id}_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
        );
        let record = ApiKeyRecord {
            id,
            entity: entity.clone(),
            name: name.to_string(),
            scopes,
            hash: sha256_hex(&key),
            created_at_ms: fastmcp_core::storage::now_ms(),
        };
        store.put_key(&record).await?;
        Ok(MintedKey { key, record })
    }

    async fn lookup(&self, key: &str) -> Result<Option<Arc<Principal>>, AuthError> {
        let k = digest(key);
        if let Some((hit, at)) = self.cache.get(&k) {
            if at.elapsed() < self.cache_ttl {
                return Ok(hit);
            }
        }
        let found = self
            .store
            .key_by_hash(&sha256_hex(key))
            .await
            .map_err(|e| AuthError::Unavailable(e.to_string()))?
            .map(|record| {
                Arc::new(Principal {
                    subject: format!("key:{}/{}", record.entity, record.id),
                    entities: Some([record.entity].into()),
                    scopes: record.scopes.into_iter().collect(),
                })
            });
        if !self.cache_ttl.is_zero() {
            self.cache.put(k, (found.clone(), Instant::now()));
        }
        Ok(found)
    }
}

#[async_trait]
impl Authenticator for ApiKeyAuth {
    async fn authenticate(
        &self,
        headers: &dyn RequestHeaders,
        _entity: &EntityId,
    ) -> Result<Arc<Principal>, AuthError> {
        let key = headers
            .bearer()
            .or_else(|| headers.header("x-api-key").map(str::trim))
            .ok_or(AuthError::Missing)?;
        if !key.starts_with(KEY_PREFIX) || key.len() > 200 {
            return Err(AuthError::Invalid("not an API key".into()));
        }
        self.lookup(key)
            .await?
            .ok_or_else(|| AuthError::Invalid("unknown or revoked API key".into()))
    }
}
