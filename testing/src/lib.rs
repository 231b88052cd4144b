//! # fastmcp-testing
//!
//! [`TestClient`] drives an [`McpServer`] in-process, with no HTTP: list and call tools, read
//! resources, render prompts, complete arguments, collect progress and log notifications, and
//! answer elicitation, sampling and roots with closures, as a chosen entity and principal, in
//! either protocol era. It goes through the same engine the transports use (the pipeline,
//! visibility, scopes, limits, cancellation), on a fresh memory store, so what passes here
//! passes over HTTP.
//!
//! ```
//! # use fastmcp_core::{Context, McpServer, Tool};
//! # use fastmcp_core::schemars::{self, JsonSchema};
//! # #[derive(serde::Deserialize, JsonSchema)] struct Args { text: String }
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use fastmcp_testing::{Era, TestClient};
//!
//! let server = || McpServer::builder("s", "1").with(|r| {
//!     r.tool(Tool::new("shout").handler(|a: Args, _ctx: Context| async move {
//!         Ok(a.text.to_uppercase())
//!     }));
//! });
//! for era in [Era::Handshake, Era::Modern] {
//!     let client = TestClient::builder(server()).era(era).entity("acme").connect().await.unwrap();
//!     let result = client.call_tool("shout", serde_json::json!({"text": "hi"})).await.unwrap();
//!     assert_eq!(result.text(), "HI");
//! }
//! # }
//! ```

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use fastmcp_core::engine::stateless::{
    parse_meta, META_CLIENT_CAPABILITIES, META_CLIENT_INFO, META_LOG_LEVEL,
};
use fastmcp_core::protocol::{ErrorObject, Message, MODERN_PROTOCOL_VERSION};
use fastmcp_core::{EntityId, McpServer, McpServerBuilder, Outlet, Principal, SessionRecord};
use futures::future::BoxFuture;
use serde_json::{json, Map, Value};

/// Which protocol era the client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// `initialize`, a session, server-to-client requests mid-call (2024-11-05 … 2025-11-25;
    /// the newest unless [`TestClientBuilder::protocol_version`] says otherwise).
    Handshake,
    /// 2026-07-28: no session; every request carries its envelope in `_meta`, and questions
    /// to the client come back as `InputRequiredResult` rounds, which the client answers and
    /// retries.
    Modern,
}

/// What went wrong with a request.
#[derive(Debug, thiserror::Error)]
pub enum TestError {
    /// The server answered with a JSON-RPC error.
    #[error("JSON-RPC error {}: {}", .0.code, .0.message)]
    Rpc(ErrorObject),
    /// The server's answer was not what the method returns.
    #[error("unexpected answer: {0}")]
    Unexpected(String),
    /// A 2026-07-28 request kept asking for input past the round limit.
    #[error("still asking for input after {0} rounds")]
    TooManyRounds(usize),
}

impl TestError {
    /// The JSON-RPC error code, if the server answered with one.
    pub fn code(&self) -> Option<i64> {
        match self {
            Self::Rpc(e) => Some(e.code),
            _ => None,
        }
    }
}

/// The result of this crate's calls.
pub type TestResult<T> = std::result::Result<T, TestError>;

type Answer = Arc<dyn Fn(Value) -> BoxFuture<'static, Value> + Send + Sync>;

/// Builds a [`TestClient`]: the server, and who the client is.
pub struct TestClientBuilder {
    server: McpServerBuilder,
    entity: String,
    principal: Option<Principal>,
    era: Era,
    version: Option<String>,
    elicit: Option<Answer>,
    sample: Option<Answer>,
    roots: Option<Vec<Value>>,
    log_level: Option<String>,
}

impl TestClientBuilder {
    /// The log level the client asks for (`debug`, `info`, …), so that `ctx.info` and its
    /// kin reach it as `notifications/message`: `logging/setLevel` after `initialize` in the
    /// handshake era, the `logLevel` of every request's `_meta` at 2026-07-28 (which sends no
    /// log notifications without it).
    pub fn log_level(mut self, level: impl Into<String>) -> Self {
        self.log_level = Some(level.into());
        self
    }

    /// The entity the client acts for (default `test`).
    pub fn entity(mut self, entity: impl Into<String>) -> Self {
        self.entity = entity.into();
        self
    }

