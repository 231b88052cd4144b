//! `requestState`: what a 2026-07-28 request that needs client input carries between rounds,
//! signed so that the retry can land on any instance and cannot be forged or replayed
//! elsewhere.
//!
//! HMAC-SHA256 under a master key shared through the [`KeyStore`] (created on first use, so
//! every instance sharing the store agrees), derived per server name and entity: a state
//! minted for one tenant or server never verifies for another. It names its method and target
//! and expires after `request_state_ttl`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Map, Value};
use sha2::Sha256;

use crate::error::{Error, Result};
use crate::ids::EntityId;
use crate::storage::{now_ms, KeyStore};

type HmacSha256 = Hmac<Sha256>;

/// Signs and checks `requestState`. Master keys come from the [`KeyStore`] (created on first
/// use, so every instance sharing the store agrees) and are cached per process.
pub(crate) struct StateKeys {
    store: Option<Arc<dyn KeyStore>>,
    /// Key ids: the first signs, all verify.
    ids: Vec<String>,
    cache: Mutex<HashMap<String, Arc<Vec<u8>>>>,
}

/// What a `requestState` carries between rounds.
pub(crate) struct State {
    pub(crate) round: u64,
    pub(crate) answers: Map<String, Value>,
}

impl StateKeys {
    pub(crate) fn new(store: Option<Arc<dyn KeyStore>>, ids: Vec<String>) -> Self {
        let ids = if ids.is_empty() {
            vec!["k1".into()]
        } else {
            ids
        };
        Self {
            store,
            ids,
            cache: Mutex::new(HashMap::new()),
        }
    }

    async fn master(&self, kid: &str) -> Result<Arc<Vec<u8>>> {
        if let Some(k) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(kid)
        {
            return Ok(Arc::clone(k));
        }
        let proposed: [u8; 32] = rand::random();
        let key = match &self.store {
            Some(store) => {
                store
                    .get_or_create(&format!("request-state/{kid}"), &proposed)
                    .await?
            }
            None => proposed.to_vec(),
        };
        let key = Arc::new(key);
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        // Keep the first one cached if two tasks raced (both read the same stored key anyway).
        Ok(Arc::clone(cache.entry(kid.to_string()).or_insert(key)))
    }

