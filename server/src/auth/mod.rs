//! Built-in authenticators (API keys, JWT bearer tokens with an HS256 secret or keys from a
//! JWKS URL) and the HTTP side of MCP authorization: 401 with `WWW-Authenticate` pointing at
//! RFC 9728 protected-resource metadata served per entity, 403 for principals that may not act
//! for the entity.

mod api_key;
#[cfg(feature = "auth-jwt")]
mod jwks;
#[cfg(feature = "auth-jwt")]
mod jwt;

pub use api_key::{ApiKeyAuth, MintedKey};
#[cfg(feature = "auth-jwt")]
pub use jwks::{Jwks, JwksConfig};
#[cfg(feature = "auth-jwt")]
pub use jwt::{JwtAuth, JwtConfig};

use dashmap::DashMap;
use fastmcp_core::{AuthError, EntityId, RequestHeaders};
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
            return crate::response::json_response(StatusCode::SERVICE_UNAVAILABLE, &body);
        }
    };
    let body = json!({ "error": code, "message": e.to_string() });
    let mut resp = crate::response::json_response(status, &body);
    if let Ok(v) = challenge.parse() {
        resp.headers_mut().insert("www-authenticate", v);
    }
    resp
}

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
pub(crate) fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// Verified credentials per instance, bounded (a flood of random credentials must not grow
/// memory without limit).
pub(crate) struct Verified<V>(DashMap<[u8; 32], V>);

impl<V: Clone> Verified<V> {
    pub(crate) fn new() -> Self {
        Self(DashMap::new())
    }

    pub(crate) fn get(&self, k: &[u8; 32]) -> Option<V> {
        self.0.get(k).map(|v| v.clone())
    }

    pub(crate) fn put(&self, k: [u8; 32], v: V) {
        if self.0.len() >= 100_000 {
            self.0.clear();
        }
        self.0.insert(k, v);
    }
}