    /// The authenticated caller handlers see as `ctx.principal()` (default: none, as with
    /// authentication off). Scopes on tools apply to it.
    pub fn principal(mut self, principal: Principal) -> Self {
        self.principal = Some(principal);
        self
    }

    /// The protocol era (default [`Era::Handshake`]).
    pub fn era(mut self, era: Era) -> Self {
        self.era = era;
        self
    }

    /// A handshake-era revision to negotiate (`2025-06-18`, …) instead of the newest.
    pub fn protocol_version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// Answers `elicitation/create` (declares the capability): the closure gets the request's
    /// params and returns the client's result (`{"action": "accept", "content": {…}}`).
    pub fn on_elicit<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Value> + Send + 'static,
    {
        self.elicit = Some(Arc::new(move |p| Box::pin(f(p))));
        self
    }

    /// Answers `sampling/createMessage` (declares the capability).
    pub fn on_sample<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Value> + Send + 'static,
    {
        self.sample = Some(Arc::new(move |p| Box::pin(f(p))));
        self
    }

    /// Answers `roots/list` with these roots (declares the capability).
    pub fn roots(mut self, roots: Vec<Value>) -> Self {
        self.roots = Some(roots);
        self
    }

    /// Builds the server on a fresh memory store and, in the handshake era, initializes a
    /// session (an `initialize` error, such as client info over its cap, is returned here).
    pub async fn connect(self) -> TestResult<TestClient> {
        let store = fastmcp_storage_memory::MemoryStore::default();
        let stores = fastmcp_core::storage::Stores::of(store);
        let mcp = self
            .server
            .logs(stores.logs.clone())
            .keys(stores.keys.clone())
            .entity_configs(stores.entity_configs.clone())
            .build(stores.sessions.clone(), stores.queue.clone());
        let entity = EntityId::parse(&self.entity)
            .map_err(|e| TestError::Unexpected(format!("entity {:?}: {e}", self.entity)))?;
        let mut capabilities = Map::new();
        if self.elicit.is_some() {
            capabilities.insert("elicitation".into(), json!({}));
        }
        if self.sample.is_some() {
            capabilities.insert("sampling".into(), json!({}));
        }
        if self.roots.is_some() {
            capabilities.insert("roots".into(), json!({ "listChanged": true }));
        }
        let inner = Arc::new(Inner {
            mcp,
            entity,
            principal: self.principal.map(Arc::new),
            era: self.era,
            capabilities: Value::Object(capabilities),
            elicit: self.elicit,
            sample: self.sample,
            roots: self.roots,
            log_level: self.log_level.clone(),
            notifications: Mutex::new(Vec::new()),
            next_id: AtomicI64::new(1),
            session: Mutex::new(None),
        });
        if self.era == Era::Handshake {
            inner.initialize(self.version.as_deref()).await?;
            if let Some(level) = &self.log_level {
                inner
                    .request("logging/setLevel", json!({ "level": level }))
                    .await?;
            }
        }
        Ok(TestClient { inner })
    }
}

struct Inner {
    mcp: McpServer,
    entity: EntityId,
    principal: Option<Arc<Principal>>,
    era: Era,
    capabilities: Value,
    elicit: Option<Answer>,
    sample: Option<Answer>,
    roots: Option<Vec<Value>>,
    log_level: Option<String>,
    notifications: Mutex<Vec<Value>>,
    next_id: AtomicI64,
    /// The handshake-era session's id and entity (the record is loaded per request, as the
    /// transports do, so state saved by one call is seen by the next).
    session: Mutex<Option<SessionRecord>>,
}

/// Most `InputRequiredResult` rounds one request may take before the client gives up.
const MAX_ROUNDS: usize = 16;

