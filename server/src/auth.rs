//! Built-in authenticators (API keys, JWT bearer tokens) and the HTTP side of MCP authorization:
//! 401 with `WWW-Authenticate` pointing at RFC 9728 protected-resource metadata served per
//! entity, 403 for principals that may not act for the entity.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine as _;
use dashmap::DashMap;
use fastmcp_core::{
    ApiKeyRecord, ApiKeyStore, AuthError, Authenticator, EntityId, Principal, RequestHeaders,
};
use poem::http::{HeaderMap, StatusCode};
use poem::{Request, Response};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// A poem request's headers for an [`Authenticator`].
pub(crate) struct PoemHeaders<'a>(pub(crate) &'a HeaderMap);

impl RequestHeaders for PoemHeaders<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What the protected-resource metadata advertises.
#[derive(Debug, Clone, Default)]
pub struct AuthMetadata {
    /// Authorization servers that issue tokens for this server (RFC 9728
    /// `authorization_servers`).
    pub authorization_servers: Vec<String>,
    /// Scopes this server understands.
    pub scopes: Vec<String>,
    /// The externally visible base URL (`https://mcp.example.com`); derived from `Host` if unset.
    pub public_url: Option<String>,
}

impl AuthMetadata {
    fn base(&self, req: &Request) -> String {
        if let Some(u) = &self.public_url {
            return u.trim_end_matches('/').to_string();
        }
        let host = req
            .headers()
            .get("host")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("localhost");
        format!("http://{host}")
    }

    /// The metadata URL for `entity`'s MCP endpoint (RFC 9728 §3.1: inserted after the host).
    pub(crate) fn metadata_url(&self, req: &Request, entity: &EntityId) -> String {
        format!(
            "{}/.well-known/oauth-protected-resource/{entity}/mcp",
            self.base(req)
        )
    }

    /// The metadata document for `entity`.
    pub(crate) fn document(&self, req: &Request, entity: &EntityId) -> Value {
        json!({
            "resource": format!("{}/{entity}/mcp", self.base(req)),
            "authorization_servers": self.authorization_servers,
            "scopes_supported": self.scopes,
            "bearer_methods_supported": ["header"],
            "resource_name": format!("MCP server for {entity}"),
        })
    }
}

/// The HTTP answer to a failed authentication.
pub(crate) fn reject(
    meta: &AuthMetadata,
    req: &Request,
    entity: &EntityId,
    e: &AuthError,
) -> Response {
    let url = meta.metadata_url(req, entity);
    let (status, challenge, code) = match e {
        AuthError::Missing => (
            StatusCode::UNAUTHORIZED,
            format!("Bearer resource_metadata=\"{url}\""),
            "unauthorized",
        ),
        AuthError::Invalid(_) => (
            StatusCode::UNAUTHORIZED,
            format!("Bearer resource_metadata=\"{url}\", error=\"invalid_token\""),
            "invalid_token",
        ),
        AuthError::Forbidden(_) => (
            StatusCode::FORBIDDEN,
            format!("Bearer resource_metadata=\"{url}\", error=\"insufficient_scope\""),
            "forbidden",
        ),
        AuthError::Unavailable(_) => {
            let body = json!({ "error": "unavailable", "message": e.to_string() });
            return crate::transport::http::json_response(StatusCode::SERVICE_UNAVAILABLE, &body);
        }
    };
    let body = json!({ "error": code, "message": e.to_string() });
    let mut resp = crate::transport::http::json_response(status, &body);
    if let Ok(v) = challenge.parse() {
        resp.headers_mut().insert("www-authenticate", v);
    }
    resp
}

/// Prefix of keys made by [`ApiKeyAuth::mint`].
const KEY_PREFIX: &str = "fmk_";

/// Lower-case hex SHA-256. Keys carry 256 random bits, so a fast hash is enough (no password
/// stretching needed: nothing to brute-force).
pub(crate) fn sha256_hex(text: &str) -> String {
    use std::fmt::Write as _;
    let mut hex = String::with_capacity(64);
    for b in Sha256::digest(text.as_bytes()) {
        let _ = write!(hex, "{b:02x}");
    }
    hex
}

