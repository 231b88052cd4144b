//! Per-entity configuration: visibility of catalog items, and limit overrides.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::error::StoreResult;
use crate::ids::EntityId;

/// Which registered items of one kind an entity sees.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Visibility {
    /// When set, only these names are visible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow: Option<Vec<String>>,
    /// These names are hidden (applied after `allow`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hide: Vec<String>,
}

impl Visibility {
    /// Whether `name` is visible.
    pub fn shows(&self, name: &str) -> bool {
        self.allow
            .as_ref()
            .is_none_or(|a| a.iter().any(|x| x == name))
            && !self.hide.iter().any(|h| h == name)
    }
}

/// How an entity sees the names of its tools and prompts: a prefix on every name, or a new name
/// for some (a renamed item takes no prefix). Visibility rules, clients and middleware all see
/// the names after the transforms.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transforms {
    /// Prepended to every tool and prompt name (`acme_` turns `echo` into `acme_echo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Tools renamed: registered name → the name the entity sees.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub tool_renames: std::collections::BTreeMap<String, String>,
    /// Prompts renamed likewise.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub prompt_renames: std::collections::BTreeMap<String, String>,
}

impl Transforms {
    /// Whether names are left as they are.
    pub fn is_identity(&self) -> bool {
        self.prefix.as_deref().is_none_or(str::is_empty)
            && self.tool_renames.is_empty()
            && self.prompt_renames.is_empty()
    }

    fn apply(&self, renames: &std::collections::BTreeMap<String, String>, name: &str) -> String {
        match renames.get(name) {
            Some(new) => new.clone(),
            None => format!("{}{name}", self.prefix.as_deref().unwrap_or_default()),
        }
    }

    /// The name the entity sees for the tool registered as `name`.
    pub fn tool_name(&self, name: &str) -> String {
        self.apply(&self.tool_renames, name)
    }

    /// The name the entity sees for the prompt registered as `name`.
    pub fn prompt_name(&self, name: &str) -> String {
        self.apply(&self.prompt_renames, name)
    }

    /// Checks names: `[A-Za-z0-9_.-]`, a prefix up to 64 bytes, names up to 128, at most 1000
    /// renames. The error names the field.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let ok = |s: &str, max: usize| {
            !s.is_empty()
                && s.len() <= max
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        };
        if let Some(p) = &self.prefix {
            if !p.is_empty() && !ok(p, 64) {
                return Err((
                    "transforms.prefix".into(),
                    "must be up to 64 letters, digits, `_`, `.` or `-`".into(),
                ));
            }
        }
        for (field, renames) in [
            ("transforms.tool_renames", &self.tool_renames),
            ("transforms.prompt_renames", &self.prompt_renames),
        ] {
            if renames.len() > 1000 {
                return Err((field.into(), "at most 1000 renames".into()));
            }
            for (from, to) in renames {
                if !ok(from, 128) || !ok(to, 128) {
                    return Err((
                        format!("{field}.{from}"),
                        "names are 1-128 letters, digits, `_`, `.` or `-`".into(),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// An entity's own limits, overriding the server's. `None` keeps the server's value; `Some(0)`
/// lifts the limit for this entity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityLimits {
    /// Requests per second to the MCP endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_second: Option<u64>,
    /// Tool calls running at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrent_calls: Option<u64>,
    /// Live sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_sessions: Option<u64>,
}

/// An entity's configuration: which tools (by name), resources (by URI or URI template) and
/// prompts (by name) it sees, and its own limits. Hidden items are absent from lists and answer
/// like unknown ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EntityConfig {
    /// Tools by name.
    #[serde(default)]
    pub tools: Visibility,
    /// Resources by URI, templates by `uriTemplate`.
    #[serde(default)]
    pub resources: Visibility,
    /// Prompts by name.
    #[serde(default)]
    pub prompts: Visibility,
    /// Limits overriding the server's (configurations stored before this field have none).
    #[serde(default)]
    pub limits: EntityLimits,
    /// Names of tools and prompts as the entity sees them.
    #[serde(default, skip_serializing_if = "Transforms::is_identity")]
    pub transforms: Transforms,
}

/// Per-entity configuration, shared by every instance.
///
/// Guarantees: `set` replaces the whole configuration atomically (readers see the old or the
/// new one, never a mix); `None` clears it; configurations are entity-scoped.
#[async_trait]
pub trait EntityConfigStore: Send + Sync + 'static {
    /// The entity's configuration, if one was set.
    async fn entity_config(&self, entity: &EntityId) -> StoreResult<Option<EntityConfig>>;
    /// Replaces (or with `None`, clears) the entity's configuration.
    async fn set_entity_config(
        &self,
        entity: &EntityId,
        config: Option<&EntityConfig>,
    ) -> StoreResult<()>;
}
