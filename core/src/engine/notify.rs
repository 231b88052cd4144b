//! The one notifier: a catalog change or a resource update reaches every client of the entity
//! that should hear of it, in both protocol eras, on every instance.
//!
//! - 2026-07-28: the change is appended to the entity-wide changes stream, which every
//!   `subscriptions/listen` stream reads and filters by what it asked for.
//! - Handshake era: the notification is appended to each session's standalone stream (the GET
//!   stream of Streamable HTTP, the event stream of legacy HTTP+SSE), whichever instance holds
//!   it; `notifications/resources/updated` only to sessions subscribed to that URI. A session
//!   whose stream is not open yet gets it when the stream opens (retained like any event).
//!
//! Both go through the shared [`MessageQueue`](crate::MessageQueue), so a change made on
//! one instance reaches clients held by any other. The handshake fan-out reads the entity's
//! session list: one store call per 500 sessions plus one append per notified session. Changes
//! are rare next to requests, and a session list is bounded by the per-entity session cap.

use serde_json::{json, Map, Value};

use super::shared::Shared;
use super::stateless::META_SUBSCRIPTION_ID;
use super::McpServer;
use crate::error::{Error, Result};
use crate::ids::{EntityId, SessionId};
use crate::protocol::Change;
use crate::storage::{SessionRecord, StreamKey};

impl McpServer {
    /// Tells every client of `entity` that should hear of `change`, on any instance: the
    /// `subscriptions/listen` streams that asked for it (2026-07-28) and the handshake-era
    /// sessions (on their standalone stream; resource updates only to subscribers). Returns how
    /// many handshake sessions were notified.
    pub async fn notify(&self, entity: &EntityId, change: Change) -> Result<usize> {
        publish(&self.shared, entity, &change).await
    }

    /// Tells `entity`'s clients that `uri` changed: `notifications/resources/updated` to every
    /// handshake session subscribed to it (`resources/subscribe`) and every listen stream that
    /// asked for it, wherever they are held. Returns how many handshake sessions were notified.
    pub async fn notify_resource_updated(&self, entity: &EntityId, uri: &str) -> Result<usize> {
        self.notify(entity, Change::ResourceUpdated(uri.to_string()))
            .await
    }
}

/// Sessions read per page of the fan-out.
const PAGE: usize = 500;

/// Whether a handshake-era session should hear of `change`.
fn concerns(change: &Change, session: &SessionRecord) -> bool {
    if session.protocol_version.is_none() {
        return false; // not initialized: it has declared nothing yet
    }
    match change {
        Change::ResourceUpdated(uri) => session.subscriptions.contains(uri),
        Change::Tools | Change::Prompts | Change::Resources => true,
    }
}

/// Publishes `change` to `entity`'s listen streams and handshake sessions. Returns how many
/// handshake sessions were notified. Stops at the first store error (what was published stays
/// published; a retry may notify a session twice, which list-changed semantics tolerate).
pub(crate) async fn publish(shared: &Shared, entity: &EntityId, change: &Change) -> Result<usize> {
    shared
        .queue
        .publish(entity, &changes_stream(), &change.to_event())
        .await?;
    let message = change.notification();
    let mut notified = 0;
    let mut cursor: Option<String> = None;
    loop {
        let page = shared
            .sessions
            .list(entity, cursor.as_deref(), PAGE)
            .await?;
        for rec in page.sessions.iter().filter(|r| concerns(change, r)) {
            let stream = StreamKey::new(rec.id, rec.transport.standalone_stream());
            shared.queue.publish(entity, &stream, &message).await?;
            notified += 1;
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(notified),
        }
    }
}

/// The entity-wide stream that carries [`Change`]s between instances. Its pseudo-session is the
/// nil UUID, which no real (v4) session id can be.
pub fn changes_stream() -> StreamKey {
    StreamKey::new(SessionId::entity_wide(), "changes")
}

/// What a `subscriptions/listen` stream asked for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListenFilter {
    tools: bool,
    prompts: bool,
    resources: bool,
    resource_uris: Vec<String>,
}

