//! Message streams: per-session event logs that any instance can replay, and client replies.

use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::StoreResult;
use crate::ids::{EntityId, SessionId};

/// Names one event log: a session and a stream within it (`sse`, `get`, `post-…`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamKey {
    /// The session the stream belongs to.
    pub session: SessionId,
    /// The stream's name within the session: `[A-Za-z0-9_-]`, never `/`.
    pub name: String,
}

impl StreamKey {
    /// A stream of `session` named `name`.
    pub fn new(session: SessionId, name: impl Into<String>) -> Self {
        Self {
            session,
            name: name.into(),
        }
    }
}

/// A backend-defined event position, strictly increasing within one stream.
///
/// Opaque to callers: they get it from [`MessageQueue::publish`] and hand it back to
/// [`MessageQueue::replay_after`] / [`MessageQueue::subscribe`]. It never contains `/`, so the
/// transport can use `"{stream}/{event}"` as an SSE event id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(pub String);

impl std::fmt::Display for EventId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One published message with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Its position in the stream.
    pub id: EventId,
    /// The JSON-RPC message.
    pub message: Value,
}

/// A live feed of events; ends when the stream is closed or its session's streams are deleted.
pub type EventStream = BoxStream<'static, StoreResult<Event>>;

/// Per-session event logs plus routing of client replies, shaped like a log rather than a job
/// queue, so an SSE stream can be resumed from any instance with `Last-Event-ID`.
///
/// Guarantees every implementation gives:
/// - **Durable publish**: when `publish` returns, the event is stored; every instance can replay it.
/// - **Order**: ids are strictly increasing per stream, in publish order; replay and subscribe
///   yield events in that order, with no duplicates and no gaps (other than trimmed ones).
/// - **Retention**: a stream keeps at least its most recent events up to the backend's
///   configured count and age; older ones may be trimmed. Streams of a deleted session go away.
/// - **Entity scoping**: a stream or reply is only reachable under the entity it was written with.
#[async_trait]
pub trait MessageQueue: Send + Sync + 'static {
    /// Appends `message` to the stream and returns its id.
    async fn publish(
        &self,
        entity: &EntityId,
        stream: &StreamKey,
        message: &Value,
    ) -> StoreResult<EventId>;

    /// The retained events strictly after `after` (all retained events when `None`), in order.
    async fn replay_after(
        &self,
        entity: &EntityId,
        stream: &StreamKey,
        after: Option<&EventId>,
    ) -> StoreResult<Vec<Event>>;

    /// Everything after `after` (replayed) followed by live events as they are published, with
    /// no gap and no duplicate between the two. Ends after the last event once the stream is
    /// [closed](Self::close), or when the session's streams are [deleted](Self::delete_session).
    async fn subscribe(
        &self,
        entity: &EntityId,
        stream: &StreamKey,
        after: Option<EventId>,
    ) -> StoreResult<EventStream>;

    /// Tells the store that every event of `stream` up to and including `upto` reached its one
    /// reader and will never be replayed: the stream cannot be resumed (a legacy HTTP+SSE
    /// session's, which ends with its connection). The store may drop those events at once
    /// instead of keeping them for its retention; later events are unaffected. Backends whose
    /// retention is already bounded by the store itself (Redis `MAXLEN`, PostgreSQL's cleanup)
    /// may ignore it, which is the default.
    async fn delivered(
        &self,
        entity: &EntityId,
        stream: &StreamKey,
        upto: &EventId,
    ) -> StoreResult<()> {
        let _ = (entity, stream, upto);
        Ok(())
    }

    /// Marks the stream finished: subscribers end once they have seen every event.
    async fn close(&self, entity: &EntityId, stream: &StreamKey) -> StoreResult<()>;

    /// Drops every stream and pending reply of a session; live subscribers end.
    async fn delete_session(&self, entity: &EntityId, session: &SessionId) -> StoreResult<()>;

    /// Hands the client's answer to a server-to-client request (keyed by that request's id) to
    /// whichever instance is waiting in [`take_reply`](Self::take_reply). A reply that arrives
    /// before anyone waits is kept (for the backend's reply TTL), so there is no race.
    async fn deliver_reply(
        &self,
        entity: &EntityId,
        session: &SessionId,
        request_key: &str,
        reply: &Value,
    ) -> StoreResult<()>;

    /// Waits up to `timeout` for the reply to `request_key` and consumes it; `Ok(None)` on timeout.
    /// Each reply is taken at most once.
    async fn take_reply(
        &self,
        entity: &EntityId,
        session: &SessionId,
        request_key: &str,
        timeout: Duration,
    ) -> StoreResult<Option<Value>>;
}
