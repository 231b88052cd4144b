//! The transport-agnostic dispatcher for the handshake era (2024-11-05 … 2025-11-25).
//!
//! A transport parses bytes into a [`Message`], loads the session from the [`SessionStore`], and
//! calls [`McpServer::handle_request`] (or `_notification` / `_response`) with an [`Outlet`] for the
//! request's own notifications. Nothing here knows about HTTP, so tests drive it directly.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use futures::FutureExt as _;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::context::{Context, Outlet, RequestScope};
use crate::error::{Error, ItemKind, Result};
use crate::ids::{EntityId, SessionId};
use crate::protocol::{
    codes, jsonrpc, ErrorObject, LoggingLevel, Method, Notification, Request, RequestId, Response,
    LATEST_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS,
};
use crate::registry::{Registry, RegistryBuilder};
use crate::store::{
    now_ms, EntityConfig, EntityConfigStore, KeyStore, LogKind, LogRecord, LogStore, MessageQueue,
    SessionRecord, SessionStore,
};

/// Tunables of the dispatcher.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Idle time after which a session expires.
    pub session_ttl: Duration,
    /// How long `ctx.sample` / `ctx.elicit` / `ctx.list_roots` wait for the client.
    pub client_request_timeout: Duration,
    /// Items per page of `tools/list`, `resources/list`, `prompts/list` …
    pub page_size: usize,
    /// Logging threshold of sessions that never called `logging/setLevel`.
    pub default_log_level: LoggingLevel,
    /// Ids of the `requestState` signing keys: the first signs, all of them verify (rotation:
    /// put a new id first and keep the old one until states signed with it have expired).
    pub request_state_keys: Vec<String>,
    /// How long a `requestState` stays valid.
    pub request_state_ttl: Duration,
    /// How long an instance trusts an entity configuration it read before re-reading it.
    pub entity_config_ttl: Duration,
    /// How long a request runs before this instance also listens in the shared queue for a
    /// `notifications/cancelled` that reached another instance. Shorter requests can only be
    /// cancelled on the instance running them; the delay keeps quick calls off the store.
    pub remote_cancel_after: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(3600),
            client_request_timeout: Duration::from_secs(60),
            page_size: 100,
            default_log_level: LoggingLevel::Info,
            request_state_keys: vec!["k1".into()],
            request_state_ttl: Duration::from_secs(600),
            entity_config_ttl: Duration::from_secs(5),
            remote_cancel_after: Duration::from_secs(1),
        }
    }
}

/// Hears about tool calls (for metrics); called after each `tools/call`, in both eras.
pub trait CallObserver: Send + Sync + 'static {
    /// `outcome`: `ok`, `tool_error` (an `isError` result), `input_required` or `error`.
    fn tool_call(&self, entity: &EntityId, tool: &str, outcome: &'static str);
}

/// Name, version and instructions announced in `initialize`.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// Server name.
    pub name: String,
    /// Server version.
    pub version: String,
    /// Optional usage instructions for the model.
    pub instructions: Option<String>,
}

pub(crate) struct Shared {
    pub(crate) info: ServerInfo,
    pub(crate) registry: Registry,
    pub(crate) sessions: Arc<dyn SessionStore>,
    pub(crate) queue: Arc<dyn MessageQueue>,
    pub(crate) logs: Option<Arc<dyn LogStore>>,
    pub(crate) config: ServerConfig,
    /// Signs and checks 2026-07-28 `requestState`.
    pub(crate) states: crate::modern::StateKeys,
    pub(crate) observer: Option<Arc<dyn CallObserver>>,
    entity_configs: Option<Arc<dyn EntityConfigStore>>,
    /// Entity configurations read recently, with when.
    config_cache: dashmap::DashMap<EntityId, (Option<Arc<EntityConfig>>, std::time::Instant)>,
    /// Threshold of sessions without their own level; changeable at run time (admin API).
    default_log_level: AtomicU8,
    /// Cancellation tokens of requests running on this instance, by (session, request id).
    running: Mutex<HashMap<RunningKey, CancellationToken>>,
}

