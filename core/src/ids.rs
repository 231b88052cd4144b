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
        if ok_len && ok_chars {
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

    /// Parses a client-supplied id; `None` when it is not a UUID.
    pub fn parse(raw: &str) -> Option<Self> {
        uuid::Uuid::try_parse(raw.trim()).ok().map(Self)
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
    }

    #[test]
    fn session_ids_parse_strictly() {
        let id = SessionId::new_random();
        assert_eq!(SessionId::parse(&id.to_string()), Some(id));
        assert_eq!(SessionId::parse("not-a-uuid"), None);
    }
}
