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

use crate::error::{Error, Result};
use crate::ids::{EntityId, SessionId};
use crate::protocol::{jsonrpc, Change, LoggingLevel, RequestId, ResourceContents};
use crate::storage::{LogKind, SessionRecord};

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

/// What a [`Context`] may do beyond its own request: the engine's side of the contract,
/// behind a trait so that handlers (and the registry that holds them) do not depend on the
/// engine that runs them.
#[async_trait]
pub(crate) trait Services: Send + Sync + 'static {
    /// Keeps a log record if a log store is configured; never fails the request.
    async fn record(
        &self,
        entity: &EntityId,
        session: Option<SessionId>,
        kind: LogKind,
        level: LoggingLevel,
        message: String,
        data: Value,
    );

    /// Reads one of the server's resources.
    async fn read_resource(&self, uri: &str, ctx: Context) -> Result<Vec<ResourceContents>>;

    /// The session record, `None` once it is gone.
    async fn load_session(
        &self,
        entity: &EntityId,
        id: &SessionId,
    ) -> Result<Option<SessionRecord>>;

    /// Load-modify-save with compare-and-swap, retried on conflict; `Err(NotFound)` if the
    /// session is gone.
    async fn update_session(
        &self,
        entity: &EntityId,
        id: &SessionId,
        f: &mut (dyn for<'r> FnMut(&'r mut SessionRecord) + Send),
    ) -> Result<SessionRecord>;

    /// Waits (at most the client-request timeout) for the client's answer to the
    /// server-to-client request whose id has `key`, wherever it arrives.
    async fn client_reply(
        &self,
        entity: &EntityId,
        session: &SessionId,
        key: &str,
    ) -> Result<Option<Value>>;

    /// Publishes a change to every client of `entity` that should hear of it.
    async fn notify(&self, entity: &EntityId, change: &Change) -> Result<usize>;

    /// What sessions may keep.
    fn retention(&self) -> &crate::retention::RetentionCaps;
}

pub(crate) struct RequestScope {
    pub(crate) entity: EntityId,
    pub(crate) session_id: Option<SessionId>,
    pub(crate) request_id: Option<RequestId>,
    pub(crate) progress_token: Option<Value>,
    /// `None`: send no `notifications/message` at all (a 2026-07-28 request without `logLevel`).
    pub(crate) log_threshold: Option<LoggingLevel>,
    pub(crate) client_capabilities: Arc<Value>,
    pub(crate) outlet: Arc<dyn Outlet>,
    pub(crate) cancel: CancellationToken,
    /// 2026-07-28: the answers this round carries; `None` in the handshake era, where input is
    /// asked for on the stream instead.
    pub(crate) input: Option<Arc<InputRound>>,
    /// Who is calling, when the transport authenticated the request.
    pub(crate) principal: Option<Arc<crate::auth::Principal>>,
}

/// Something a handler asks the client for.
#[derive(Debug, Clone, PartialEq)]
pub enum InputRequest {
    /// `elicitation/create`: a message and a flat object schema of primitive properties.
    Elicit {
        /// Shown to the user.
        message: String,
        /// `{type: "object", properties: {…}}`.
        requested_schema: Value,
    },
    /// `sampling/createMessage` with its params (`messages`, `maxTokens`, …).
    Sample(Value),
    /// `roots/list`.
    ListRoots,
}

impl InputRequest {
    /// The client method that answers it.
    pub fn method(&self) -> &'static str {
        match self {
            InputRequest::Elicit { .. } => "elicitation/create",
            InputRequest::Sample(_) => "sampling/createMessage",
            InputRequest::ListRoots => "roots/list",
        }
    }

    /// The client capability it needs.
    pub fn capability(&self) -> &'static str {
        match self {
            InputRequest::Elicit { .. } => "elicitation",
            InputRequest::Sample(_) => "sampling",
            InputRequest::ListRoots => "roots",
        }
    }

    /// The request's params.
    pub fn params(&self) -> Value {
        match self {
            InputRequest::Elicit {
                message,
                requested_schema,
            } => json!({ "message": message, "requestedSchema": requested_schema }),
            InputRequest::Sample(p) => p.clone(),
            InputRequest::ListRoots => json!({}),
        }
    }
}

/// The input side of one 2026-07-28 round: answers from the signed `requestState` and the
/// request's `inputResponses`, and what the handler asked for that is not answered yet.
#[derive(Default)]
pub(crate) struct InputRound {
    pub(crate) answers: serde_json::Map<String, Value>,
    /// Keys asked for and answered (they go into the next `requestState`).
    pub(crate) used: std::sync::Mutex<serde_json::Map<String, Value>>,
    /// Keys asked for and not answered: the next `InputRequiredResult`'s `inputRequests`.
    pub(crate) pending: std::sync::Mutex<serde_json::Map<String, Value>>,
    next_key: std::sync::atomic::AtomicUsize,
}

impl InputRound {
    pub(crate) fn new(answers: serde_json::Map<String, Value>) -> Self {
        Self {
            answers,
            ..Self::default()
        }
    }