impl Shared {
    pub(crate) fn default_log_level(&self) -> LoggingLevel {
        LoggingLevel::from_rank(self.default_log_level.load(Ordering::Relaxed))
    }

    /// Keeps a log record if a log store is configured; a failing store never fails the request.
    pub(crate) async fn record(
        &self,
        entity: &EntityId,
        session: Option<SessionId>,
        kind: LogKind,
        level: LoggingLevel,
        message: String,
        data: Value,
    ) {
        let Some(logs) = &self.logs else { return };
        let rec = LogRecord {
            entity: entity.clone(),
            session,
            kind,
            level,
            message,
            data,
            created_at_ms: now_ms(),
        };
        if let Err(e) = logs.append(&rec).await {
            tracing::warn!(error = %e, "cannot keep a log record");
        }
    }

    /// Keeps a failed request (a JSON-RPC error, or an `isError` result) in the log store, in
    /// either era: what the admin logs routes show for the entity and session.
    pub(crate) async fn record_failure(
        &self,
        entity: &EntityId,
        session: Option<SessionId>,
        id: &RequestId,
        outcome: &Result<Value>,
    ) {
        if self.logs.is_none() {
            return;
        }
        let (message, data) = match outcome {
            Ok(r) if r.get("isError").and_then(Value::as_bool) == Some(true) => (
                format!("request {id} returned an error result"),
                json!({ "request_id": id, "result": r }),
            ),
            Ok(_) => return,
            // Not a failure: the request goes on in its next round.
            Err(Error::InputRequired) => return,
            Err(e) => (
                format!("request {id} failed: {e}"),
                json!({ "request_id": id, "error": e.to_error_object() }),
            ),
        };
        self.record(
            entity,
            session,
            LogKind::Error,
            LoggingLevel::Error,
            message,
            data,
        )
        .await;
    }

    /// Load-modify-save with compare-and-swap, retried a few times on conflict.
    pub(crate) async fn update_session(
        &self,
        entity: &EntityId,
        id: &SessionId,
        mut f: impl FnMut(&mut SessionRecord),
    ) -> Result<SessionRecord> {
        for _ in 0..8 {
            let Some(mut rec) = self.sessions.load(entity, id).await? else {
                return Err(Error::NotFound("session".into()));
            };
            f(&mut rec);
            match self.sessions.save(&rec, self.config.session_ttl).await {
                Ok(v) => {
                    rec.version = v;
                    return Ok(rec);
                }
                Err(Error::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict(
            "session updated concurrently too often".into(),
        ))
    }
}

/// Prefix of the ids of server-to-client requests (`srv-…`).
pub(crate) const SERVER_REQUEST_PREFIX: &str = "srv-";

type RunningKey = (SessionId, RequestId);

/// Drops a request's cancellation entry when the request's future ends or is dropped.
struct RunningGuard {
    shared: Arc<Shared>,
    key: RunningKey,
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        let mut running = self
            .shared
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        running.remove(&self.key);
    }
}

/// Assembles an [`McpServer`].
pub struct McpServerBuilder {
    info: ServerInfo,
    registry: RegistryBuilder,
    config: ServerConfig,
    logs: Option<Arc<dyn LogStore>>,
    keys: Option<Arc<dyn KeyStore>>,
    observer: Option<Arc<dyn CallObserver>>,
    entity_configs: Option<Arc<dyn EntityConfigStore>>,
}

impl McpServerBuilder {
    /// Usage instructions sent in `initialize`.
    pub fn instructions(mut self, text: impl Into<String>) -> Self {
        self.info.instructions = Some(text.into());
        self
    }

    /// Dispatcher tunables.
    pub fn config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// The catalog under construction.
    pub fn registry(&mut self) -> &mut RegistryBuilder {
        &mut self.registry
    }

    /// Registers tools, resources and prompts with a closure (handy for reusable catalogs).
    pub fn with(mut self, f: impl FnOnce(&mut RegistryBuilder)) -> Self {
        f(&mut self.registry);
        self
    }

    /// Keeps every `ctx` log, progress and error event in `logs` (read by the admin API).
    pub fn logs(mut self, logs: Arc<dyn LogStore>) -> Self {
        self.logs = Some(logs);
        self
    }