fn client_info() -> Value {
    json!({ "name": "fastmcp-testing", "version": env!("CARGO_PKG_VERSION") })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Inner {
    async fn initialize(&self, version: Option<&str>) -> TestResult<()> {
        let mut record = SessionRecord::new(self.entity.clone());
        record.principal = self.principal.as_ref().map(|p| p.subject.clone());
        let params = json!({
            "protocolVersion": version.unwrap_or(fastmcp_core::protocol::LATEST_PROTOCOL_VERSION),
            "capabilities": self.capabilities,
            "clientInfo": client_info(),
        });
        self.mcp
            .initialize(&mut record, Some(&params))
            .map_err(|e| TestError::Rpc(e.to_error_object()))?;
        let ttl = self.mcp.config().session_ttl;
        let record = self
            .mcp
            .sessions()
            .create(record, ttl)
            .await
            .map_err(|e| TestError::Unexpected(format!("cannot create the session: {e}")))?;
        *lock(&self.session) = Some(record);
        Ok(())
    }

    fn next_id(&self) -> i64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The client's answer to a server-to-client request, as a JSON-RPC result or error.
    async fn answer(&self, method: &str, params: Value) -> std::result::Result<Value, Value> {
        let handler = match method {
            "elicitation/create" => self.elicit.clone(),
            "sampling/createMessage" => self.sample.clone(),
            "roots/list" => {
                return match &self.roots {
                    Some(r) => Ok(json!({ "roots": r })),
                    None => Err(json!({ "code": -32601, "message": "no roots" })),
                }
            }
            _ => None,
        };
        match handler {
            Some(f) => Ok(f(params).await),
            None => Err(
                json!({ "code": -32601, "message": format!("the test client does not answer {method}") }),
            ),
        }
    }

    async fn request(self: &Arc<Self>, method: &str, params: Value) -> TestResult<Value> {
        match self.era {
            Era::Handshake => self.handshake_request(method, params).await,
            Era::Modern => self.modern_request(method, params).await,
        }
    }

    async fn handshake_request(self: &Arc<Self>, method: &str, params: Value) -> TestResult<Value> {
        let Some(known) = lock(&self.session).clone() else {
            return Err(TestError::Unexpected("no session".into()));
        };
        let session = self
            .mcp
            .sessions()
            .load(&known.entity, &known.id)
            .await
            .map_err(|e| TestError::Unexpected(e.to_string()))?
            .ok_or_else(|| TestError::Unexpected("the session is gone".into()))?;
        let request = parse_request(json!({
            "jsonrpc": "2.0", "id": self.next_id(), "method": method, "params": params,
        }))?;
        let outlet = Arc::new(Collector {
            inner: Arc::clone(self),
            session: Some(session.clone()),
        });
        let reply = self
            .mcp
            .handle_request_as(&session, request, outlet, self.principal.clone())
            .await;
        outcome(serde_json::to_value(&reply).unwrap_or(Value::Null))
    }

    async fn modern_request(self: &Arc<Self>, method: &str, params: Value) -> TestResult<Value> {
        let mut params = match params {
            Value::Object(m) => m,
            Value::Null => Map::new(),
            other => {
                return Err(TestError::Unexpected(format!(
                    "params must be an object: {other}"
                )))
            }
        };
        let mut meta = params
            .remove("_meta")
            .and_then(|m| m.as_object().cloned())
            .unwrap_or_default();
        meta.insert(
            fastmcp_core::engine::stateless::META_PROTOCOL_VERSION.into(),
            json!(MODERN_PROTOCOL_VERSION),
        );
        meta.insert(META_CLIENT_CAPABILITIES.into(), self.capabilities.clone());
        meta.insert(META_CLIENT_INFO.into(), client_info());
        if let Some(level) = &self.log_level {
            meta.insert(META_LOG_LEVEL.into(), json!(level));
        }
        params.insert("_meta".into(), Value::Object(meta));
        for _ in 0..MAX_ROUNDS {
            let body = Value::Object(params.clone());
            let envelope = parse_meta(Some(&body)).map_err(TestError::Rpc)?;
            let request = parse_request(json!({
                "jsonrpc": "2.0", "id": self.next_id(), "method": method, "params": body,
            }))?;
            let outlet = Arc::new(Collector {
                inner: Arc::clone(self),
                session: None,
            });
            let response = self
                .mcp
                .handle_modern(
                    &self.entity,
                    request,
                    &envelope,
                    outlet,
                    self.principal.clone(),
                )
                .await;
            let result = outcome(serde_json::to_value(&response.message).unwrap_or(Value::Null))?;
            if result.get("resultType").and_then(Value::as_str) != Some("input_required") {
                return Ok(result);
            }
            let mut responses = Map::new();
            if let Some(asked) = result.get("inputRequests").and_then(Value::as_object) {
                for (key, ask) in asked {
                    let m = ask
                        .get("method")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let p = ask.get("params").cloned().unwrap_or(Value::Null);
                    match self.answer(m, p).await {
                        Ok(v) => {
                            responses.insert(key.clone(), v);
                        }
                        Err(e) => {
                            return Err(TestError::Unexpected(format!(
                            "the server asked for {m}, which the test client does not answer: {e}"
                        )))
                        }
                    }
                }
            }
            params.insert("inputResponses".into(), Value::Object(responses));
            if let Some(state) = result.get("requestState") {
                params.insert("requestState".into(), state.clone());
            }
        }
        Err(TestError::TooManyRounds(MAX_ROUNDS))
    }
}

fn parse_request(v: Value) -> TestResult<fastmcp_core::protocol::Request> {
    match Message::from_value(v) {
        Ok(Message::Request(r)) => Ok(r),
        Ok(_) => Err(TestError::Unexpected("not a request".into())),
        Err(inv) => Err(TestError::Rpc(inv.error)),
    }
}

/// The `result` of a JSON-RPC response, or its `error`.
fn outcome(reply: Value) -> TestResult<Value> {
    if let Some(err) = reply.get("error") {
        let e: ErrorObject = serde_json::from_value(err.clone())
            .map_err(|e| TestError::Unexpected(format!("malformed error {err}: {e}")))?;
        return Err(TestError::Rpc(e));
    }
    reply
        .get("result")
        .cloned()
        .ok_or_else(|| TestError::Unexpected(format!("neither result nor error: {reply}")))
}

/// Where a request's notifications and questions go: notifications are kept for the test to
/// read; a handshake-era question is answered by the client's closure and the answer delivered
/// back through the engine, as a client's POSTed response would be.
struct Collector {
    inner: Arc<Inner>,
    session: Option<SessionRecord>,
}

#[async_trait]
impl Outlet for Collector {
    async fn send(&self, message: Value) -> fastmcp_core::Result<()> {
        let is_request = message.get("id").is_some() && message.get("method").is_some();
        let Some(session) = self.session.clone().filter(|_| is_request) else {
            lock(&self.inner.notifications).push(message);
            return Ok(());
        };
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move {
            let method = message
                .get("method")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let params = message.get("params").cloned().unwrap_or(Value::Null);
            let id = message.get("id").cloned().unwrap_or(Value::Null);
            let reply = match inner.answer(method, params).await {
                Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
                Err(error) => json!({ "jsonrpc": "2.0", "id": id, "error": error }),
            };
            if let Ok(Message::Response(r)) = Message::from_value(reply) {
                let _ = inner.mcp.handle_response(&session, r).await;
            }
        });
        Ok(())
    }
}

