//! Spans around the store calls of requests (sessions and event streams), children of the
//! request's `mcp.request` span, for OpenTelemetry.
//!
//! The spans have the target [`SPAN_TARGET`]; the server's subscriber sends that target to
//! its OpenTelemetry layer only, and only when an OTLP endpoint is configured. Otherwise no
//! subscriber is interested, and a call costs one cached interest check.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use tracing::Instrument;

use super::{Event, EventId, EventStream, MessageQueue, SessionPage, SessionRecord, SessionStore};
use super::{StoreResult, StreamKey};
use crate::ids::{EntityId, SessionId};

/// The `tracing` target of the spans meant for OpenTelemetry (requests and store calls).
pub const SPAN_TARGET: &str = "fastmcp_otel";

/// A store whose calls each run in a span named `store.{operation}`.
pub struct Traced<S: ?Sized>(pub std::sync::Arc<S>);

macro_rules! span {
    ($op:literal) => {
        tracing::info_span!(target: "fastmcp_otel", concat!("store.", $op), db.operation.name = $op)
    };
}

#[async_trait]
impl<S: SessionStore + ?Sized> SessionStore for Traced<S> {
    async fn create(&self, record: SessionRecord, ttl: Duration) -> StoreResult<SessionRecord> {
        self.0.create(record, ttl).instrument(span!("create")).await
    }

    async fn load(&self, entity: &EntityId, id: &SessionId) -> StoreResult<Option<SessionRecord>> {
        self.0.load(entity, id).instrument(span!("load")).await
    }

    async fn load_and_touch(
        &self,
        entity: &EntityId,
        id: &SessionId,
        ttl: Duration,
    ) -> StoreResult<Option<SessionRecord>> {
        self.0
            .load_and_touch(entity, id, ttl)
            .instrument(span!("load_and_touch"))
            .await
    }

    async fn save(&self, record: &SessionRecord, ttl: Duration) -> StoreResult<u64> {
        self.0.save(record, ttl).instrument(span!("save")).await
    }

    async fn touch(&self, entity: &EntityId, id: &SessionId, ttl: Duration) -> StoreResult<bool> {
        self.0
            .touch(entity, id, ttl)
            .instrument(span!("touch"))
            .await
    }

    async fn delete(&self, entity: &EntityId, id: &SessionId) -> StoreResult<bool> {
        self.0.delete(entity, id).instrument(span!("delete")).await
    }

    async fn list(
        &self,
        entity: &EntityId,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<SessionPage> {
        self.0
            .list(entity, cursor, limit)
            .instrument(span!("list"))
            .await
    }

    async fn count(&self, entity: &EntityId) -> StoreResult<u64> {
        self.0.count(entity).instrument(span!("count")).await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.0.ping().await
    }
}

#[async_trait]
impl<Q: MessageQueue + ?Sized> MessageQueue for Traced<Q> {
    async fn publish(
        &self,
        entity: &EntityId,
        stream: &StreamKey,
        message: &Value,
    ) -> StoreResult<EventId> {
        self.0
            .publish(entity, stream, message)
            .instrument(span!("publish"))
            .await
    }

    async fn replay_after(
        &self,
        entity: &EntityId,
        stream: &StreamKey,
        after: Option<&EventId>,
    ) -> StoreResult<Vec<Event>> {
        self.0
            .replay_after(entity, stream, after)
            .instrument(span!("replay"))
            .await
    }

    async fn subscribe(
        &self,
        entity: &EntityId,
        stream: &StreamKey,
        after: Option<EventId>,
    ) -> StoreResult<EventStream> {
        // The span covers opening the subscription, not the life of the stream.
        self.0
            .subscribe(entity, stream, after)
            .instrument(span!("subscribe"))
            .await
    }

    async fn delivered(
        &self,
        entity: &EntityId,
        stream: &StreamKey,
        upto: &EventId,
    ) -> StoreResult<()> {
        // No span: called once per event delivered, and a no-op on most backends.
        self.0.delivered(entity, stream, upto).await
    }

    async fn close(&self, entity: &EntityId, stream: &StreamKey) -> StoreResult<()> {
        self.0
            .close(entity, stream)
            .instrument(span!("close"))
            .await
    }

    async fn delete_session(&self, entity: &EntityId, session: &SessionId) -> StoreResult<()> {
        self.0
            .delete_session(entity, session)
            .instrument(span!("delete_session"))
            .await
    }

    async fn deliver_reply(
        &self,
        entity: &EntityId,
        session: &SessionId,
        request_key: &str,
        reply: &Value,
    ) -> StoreResult<()> {
        self.0
            .deliver_reply(entity, session, request_key, reply)
            .instrument(span!("deliver_reply"))
            .await
    }

    async fn take_reply(
        &self,
        entity: &EntityId,
        session: &SessionId,
        request_key: &str,
        timeout: Duration,
    ) -> StoreResult<Option<Value>> {
        self.0
            .take_reply(entity, session, request_key, timeout)
            .instrument(span!("take_reply"))
            .await
    }
}
