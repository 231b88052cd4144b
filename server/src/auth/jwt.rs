//! JWT bearer tokens: HS256 with a shared secret, or asymmetric algorithms (RS256, ES256, …)
//! with the issuer's public keys from a JWKS URL.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fastmcp_core::{AuthError, Authenticator, EntityId, Principal, RequestHeaders};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::{digest, Jwks, Verified};

/// Settings of [`JwtAuth`]. At least one of `secret` and `jwks` must be set.
#[derive(Debug, Clone)]
pub struct JwtConfig {
    /// HS256 shared secret: verifies tokens whose `alg` is `HS256`, and only those.
    pub secret: Option<Vec<u8>>,
    /// The issuer's public keys: verify tokens whose `alg` is in `algorithms`.
    pub jwks: Option<Arc<Jwks>>,
    /// Asymmetric algorithms accepted with `jwks` keys.
    pub algorithms: Vec<Algorithm>,
    /// Required `aud` (any of the token's audiences must match).
    pub audience: Option<String>,
    /// Required `iss`.
    pub issuer: Option<String>,
    /// Claim naming the entities the token may act for (a string or an array of strings).
    pub entity_claim: String,
    /// Clock skew tolerated on `exp`/`nbf`.
    pub leeway: Duration,
}

impl JwtConfig {
    /// HS256 tokens signed with `secret`; no audience or issuer required, `entities` claim,
    /// 30 s leeway.
    pub fn hs256(secret: impl Into<Vec<u8>>) -> Self {
        Self {
            secret: Some(secret.into()),
            jwks: None,
            algorithms: vec![],
            audience: None,
            issuer: None,
            entity_claim: "entities".into(),
            leeway: Duration::from_secs(30),
        }
    }

    /// RS256 and ES256 tokens signed with a key from `jwks`; other defaults as
    /// [`JwtConfig::hs256`].
    pub fn jwks(jwks: Arc<Jwks>) -> Self {
        Self {
            secret: None,
            jwks: Some(jwks),
            algorithms: vec![Algorithm::RS256, Algorithm::ES256],
            ..Self::hs256(Vec::new())
        }
    }
}

/// JWT bearer tokens. The token's `alg` only picks among the verifications configured: HS256
/// is checked with the secret alone and asymmetric algorithms with the JWKS keys alone (no
/// `none`, no algorithm confusion, no HMAC key taken from a public document).
pub struct JwtAuth {
    cfg: JwtConfig,
    secret: Option<DecodingKey>,
    /// Verified tokens and until when (unix seconds) they may be taken without verifying
    /// again: their `exp`, and for JWKS-signed tokens at most the JWKS refresh interval, so a
    /// key the issuer withdraws stops working within that time.
    cache: Verified<(Arc<Principal>, u64)>,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn reason(e: &jsonwebtoken::errors::Error) -> String {
    match e.kind() {
        ErrorKind::ExpiredSignature => "token expired".into(),
        ErrorKind::ImmatureSignature => "token not yet valid".into(),
        ErrorKind::InvalidAudience => "wrong audience".into(),
        ErrorKind::InvalidIssuer => "wrong issuer".into(),
        ErrorKind::MissingRequiredClaim(c) => format!("token has no {c}"),
        ErrorKind::InvalidSignature => "bad signature".into(),
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidKeyFormat => {
            "token algorithm does not fit its key".into()
        }
        _ => "malformed token".into(),
    }
}

impl JwtAuth {
    /// A verifier for `cfg`.
    pub fn new(cfg: JwtConfig) -> Self {
        Self {
            secret: cfg.secret.as_deref().map(DecodingKey::from_secret),
            cfg,
            cache: Verified::new(),
        }
    }

