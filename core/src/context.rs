//! [`Context`]: what a tool, resource or prompt handler knows about the request it serves and
//! what it may do beyond returning a value (log, report progress, keep session state, ask the
//! client for input).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::dispatch::Shared;
use crate::error::{Error, Result};
use crate::ids::{EntityId, SessionId};
use crate::protocol::{jsonrpc, LoggingLevel, RequestId, ResourceContents};
use crate::store::LogKind;

/// Where a request's own messages (log and progress notifications, server-to-client requests)
/// go before its response. Provided by the transport: the request's SSE stream in Streamable
/// HTTP, the session's event log for HTTP+SSE.
#[async_trait]
pub trait Outlet: Send + Sync + 'static {
    /// Sends one JSON-RPC message towards the client. Never blocks on a slow client for long:
    /// transports buffer or persist.
    async fn send(&self, message: Value) -> Result<()>;

    /// Asks the transport to end the HTTP stream now; the client resumes it later with
    /// `Last-Event-ID` (SSE polling). A no-op where that makes no sense.
    fn close_stream(&self) {}
}

/// An outlet that drops everything (requests with nowhere to send notifications).
pub struct NullOutlet;

#[async_trait]
impl Outlet for NullOutlet {
    async fn send(&self, _message: Value) -> Result<()> {
        Ok(())
    }
}

pub(crate) struct RequestScope {
    pub(crate) entity: EntityId,
    pub(crate) session_id: Option<SessionId>,
    pub(crate) request_id: Option<RequestId>,
    pub(crate) progress_token: Option<Value>,
    pub(crate) log_threshold: LoggingLevel,
    pub(crate) client_capabilities: Arc<Value>,
    pub(crate) outlet: Arc<dyn Outlet>,
    pub(crate) cancel: CancellationToken,
}

/// Per-request handle given to every handler. Cheap to clone.
#[derive(Clone)]
pub struct Context {
    pub(crate) shared: Arc<Shared>,
    pub(crate) scope: Arc<RequestScope>,
}

/// The client's answer to an elicitation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ElicitResult {
    /// `accept`, `decline` or `cancel`.
    pub action: String,
    /// The submitted values (when accepted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Value>,
}

impl Context {
    /// The tenant this request is for (from the URL path).
    pub fn entity_id(&self) -> &EntityId {
        &self.scope.entity
    }

    /// The session, when the request belongs to one.
    pub fn session_id(&self) -> Option<SessionId> {
        self.scope.session_id
    }

    /// The JSON-RPC id of the request being served.
    pub fn request_id(&self) -> Option<&RequestId> {
        self.scope.request_id.as_ref()
    }

    /// The client's declared capabilities.
    pub fn client_capabilities(&self) -> &Value {
        &self.scope.client_capabilities
    }

    /// Fires when the client cancels this request; long handlers may poll it.
    pub fn cancellation(&self) -> &CancellationToken {
        &self.scope.cancel
    }

    /// Sends `notifications/message` if `level` is at or above the session's logging level.
    pub async fn log(&self, level: LoggingLevel, data: impl Into<Value>) -> Result<()> {
        let data = data.into();
        tracing::debug!(entity = %self.scope.entity, level = level.as_str(), %data, "ctx log");
        let text = match &data {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        self.shared
            .record(
                &self.scope.entity,
                self.scope.session_id,
                LogKind::Log,
                level,
                text,
                data.clone(),
            )
            .await;
        if level < self.scope.log_threshold {
            return Ok(());
        }
        let params = json!({ "level": level, "data": data });
        self.scope
            .outlet
            .send(jsonrpc::notification("notifications/message", params))
            .await
    }

    /// [`log`](Self::log) at debug.
    pub async fn debug(&self, data: impl Into<Value>) -> Result<()> {
        self.log(LoggingLevel::Debug, data).await
    }

    /// [`log`](Self::log) at info.
    pub async fn info(&self, data: impl Into<Value>) -> Result<()> {
        self.log(LoggingLevel::Info, data).await
    }

    /// [`log`](Self::log) at notice.
    pub async fn notice(&self, data: impl Into<Value>) -> Result<()> {
        self.log(LoggingLevel::Notice, data).await
    }

    /// [`log`](Self::log) at warning.
    pub async fn warning(&self, data: impl Into<Value>) -> Result<()> {
        self.log(LoggingLevel::Warning, data).await
    }

    /// [`log`](Self::log) at error.
    pub async fn error(&self, data: impl Into<Value>) -> Result<()> {
        self.log(LoggingLevel::Error, data).await
    }

    /// Sends `notifications/progress` with the request's `progressToken`; does nothing when the
    /// client did not ask for progress.
    pub async fn report_progress(
        &self,
        progress: f64,
        total: Option<f64>,
        message: Option<&str>,
    ) -> Result<()> {
        let numbers = json!({ "progress": progress, "total": total, "message": message });
        let text = match total {
            Some(t) => format!("progress {progress} of {t}"),
            None => format!("progress {progress}"),
        };
        self.shared
            .record(
                &self.scope.entity,
                self.scope.session_id,
                LogKind::Progress,
                LoggingLevel::Info,
                text,
                numbers,
            )
            .await;
        let Some(token) = &self.scope.progress_token else {
            return Ok(());
        };
        let mut params = json!({ "progressToken": token, "progress": progress });
        if let Some(t) = total {
            params["total"] = json!(t);
        }
        if let Some(m) = message {
            params["message"] = json!(m);
        }
        self.scope
            .outlet
            .send(jsonrpc::notification("notifications/progress", params))
            .await
    }

    /// Reads one of this server's resources as the same entity and session.
    pub async fn read_resource(&self, uri: &str) -> Result<Vec<ResourceContents>> {
        self.shared.registry.read_resource(uri, self.clone()).await
    }

    /// A value from the session's state (persisted in the `SessionStore`, so any instance sees it).
    pub async fn get_state<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let id = self.require_session()?;
        let Some(rec) = self.shared.sessions.load(&self.scope.entity, &id).await? else {
            return Err(Error::NotFound("session".into()));
        };
        match rec.state.get(key) {
            None => Ok(None),
            Some(v) => serde_json::from_value(v.clone()).map(Some).map_err(|e| {
                Error::Internal(format!("session state `{key}` has another type: {e}"))
            }),
        }
    }