    /// Where the `requestState` signing keys live. Give every instance the same shared store
    /// (the server's store does this); without one each process makes its own key, and a
    /// multi-round request must come back to the same process.
    pub fn keys(mut self, keys: Arc<dyn KeyStore>) -> Self {
        self.keys = Some(keys);
        self
    }

    /// Per-entity configuration (visibility of tools, resources and prompts) from `store`.
    pub fn entity_configs(mut self, store: Arc<dyn EntityConfigStore>) -> Self {
        self.entity_configs = Some(store);
        self
    }

    /// Reports every tool call to `observer` (the server's metrics).
    pub fn observer(mut self, observer: Arc<dyn CallObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Freezes the catalog and binds the stores.
    pub fn build(self, sessions: Arc<dyn SessionStore>, queue: Arc<dyn MessageQueue>) -> McpServer {
        McpServer {
            shared: Arc::new(Shared {
                info: self.info,
                registry: self.registry.build(),
                sessions,
                queue,
                logs: self.logs,
                states: crate::modern::StateKeys::new(
                    self.keys,
                    self.config.request_state_keys.clone(),
                ),
                observer: self.observer,
                entity_configs: self.entity_configs,
                config_cache: dashmap::DashMap::new(),
                default_log_level: AtomicU8::new(self.config.default_log_level.rank()),
                config: self.config,
                running: Mutex::new(HashMap::new()),
            }),
        }
    }
}

/// The protocol engine: one per process, shared by every transport. Cheap to clone.
#[derive(Clone)]
pub struct McpServer {
    pub(crate) shared: Arc<Shared>,
}

/// What the transport gets back from [`McpServer::handle_request`].
pub type ResponseMessage = Value;

impl McpServer {
    /// Starts a server named `name` at `version`.
    pub fn builder(name: impl Into<String>, version: impl Into<String>) -> McpServerBuilder {
        McpServerBuilder {
            info: ServerInfo {
                name: name.into(),
                version: version.into(),
                instructions: None,
            },
            registry: RegistryBuilder::new(),
            config: ServerConfig::default(),
            logs: None,
            keys: None,
            observer: None,
            entity_configs: None,
        }
    }

    /// Server identity.
    pub fn info(&self) -> &ServerInfo {
        &self.shared.info
    }

    /// The catalog.
    pub fn registry(&self) -> &Registry {
        &self.shared.registry
    }

    /// The session store.
    pub fn sessions(&self) -> &Arc<dyn SessionStore> {
        &self.shared.sessions
    }

    /// The message queue.
    pub fn queue(&self) -> &Arc<dyn MessageQueue> {
        &self.shared.queue
    }

    /// Tunables.
    pub fn config(&self) -> &ServerConfig {
        &self.shared.config
    }

    /// Fills `record` from an `initialize` request and returns the `initialize` result.
    /// The transport then creates (Streamable HTTP) or saves (HTTP+SSE) the record.
    pub fn initialize(&self, record: &mut SessionRecord, params: Option<&Value>) -> Result<Value> {
        let empty = json!({});
        let params = params.unwrap_or(&empty);
        let requested = params
            .get("protocolVersion")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::invalid_params("initialize: `protocolVersion` is required"))?;
        let version = if SUPPORTED_PROTOCOL_VERSIONS.contains(&requested) {
            requested
        } else {
            LATEST_PROTOCOL_VERSION
        };
        record.protocol_version = Some(version.to_string());
        record.client_info = Arc::new(params.get("clientInfo").cloned().unwrap_or(Value::Null));
        record.client_capabilities =
            Arc::new(params.get("capabilities").cloned().unwrap_or(json!({})));
        let mut result = json!({
            "protocolVersion": version,
            "capabilities": self.capabilities(),
            "serverInfo": { "name": self.shared.info.name, "version": self.shared.info.version },
        });
        if let Some(instr) = &self.shared.info.instructions {
            result["instructions"] = json!(instr);
        }
        Ok(result)
    }

    /// The capabilities this server declares.
    pub fn capabilities(&self) -> Value {
        json!({
            "tools": { "listChanged": true },
            "resources": { "subscribe": true, "listChanged": true },
            "prompts": { "listChanged": true },
            "logging": {},
            "completions": {},
        })
    }