/// Cache key of a credential: its SHA-256 (the credential itself is not kept).
fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// Verified credentials per instance, bounded (a flood of random credentials must not grow
/// memory without limit).
struct Verified<V>(DashMap<[u8; 32], V>);

impl<V: Clone> Verified<V> {
    fn new() -> Self {
        Self(DashMap::new())
    }

    fn get(&self, k: &[u8; 32]) -> Option<V> {
        self.0.get(k).map(|v| v.clone())
    }

    fn put(&self, k: [u8; 32], v: V) {
        if self.0.len() >= 100_000 {
            self.0.clear();
        }
        self.0.insert(k, v);
    }
}

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
            created_at_ms: fastmcp_core::store::now_ms(),
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

/// Settings of [`JwtAuth`].
#[derive(Debug, Clone)]
pub struct JwtConfig {
    /// HS256 shared secret.
    pub secret: Vec<u8>,
    /// Required `aud` (any of the token's audiences must match).
    pub audience: Option<String>,
    /// Required `iss`.
    pub issuer: Option<String>,
    /// Claim naming the entities the token may act for (a string or an array of strings).
    pub entity_claim: String,
    /// Clock skew tolerated on `exp`/`nbf`.
    pub leeway: Duration,
}

/// JWT bearer tokens signed with HS256. Only HS256 is accepted: a token's own `alg` never
/// chooses the verification (no `none`, no algorithm confusion).
pub struct JwtAuth {
    cfg: JwtConfig,
    /// Verified tokens and their `exp` (seconds): a token is verified once, then re-checked
    /// only against the clock.
    cache: Verified<(Arc<Principal>, u64)>,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl JwtAuth {
    /// A verifier for `cfg`.
    pub fn new(cfg: JwtConfig) -> Self {
        Self {
            cfg,
            cache: Verified::new(),
        }
    }

    fn verify(&self, token: &str) -> Result<Value, String> {
        use hmac::{Hmac, KeyInit, Mac};
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("malformed token".into());
        };
        let header: Value = b64
            .decode(h)
            .ok()
            .and_then(|raw| serde_json::from_slice(&raw).ok())
            .ok_or("malformed token header")?;
        if header.get("alg").and_then(Value::as_str) != Some("HS256") {
            return Err("token algorithm is not HS256".into());
        }
        let sig = b64.decode(s).map_err(|_| "malformed signature")?;
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.cfg.secret)
            .map_err(|_| "bad secret")?;
        mac.update(h.as_bytes());
        mac.update(b".");
        mac.update(p.as_bytes());
        mac.verify_slice(&sig).map_err(|_| "bad signature")?;
        let claims: Value = b64
            .decode(p)
            .ok()
            .and_then(|raw| serde_json::from_slice(&raw).ok())
            .ok_or("malformed claims")?;
        let now = unix_now();
        let leeway = self.cfg.leeway.as_secs();
        match claims.get("exp").and_then(Value::as_u64) {
            Some(exp) if exp + leeway > now => {}
            Some(_) => return Err("token expired".into()),
            None => return Err("token has no exp".into()),
        }
        if let Some(nbf) = claims.get("nbf").and_then(Value::as_u64) {
            if nbf > now + leeway {
                return Err("token not yet valid".into());
            }
        }
        if let Some(want) = &self.cfg.issuer {
            if claims.get("iss").and_then(Value::as_str) != Some(want) {
                return Err("wrong issuer".into());
            }
        }
        if let Some(want) = &self.cfg.audience {
            let ok = match claims.get("aud") {
                Some(Value::String(a)) => a == want,
                Some(Value::Array(a)) => a.iter().any(|x| x.as_str() == Some(want)),
                _ => false,
            };
            if !ok {
                return Err("wrong audience".into());
            }
        }
        Ok(claims)
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => vec![],
    }
}

