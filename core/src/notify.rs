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
//! Both go through the shared [`MessageQueue`](crate::store::MessageQueue), so a change made on
//! one instance reaches clients held by any other. The handshake fan-out reads the entity's
//! session list: one store call per 500 sessions plus one append per notified session. Changes
//! are rare next to requests, and a session list is bounded by the per-entity session cap.

use serde_json::json;

use crate::dispatch::Shared;
use crate::error::Result;
use crate::ids::EntityId;
use crate::modern::{changes_stream, Change};
use crate::protocol::jsonrpc;
use crate::store::{SessionRecord, StreamKey};

/// Sessions read per page of the fan-out.
const PAGE: usize = 500;

impl Change {
    /// The handshake-era notification for this change.
    fn notification(&self) -> serde_json::Value {
        match self {
            Change::Tools => jsonrpc::notification("notifications/tools/list_changed", json!({})),
            Change::Prompts => {
                jsonrpc::notification("notifications/prompts/list_changed", json!({}))
            }
            Change::Resources => {
                jsonrpc::notification("notifications/resources/list_changed", json!({}))
            }
            Change::ResourceUpdated(uri) => {
                jsonrpc::notification("notifications/resources/updated", json!({ "uri": uri }))
            }
        }
    }

    /// Whether a handshake-era session should hear of this change.
    fn concerns(&self, session: &SessionRecord) -> bool {
        if session.protocol_version.is_none() {
            return false; // not initialized: it has declared nothing yet
        }
        match self {
            Change::ResourceUpdated(uri) => session.subscriptions.contains(uri),
            Change::Tools | Change::Prompts | Change::Resources => true,
        }
    }
}

/// Publishes `change` to `entity`'s listen streams and handshake sessions. Returns how many
/// handshake sessions were notified. Stops at the first store error (what was published stays
/// published; a retry may notify a session twice, which list-changed semantics tolerate).
pub(crate) async fn notify(shared: &Shared, entity: &EntityId, change: &Change) -> Result<usize> {
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
        for rec in page.sessions.iter().filter(|r| change.concerns(r)) {
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