    /// Serves one request of an initialized session and returns the JSON-RPC response message.
    /// Request-related notifications go to `outlet` before this returns. A panicking handler
    /// yields -32603 for this request only.
    pub async fn handle_request(
        &self,
        session: &SessionRecord,
        request: Request,
        outlet: Arc<dyn Outlet>,
    ) -> ResponseMessage {
        self.handle_request_as(session, request, outlet, None).await
    }

    /// [`handle_request`](Self::handle_request) on behalf of an authenticated principal
    /// (visible to handlers as `ctx.principal()`).
    pub async fn handle_request_as(
        &self,
        session: &SessionRecord,
        request: Request,
        outlet: Arc<dyn Outlet>,
        principal: Option<Arc<crate::auth::Principal>>,
    ) -> ResponseMessage {
        let id = request.id.clone();
        match self
            .serve_request(session, request, outlet, principal)
            .await
        {
            Ok(result) => jsonrpc::response(&id, result),
            Err(e) => {
                if matches!(
                    e,
                    Error::Unavailable { .. } | Error::Backend { .. } | Error::Internal(_)
                ) {
                    tracing::warn!(error = %e, "request failed");
                }
                jsonrpc::error_response(Some(&id), &e.to_error_object())
            }
        }
    }

    /// [`handle_request_as`](Self::handle_request_as) with the outcome still typed, for edges
    /// that answer in their own shape (the admin API maps [`Error`] by kind, never by text).
    /// Failures are kept in the log store here, once, whichever edge asked.
    pub async fn serve_request(
        &self,
        session: &SessionRecord,
        request: Request,
        outlet: Arc<dyn Outlet>,
        principal: Option<Arc<crate::auth::Principal>>,
    ) -> Result<Value> {
        let id = request.id.clone();
        let outcome = if request.method == "initialize" {
            Err(Error::Rpc(ErrorObject::invalid_request(
                "the session is already initialized",
            )))
        } else if request.method == "ping" {
            Ok(json!({}))
        } else if session.protocol_version.is_none() {
            Err(Error::Rpc(ErrorObject::invalid_request(
                "the session is not initialized: send `initialize` first",
            )))
        } else {
            let key = (session.id, id.clone());
            let cancel = CancellationToken::new();
            {
                let mut running = self.running();
                if running.contains_key(&key) {
                    drop(running);
                    return Err(Error::Rpc(ErrorObject::invalid_request(
                        "a request with this id is already running",
                    )));
                }
                running.insert(key.clone(), cancel.clone());
            }
            // Removes the entry even if the transport drops this future (client gone).
            let _guard = RunningGuard {
                shared: Arc::clone(&self.shared),
                key,
            };
            let ctx = self.context(session, Some(&request), outlet, cancel.clone(), principal);
            let fut = AssertUnwindSafe(self.route(request, ctx)).catch_unwind();
            let remote_cancel = self.cancelled_elsewhere(session, &id);
            tokio::select! {
                r = fut => r.unwrap_or_else(|panic| {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "handler panicked".into());
                    tracing::error!(panic = %what, "handler panicked");
                    Err(Error::Internal("the handler panicked".into()))
                }),
                _ = cancel.cancelled() => Err(Error::Cancelled),
                () = remote_cancel => Err(Error::Cancelled),
            }
        };
        self.shared
            .record_failure(&session.entity, Some(session.id), &id, &outcome)
            .await;
        outcome
    }

