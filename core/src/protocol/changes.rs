//! What changed in an entity's catalog, as the notifier carries it between instances and as
//! clients hear of it.

use serde_json::{json, Value};

use super::jsonrpc;

/// A catalog change or a resource update. It reaches the entity's `subscriptions/listen`
/// streams (2026-07-28) and its handshake-era sessions, on every instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `notifications/tools/list_changed`.
    Tools,
    /// `notifications/prompts/list_changed`.
    Prompts,
    /// `notifications/resources/list_changed`.
    Resources,
    /// `notifications/resources/updated` for one URI.
    ResourceUpdated(String),
}

impl Change {
    /// The event that carries this change on the entity-wide changes stream.
    pub fn to_event(&self) -> Value {
        match self {
            Change::Tools => json!({ "change": "tools" }),
            Change::Prompts => json!({ "change": "prompts" }),
            Change::Resources => json!({ "change": "resources" }),
            Change::ResourceUpdated(uri) => json!({ "change": "resource", "uri": uri }),
        }
    }

    /// Reads an event of the changes stream; `None` for anything else.
    pub fn from_event(v: &Value) -> Option<Self> {
        Some(match v.get("change")?.as_str()? {
            "tools" => Change::Tools,
            "prompts" => Change::Prompts,
            "resources" => Change::Resources,
            "resource" => Change::ResourceUpdated(v.get("uri")?.as_str()?.to_string()),
            _ => return None,
        })
    }

    /// The notification's method.
    pub fn method(&self) -> &'static str {
        match self {
            Change::Tools => "notifications/tools/list_changed",
            Change::Prompts => "notifications/prompts/list_changed",
            Change::Resources => "notifications/resources/list_changed",
            Change::ResourceUpdated(_) => "notifications/resources/updated",
        }
    }

    /// The notification's params (without `_meta`).
    pub fn params(&self) -> Value {
        match self {
            Change::ResourceUpdated(uri) => json!({ "uri": uri }),
            Change::Tools | Change::Prompts | Change::Resources => json!({}),
        }
    }

    /// The handshake-era notification for this change.
    pub fn notification(&self) -> Value {
        jsonrpc::notification(self.method(), self.params())
    }
}