    /// The verified claims and how long (seconds from now, at most) they may be cached.
    async fn verify(&self, token: &str) -> Result<(Value, Option<u64>), AuthError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| AuthError::Invalid("malformed token".into()))?;
        let alg = header.alg;
        let (keys, cache_for) = match (alg, &self.secret, &self.cfg.jwks) {
            (Algorithm::HS256, Some(secret), _) => (vec![secret.clone()], None),
            (a, _, Some(jwks)) if self.cfg.algorithms.contains(&a) => (
                jwks.keys_for(header.kid.as_deref(), a).await?,
                Some(jwks.config().ttl.as_secs()),
            ),
            (a, _, _) => {
                return Err(AuthError::Invalid(format!(
                    "token algorithm {a:?} is not accepted"
                )))
            }
        };
        let mut v = Validation::new(alg);
        v.leeway = self.cfg.leeway.as_secs();
        v.validate_nbf = true;
        v.set_required_spec_claims(&["exp"]);
        match &self.cfg.audience {
            Some(aud) => v.set_audience(&[aud]),
            None => v.validate_aud = false,
        }
        if let Some(iss) = &self.cfg.issuer {
            v.set_issuer(&[iss]);
        }
        let mut why = "no key".to_string();
        // Several keys only when the token names none; the first that verifies wins.
        for key in &keys {
            match jsonwebtoken::decode::<Value>(token, key, &v) {
                Ok(data) => return Ok((data.claims, cache_for)),
                Err(e) if *e.kind() == ErrorKind::InvalidSignature => why = reason(&e),
                Err(e) => return Err(AuthError::Invalid(reason(&e))),
            }
        }
        Err(AuthError::Invalid(why))
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
        if let Some((p, until)) = self.cache.get(&k) {
            if until > unix_now() {
                return Ok(p);
            }
            // Past its cache time: verified again below (it may have expired, or its key
            // may have been withdrawn).
        }
        let (claims, cache_for) = self.verify(token).await?;
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
        let now = unix_now();
        let expires = claims
            .get("exp")
            .and_then(Value::as_u64)
            .unwrap_or(0)
            .saturating_add(self.cfg.leeway.as_secs());
        let until = cache_for.map_or(expires, |secs| expires.min(now.saturating_add(secs)));
        self.cache.put(k, (Arc::clone(&principal), until));
        Ok(principal)
    }
}

#[cfg(test)]
mod tests {
    use super::super::JwksConfig;
    use super::*;
    use base64::Engine as _;
    use jsonwebtoken::jwk::Jwk;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;
    use sha2::Sha256;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

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
            audience: Some("mcp".into()),
            issuer: Some("https://issuer".into()),
            leeway: Duration::ZERO,
            ..JwtConfig::hs256(b"s3cret".to_vec())
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

    /// A JWKS endpoint standing in for an authorization server: serves whatever document the
    /// test sets (or an error status) and counts fetches.
    struct Issuer {
        url: String,
        doc: Arc<Mutex<(u16, String)>>,
        hits: Arc<AtomicUsize>,
    }