impl ListenFilter {
    /// Reads `params.notifications`; unknown keys are ignored (and not acknowledged).
    pub fn parse(params: Option<&Value>) -> Result<Self> {
        let n = params
            .and_then(|p| p.get("notifications"))
            .cloned()
            .unwrap_or_else(|| json!({}));
        if !n.is_object() {
            return Err(Error::invalid_params("`notifications` must be an object"));
        }
        let flag = |k: &str| n.get(k).and_then(Value::as_bool).unwrap_or(false);
        let resource_uris = match n.get("resourceSubscriptions") {
            None | Some(Value::Null) => vec![],
            Some(Value::Array(a)) => a
                .iter()
                .map(|u| {
                    u.as_str().map(str::to_string).ok_or_else(|| {
                        Error::invalid_params("`resourceSubscriptions` must be strings")
                    })
                })
                .collect::<Result<_>>()?,
            Some(_) => {
                return Err(Error::invalid_params(
                    "`resourceSubscriptions` must be an array",
                ))
            }
        };
        Ok(Self {
            tools: flag("toolsListChanged"),
            prompts: flag("promptsListChanged"),
            resources: flag("resourcesListChanged"),
            resource_uris,
        })
    }

    /// The honoured subset, as echoed in the acknowledgement.
    pub fn acknowledged(&self) -> Value {
        let mut ack = Map::new();
        if self.tools {
            ack.insert("toolsListChanged".into(), json!(true));
        }
        if self.prompts {
            ack.insert("promptsListChanged".into(), json!(true));
        }
        if self.resources {
            ack.insert("resourcesListChanged".into(), json!(true));
        }
        if !self.resource_uris.is_empty() {
            ack.insert("resourceSubscriptions".into(), json!(self.resource_uris));
        }
        Value::Object(ack)
    }

    /// The notification a change event becomes on this stream, if the filter wants it.
    pub fn notification_for(&self, event: &Value, subscription_id: &Value) -> Option<Value> {
        let change = Change::from_event(event)?;
        let (method, mut params) = match change {
            Change::Tools if self.tools => ("notifications/tools/list_changed", json!({})),
            Change::Prompts if self.prompts => ("notifications/prompts/list_changed", json!({})),
            Change::Resources if self.resources => {
                ("notifications/resources/list_changed", json!({}))
            }
            Change::ResourceUpdated(uri) if self.resource_uris.contains(&uri) => {
                ("notifications/resources/updated", json!({ "uri": uri }))
            }
            _ => return None,
        };
        params["_meta"] = json!({ META_SUBSCRIPTION_ID: subscription_id });
        Some(json!({ "jsonrpc": "2.0", "method": method, "params": params }))
    }
}

/// The `notifications/subscriptions/acknowledged` frame that opens a listen stream.
pub fn listen_ack(filter: &ListenFilter, subscription_id: &Value) -> Value {
    json!({
        "jsonrpc": "2.0",
        "method": "notifications/subscriptions/acknowledged",
        "params": {
            "_meta": { META_SUBSCRIPTION_ID: subscription_id },
            "notifications": filter.acknowledged(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_filter_honours_only_what_was_asked() {
        let f = ListenFilter::parse(Some(&json!({"notifications": {
            "promptsListChanged": true, "resourceSubscriptions": ["a://b"], "other": 1
        }})))
        .unwrap();
        assert_eq!(
            f.acknowledged(),
            json!({"promptsListChanged": true, "resourceSubscriptions": ["a://b"]})
        );
        let sid = json!(7);
        assert!(f
            .notification_for(&Change::Tools.to_event(), &sid)
            .is_none());
        let n = f
            .notification_for(&Change::Prompts.to_event(), &sid)
            .unwrap();
        assert_eq!(n["params"]["_meta"][META_SUBSCRIPTION_ID], json!(7));
        assert!(f
            .notification_for(&Change::ResourceUpdated("a://c".into()).to_event(), &sid)
            .is_none());
    }
}