    /// What the round ends with: the questions still open, and the answers used (both
    /// emptied).
    pub(crate) fn take(
        &self,
    ) -> (
        serde_json::Map<String, Value>,
        serde_json::Map<String, Value>,
    ) {
        (
            std::mem::take(&mut *lock(&self.pending)),
            std::mem::take(&mut *lock(&self.used)),
        )
    }
}

/// Per-request handle given to every handler. Cheap to clone.
#[derive(Clone)]
pub struct Context {
    pub(crate) services: Arc<dyn Services>,
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

    /// The authenticated caller (`None` when the request came from outside the HTTP edge, such
    /// as an admin call or a test driving the dispatcher directly).
    pub fn principal(&self) -> Option<&crate::auth::Principal> {
        self.scope.principal.as_deref()
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
        self.services
            .record(
                &self.scope.entity,
                self.scope.session_id,
                LogKind::Log,
                level,
                text,
                data.clone(),
            )
            .await;
        if self.scope.log_threshold.is_none_or(|t| level < t) {
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
        self.services
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
        self.services.read_resource(uri, self.clone()).await
    }

    /// A value from the session's state (persisted in the `SessionStore`, so any instance sees it).
    pub async fn get_state<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let id = self.require_session()?;
        let Some(rec) = self.services.load_session(&self.scope.entity, &id).await? else {
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
    ///
    /// A value larger than the server's cap, or one that would take the session's whole state
    /// past its cap, is refused with -32602 naming the cap ([`crate::RetentionCaps`]).
    pub async fn set_state(&self, key: &str, value: impl Serialize) -> Result<()> {
        let value = serde_json::to_value(value)
            .map_err(|e| Error::Internal(format!("cannot serialise state `{key}`: {e}")))?;
        let caps = self.services.retention();
        caps.check_state_value(key, &value)?;
        let mut over = None;
        self.update_session(|rec| {
            over = None;
            let mut state = (*rec.state).clone();
            state.insert(key.to_string(), value.clone());
            match caps.check_state(&state) {
                Ok(()) => rec.state = Arc::new(state),
                Err(e) => over = Some(e),
            }
        })
        .await?;
        over.map_or(Ok(()), Err)
    }

    /// Removes a value from the session's state; returns whether it was there.
    pub async fn remove_state(&self, key: &str) -> Result<bool> {
        let mut had = false;
        self.update_session(|rec| {
            had = rec.state.contains_key(key);
            if had {
                Arc::make_mut(&mut rec.state).remove(key);
            }
        })
        .await?;
        Ok(had)
    }

    /// Sends a request to the client (on this request's stream) and awaits its answer, at most
    /// the server's client-request timeout. The answer may arrive at any instance: it is routed
    /// through the `MessageQueue`.
    pub async fn request_client(&self, method: &str, params: Value) -> Result<Value> {
        let session = self.require_session()?;
        let id = RequestId::server_minted();
        self.scope
            .outlet
            .send(jsonrpc::request(&id, method, params))
            .await?;
        let key = id.key();
        let wait = self
            .services
            .client_reply(&self.scope.entity, &session, &key);
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
    /// (`messages`, `maxTokens`, …); returns the client's result object. See [`input`](Self::input)
    /// for how this works in each protocol era.
    pub async fn sample(&self, params: Value) -> Result<Value> {
        let key = self.auto_key("sampling");
        self.sample_as(&key, params).await
    }

    /// [`sample`](Self::sample) under a chosen input key.
    pub async fn sample_as(&self, key: &str, params: Value) -> Result<Value> {
        self.input(key, InputRequest::Sample(params)).await
    }

    /// `elicitation/create`: asks the user for structured input matching `requested_schema`.
    pub async fn elicit(&self, message: &str, requested_schema: Value) -> Result<ElicitResult> {
        let key = self.auto_key("elicitation");
        self.elicit_as(&key, message, requested_schema).await
    }

    /// [`elicit`](Self::elicit) under a chosen input key.
    pub async fn elicit_as(
        &self,
        key: &str,
        message: &str,
        requested_schema: Value,
    ) -> Result<ElicitResult> {
        let request = InputRequest::Elicit {
            message: message.to_string(),
            requested_schema,
        };
        parse_elicitation(key, self.input(key, request).await?)
    }

    /// `roots/list`: the client's filesystem roots.
    pub async fn list_roots(&self) -> Result<Vec<Value>> {
        let key = self.auto_key("roots");
        self.list_roots_as(&key).await
    }

    /// [`list_roots`](Self::list_roots) under a chosen input key.
    pub async fn list_roots_as(&self, key: &str) -> Result<Vec<Value>> {
        let result = self.input(key, InputRequest::ListRoots).await?;
        Ok(result
            .get("roots")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default())
    }

    /// Asks the client for one input and returns its answer (the client's result object).
    ///
    /// - Handshake era: a server-to-client request on the request's stream, awaited here (the
    ///   answer may reach any instance; it is routed through the `MessageQueue`).
    /// - 2026-07-28: the answer comes with the request (`inputResponses`, or an earlier round
    ///   kept in the signed `requestState`). When it is not there yet this returns
    ///   [`Error::InputRequired`]; propagate it with `?` and the client retries the whole
    ///   request with the answer, on any instance. The handler runs again from the start, so
    ///   work before the question should be repeatable, and `key` must name the same question
    ///   on every run (the default keys count questions in the order they are asked).
    ///
    /// A client that did not declare the needed capability gets [`Error::MissingCapability`].
    pub async fn input(&self, key: &str, request: InputRequest) -> Result<Value> {
        let mut answers = self.inputs(vec![(key.to_string(), request)]).await?;
        Ok(answers.pop().unwrap_or(Value::Null))
    }

    /// Asks for several inputs at once: in the 2026-07-28 era they all go into one
    /// `InputRequiredResult`; in the handshake era they are sent concurrently. Answers come back
    /// in the order asked.
    pub async fn inputs(&self, requests: Vec<(String, InputRequest)>) -> Result<Vec<Value>> {
        for (_, r) in &requests {
            self.require_capability(r.capability())?;
        }
        let Some(round) = &self.scope.input else {
            let calls = requests
                .iter()
                .map(|(_, r)| self.request_client(r.method(), r.params()));
            return futures::future::try_join_all(calls).await;
        };
        let mut answers = Vec::with_capacity(requests.len());
        let mut missing = false;
        for (key, request) in &requests {
            match round.answers.get(key) {
                Some(answer) if answer.is_object() => {
                    lock(&round.used).insert(key.clone(), answer.clone());
                    answers.push(answer.clone());
                }
                Some(_) => {
                    return Err(Error::invalid_params(format!(
                        "inputResponses.{key} must be the client's result object for {}",
                        request.method()
                    )))
                }
                None => {
                    missing = true;
                    lock(&round.pending).insert(
                        key.clone(),
                        json!({ "method": request.method(), "params": request.params() }),
                    );
                }
            }
        }
        if missing {
            Err(Error::InputRequired)
        } else {
            Ok(answers)
        }
    }

    /// Whether the client declared `capability` (`sampling`, `elicitation`, `roots`, …).
    pub fn client_supports(&self, capability: &str) -> bool {
        self.scope
            .client_capabilities
            .get(capability)
            .is_some_and(|v| !v.is_null())
    }

    /// `Err(MissingCapability)` unless the client declared `capability`.
    pub fn require_capability(&self, capability: &str) -> Result<()> {
        if self.client_supports(capability) {
            Ok(())
        } else {
            Err(Error::MissingCapability(capability.to_string()))
        }
    }

    /// Tells this entity's clients that the tool list changed:
    /// `notifications/tools/list_changed` to every handshake-era session and every
    /// `subscriptions/listen` stream that asked for it, on every instance.
    pub async fn notify_tools_changed(&self) -> Result<()> {
        self.notify(Change::Tools).await
    }

    /// As [`notify_tools_changed`](Self::notify_tools_changed), for prompts.
    pub async fn notify_prompts_changed(&self) -> Result<()> {
        self.notify(Change::Prompts).await
    }

    /// As [`notify_tools_changed`](Self::notify_tools_changed), for the resource list.
    pub async fn notify_resources_changed(&self) -> Result<()> {
        self.notify(Change::Resources).await
    }

    /// Tells this entity's clients subscribed to `uri` that it changed
    /// (`notifications/resources/updated`, both eras, every instance).
    pub async fn notify_resource_updated(&self, uri: impl Into<String>) -> Result<()> {
        self.notify(Change::ResourceUpdated(uri.into())).await
    }

    async fn notify(&self, change: Change) -> Result<()> {
        self.services
            .notify(&self.scope.entity, &change)
            .await
            .map(|_| ())
    }

    /// Changes this request's session record (compare-and-swap, retried on conflict).
    pub(crate) async fn update_session(
        &self,
        mut f: impl FnMut(&mut SessionRecord) + Send,
    ) -> Result<SessionRecord> {
        let id = self.require_session()?;
        self.services
            .update_session(&self.scope.entity, &id, &mut f)
            .await
    }

    fn auto_key(&self, kind: &str) -> String {
        let n = self.scope.input.as_ref().map_or(0, |r| {
            r.next_key
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        });
        format!("{kind}-{n}")
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
        // Shown to the model as a tool error: the tool works, this client's protocol has no
        // place to keep state.
        self.scope.session_id.ok_or_else(|| {
            Error::tool("session state needs a session; this request has none (protocol 2026-07-28 is sessionless)")
        })
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Poisoning only means another handler task panicked mid-insert; the map is still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn parse_elicitation(key: &str, value: Value) -> Result<ElicitResult> {
    serde_json::from_value(value)
        .map_err(|e| Error::invalid_params(format!("{key}: malformed elicitation result: {e}")))
}
