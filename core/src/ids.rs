//! Validated identifiers: tenants (entities), sessions and stream events.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Longest accepted entity id, in bytes.
pub const MAX_ENTITY_ID_LEN: usize = 128;

/// A tenant, named by the first path segment of every MCP URL (`/{entity_id}/mcp`).
///
/// Only `[A-Za-z0-9._-]`, 1 to 128 characters, so an entity id can be embedded in storage keys,
/// SQL rows and log lines without escaping. Every storage call takes one: nothing tenant-related
/// is ambient. Cloning is cheap (shared string).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityId(Arc<str>);

impl EntityId {
    /// Validates `raw` and wraps it.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let ok_len = !raw.is_empty() && raw.len() <= MAX_ENTITY_ID_LEN;
        let ok_chars = raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        // `.`, `..`, `...`: path segments every proxy and URL library treats specially, so a
        // rule written for `/acme/` could be walked around; no tenant may be named by dots alone.
        let not_dots = raw.bytes().any(|b| b != b'.');
        if ok_len && ok_chars && not_dots {
            Ok(Self(Arc::from(raw)))
        } else {
            Err(Error::InvalidEntityId(raw.chars().take(140).collect()))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Serialize for EntityId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for EntityId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        EntityId::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntityId({})", self.0)
    }
}

/// A session id: a random (v4) UUID, minted by the server, rendered in hyphenated form.
///
/// Parsing is strict so an id taken from a header or query string can go straight into a key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionId(uuid::Uuid);

impl SessionId {
    /// A fresh random id (122 bits of entropy: not guessable).
    pub fn new_random() -> Self {
        Self(uuid::Uuid::new_v4())
    }

    /// Parses a client-supplied id; `None` unless it is in the one form the server mints
    /// (lowercase, hyphenated, 36 characters): a session has one spelling, so an id in another
    /// case or form (braced, URN, no hyphens, padded) names no session.
    pub fn parse(raw: &str) -> Option<Self> {
        if raw.len() != 36 || raw.bytes().any(|b| b.is_ascii_uppercase()) {
            return None;
        }
        uuid::Uuid::try_parse(raw).ok().map(Self)
    }

    /// The pseudo-session of entity-wide streams (the nil UUID, which no minted v4 id can be).
    pub fn entity_wide() -> Self {
        Self(uuid::Uuid::nil())
    }

    /// The underlying UUID.
    pub fn as_uuid(&self) -> uuid::Uuid {
        self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_ids_are_validated() {
        assert!(EntityId::parse("acme").is_ok());
        assert!(EntityId::parse("a.b_c-D9").is_ok());
        assert!(EntityId::parse(&"x".repeat(128)).is_ok());
        assert!(EntityId::parse(&"x".repeat(129)).is_err());
        assert!(EntityId::parse("").is_err());
        assert!(EntityId::parse("a b").is_err());
        assert!(EntityId::parse("a/b").is_err());
        assert!(EntityId::parse("é").is_err());
        for dots in [".", "..", "..."] {
            assert!(EntityId::parse(dots).is_err(), "{dots}");
        }
        assert!(EntityId::parse(".well-known").is_ok());
    }

    #[test]
    fn session_ids_parse_strictly() {
        let id = SessionId::new_random();
        assert_eq!(SessionId::parse(&id.to_string()), Some(id));
        assert_eq!(SessionId::parse("not-a-uuid"), None);
        // One spelling: the minted one. Other forms of the same UUID name no session.
        let text = id.to_string();
        for other in [
            text.to_uppercase(),
            format!("{{{text}}}"),
            format!("urn:uuid:{text}"),
            text.replace('-', ""),
            format!(" {text}"),
        ] {
            assert_eq!(SessionId::parse(&other), None, "{other}");
        }
    }
}