#[async_trait]
impl Authenticator for JwtAuth {
    async fn authenticate(
        &self,
        headers: &dyn RequestHeaders,
        _entity: &EntityId,
    ) -> Result<Arc<Principal>, AuthError> {
        let token = headers.bearer().ok_or(AuthError::Missing)?;
        let k = digest(token);
        let leeway = self.cfg.leeway.as_secs();
        if let Some((p, exp)) = self.cache.get(&k) {
            if exp + leeway > unix_now() {
                return Ok(p);
            }
            return Err(AuthError::Invalid("token expired".into()));
        }
        let claims = self.verify(token).map_err(AuthError::Invalid)?;
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .ok_or_else(|| AuthError::Invalid("token has no sub".into()))?;
        let entities = strings(claims.get(&self.cfg.entity_claim))
            .iter()
            .filter_map(|e| EntityId::parse(e).ok())
            .collect();
        let mut scopes = strings(claims.get("scope"));
        scopes.extend(strings(claims.get("scp")));
        let principal = Arc::new(Principal {
            subject: format!("jwt:{sub}"),
            entities: Some(entities),
            scopes: scopes.into_iter().collect(),
        });
        let exp = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
        self.cache.put(k, (Arc::clone(&principal), exp));
        Ok(principal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct H(String);
    impl RequestHeaders for H {
        fn header(&self, name: &str) -> Option<&str> {
            (name == "authorization").then_some(self.0.as_str())
        }
    }

    /// Signs claims the way an authorization server would (test helper).
    pub(crate) fn sign(secret: &[u8], header: Value, claims: Value) -> String {
        use hmac::{Hmac, KeyInit, Mac};
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let body = format!(
            "{}.{}",
            b64.encode(header.to_string()),
            b64.encode(claims.to_string())
        );
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).unwrap();
        mac.update(body.as_bytes());
        format!("{body}.{}", b64.encode(mac.finalize().into_bytes()))
    }

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    #[tokio::test]
    async fn jwt_checks_signature_algorithm_expiry_audience_issuer_and_entities() {
        let auth = JwtAuth::new(JwtConfig {
            secret: b"s3cret".to_vec(),
            audience: Some("mcp".into()),
            issuer: Some("https://issuer".into()),
            entity_claim: "entities".into(),
            leeway: Duration::from_secs(0),
        });
        let acme = EntityId::parse("acme").unwrap();
        let hs = json!({"alg": "HS256", "typ": "JWT"});
        let good = json!({"sub": "u1", "aud": ["x", "mcp"], "iss": "https://issuer",
                          "exp": now() + 60, "entities": ["acme"], "scope": "tools:call read"});
        let p = auth
            .authenticate(
                &H(format!(
                    "Bearer {}",
                    sign(b"s3cret", hs.clone(), good.clone())
                )),
                &acme,
            )
            .await
            .unwrap();
        assert_eq!(p.subject, "jwt:u1");
        assert!(p.may_act_for(&acme) && !p.may_act_for(&EntityId::parse("other").unwrap()));
        assert!(p.has_scopes(["tools:call", "read"]));
        let mut cases = vec![
            ("wrong secret", sign(b"other", hs.clone(), good.clone())),
            (
                "alg none",
                sign(b"s3cret", json!({"alg": "none"}), good.clone()),
            ),
            (
                "tampered",
                sign(b"s3cret", hs.clone(), good.clone()).replacen('.', ".e30", 1),
            ),
        ];
        for (what, patch) in [
            ("expired", json!({"exp": now() - 5})),
            ("no exp", json!({"exp": null})),
            ("wrong aud", json!({"aud": "other"})),
            ("wrong iss", json!({"iss": "https://evil"})),
            ("future nbf", json!({"nbf": now() + 600})),
        ] {
            let mut c = good.clone();
            for (k, v) in patch.as_object().unwrap() {
                c[k] = v.clone();
            }
            cases.push((what, sign(b"s3cret", hs.clone(), c)));
        }
        for (what, token) in cases {
            let r = auth
                .authenticate(&H(format!("Bearer {token}")), &acme)
                .await;
            assert!(matches!(r, Err(AuthError::Invalid(_))), "{what}: {r:?}");
        }
        let missing = auth.authenticate(&H(String::new()), &acme).await;
        assert_eq!(missing, Err(AuthError::Missing));
    }
}
