//! Every Redis key this backend writes, defined here and nowhere else. `p` is the configured
//! prefix (`--key-prefix`), `e` the entity, `s` the session.
//!
//! | key | type | holds | lifetime |
//! |---|---|---|---|
//! | `{p:e:s}:session` | string `VERSION:JSON` | the session record and its version | idle TTL, refreshed per request |
//! | `{p:e:s}:streams` | set | names of the session's streams (for `delete_session`) | as the streams |
//! | `{p:e:s}:stream:NAME` | stream | one event log; entry ids are the SSE event ids | bounded length; TTL after the last event |
//! | `{p:e:s}:replies` | set | keys of pending replies (for `delete_session`) | reply TTL |
//! | `{p:e:s}:reply:KEY` | list | a client's answer to one server-to-client request (or a cancellation) | reply TTL |
//! | `{p:e:00000000-…}:stream:changes` | stream | the entity's catalog changes (2026-07-28 listen streams) | as any stream |
//! | `p:idx:e` | sorted set | the entity's session ids, for listing | pruned lazily |
//! | `p:logs:e` | list | the entity's newest log records | bounded length |
//! | `p:keys:NAME` | string | a server secret (`requestState` signing keys) | none: shared by every instance |
//! | `p:apikey:HASH` | string (JSON) | one API key's record, by the SHA-256 of the key | until revoked |
//! | `p:apikeys:e` | hash | the entity's API key ids → hashes | until revoked |
//! | `p:entitycfg:e` | string (JSON) | the entity's configuration (visibility, limits) | until cleared |
//! | `{p:cat:SCOPE}:items` | hash | one scope's stored catalog items: `KIND KEY` → `CREATED:JSON` (`SCOPE` = entity or `*`) | until deleted |
//! | `{p:cat:SCOPE}:v` | string (counter) | the scope's catalog version | none |
//! | `p:cat:epoch` | string (counter) | moves with every catalog write of any scope | none |
//! | `p:rl:NAME:WINDOW` | string (counter) | requests in one rate window (`NAME` = `rps:e`) | one window |
//! | `p:slots:NAME` | sorted set | leased concurrent-call slots (`NAME` = `calls:e`), scored by expiry | lease |
//!
//! Every key of one session shares the hash tag `{p:e:s}`, so all multi-key work of a session
//! lands in one Redis Cluster slot; the entity-wide keys are written on their own.

use fastmcp_core::storage::StreamKey;
use fastmcp_core::{EntityId, SessionId};

/// Builds keys under one prefix.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub(crate) fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// The hash tag every key of one session starts with.
    fn tag(&self, entity: &EntityId, session: &SessionId) -> String {
        format!("{{{}:{}:{}}}", self.prefix, entity, session)
    }

    pub(crate) fn session(&self, entity: &EntityId, session: &SessionId) -> String {
        format!("{}:session", self.tag(entity, session))
    }

    pub(crate) fn streams(&self, entity: &EntityId, session: &SessionId) -> String {
        format!("{}:streams", self.tag(entity, session))
    }

    pub(crate) fn stream(&self, entity: &EntityId, stream: &StreamKey) -> String {
        format!(
            "{}:stream:{}",
            self.tag(entity, &stream.session),
            stream.name
        )
    }

    pub(crate) fn replies(&self, entity: &EntityId, session: &SessionId) -> String {
        format!("{}:replies", self.tag(entity, session))
    }

    pub(crate) fn reply(
        &self,
        entity: &EntityId,
        session: &SessionId,
        request_key: &str,
    ) -> String {
        format!("{}:reply:{}", self.tag(entity, session), request_key)
    }

    pub(crate) fn session_index(&self, entity: &EntityId) -> String {
        format!("{}:idx:{}", self.prefix, entity)
    }

    pub(crate) fn logs(&self, entity: &EntityId) -> String {
        format!("{}:logs:{}", self.prefix, entity)
    }

    pub(crate) fn secret(&self, name: &str) -> String {
        format!("{}:keys:{name}", self.prefix)
    }

    pub(crate) fn api_key(&self, hash: &str) -> String {
        format!("{}:apikey:{hash}", self.prefix)
    }

    pub(crate) fn api_keys(&self, entity: &EntityId) -> String {
        format!("{}:apikeys:{entity}", self.prefix)
    }

    /// A scope's catalog items and version share a hash tag (one slot, one script).
    pub(crate) fn catalog_items(&self, scope: &str) -> String {
        format!("{{{}:cat:{scope}}}:items", self.prefix)
    }

    pub(crate) fn catalog_version(&self, scope: &str) -> String {
        format!("{{{}:cat:{scope}}}:v", self.prefix)
    }

    pub(crate) fn catalog_epoch(&self) -> String {
        format!("{}:cat:epoch", self.prefix)
    }

    pub(crate) fn entity_config(&self, entity: &EntityId) -> String {
        format!("{}:entitycfg:{entity}", self.prefix)
    }

    pub(crate) fn rate_window(&self, name: &str, window: u64) -> String {
        format!("{}:rl:{name}:{window}", self.prefix)
    }

    pub(crate) fn slots(&self, name: &str) -> String {
        format!("{}:slots:{name}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_keys_share_one_hash_tag() {
        let k = Keys::new("p");
        let e = EntityId::parse("acme").unwrap_or_else(|_| unreachable!());
        let s = SessionId::new_random();
        let tag = format!("{{p:acme:{s}}}");
        for key in [
            k.session(&e, &s),
            k.streams(&e, &s),
            k.stream(&e, &StreamKey::new(s, "get")),
            k.replies(&e, &s),
            k.reply(&e, &s, "srv-1"),
        ] {
            assert!(key.starts_with(&tag), "{key}");
        }
        assert_eq!(k.session_index(&e), "p:idx:acme");
        assert_eq!(k.rate_window("rps:acme", 7), "p:rl:rps:acme:7");
    }
}