    /// Stores a value in the session's state (compare-and-swap, retried on conflict).
    pub async fn set_state(&self, key: &str, value: impl Serialize) -> Result<()> {
        let value = serde_json::to_value(value)
            .map_err(|e| Error::Internal(format!("cannot serialise state `{key}`: {e}")))?;
        let id = self.require_session()?;
        self.shared
            .update_session(&self.scope.entity, &id, |rec| {
                rec.state.insert(key.to_string(), value.clone());
            })
            .await
            .map(|_| ())
    }

    /// Removes a value from the session's state; returns whether it was there.
    pub async fn remove_state(&self, key: &str) -> Result<bool> {
        let id = self.require_session()?;
        let mut had = false;
        self.shared
            .update_session(&self.scope.entity, &id, |rec| {
                had = rec.state.remove(key).is_some()
            })
            .await?;
        Ok(had)
    }

    /// Sends a request to the client (on this request's stream) and awaits its answer, at most
    /// the server's client-request timeout. The answer may arrive at any instance: it is routed
    /// through the `MessageQueue`.
    pub async fn request_client(&self, method: &str, params: Value) -> Result<Value> {
        let session = self.require_session()?;
        let id = RequestId::Str(format!(
            "{}{}",
            crate::dispatch::SERVER_REQUEST_PREFIX,
            uuid::Uuid::new_v4().simple()
        ));
        self.scope
            .outlet
            .send(jsonrpc::request(&id, method, params))
            .await?;
        let key = id.key();
        let wait = self.shared.queue.take_reply(
            &self.scope.entity,
            &session,
            &key,
            self.shared.config.client_request_timeout,
        );
        let reply = tokio::select! {
            r = wait => r?,
            _ = self.scope.cancel.cancelled() => return Err(Error::Cancelled),
        };
        let Some(reply) = reply else {
            return Err(Error::Timeout(format!("the client's answer to {method}")));
        };
        if let Some(err) = reply.get("error") {
            let msg = err
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("error");
            return Err(Error::Client(format!("{method}: {msg}")));
        }
        Ok(reply.get("result").cloned().unwrap_or(Value::Null))
    }

    /// `sampling/createMessage`: asks the client's LLM. `params` as in the spec
    /// (`messages`, `maxTokens`, …); returns the client's result object.
    pub async fn sample(&self, params: Value) -> Result<Value> {
        self.require_capability("sampling")?;
        self.request_client("sampling/createMessage", params).await
    }

    /// `elicitation/create`: asks the user for structured input matching `requested_schema`.
    pub async fn elicit(&self, message: &str, requested_schema: Value) -> Result<ElicitResult> {
        self.require_capability("elicitation")?;
        let params = json!({ "message": message, "requestedSchema": requested_schema });
        let result = self.request_client("elicitation/create", params).await?;
        serde_json::from_value(result)
            .map_err(|e| Error::Client(format!("malformed elicitation result: {e}")))
    }

    /// `roots/list`: the client's filesystem roots.
    pub async fn list_roots(&self) -> Result<Vec<Value>> {
        self.require_capability("roots")?;
        let result = self.request_client("roots/list", json!({})).await?;
        Ok(result
            .get("roots")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default())
    }

    /// Ends the current HTTP response stream early; the client reconnects with `Last-Event-ID`
    /// and receives the rest (SSE polling, 2025-11-25).
    pub fn close_sse_stream(&self) {
        self.scope.outlet.close_stream();
    }

    /// Sleeps, returning `Err(Cancelled)` early if the client cancels.
    pub async fn sleep(&self, d: Duration) -> Result<()> {
        tokio::select! {
            _ = tokio::time::sleep(d) => Ok(()),
            _ = self.scope.cancel.cancelled() => Err(Error::Cancelled),
        }
    }

    fn require_session(&self) -> Result<SessionId> {
        self.scope
            .session_id
            .ok_or_else(|| Error::Internal("this request has no session".into()))
    }

    fn require_capability(&self, name: &str) -> Result<()> {
        if self.scope.client_capabilities.get(name).is_some() {
            Ok(())
        } else {
            Err(Error::Client(format!(
                "the client did not declare the `{name}` capability"
            )))
        }
    }
}