    impl Issuer {
        async fn start() -> Self {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
            let doc = Arc::new(Mutex::new((200, r#"{"keys":[]}"#.to_string())));
            let hits = Arc::new(AtomicUsize::new(0));
            let (d, h) = (Arc::clone(&doc), Arc::clone(&hits));
            tokio::spawn(async move {
                while let Ok((mut sock, _)) = listener.accept().await {
                    let (d, h) = (Arc::clone(&d), Arc::clone(&h));
                    tokio::spawn(async move {
                        let mut buf = Vec::new();
                        let mut chunk = [0u8; 1024];
                        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                            match sock.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        h.fetch_add(1, Ordering::SeqCst);
                        let (status, body) = d.lock().unwrap().clone();
                        let resp = format!(
                            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = sock.write_all(resp.as_bytes()).await;
                    });
                }
            });
            Self { url, doc, hits }
        }

        fn publish(&self, keys: &[(&str, &str, Algorithm)]) {
            let keys: Vec<Value> = keys
                .iter()
                .map(|(kid, pem, alg)| {
                    let mut jwk = Jwk::from_encoding_key(&encoding_key(pem, *alg), *alg).unwrap();
                    jwk.common.key_id = Some(kid.to_string());
                    serde_json::to_value(jwk).unwrap()
                })
                .collect();
            *self.doc.lock().unwrap() = (200, json!({ "keys": keys }).to_string());
        }

        fn fail(&self) {
            self.doc.lock().unwrap().0 = 500;
        }

        fn hits(&self) -> usize {
            self.hits.load(Ordering::SeqCst)
        }
    }

    const RSA_A: &str = include_str!("../../tests/fixtures/jwt/rsa-a.pem");
    const RSA_B: &str = include_str!("../../tests/fixtures/jwt/rsa-b.pem");
    const EC_A: &str = include_str!("../../tests/fixtures/jwt/ec-a.pem");

    fn encoding_key(pem: &str, alg: Algorithm) -> EncodingKey {
        match alg {
            Algorithm::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
            _ => EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
        }
    }

    fn token(pem: &str, alg: Algorithm, kid: Option<&str>, claims: &Value) -> String {
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_string);
        jsonwebtoken::encode(&header, claims, &encoding_key(pem, alg)).unwrap()
    }

    fn claims() -> Value {
        json!({"sub": "u1", "aud": "mcp", "exp": now() + 600, "entities": ["acme"],
               "scope": "tools:call"})
    }

    fn jwks_auth(issuer: &Issuer, min_refetch: Duration) -> (JwtAuth, Arc<Jwks>) {
        let jwks = Jwks::new(JwksConfig {
            min_refetch,
            ..JwksConfig::new(issuer.url.clone())
        })
        .unwrap();
        let cfg = JwtConfig {
            audience: Some("mcp".into()),
            leeway: Duration::ZERO,
            ..JwtConfig::jwks(Arc::clone(&jwks))
        };
        (JwtAuth::new(cfg), jwks)
    }

    async fn auth_with(auth: &JwtAuth, token: &str) -> Result<Arc<Principal>, AuthError> {
        let acme = EntityId::parse("acme").unwrap();
        auth.authenticate(&H(format!("Bearer {token}")), &acme)
            .await
    }

    #[tokio::test]
    async fn jwks_tokens_verify_with_rs256_and_es256_and_nothing_else() {
        let issuer = Issuer::start().await;
        issuer.publish(&[
            ("a", RSA_A, Algorithm::RS256),
            ("e", EC_A, Algorithm::ES256),
        ]);
        let (auth, _) = jwks_auth(&issuer, Duration::from_secs(60));
        let c = claims();
        for t in [
            token(RSA_A, Algorithm::RS256, Some("a"), &c),
            token(EC_A, Algorithm::ES256, Some("e"), &c),
            // No kid: every published key that fits the algorithm is tried.
            token(RSA_A, Algorithm::RS256, None, &c),
        ] {
            let p = auth_with(&auth, &t).await.unwrap();
            assert_eq!(p.subject, "jwt:u1");
            assert!(p.has_scopes(["tools:call"]));
        }
        assert_eq!(issuer.hits(), 1, "one fetch serves every token");

        let public_pem = {
            let jwk =
                Jwk::from_encoding_key(&encoding_key(RSA_A, Algorithm::RS256), Algorithm::RS256)
                    .unwrap();
            serde_json::to_string(&jwk).unwrap()
        };
        let mut expired = claims();
        expired["exp"] = json!(now() - 5);
        let mut wrong_aud = claims();
        wrong_aud["aud"] = json!("other");
        let cases = [
            (
                "unpublished key",
                token(RSA_B, Algorithm::RS256, Some("a"), &c),
            ),
            (
                "unknown kid",
                token(RSA_B, Algorithm::RS256, Some("zz"), &c),
            ),
            (
                "kid of another type",
                token(RSA_A, Algorithm::RS256, Some("e"), &c),
            ),
            (
                "PS256 not accepted",
                token(RSA_A, Algorithm::PS256, Some("a"), &c),
            ),
            (
                "expired",
                token(RSA_A, Algorithm::RS256, Some("a"), &expired),
            ),
            (
                "wrong audience",
                token(EC_A, Algorithm::ES256, Some("e"), &wrong_aud),
            ),
            // Algorithm confusion: HS256 keyed with the public key must not verify.
            (
                "HS256 with the public key",
                sign(
                    public_pem.as_bytes(),
                    json!({"alg": "HS256", "kid": "a"}),
                    c.clone(),
                ),
            ),
            (
                "alg none",
                sign(b"", json!({"alg": "none", "kid": "a"}), c.clone()),
            ),
        ];
        for (what, t) in cases {
            let r = auth_with(&auth, &t).await;
            assert!(matches!(r, Err(AuthError::Invalid(_))), "{what}: {r:?}");
        }
    }

    #[tokio::test]
    async fn rotated_keys_are_fetched_once_per_interval_and_outages_keep_old_keys() {
        let issuer = Issuer::start().await;
        issuer.publish(&[("a", RSA_A, Algorithm::RS256)]);
        let (auth, _) = jwks_auth(&issuer, Duration::from_millis(300));
        let c = claims();
        auth_with(&auth, &token(RSA_A, Algorithm::RS256, Some("a"), &c))
            .await
            .unwrap();
        assert_eq!(issuer.hits(), 1);

        // The issuer rotates to key b: its first token arrives within the refetch bound and
        // is refused without a fetch; once the bound has passed, it triggers one fetch.
        issuer.publish(&[
            ("a", RSA_A, Algorithm::RS256),
            ("b", RSA_B, Algorithm::RS256),
        ]);
        let tb = token(RSA_B, Algorithm::RS256, Some("b"), &c);
        assert!(auth_with(&auth, &tb).await.is_err());
        assert_eq!(issuer.hits(), 1);
        tokio::time::sleep(Duration::from_millis(350)).await;
        auth_with(&auth, &tb).await.unwrap();
        assert_eq!(issuer.hits(), 2);

        // A flood of random kids costs at most one fetch per interval.
        for i in 0..50 {
            let t = token(RSA_B, Algorithm::RS256, Some(&format!("r{i}")), &c);
            assert!(matches!(
                auth_with(&auth, &t).await,
                Err(AuthError::Invalid(_))
            ));
        }
        assert!(issuer.hits() <= 3, "fetches: {}", issuer.hits());

        // The issuer goes down: known keys keep working, new kids are refused.
        issuer.fail();
        tokio::time::sleep(Duration::from_millis(350)).await;
        let mut c2 = claims();
        c2["sub"] = json!("u2");
        auth_with(&auth, &token(RSA_A, Algorithm::RS256, Some("a"), &c2))
            .await
            .unwrap();
        let r = auth_with(&auth, &token(RSA_A, Algorithm::RS256, Some("x"), &c2)).await;
        assert!(matches!(r, Err(AuthError::Invalid(_))), "{r:?}");
    }

    #[tokio::test]
    async fn no_keys_yet_is_unavailable_and_stale_keys_refresh_in_the_background() {
        let issuer = Issuer::start().await;
        issuer.fail();
        let jwks = Jwks::new(JwksConfig {
            ttl: Duration::from_millis(200),
            min_refetch: Duration::ZERO,
            ..JwksConfig::new(issuer.url.clone())
        })
        .unwrap();
        let auth = JwtAuth::new(JwtConfig::jwks(Arc::clone(&jwks)));
        let t = token(RSA_A, Algorithm::RS256, Some("a"), &claims());
        let r = auth_with(&auth, &t).await;
        assert!(matches!(r, Err(AuthError::Unavailable(_))), "{r:?}");

        issuer.publish(&[("a", RSA_A, Algorithm::RS256)]);
        jwks.prefetch().await;
        let hits = issuer.hits();
        auth_with(&auth, &t).await.unwrap();
        assert_eq!(issuer.hits(), hits);

        // The issuer withdraws key a. Past the TTL the cached token is verified again with
        // the stale set (accepted once) while a background fetch learns of the withdrawal.
        issuer.publish(&[("b", RSA_B, Algorithm::RS256)]);
        tokio::time::sleep(Duration::from_millis(250)).await;
        auth_with(&auth, &t).await.unwrap();
        for _ in 0..100 {
            if issuer.hits() > hits {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let r = auth_with(&auth, &token(RSA_A, Algorithm::RS256, Some("a"), &claims())).await;
        assert!(matches!(r, Err(AuthError::Invalid(_))), "{r:?}");
    }
}
