//! Public signing keys published by an authorization server at a JWKS URL (RFC 7517), fetched
//! and cached per instance.
//!
//! Guarantees:
//! - A fetched set is used for `ttl`; after that it is refreshed in the background while the
//!   old keys keep verifying (no request waits for a routine refresh).
//! - A token naming a key the set lacks (the issuer rotated) triggers a fetch at once, but at
//!   most one per `min_refetch`: random `kid`s cannot turn into a flood of fetches.
//! - A failed fetch keeps the previous keys (logged); with no set fetched yet, tokens are
//!   answered `Unavailable` (503), never accepted.
//! - Only signature keys of asymmetric types are kept (`RSA`, `EC` P-256/P-384, `OKP`
//!   Ed25519). A symmetric (`oct`) key from a URL is ignored, so a public document can never
//!   supply an HMAC secret.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use fastmcp_core::AuthError;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

/// Largest JWKS document accepted (real ones are a few KiB).
const MAX_DOCUMENT: usize = 1 << 20;

/// Where the keys come from and how long they are trusted.
#[derive(Debug, Clone)]
pub struct JwksConfig {
    /// The JWKS URL: `https://…`, or `http://` on a loopback host only.
    pub url: String,
    /// How long a fetched set is used before it is refreshed.
    pub ttl: Duration,
    /// Shortest time between two fetches.
    pub min_refetch: Duration,
    /// Time allowed for one fetch.
    pub timeout: Duration,
}

impl JwksConfig {
    /// `url` with the defaults: keys refreshed every 5 minutes, at most one fetch per 10
    /// seconds, 5 seconds per fetch.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ttl: Duration::from_secs(300),
            min_refetch: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
        }
    }
}

/// One usable key of the set.
struct Key {
    kid: Option<String>,
    /// The key's own `alg`, when it names one: then only that algorithm may use it.
    alg: Option<Algorithm>,
    kind: KeyKind,
    key: DecodingKey,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Rsa,
    EcP256,
    EcP384,
    Ed25519,
}

impl KeyKind {
    fn fits(self, alg: Algorithm) -> bool {
        use Algorithm::*;
        match self {
            KeyKind::Rsa => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
            KeyKind::EcP256 => alg == ES256,
            KeyKind::EcP384 => alg == ES384,
            KeyKind::Ed25519 => alg == EdDSA,
        }
    }
}

#[derive(Clone, Default)]
struct Snapshot {
    keys: Arc<Vec<Key>>,
    /// Last successful fetch.
    fetched_at: Option<Instant>,
    /// Last fetch, successful or not.
    attempted_at: Option<Instant>,
}

/// A cached JWKS. Share one per URL (`Arc`); it is cheap to query.
pub struct Jwks {
    cfg: JwksConfig,
    client: reqwest::Client,
    state: RwLock<Snapshot>,
    /// Held while fetching: one fetch at a time per instance.
    fetching: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Jwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwks").field("cfg", &self.cfg).finish()
    }
}

/// Refuses URLs that would let a network attacker substitute the keys.
pub(crate) fn check_url(url: &str) -> Result<reqwest::Url, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("bad JWKS URL `{url}`: {e}"))?;
    let host = parsed.host_str().unwrap_or("");
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if loopback => Ok(parsed),
        _ => Err(format!(
            "JWKS URL `{url}` must be https (plain http only on a loopback host)"
        )),
    }
}

impl Jwks {
    /// A cache for `cfg.url` (checked: https, or http on loopback). Nothing is fetched until
    /// [`Jwks::prefetch`] or the first token.
    pub fn new(cfg: JwksConfig) -> Result<Arc<Self>, String> {
        check_url(&cfg.url)?;
        let client = reqwest::Client::builder()
            .timeout(cfg.timeout)
            // A redirect must not downgrade the fetch to plain http.
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                if attempt.previous().len() < 5 && check_url(attempt.url().as_str()).is_ok() {
                    attempt.follow()
                } else {
                    attempt.stop()
                }
            }))
            .user_agent(concat!("fastmcp-mt/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the JWKS client: {e}"))?;
        Ok(Arc::new(Self {
            cfg,
            client,
            state: RwLock::new(Snapshot::default()),
            fetching: tokio::sync::Mutex::new(()),
        }))
    }

    /// The settings.
    pub fn config(&self) -> &JwksConfig {
        &self.cfg
    }

    /// Fetches the set now (at start-up, so the first token does not wait). A failure is
    /// logged, not fatal: tokens get 503 until a fetch succeeds.
    pub async fn prefetch(&self) {
        let seen = self.snapshot().attempted_at;
        self.refresh(seen).await;
    }

    fn snapshot(&self) -> Snapshot {
        match self.state.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Keys that may verify a token signed with `alg` and naming `kid`; fetches when the set
    /// is missing or lacks the key (within the refetch bound).
    pub(crate) async fn keys_for(
        self: &Arc<Self>,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Vec<DecodingKey>, AuthError> {
        let snap = self.snapshot();
        let found = matching(&snap.keys, kid, alg);
        let fresh = snap.fetched_at.is_some_and(|t| t.elapsed() < self.cfg.ttl);
        let may_fetch = snap
            .attempted_at
            .is_none_or(|t| t.elapsed() >= self.cfg.min_refetch);
        if !found.is_empty() {
            if !fresh && may_fetch {
                // Stale but usable: refresh behind the request.
                let me = Arc::clone(self);
                tokio::spawn(async move { me.refresh(snap.attempted_at).await });
            }
            return Ok(found);
        }
        if may_fetch {
            self.refresh(snap.attempted_at).await;
        }
        let snap = self.snapshot();
        if snap.fetched_at.is_none() {
            return Err(AuthError::Unavailable(format!(
                "the signing keys at {} cannot be fetched",
                self.cfg.url
            )));
        }
        let found = matching(&snap.keys, kid, alg);
        if found.is_empty() {
            return Err(AuthError::Invalid(match kid {
                Some(k) => format!("no {alg:?} signing key `{k}` is published"),
                None => format!("no {alg:?} signing key is published"),
            }));
        }
        Ok(found)
    }

    /// Fetches unless another caller did since `seen` (the attempt time the caller saw).
    async fn refresh(&self, seen: Option<Instant>) {
        let _one = self.fetching.lock().await;
        if self.snapshot().attempted_at != seen {
            return;
        }
        let result = self.fetch().await;
        let mut st = match self.state.write() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        let now = Instant::now();
        st.attempted_at = Some(now);
        match result {
            Ok(keys) => {
                tracing::info!(url = %self.cfg.url, keys = keys.len(), "fetched JWKS");
                st.keys = Arc::new(keys);
                st.fetched_at = Some(now);
            }
            Err(e) => {
                tracing::warn!(url = %self.cfg.url, error = %e, "cannot fetch JWKS; keeping the previous keys");
            }
        }
    }

    async fn fetch(&self) -> Result<Vec<Key>, String> {
        let mut resp = self
            .client
            .get(&self.cfg.url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status()));
        }
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_DOCUMENT as u64)
        {
            return Err("document too large".into());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_DOCUMENT {
                return Err("document too large".into());
            }
        }
        parse_set(&body)
    }
}