/// A `tools/call` result.
#[derive(Debug, Clone)]
pub struct ToolResult(pub Value);

impl ToolResult {
    /// The text of every text block, joined by newlines.
    pub fn text(&self) -> String {
        self.0
            .get("content")
            .and_then(Value::as_array)
            .map(|blocks| {
                blocks
                    .iter()
                    .filter_map(|b| b.get("text").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default()
    }

    /// Whether the tool reported a failure (`isError`).
    pub fn is_error(&self) -> bool {
        self.0.get("isError").and_then(Value::as_bool) == Some(true)
    }

    /// `structuredContent`, if any.
    pub fn structured(&self) -> Option<&Value> {
        self.0.get("structuredContent")
    }
}

/// An in-process MCP client of one server (see the crate docs). Cloning shares it.
#[derive(Clone)]
pub struct TestClient {
    inner: Arc<Inner>,
}

impl TestClient {
    /// A client of `server`, to be configured, then [`connect`](TestClientBuilder::connect)ed.
    pub fn builder(server: McpServerBuilder) -> TestClientBuilder {
        TestClientBuilder {
            server,
            entity: "test".into(),
            principal: None,
            era: Era::Handshake,
            version: None,
            elicit: None,
            sample: None,
            roots: None,
            log_level: None,
        }
    }

    /// The server under test (its stores, its registry).
    pub fn server(&self) -> &McpServer {
        &self.inner.mcp
    }

    /// Any request, as the client would send it; the `result`, or the JSON-RPC error.
    pub async fn request(&self, method: &str, params: Value) -> TestResult<Value> {
        self.inner.request(method, params).await
    }

    async fn list_all(&self, method: &str, key: &str) -> TestResult<Vec<Value>> {
        let mut items = Vec::new();
        let mut cursor: Option<Value> = None;
        loop {
            let params = match &cursor {
                Some(c) => json!({ "cursor": c }),
                None => json!({}),
            };
            let page = self.request(method, params).await?;
            if let Some(list) = page.get(key).and_then(Value::as_array) {
                items.extend(list.iter().cloned());
            }
            match page.get("nextCursor") {
                Some(c) if !c.is_null() => cursor = Some(c.clone()),
                _ => return Ok(items),
            }
        }
    }

    /// Every tool the entity sees, all pages.
    pub async fn list_tools(&self) -> TestResult<Vec<Value>> {
        self.list_all("tools/list", "tools").await
    }

    /// The names of the tools the entity sees.
    pub async fn tool_names(&self) -> TestResult<Vec<String>> {
        Ok(names(&self.list_tools().await?, "name"))
    }

    /// Every resource, all pages.
    pub async fn list_resources(&self) -> TestResult<Vec<Value>> {
        self.list_all("resources/list", "resources").await
    }

    /// Every resource template, all pages.
    pub async fn list_resource_templates(&self) -> TestResult<Vec<Value>> {
        self.list_all("resources/templates/list", "resourceTemplates")
            .await
    }

    /// Every prompt, all pages.
    pub async fn list_prompts(&self) -> TestResult<Vec<Value>> {
        self.list_all("prompts/list", "prompts").await
    }

    /// Calls a tool. A tool's own failure is an `isError` result, not an `Err`.
    pub async fn call_tool(&self, name: &str, arguments: Value) -> TestResult<ToolResult> {
        self.request(
            "tools/call",
            json!({ "name": name, "arguments": arguments }),
        )
        .await
        .map(ToolResult)
    }

    /// Calls a tool with a progress token, so the handler's `ctx.report_progress` is sent
    /// (read it with [`progress`](Self::progress)).
    pub async fn call_tool_with_progress(
        &self,
        name: &str,
        arguments: Value,
    ) -> TestResult<ToolResult> {
        let params =
            json!({ "name": name, "arguments": arguments, "_meta": { "progressToken": "test" } });
        self.request("tools/call", params).await.map(ToolResult)
    }

    /// A resource's contents.
    pub async fn read_resource(&self, uri: &str) -> TestResult<Vec<Value>> {
        let r = self
            .request("resources/read", json!({ "uri": uri }))
            .await?;
        Ok(r.get("contents")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default())
    }

    /// A rendered prompt (`description` and `messages`).
    pub async fn get_prompt(&self, name: &str, arguments: Value) -> TestResult<Value> {
        self.request(
            "prompts/get",
            json!({ "name": name, "arguments": arguments }),
        )
        .await
    }

    /// Completion values for `argument` of a prompt (`ref/prompt`) or a resource template
    /// (`ref/resource`), given `value` typed so far.
    pub async fn complete(
        &self,
        reference: Value,
        argument: &str,
        value: &str,
    ) -> TestResult<Vec<String>> {
        let r = self
            .request(
                "completion/complete",
                json!({ "ref": reference, "argument": { "name": argument, "value": value } }),
            )
            .await?;
        Ok(r.pointer("/completion/values")
            .and_then(Value::as_array)
            .map(|v| {
                v.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Every notification received so far (progress, log messages, …), emptied.
    pub fn take_notifications(&self) -> Vec<Value> {
        std::mem::take(&mut *lock(&self.inner.notifications))
    }

    /// The `progress` values of the progress notifications received so far, emptied with the
    /// rest of the notifications.
    pub fn progress(&self) -> Vec<f64> {
        self.take_notifications()
            .iter()
            .filter(|n| n.get("method").and_then(Value::as_str) == Some("notifications/progress"))
            .filter_map(|n| n.pointer("/params/progress").and_then(Value::as_f64))
            .collect()
    }

    /// The `data` of the log notifications received so far, emptied with the rest.
    pub fn logs(&self) -> Vec<Value> {
        self.take_notifications()
            .iter()
            .filter(|n| n.get("method").and_then(Value::as_str) == Some("notifications/message"))
            .filter_map(|n| n.pointer("/params/data").cloned())
            .collect()
    }

    /// Waits until at least `n` notifications have arrived (they may trail a result by a
    /// moment in the handshake era), at most `within`.
    pub async fn wait_for_notifications(&self, n: usize, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if lock(&self.inner.notifications).len() >= n {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

fn names(items: &[Value], key: &str) -> Vec<String> {
    items
        .iter()
        .filter_map(|i| i.get(key).and_then(Value::as_str).map(str::to_string))
        .collect()
}