    /// Resolves when the client cancels request `id` through another instance: after
    /// `remote_cancel_after`, waits in the shared queue for what [`Self::handle_notification`]
    /// left there. Never resolves otherwise (store errors are logged and retried).
    async fn cancelled_elsewhere(&self, session: &SessionRecord, id: &RequestId) {
        tokio::time::sleep(self.shared.config.remote_cancel_after).await;
        let key = cancel_key(id);
        loop {
            match self
                .shared
                .queue
                .take_reply(&session.entity, &session.id, &key, Duration::from_secs(30))
                .await
            {
                Ok(Some(_)) => return,
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "cannot watch for a remote cancellation; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Handles a client notification (`initialized`, `cancelled`, …).
    pub async fn handle_notification(
        &self,
        session: &SessionRecord,
        notification: Notification,
    ) -> Result<()> {
        match notification.method.as_str() {
            "notifications/initialized" => {
                if !session.initialized {
                    self.shared
                        .update_session(&session.entity, &session.id, |r| r.initialized = true)
                        .await?;
                }
            }
            "notifications/cancelled" => {
                let id = notification
                    .params
                    .as_ref()
                    .and_then(|p| p.get("requestId"))
                    .and_then(|v| serde_json::from_value::<RequestId>(v.clone()).ok());
                if let Some(id) = id {
                    let local = self.running().get(&(session.id, id.clone())).cloned();
                    match local {
                        Some(token) => token.cancel(),
                        // Running on another instance (or already over): leave the cancellation
                        // where that instance's watcher looks; it expires with the reply TTL.
                        None => {
                            self.shared
                                .queue
                                .deliver_reply(
                                    &session.entity,
                                    &session.id,
                                    &cancel_key(&id),
                                    &json!({ "cancelled": true }),
                                )
                                .await?
                        }
                    }
                }
            }
            other => tracing::debug!(method = other, "ignored notification"),
        }
        Ok(())
    }

    /// Routes a client's answer to a server-to-client request to whoever awaits it.
    pub async fn handle_response(&self, session: &SessionRecord, response: Response) -> Result<()> {
        // Only ids this server minted can have a waiter; anything else would just sit in the
        // mailbox, so it is dropped here.
        if !matches!(&response.id, RequestId::Str(s) if s.starts_with(SERVER_REQUEST_PREFIX)) {
            tracing::debug!(id = %response.id, "ignored a response to no request of ours");
            return Ok(());
        }
        let reply = match response.outcome {
            Ok(result) => json!({ "result": result }),
            Err(error) => json!({ "error": error }),
        };
        self.shared
            .queue
            .deliver_reply(&session.entity, &session.id, &response.id.key(), &reply)
            .await
    }

    /// Tells `entity`'s clients that `uri` changed: `notifications/resources/updated` to every
    /// handshake session subscribed to it (`resources/subscribe`) and every listen stream that
    /// asked for it, wherever they are held. Returns how many handshake sessions were notified.
    pub async fn notify_resource_updated(&self, entity: &EntityId, uri: &str) -> Result<usize> {
        self.notify(
            entity,
            crate::modern::Change::ResourceUpdated(uri.to_string()),
        )
        .await
    }

    /// The entity configuration in force for `entity` (cached per instance for
    /// `entity_config_ttl`); `None` when none is set or no store is configured.
    pub async fn entity_config(&self, entity: &EntityId) -> Result<Option<Arc<EntityConfig>>> {
        let Some(store) = &self.shared.entity_configs else {
            return Ok(None);
        };
        if let Some(hit) = self.shared.config_cache.get(entity) {
            if hit.1.elapsed() < self.shared.config.entity_config_ttl {
                return Ok(hit.0.clone());
            }
        }
        let cfg = store.entity_config(entity).await?.map(Arc::new);
        if self.shared.config_cache.len() > 100_000 {
            self.shared.config_cache.clear();
        }
        self.shared
            .config_cache
            .insert(entity.clone(), (cfg.clone(), std::time::Instant::now()));
        Ok(cfg)
    }

    /// Replaces (or clears) `entity`'s configuration; this instance sees it at once, others
    /// within `entity_config_ttl`. `Err(InvalidParams)` without a configuration store.
    pub async fn set_entity_config(
        &self,
        entity: &EntityId,
        config: Option<EntityConfig>,
    ) -> Result<()> {
        let store =
            self.shared.entity_configs.as_ref().ok_or_else(|| {
                Error::invalid_params("this server keeps no entity configuration")
            })?;
        store.set_entity_config(entity, config.as_ref()).await?;
        self.shared.config_cache.remove(entity);
        Ok(())
    }

    /// The log store, if one is configured.
    pub fn logs(&self) -> Option<&Arc<dyn LogStore>> {
        self.shared.logs.as_ref()
    }

    /// The logging threshold of sessions that have not set their own.
    pub fn default_log_level(&self) -> LoggingLevel {
        self.shared.default_log_level()
    }

    /// Changes the logging threshold of sessions that have not set their own (this instance).
    pub fn set_default_log_level(&self, level: LoggingLevel) {
        self.shared
            .default_log_level
            .store(level.rank(), Ordering::Relaxed);
    }

    /// Sets one session's logging level, as `logging/setLevel` would; it takes effect on the
    /// session's next messages, on every instance. `Err(NotFound)` if the session is gone.
    pub async fn set_session_log_level(
        &self,
        entity: &EntityId,
        id: &SessionId,
        level: LoggingLevel,
    ) -> Result<()> {
        self.shared
            .update_session(entity, id, |r| r.logging_level = Some(level))
            .await
            .map(|_| ())
    }

    /// Cancels every request of `session` running on this instance (the session ended).
    pub fn cancel_session(&self, session: &SessionId) {
        for ((sid, _), token) in self.running().iter() {
            if sid == session {
                token.cancel();
            }
        }
    }

    /// A context for work outside any request (e.g. an admin call) on behalf of `entity`.
    pub fn detached_context(&self, entity: EntityId, outlet: Arc<dyn Outlet>) -> Context {
        Context {
            shared: Arc::clone(&self.shared),
            scope: Arc::new(RequestScope {
                entity,
                session_id: None,
                request_id: None,
                progress_token: None,
                log_threshold: Some(self.shared.default_log_level()),
                client_capabilities: Arc::new(json!({})),
                outlet,
                cancel: CancellationToken::new(),
                input: None,
                principal: None,
            }),
        }
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<RunningKey, CancellationToken>> {
        // A poisoned lock only means another request panicked while holding it; the map is
        // still consistent (single insert/remove operations).
        self.shared
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn context(
        &self,
        session: &SessionRecord,
        request: Option<&Request>,
        outlet: Arc<dyn Outlet>,
        cancel: CancellationToken,
        principal: Option<Arc<crate::auth::Principal>>,
    ) -> Context {
        Context {
            shared: Arc::clone(&self.shared),
            scope: Arc::new(RequestScope {
                entity: session.entity.clone(),
                session_id: Some(session.id),
                request_id: request.map(|r| r.id.clone()),
                progress_token: request.and_then(Request::progress_token),
                log_threshold: Some(
                    session
                        .logging_level
                        // The run-time default (admin API), not the start-up one.
                        .unwrap_or_else(|| self.shared.default_log_level()),
                ),
                client_capabilities: Arc::clone(&session.client_capabilities),
                outlet,
                cancel,
                input: None,
                principal,
            }),
        }
    }

    pub(crate) async fn route(&self, request: Request, ctx: Context) -> Result<Value> {
        let mut params = request.params.unwrap_or_else(|| json!({}));
        let reg = &self.shared.registry;
        let vis = self.entity_config(ctx.entity_id()).await?;
        let vis = vis.as_deref();
        let shows = |kind: fn(&EntityConfig) -> &crate::store::Visibility, name: &str| {
            vis.is_none_or(|c| kind(c).shows(name))
        };
        let method = Method::parse(&request.method);
        match method {
            Some(Method::ToolsList) => self.visible_page(
                &params,
                &reg.tools_json,
                "tools",
                "name",
                vis.map(|c| &c.tools),
            ),
            Some(Method::ToolsCall) => {
                let name = str_param(&params, "name")?;
                let tool = reg
                    .tool(name)
                    .filter(|_| shows(|c| &c.tools, name))
                    .ok_or_else(|| Error::unknown(ItemKind::Tool, name))?;
                let args = take_arguments(&mut params);
                if !(args.is_null() || args.is_object()) {
                    return Err(Error::invalid_params("`arguments` must be an object"));
                }
                let entity = ctx.entity_id().clone();
                let name = tool.info().name.as_str();
                let result = tool.call(args, ctx).await;
                if let Some(o) = &self.shared.observer {
                    let outcome = match &result {
                        Ok(r) if r.is_error == Some(true) => "tool_error",
                        Ok(_) => "ok",
                        Err(Error::InputRequired) => "input_required",
                        Err(_) => "error",
                    };
                    o.tool_call(&entity, name, outcome);
                }
                serde_json::to_value(result?).map_err(|e| Error::Internal(e.to_string()))
            }
            Some(Method::ResourcesList) => self.visible_page(
                &params,
                &reg.resources_json,
                "resources",
                "uri",
                vis.map(|c| &c.resources),
            ),
            Some(Method::ResourcesTemplatesList) => self.visible_page(
                &params,
                &reg.templates_json,
                "resourceTemplates",
                "uriTemplate",
                vis.map(|c| &c.resources),
            ),
            Some(Method::ResourcesRead) => {
                let uri = str_param(&params, "uri")?;
                if !reg
                    .resource_key(uri)
                    .is_some_and(|k| shows(|c| &c.resources, k))
                {
                    return Err(Error::ResourceNotFound(uri.to_string()));
                }
                let contents = reg.read_resource(uri, ctx).await?;
                Ok(json!({ "contents": contents }))
            }
            Some(Method::ResourcesSubscribe | Method::ResourcesUnsubscribe) => {
                let uri = str_param(&params, "uri")?.to_string();
                if !reg
                    .resource_key(&uri)
                    .is_some_and(|k| shows(|c| &c.resources, k))
                {
                    return Err(Error::ResourceNotFound(uri));
                }
                let subscribe = method == Some(Method::ResourcesSubscribe);
                let entity = ctx.entity_id().clone();
                let id = ctx
                    .session_id()
                    .ok_or_else(|| Error::Internal("no session".into()))?;
                self.shared
                    .update_session(&entity, &id, |r| {
                        if subscribe {
                            r.subscriptions.insert(uri.clone());
                        } else {
                            r.subscriptions.remove(&uri);
                        }
                    })
                    .await?;
                Ok(json!({}))
            }
            Some(Method::PromptsList) => self.visible_page(
                &params,
                &reg.prompts_json,
                "prompts",
                "name",
                vis.map(|c| &c.prompts),
            ),
            Some(Method::PromptsGet) => {
                let name = str_param(&params, "name")?;
                let prompt = reg
                    .prompt(name)
                    .filter(|_| shows(|c| &c.prompts, name))
                    .ok_or_else(|| Error::unknown(ItemKind::Prompt, name))?;
                let args = take_arguments(&mut params);
                let result = prompt.get(args, ctx).await?;
                serde_json::to_value(result).map_err(|e| Error::Internal(e.to_string()))
            }
            Some(Method::CompletionComplete) => {
                // A completion for a hidden prompt or template is as unknown as the item.
                let target = params.get("ref").and_then(|r| {
                    let name = r.get("name").or_else(|| r.get("uri"))?.as_str()?;
                    Some((r.get("type")?.as_str()?, name))
                });
                match target {
                    Some(("ref/prompt", n)) if !shows(|c| &c.prompts, n) => {
                        return Err(Error::unknown(ItemKind::Prompt, n))
                    }
                    Some(("ref/resource", u)) if !shows(|c| &c.resources, u) => {
                        return Err(Error::unknown(ItemKind::ResourceTemplate, u))
                    }
                    _ => {}
                }
                self.complete(&params, ctx).await
            }
            Some(Method::LoggingSetLevel) => {
                let level: LoggingLevel = params
                    .get("level")
                    .cloned()
                    .and_then(|l| serde_json::from_value(l).ok())
                    .ok_or_else(|| {
                        Error::invalid_params(
                            "`level` must be one of debug, info, notice, warning, error, critical, alert, emergency",
                        )
                    })?;
                let entity = ctx.entity_id().clone();
                let id = ctx
                    .session_id()
                    .ok_or_else(|| Error::Internal("no session".into()))?;
                self.shared
                    .update_session(&entity, &id, |r| r.logging_level = Some(level))
                    .await?;
                Ok(json!({}))
            }
            Some(Method::ServerDiscover) => Err(Error::Rpc(unsupported_version_error(
                crate::protocol::MODERN_PROTOCOL_VERSION,
            ))),
            // Answered before routing (initialize, ping) or by the transport (listen).
            Some(Method::Initialize | Method::Ping | Method::SubscriptionsListen) | None => {
                Err(Error::Rpc(ErrorObject::method_not_found(&request.method)))
            }
        }
    }

    async fn complete(&self, params: &Value, ctx: Context) -> Result<Value> {
        let r = params
            .get("ref")
            .ok_or_else(|| Error::invalid_params("`ref` is required"))?;
        let ref_type = str_param(r, "type")?;
        let ref_name = r
            .get("name")
            .or_else(|| r.get("uri"))
            .and_then(Value::as_str)
            .ok_or_else(|| Error::invalid_params("`ref.name` (or `ref.uri`) is required"))?;
        let arg = params
            .get("argument")
            .ok_or_else(|| Error::invalid_params("`argument` is required"))?;
        let arg_name = str_param(arg, "name")?;
        let typed = arg
            .get("value")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let values = match self
            .shared
            .registry
            .completer(ref_type, ref_name, arg_name)?
        {
            Some(c) => (c.0)(typed, ctx).await?,
            None => vec![],
        };
        let total = values.len();
        let shown: Vec<String> = values.into_iter().take(100).collect();
        Ok(json!({ "completion": { "values": shown, "total": total, "hasMore": total > 100 } }))
    }

    /// [`page`](Self::page) over the items `vis` shows (by their `field`).
    fn visible_page(
        &self,
        params: &Value,
        items: &[Value],
        key: &str,
        field: &str,
        vis: Option<&crate::store::Visibility>,
    ) -> Result<Value> {
        let Some(vis) = vis else {
            return self.page(params, items, key);
        };
        let shown: Vec<Value> = items
            .iter()
            .filter(|v| {
                v.get(field)
                    .and_then(Value::as_str)
                    .is_some_and(|n| vis.shows(n))
            })
            .cloned()
            .collect();
        self.page(params, &shown, key)
    }

    fn page(&self, params: &Value, items: &[Value], key: &str) -> Result<Value> {
        let start = match params.get("cursor") {
            None | Some(Value::Null) => 0,
            Some(Value::String(c)) => decode_cursor(c)
                .filter(|&o| o <= items.len())
                .ok_or_else(|| Error::invalid_params("invalid cursor"))?,
            Some(_) => return Err(Error::invalid_params("`cursor` must be a string")),
        };
        let size = self.shared.config.page_size.max(1);
        let end = (start + size).min(items.len());
        let mut result = json!({ key: &items[start..end] });
        if end < items.len() {
            result["nextCursor"] = json!(encode_cursor(end));
        }
        Ok(result)
    }
}

/// The -32022 error for a protocol version this server does not serve, listing those it does.
pub fn unsupported_version_error(requested: &str) -> ErrorObject {
    ErrorObject::new(
        codes::UNSUPPORTED_PROTOCOL_VERSION,
        format!("Unsupported protocol version: {requested}"),
    )
    .with_data(json!({ "requested": requested, "supported": SUPPORTED_PROTOCOL_VERSIONS }))
}

/// Moves `arguments` out of the params (no copy of a possibly large payload).
fn take_arguments(params: &mut Value) -> Value {
    params
        .as_object_mut()
        .and_then(|m| m.remove("arguments"))
        .unwrap_or(Value::Null)
}

fn str_param<'a>(params: &'a Value, name: &str) -> Result<&'a str> {
    params
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| Error::invalid_params(format!("`{name}` is required and must be a string")))
}

fn encode_cursor(offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("o:{offset}"))
}

fn decode_cursor(cursor: &str) -> Option<usize> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    std::str::from_utf8(&raw)
        .ok()?
        .strip_prefix("o:")?
        .parse()
        .ok()
}

/// Where a `notifications/cancelled` for request `id` waits for the instance running it (the
/// JSON form keeps `1` and `"1"` apart).
fn cancel_key(id: &RequestId) -> String {
    format!("cancel:{}", serde_json::to_string(id).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(decode_cursor(&encode_cursor(42)), Some(42));
        assert_eq!(decode_cursor("!!!"), None);
        assert_eq!(decode_cursor("bm9wZQ"), None);
    }
}
