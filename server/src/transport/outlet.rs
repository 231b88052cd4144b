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
pub(crate) struct ChannelOutlet {
    tx: mpsc::UnboundedSender<OutletMsg>,
    /// Why a request to the client cannot reach it (the answer will be plain JSON, so only
    /// the result gets through), or `None` when it can.
    unreachable: Option<&'static str>,
}

impl ChannelOutlet {
    /// An outlet whose requests to the client can reach it (the client takes a stream).
    pub(crate) fn new(tx: mpsc::UnboundedSender<OutletMsg>) -> Self {
        Self {
            tx,
            unreachable: None,
        }
    }

    /// An outlet for an answer that will be plain JSON: notifications are dropped as before,
    /// but a request to the client fails at once with `why`, rather than after the
    /// client-request timeout.
    pub(crate) fn json_only(tx: mpsc::UnboundedSender<OutletMsg>, why: &'static str) -> Self {
        Self {
            tx,
            unreachable: Some(why),
        }
    }
}

#[async_trait]
impl Outlet for ChannelOutlet {
    async fn send(&self, message: Value) -> Result<()> {
        if let (Some(why), Some(method)) = (self.unreachable, request_method(&message)) {
            return Err(Error::Client(format!(
                "cannot send {method} to the client: {why}"
            )));
        }
        // The receiver lives as long as the request; after it is gone nobody can be reached.
        self.tx
            .send(OutletMsg::Message(message))
            .map_err(|_| Error::Cancelled)
    }

    fn close_stream(&self) {
        let _ = self.tx.send(OutletMsg::CloseStream);
    }
}

/// The method of a JSON-RPC request (a message with both `method` and `id`).
fn request_method(message: &Value) -> Option<&str> {
    message.get("id")?;
    message.get("method")?.as_str()
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
