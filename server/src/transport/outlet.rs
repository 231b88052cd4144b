//! Outlets: where a request's notifications and server-to-client requests go.

use async_trait::async_trait;
use fastmcp_core::{EntityId, Error, MessageQueue, Outlet, Result, StreamKey};
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::mpsc;

/// What a Streamable HTTP request's handler emits before its response.
pub(crate) enum OutletMsg {
    /// A JSON-RPC message for the request's stream.
    Message(Value),
    /// End the HTTP stream now (the client resumes with `Last-Event-ID`).
    CloseStream,
}

/// Feeds the POST's response stream (decided lazily: JSON if nothing comes before the result).
pub(crate) struct ChannelOutlet(pub(crate) mpsc::UnboundedSender<OutletMsg>);

#[async_trait]
impl Outlet for ChannelOutlet {
    async fn send(&self, message: Value) -> Result<()> {
        // The receiver lives as long as the request; after it is gone nobody can be reached.
        self.0
            .send(OutletMsg::Message(message))
            .map_err(|_| Error::Cancelled)
    }

    fn close_stream(&self) {
        let _ = self.0.send(OutletMsg::CloseStream);
    }
}

/// Publishes to a session's event log (HTTP+SSE: the `sse` stream).
pub(crate) struct QueueOutlet {
    pub(crate) queue: Arc<dyn MessageQueue>,
    pub(crate) entity: EntityId,
    pub(crate) stream: StreamKey,
}

#[async_trait]
impl Outlet for QueueOutlet {
    async fn send(&self, message: Value) -> Result<()> {
        self.queue
            .publish(&self.entity, &self.stream, &message)
            .await?;
        Ok(())
    }
}