/// The usable keys of a JWKS document. Keys that cannot be used are skipped one by one (an
/// issuer may publish encryption keys or types we do not know beside its signing keys).
fn parse_set(body: &[u8]) -> Result<Vec<Key>, String> {
    let doc: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let list = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("no `keys` array")?;
    Ok(list.iter().filter_map(usable).collect())
}

fn usable(raw: &Value) -> Option<Key> {
    let jwk: Jwk = serde_json::from_value(raw.clone()).ok()?;
    let c = &jwk.common;
    if c.public_key_use
        .as_ref()
        .is_some_and(|u| *u != PublicKeyUse::Signature)
    {
        return None;
    }
    if c.key_operations
        .as_ref()
        .is_some_and(|ops| !ops.contains(&KeyOperations::Verify))
    {
        return None;
    }
    let alg = match c.key_algorithm {
        Some(a) => Some(a.to_string().parse::<Algorithm>().ok()?),
        None => None,
    };
    let kind = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => KeyKind::Rsa,
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => KeyKind::EcP256,
            EllipticCurve::P384 => KeyKind::EcP384,
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            KeyKind::Ed25519
        }
        _ => return None,
    };
    if alg.is_some_and(|a| !kind.fits(a)) {
        return None;
    }
    Some(Key {
        kid: c.key_id.clone(),
        alg,
        kind,
        key: DecodingKey::from_jwk(&jwk).ok()?,
    })
}

fn matching(keys: &[Key], kid: Option<&str>, alg: Algorithm) -> Vec<DecodingKey> {
    keys.iter()
        .filter(|k| k.kind.fits(alg) && k.alg.is_none_or(|a| a == alg))
        .filter(|k| kid.is_none() || k.kid.as_deref() == kid)
        .map(|k| k.key.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_signature_keys_of_asymmetric_types_are_kept() {
        let rsa = json!({"kty": "RSA", "kid": "r", "use": "sig", "alg": "RS256",
                         "n": "sXch", "e": "AQAB"});
        let doc = json!({"keys": [
            rsa,
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": "sXch", "e": "AQAB"},
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            {"kty": "RSA", "kid": "mismatch", "alg": "ES256", "n": "sXch", "e": "AQAB"},
            {"kty": "EC", "kid": "e", "crv": "P-256",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "XYZ", "kid": "unknown"},
            "not an object",
        ]});
        let keys = parse_set(doc.to_string().as_bytes()).unwrap();
        let kids: Vec<_> = keys.iter().filter_map(|k| k.kid.as_deref()).collect();
        assert_eq!(kids, ["r", "e"]);
        assert_eq!(matching(&keys, Some("r"), Algorithm::RS256).len(), 1);
        // The key pins RS256: another RSA algorithm may not use it.
        assert!(matching(&keys, Some("r"), Algorithm::PS256).is_empty());
        assert!(matching(&keys, Some("e"), Algorithm::RS256).is_empty());
        assert_eq!(matching(&keys, None, Algorithm::ES256).len(), 1);
        assert!(matching(&keys, None, Algorithm::ES384).is_empty());
        assert!(parse_set(b"{}").is_err() && parse_set(b"[").is_err());
    }

    #[test]
    fn urls_must_be_https_unless_loopback() {
        for ok in [
            "https://issuer.example/.well-known/jwks.json",
            "http://127.0.0.1:8080/jwks",
            "http://localhost/jwks",
            "http://[::1]:9/jwks",
        ] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://issuer.example/jwks",
            "http://10.0.0.1/jwks",
            "file:///etc/jwks.json",
            "ftp://x/jwks",
            "not a url",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
