//! Who is calling: the [`Authenticator`] contract and the [`Principal`] it yields.
//!
//! The transport asks the authenticator once per HTTP request, with the request's headers and
//! the entity named by the path. The principal is bound to a session at `initialize` (handshake
//! era) and checked on every later request of that session: another principal gets the same 404
//! as a foreign entity, so a session id leaked to another caller is useless. At 2026-07-28 every
//! request is authenticated on its own.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;

use crate::ids::EntityId;

/// The identity behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Stable identifier: `anonymous`, `key:{id}` for an API key, the JWT `sub` (prefixed
    /// `jwt:`), or whatever a custom authenticator chooses. Sessions are bound to it.
    pub subject: String,
    /// Entities this principal may act for; `None` means any.
    pub entities: Option<BTreeSet<EntityId>>,
    /// Granted scopes.
    pub scopes: BTreeSet<String>,
}

impl Principal {
    /// The caller of a server without authentication.
    pub fn anonymous() -> Self {
        Self {
            subject: "anonymous".into(),
            entities: None,
            scopes: BTreeSet::new(),
        }
    }

    /// Whether the principal may act for `entity`.
    pub fn may_act_for(&self, entity: &EntityId) -> bool {
        self.entities.as_ref().is_none_or(|e| e.contains(entity))
    }

    /// Whether every scope in `required` was granted.
    pub fn has_scopes<'a>(&self, required: impl IntoIterator<Item = &'a str>) -> bool {
        required.into_iter().all(|s| self.scopes.contains(s))
    }
}

/// Read access to a request's headers (names are case-insensitive), so authenticators do not
/// depend on an HTTP library.
pub trait RequestHeaders: Send + Sync {
    /// The first value of header `name`, if present and valid text.
    fn header(&self, name: &str) -> Option<&str>;

    /// The token of an `Authorization: Bearer …` header.
    fn bearer(&self) -> Option<&str> {
        let value = self.header("authorization")?.trim();
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim())
            .filter(|t| !t.is_empty())
    }
}

/// Why a request was not authenticated; the edge maps it to HTTP.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No credentials: 401 with `WWW-Authenticate` pointing at the resource metadata.
    #[error("authentication required")]
    Missing,
    /// Credentials that are wrong, expired, revoked or for another audience: 401
    /// (`error="invalid_token"`). The message is for logs and the response body; it never
    /// echoes the credential.
    #[error("invalid credentials: {0}")]
    Invalid(String),
    /// Valid credentials that do not cover this entity or operation: 403.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The credential store cannot be reached: 503.
    #[error("authentication unavailable: {0}")]
    Unavailable(String),
}

/// Decides who is calling. Implementations must be cheap on the hot path (cache what they
/// verify; the principal is shared, so a cache hit costs a reference count) and must not leak
/// whether an unknown credential exists for another entity.
#[async_trait]
pub trait Authenticator: Send + Sync + 'static {
    /// The principal behind these headers, for a request to `entity`. Returning a principal
    /// that may not act for `entity` is allowed: the edge answers 403 for it.
    async fn authenticate(
        &self,
        headers: &dyn RequestHeaders,
        entity: &EntityId,
    ) -> Result<Arc<Principal>, AuthError>;

    /// Whether requests are actually checked (`false` only for [`NoAuth`]); used to refuse a
    /// public bind without authentication.
    fn enforces(&self) -> bool {
        true
    }
}

/// No authentication: every caller is [`Principal::anonymous`]. The local default.
pub struct NoAuth(Arc<Principal>);

impl NoAuth {
    /// The authenticator that lets everyone in as `anonymous`.
    pub fn new() -> Self {
        Self(Arc::new(Principal::anonymous()))
    }
}

impl Default for NoAuth {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Authenticator for NoAuth {
    async fn authenticate(
        &self,
        _headers: &dyn RequestHeaders,
        _entity: &EntityId,
    ) -> Result<Arc<Principal>, AuthError> {
        Ok(Arc::clone(&self.0))
    }

    fn enforces(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct H(Option<&'static str>);
    impl RequestHeaders for H {
        fn header(&self, name: &str) -> Option<&str> {
            (name == "authorization").then_some(self.0).flatten()
        }
    }

    #[test]
    fn bearer_tokens_are_parsed_strictly() {
        assert_eq!(H(Some("Bearer abc")).bearer(), Some("abc"));
        assert_eq!(H(Some("bearer  abc ")).bearer(), Some("abc"));
        assert_eq!(H(Some("Basic abc")).bearer(), None);
        assert_eq!(H(Some("Bearer ")).bearer(), None);
        assert_eq!(H(None).bearer(), None);
    }

    #[test]
    fn principals_are_scoped() {
        let acme = EntityId::parse("acme").unwrap();
        let other = EntityId::parse("other").unwrap();
        assert!(Principal::anonymous().may_act_for(&acme));
        let p = Principal {
            subject: "key:1".into(),
            entities: Some([acme.clone()].into()),
            scopes: ["tools:call".to_string()].into(),
        };
        assert!(p.may_act_for(&acme) && !p.may_act_for(&other));
        assert!(p.has_scopes(["tools:call"]) && !p.has_scopes(["admin"]));
    }
}
