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