    /// The MAC key of one (server, entity): a state minted for one tenant or server never
    /// verifies for another.
    async fn mac(&self, kid: &str, server: &str, entity: &EntityId) -> Result<HmacSha256> {
        let master = self.master(kid).await?;
        let mut derive = <HmacSha256 as KeyInit>::new_from_slice(&master)
            .map_err(|e| Error::Internal(format!("request-state key: {e}")))?;
        derive.update(b"fastmcp/request-state/v1\0");
        derive.update(server.as_bytes());
        derive.update(b"\0");
        derive.update(entity.as_str().as_bytes());
        let derived = derive.finalize().into_bytes();
        <HmacSha256 as KeyInit>::new_from_slice(&derived)
            .map_err(|e| Error::Internal(format!("request-state key: {e}")))
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn seal(
        &self,
        server: &str,
        entity: &EntityId,
        method: &str,
        target: &str,
        state: &State,
        ttl_ms: u64,
    ) -> Result<String> {
        let kid = &self.ids[0];
        let payload = json!({
            "m": method, "t": target, "r": state.round,
            "x": now_ms().saturating_add(ttl_ms), "a": state.answers,
        });
        let body = format!("{kid}.{}", B64.encode(payload.to_string()));
        let mut mac = self.mac(kid, server, entity).await?;
        mac.update(body.as_bytes());
        Ok(format!(
            "{body}.{}",
            B64.encode(mac.finalize().into_bytes())
        ))
    }

    pub(crate) async fn open(
        &self,
        server: &str,
        entity: &EntityId,
        method: &str,
        target: &str,
        token: &str,
    ) -> Result<State> {
        let bad = || Error::invalid_params("requestState integrity check failed");
        let (body, sig) = token.rsplit_once('.').ok_or_else(bad)?;
        let (kid, payload) = body.split_once('.').ok_or_else(bad)?;
        // Only configured key ids: a client must not make us create keys.
        if !self.ids.iter().any(|k| k == kid) {
            return Err(bad());
        }
        let sig = B64.decode(sig).map_err(|_| bad())?;
        let mut mac = self.mac(kid, server, entity).await?;
        mac.update(body.as_bytes());
        mac.verify_slice(&sig).map_err(|_| bad())?;
        let payload: Value = B64
            .decode(payload)
            .ok()
            .and_then(|raw| serde_json::from_slice(&raw).ok())
            .ok_or_else(bad)?;
        if payload.get("m").and_then(Value::as_str) != Some(method)
            || payload.get("t").and_then(Value::as_str) != Some(target)
        {
            return Err(Error::invalid_params(
                "requestState belongs to another request",
            ));
        }
        if payload.get("x").and_then(Value::as_u64).unwrap_or(0) < now_ms() {
            return Err(Error::invalid_params(
                "requestState has expired; start over",
            ));
        }
        Ok(State {
            round: payload.get("r").and_then(Value::as_u64).unwrap_or(0),
            answers: payload
                .get("a")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::codes;

    fn keys() -> StateKeys {
        StateKeys::new(None, vec!["k2".into(), "k1".into()])
    }

    fn state() -> State {
        let mut answers = Map::new();
        answers.insert("user_name".into(), json!({"action": "accept"}));
        State { round: 1, answers }
    }

    #[tokio::test]
    async fn state_round_trips_and_rejects_tampering() {
        let k = keys();
        let e = EntityId::parse("acme").unwrap();
        let token = k
            .seal("srv", &e, "tools/call", "t", &state(), 60_000)
            .await
            .unwrap();
        let back = k.open("srv", &e, "tools/call", "t", &token).await.unwrap();
        assert_eq!(back.round, 1);
        assert_eq!(back.answers, state().answers);
        for bad in [
            format!("{token}-TAMPERED"),
            token.replacen("k2.", "k9.", 1),
            token.replacen("k2.", "k1.", 1),
            String::from("garbage"),
        ] {
            let err = k
                .open("srv", &e, "tools/call", "t", &bad)
                .await
                .err()
                .unwrap();
            assert_eq!(err.rpc_code(), codes::INVALID_PARAMS, "{bad}");
        }
        let other = EntityId::parse("other").unwrap();
        assert!(k
            .open("srv", &other, "tools/call", "t", &token)
            .await
            .is_err());
        assert!(k.open("srv2", &e, "tools/call", "t", &token).await.is_err());
        assert!(k.open("srv", &e, "prompts/get", "t", &token).await.is_err());
        assert!(k.open("srv", &e, "tools/call", "u", &token).await.is_err());
        let expired = k
            .seal("srv", &e, "tools/call", "t", &state(), 0)
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        assert!(k
            .open("srv", &e, "tools/call", "t", &expired)
            .await
            .is_err());
    }

    /// A `KeyStore` in a map, standing in for the shared backend.
    #[derive(Default)]
    struct MapKeys(Mutex<HashMap<String, Vec<u8>>>);

    #[async_trait::async_trait]
    impl KeyStore for MapKeys {
        async fn get_or_create(
            &self,
            name: &str,
            proposed: &[u8],
        ) -> crate::storage::StoreResult<Vec<u8>> {
            let mut m = self.0.lock().unwrap();
            Ok(m.entry(name.to_string())
                .or_insert_with(|| proposed.to_vec())
                .clone())
        }
    }

    #[tokio::test]
    async fn instances_sharing_a_key_store_agree_and_rotation_keeps_old_states() {
        let store: Arc<dyn KeyStore> = Arc::new(MapKeys::default());
        let e = EntityId::parse("acme").unwrap();
        let a = StateKeys::new(Some(Arc::clone(&store)), vec!["k1".into()]);
        let token = a
            .seal("srv", &e, "tools/call", "t", &state(), 60_000)
            .await
            .unwrap();
        // Another instance, same store: verifies.
        let b = StateKeys::new(Some(Arc::clone(&store)), vec!["k1".into()]);
        assert!(b.open("srv", &e, "tools/call", "t", &token).await.is_ok());
        // Rotated: signs with k2, still accepts k1 while it is listed, not after.
        let rotated = StateKeys::new(Some(Arc::clone(&store)), vec!["k2".into(), "k1".into()]);
        assert!(rotated
            .open("srv", &e, "tools/call", "t", &token)
            .await
            .is_ok());
        let fresh = rotated
            .seal("srv", &e, "tools/call", "t", &state(), 60_000)
            .await
            .unwrap();
        assert!(fresh.starts_with("k2."));
        let retired = StateKeys::new(Some(store), vec!["k2".into()]);
        assert!(retired
            .open("srv", &e, "tools/call", "t", &token)
            .await
            .is_err());
        assert!(retired
            .open("srv", &e, "tools/call", "t", &fresh)
            .await
            .is_ok());
        // A process without the shared store has its own key: the state is foreign to it.
        let alone = StateKeys::new(None, vec!["k1".into()]);
        assert!(alone
            .open("srv", &e, "tools/call", "t", &token)
            .await
            .is_err());
    }
}
