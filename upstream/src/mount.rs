//! One mounted upstream on this instance: its sessions, the lists it last gave, its health,
//! and the proxies that forward calls to it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use dashmap::DashMap;
use fastmcp_core::catalog::{McpServerSpec, SessionMode};
use fastmcp_core::protocol::{
    CallToolResult, Content, ErrorObject, GetPromptResult, LoggingLevel, PromptInfo,
    ResourceContents, ResourceInfo, ResourceTemplateInfo, ToolInfo,
};
use fastmcp_core::registry::{
    Prompt, Registry, RegistryBuilder, Resource, ResourceBody, ResourceTemplate, Tool,
};
use fastmcp_core::{Context, EntityId, Error, InputRequest, SessionId};
use futures::future::{BoxFuture, FutureExt, Shared};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::client::{Announced, Link, Network, Relay, Session};
use crate::error::UpstreamError;

/// Items listed per kind at most (pages followed until then): an upstream cannot make us hold
/// an unbounded catalog.
const MAX_LISTED: usize = 10_000;
/// Pages followed per list at most.
const MAX_PAGES: usize = 100;
/// After a failed listing, the wait before the next attempt (doubling up to the cap).
const RETRY_MIN: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);
/// How long a listing is trusted without an announcement (a sessionless upstream has no
/// stream to announce changes on).
pub(crate) const LIST_TTL: Duration = Duration::from_secs(60);
/// The longest a request without lists waits for a mount's first listing (a slow or
/// black-holed upstream must not hold every listing for its whole timeout).
pub(crate) const LIST_WAIT: Duration = Duration::from_secs(5);
/// The state key under which a downstream session keeps its upstream session, per mount.
const STATE_KEY: &str = "fastmcp.upstream.";

/// What an upstream offers, as last listed.
#[derive(Debug, Default)]
pub(crate) struct Lists {
    pub(crate) tools: Vec<ToolInfo>,
    pub(crate) prompts: Vec<PromptInfo>,
    pub(crate) resources: Vec<ResourceInfo>,
    pub(crate) templates: Vec<ResourceTemplateInfo>,
}

/// A mount's health, as the admin API and `/metrics` show it.
#[derive(Debug, Clone, Default)]
pub struct Health {
    /// Whether the last exchange that tells (a listing, a call's connection) worked.
    pub up: bool,
    /// The last failure, if the mount is down.
    pub last_error: Option<String>,
    /// Seconds since the lists were fetched (`None`: never).
    pub listed_secs_ago: Option<u64>,
    /// Items listed, per kind: tools, prompts, resources, templates.
    pub counts: [usize; 4],
    /// Calls forwarded, and how many failed for the mount's sake (not the tool's).
    pub calls: u64,
    /// Calls that failed because the mount was unreachable, slow or broken.
    pub failures: u64,
}

struct Listing {
    lists: Arc<Lists>,
    at: Instant,
    generation: u64,
    registry: Option<Arc<Registry>>,
}

pub(crate) struct Mount {
    pub(crate) spec: McpServerSpec,
    link: Arc<Link>,
    shared: tokio::sync::Mutex<Option<Arc<Session>>>,
    per_client: DashMap<(EntityId, SessionId), Arc<Session>>,
    listing: Mutex<Option<Listing>>,
    /// The listing running now, which callers may wait on.
    inflight: Mutex<Option<Shared<BoxFuture<'static, ()>>>>,
    retry: Mutex<(Instant, Duration)>,
    health: Mutex<Health>,
    generation: AtomicU64,
    /// Entities that listed through this mount here, told when its lists change.
    pub(crate) users: DashMap<EntityId, ()>,
    pub(crate) last_used: Mutex<Instant>,
    announce: mpsc::UnboundedSender<Announced>,
    stale: AtomicBool,
    calls: AtomicU64,
    failures: AtomicU64,
}

impl Mount {
    /// A mount and the receiver of its announcements (the federation watches it).
    pub(crate) fn new(
        spec: McpServerSpec,
        net: Arc<dyn Network>,
    ) -> Result<(Arc<Self>, mpsc::UnboundedReceiver<Announced>), UpstreamError> {
        let link = Arc::new(Link::new(spec.clone(), net)?);
        let (tx, rx) = mpsc::unbounded_channel();
        Ok((
            Arc::new(Self {
                spec,
                link,
                shared: tokio::sync::Mutex::new(None),
                per_client: DashMap::new(),
                listing: Mutex::new(None),
                inflight: Mutex::new(None),
                retry: Mutex::new((Instant::now(), RETRY_MIN)),
                health: Mutex::new(Health::default()),
                generation: AtomicU64::new(0),
                users: DashMap::new(),
                last_used: Mutex::new(Instant::now()),
                announce: tx,
                stale: AtomicBool::new(false),
                calls: AtomicU64::new(0),
                failures: AtomicU64::new(0),
            }),
            rx,
        ))
    }

    pub(crate) fn health(&self) -> Health {
        let mut h = lock(&self.health).clone();
        if let Some(l) = lock(&self.listing).as_ref() {
            h.listed_secs_ago = Some(l.at.elapsed().as_secs());
            h.counts = [
                l.lists.tools.len(),
                l.lists.prompts.len(),
                l.lists.resources.len(),
                l.lists.templates.len(),
            ];
        }
        h.calls = self.calls.load(Ordering::Relaxed);
        h.failures = self.failures.load(Ordering::Relaxed);
        h
    }

    fn went(&self, outcome: Result<(), &UpstreamError>) {
        let mut h = lock(&self.health);
        match outcome {
            Ok(()) => {
                h.up = true;
                h.last_error = None;
            }
            Err(e) if e.is_outage() || matches!(e, UpstreamError::Refused(_)) => {
                h.up = false;
                h.last_error = Some(e.to_string());
            }
            Err(_) => {}
        }
    }

    /// Marks the lists stale (an announcement): the next request lists again.
    pub(crate) fn mark_stale(&self) {
        self.stale.store(true, Ordering::SeqCst);
    }

    /// The shared session, opened (again) when needed.
    async fn shared_session(&self, fresh: bool) -> Result<Arc<Session>, UpstreamError> {
        let mut slot = self.shared.lock().await;
        if fresh {
            if let Some(old) = slot.take() {
                tokio::spawn(async move { old.close().await });
            }
        }
        if let Some(s) = slot.as_ref() {
            return Ok(Arc::clone(s));
        }
        let s = Session::open(Arc::clone(&self.link), Some(self.announce.clone())).await?;
        *slot = Some(Arc::clone(&s));
        Ok(s)
    }

    /// The session a call of `ctx` uses: the downstream session's own (per-client mode, a
    /// handshake-era downstream), found here, adopted from the store, or opened; else the
    /// shared one.
    async fn session_for(&self, ctx: &Context, fresh: bool) -> Result<Arc<Session>, UpstreamError> {
        let (SessionMode::PerClient, Some(sid)) = (self.spec.sessions, ctx.session_id()) else {
            return self.shared_session(fresh).await;
        };
        let key = (ctx.entity_id().clone(), sid);
        let state_key = format!("{STATE_KEY}{}", self.spec.name);
        if fresh {
            if let Some((_, old)) = self.per_client.remove(&key) {
                tokio::spawn(async move { old.close().await });
            }
        } else {
            if let Some(s) = self.per_client.get(&key) {
                return Ok(Arc::clone(&s));
            }
            // Opened by another instance: its id is in the downstream session's state.
            if let Ok(Some(kept)) = ctx.get_state::<Value>(&state_key).await {
                if let (Some(id), Some(protocol), true) = (
                    kept.get("id").and_then(Value::as_str),
                    kept.get("protocol").and_then(Value::as_str),
                    kept.get("url").and_then(Value::as_str) == Some(self.spec.url.as_str()),
                ) {
                    let s = Session::adopt(
                        Arc::clone(&self.link),
                        id.to_string(),
                        protocol.to_string(),
                    );
                    self.per_client.insert(key, Arc::clone(&s));
                    return Ok(s);
                }
            }
        }
        let s = Session::open(Arc::clone(&self.link), None).await?;
        if let Some((id, protocol)) = s.shareable() {
            let kept = json!({"id": id, "protocol": protocol, "url": self.spec.url});
            if let Err(e) = ctx.set_state(&state_key, kept).await {
                tracing::debug!(error = %e.report(), "cannot keep the upstream session id");
            }
        }
        self.per_client.insert(key, Arc::clone(&s));
        Ok(s)
    }

    /// A request through the session of `ctx` (or the shared one), opening a new session once
    /// when the upstream has forgotten this one.
    async fn request(
        &self,
        ctx: Option<&Context>,
        method: &str,
        params: Value,
        relay: Option<&dyn Relay>,
        cancel: &CancellationToken,
    ) -> Result<Value, UpstreamError> {
        let mut fresh = false;
        loop {
            let session = match ctx {
                Some(c) => self.session_for(c, fresh).await,
                None => self.shared_session(fresh).await,
            };
            let session = match session {
                Ok(s) => s,
                Err(e) => {
                    self.went(Err(&e));
                    return Err(e);
                }
            };
            match session.call(method, params.clone(), relay, cancel).await {
                Err(UpstreamError::SessionGone) if !fresh => fresh = true,
                Err(e) => {
                    if e.is_outage() {
                        // A broken session is not reused.
                        self.forget(ctx, &session).await;
                    }
                    self.went(Err(&e));
                    return Err(e);
                }
                Ok(v) => {
                    self.went(Ok(()));
                    return Ok(v);
                }
            }
        }
    }

    async fn forget(&self, ctx: Option<&Context>, session: &Arc<Session>) {
        let mut slot = self.shared.lock().await;
        if slot.as_ref().is_some_and(|s| Arc::ptr_eq(s, session)) {
            *slot = None;
        }
        drop(slot);
        if let Some((c, sid)) = ctx.and_then(|c| Some((c, c.session_id()?))) {
            self.per_client
                .remove_if(&(c.entity_id().clone(), sid), |_, s| {
                    Arc::ptr_eq(s, session)
                });
        }
    }

    /// Ends the upstream session of one downstream session, if this instance holds it.
    pub(crate) async fn end_session(&self, entity: &EntityId, session: &SessionId) {
        if let Some((_, s)) = self.per_client.remove(&(entity.clone(), *session)) {
            s.close().await;
        }
    }

    /// Ends the upstream sessions of downstream sessions that no longer exist, and (when
    /// `all`) every session: the mount was removed or replaced.
    pub(crate) async fn close_sessions<F>(&self, all: bool, gone: F)
    where
        F: AsyncFnPredicate,
    {
        let keys: Vec<(EntityId, SessionId)> =
            self.per_client.iter().map(|e| e.key().clone()).collect();
        for key in keys {
            if all || gone.test(&key.0, &key.1).await {
                if let Some((_, s)) = self.per_client.remove(&key) {
                    s.close().await;
                }
            }
        }
        if all {
            if let Some(s) = self.shared.lock().await.take() {
                s.close().await;
            }
        }
    }

    /// The upstream's lists: cached; listed again when stale (an announcement, or older than
    /// [`LIST_TTL`]); after a failure, not again before the retry time. A listing runs in a task
    /// of its own: a caller with lists in hand gets them at once while it runs, and a caller
    /// without waits at most [`LIST_WAIT`] (the listing goes on, and serves the next caller).
    pub(crate) async fn lists(self: &Arc<Self>) -> (Arc<Lists>, u64) {
        *lock(&self.last_used) = Instant::now();
        let current = self.current();
        let due = match &current {
            None => true,
            Some((_, _, at)) => self.stale.load(Ordering::SeqCst) || at.elapsed() > LIST_TTL,
        };
        let retry_ok = lock(&self.retry).0 <= Instant::now();
        if due && retry_ok {
            let running = {
                let mut slot = lock(&self.inflight);
                match slot.as_ref() {
                    Some(r) => r.clone(),
                    None => {
                        let mount = Arc::clone(self);
                        let r = async move { mount.refresh().await }.boxed().shared();
                        *slot = Some(r.clone());
                        tokio::spawn(r.clone());
                        r
                    }
                }
            };
            if current.is_none() {
                let _ = tokio::time::timeout(LIST_WAIT, running).await;
            }
        }
        match self.current() {
            Some((l, g, _)) => (l, g),
            None => (Arc::new(Lists::default()), 0),
        }
    }

    /// Lists again now and waits for it (an announcement: the clients told next must find the
    /// new lists).
    pub(crate) async fn relist(self: &Arc<Self>) {
        self.stale.store(true, Ordering::SeqCst);
        lock(&self.retry).0 = Instant::now();
        self.lists().await;
        let running = lock(&self.inflight).clone();
        if let Some(r) = running {
            let _ = tokio::time::timeout(self.link.timeout, r).await;
        }
    }

    fn current(&self) -> Option<(Arc<Lists>, u64, Instant)> {
        lock(&self.listing)
            .as_ref()
            .map(|l| (Arc::clone(&l.lists), l.generation, l.at))
    }

    /// One listing, its outcome kept.
    async fn refresh(self: Arc<Self>) {
        self.stale.store(false, Ordering::SeqCst);
        let outcome = self.fetch().await;
        match outcome {
            Ok(lists) => {
                *lock(&self.retry) = (Instant::now(), RETRY_MIN);
                let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
                *lock(&self.listing) = Some(Listing {
                    lists: Arc::new(lists),
                    at: Instant::now(),
                    generation,
                    registry: None,
                });
            }
            Err(e) => {
                tracing::warn!(mount = %self.spec.name, error = %e, "cannot list an upstream");
                let mut r = lock(&self.retry);
                *r = (Instant::now() + r.1, (r.1 * 2).min(RETRY_MAX));
            }
        }
        *lock(&self.inflight) = None;
    }

    async fn fetch(&self) -> Result<Lists, UpstreamError> {
        let cancel = CancellationToken::new();
        // The session (opened on first use) says what the upstream serves.
        let caps = self
            .shared_session(false)
            .await
            .map(|s| s.capabilities.clone());
        let caps = match caps {
            Ok(c) => c,
            Err(e) => {
                self.went(Err(&e));
                return Err(e);
            }
        };
        // A sessionless upstream's capabilities are not known without a round: ask for all.
        let offers = |k: &str| {
            caps.as_object()
                .is_none_or(|o| o.is_empty() || o.contains_key(k))
        };
        let mut lists = Lists::default();
        if offers("tools") {
            lists.tools = self.list_all("tools/list", "tools", &cancel).await?;
        }
        if offers("prompts") {
            lists.prompts = self.list_all("prompts/list", "prompts", &cancel).await?;
        }
        if offers("resources") {
            lists.resources = self
                .list_all("resources/list", "resources", &cancel)
                .await?;
            lists.templates = self
                .list_all("resources/templates/list", "resourceTemplates", &cancel)
                .await?;
        }
        Ok(lists)
    }

    async fn list_all<T: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        field: &str,
        cancel: &CancellationToken,
    ) -> Result<Vec<T>, UpstreamError> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let params = match &cursor {
                Some(c) => json!({"cursor": c}),
                None => json!({}),
            };
            let page = match self.request(None, method, params, None, cancel).await {
                Ok(p) => p,
                // A kind the upstream does not serve is an empty list, not an outage.
                Err(UpstreamError::Rpc(e)) if e.code == -32601 => return Ok(out),
                Err(e) => return Err(e),
            };
            for item in page
                .get(field)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if out.len() >= MAX_LISTED {
                    return Ok(out);
                }
                match serde_json::from_value::<T>(item.clone()) {
                    Ok(v) => out.push(v),
                    Err(e) => {
                        tracing::debug!(mount = %self.spec.name, error = %e, "an upstream item is malformed")
                    }
                }
            }
            cursor = page
                .get("nextCursor")
                .and_then(Value::as_str)
                .map(str::to_string);
            if cursor.is_none() {
                break;
            }
        }
        Ok(out)
    }

    /// The proxies of the current lists, built once per listing.
    pub(crate) fn registry(self: &Arc<Self>, lists: &Arc<Lists>, generation: u64) -> Arc<Registry> {
        let mut slot = lock(&self.listing);
        if let Some(l) = slot.as_mut().filter(|l| l.generation == generation) {
            if let Some(r) = &l.registry {
                return Arc::clone(r);
            }
        }
        let built = Arc::new(self.build(lists));
        if let Some(l) = slot.as_mut().filter(|l| l.generation == generation) {
            l.registry = Some(Arc::clone(&built));
        }
        built
    }

    fn build(self: &Arc<Self>, lists: &Lists) -> Registry {
        let prefix = self.spec.prefix();
        let mut b = RegistryBuilder::new();
        for t in &lists.tools {
            let mut info = t.clone();
            info.name = format!("{prefix}{}", t.name);
            let mount = Arc::clone(self);
            let upstream_name = t.name.clone();
            b.tool(Tool::from_parts(
                info,
                Arc::new(move |args, ctx| {
                    let mount = Arc::clone(&mount);
                    let name = upstream_name.clone();
                    Box::pin(async move { mount.call_tool(&name, args, ctx).await })
                }),
            ));
        }
        for p in &lists.prompts {
            let mut info = p.clone();
            info.name = format!("{prefix}{}", p.name);
            let mount = Arc::clone(self);
            let upstream_name = p.name.clone();
            b.prompt(Prompt::from_parts(
                info,
                Arc::new(move |args, ctx| {
                    let mount = Arc::clone(&mount);
                    let name = upstream_name.clone();
                    Box::pin(async move { mount.get_prompt(&name, args, ctx).await })
                }),
            ));
        }
        for r in &lists.resources {
            let mut res = Resource::new(&r.uri, &r.name);
            if let Some(d) = &r.description {
                res = res.description(d);
            }
            if let Some(m) = &r.mime_type {
                res = res.mime_type(m);
            }
            if let Some(t) = &r.title {
                res = res.title(t);
            }
            let mount = Arc::clone(self);
            let uri = r.uri.clone();
            b.resource(res.handler(move |ctx| {
                let mount = Arc::clone(&mount);
                let uri = uri.clone();
                async move { mount.read(&uri, ctx).await }
            }));
        }
        for t in &lists.templates {
            let mut tpl = ResourceTemplate::new(&t.uri_template, &t.name);
            if let Some(d) = &t.description {
                tpl = tpl.description(d);
            }
            if let Some(m) = &t.mime_type {
                tpl = tpl.mime_type(m);
            }
            if let Some(x) = &t.title {
                tpl = tpl.title(x);
            }
            let mount = Arc::clone(self);
            let template = t.uri_template.clone();
            b.resource_template(tpl.handler(move |params, ctx| {
                let mount = Arc::clone(&mount);
                // Level-1 variables matched as written: put back, they give the URI read.
                let mut uri = template.clone();
                for (k, v) in &params {
                    uri = uri.replace(&format!("{{{k}}}"), v);
                }
                async move { mount.read(&uri, ctx).await }
            }));
        }
        b.build()
    }

    async fn call_tool(
        &self,
        name: &str,
        args: Value,
        ctx: Context,
    ) -> fastmcp_core::Result<CallToolResult> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let relay = ContextRelay::new(&ctx, &self.spec.name);
        let params =
            json!({"name": name, "arguments": if args.is_null() { json!({}) } else { args }});
        let cancel = ctx.cancellation().clone();
        match self
            .forward(&ctx, "tools/call", params, &relay, &cancel)
            .await
        {
            Ok(v) => Ok(tool_result(v)),
            // The upstream's own JSON-RPC error (bad arguments, unknown tool) is passed on.
            Err(UpstreamError::Rpc(e)) => Err(Error::Rpc(e)),
            Err(UpstreamError::Cancelled) => Err(Error::Cancelled),
            Err(UpstreamError::Abandoned(e)) => Err(*e),
            Err(e) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                Ok(CallToolResult::error(format!(
                    "the upstream `{}` failed: {e}",
                    self.spec.name
                )))
            }
        }
    }

    /// A call that may need several rounds with a 2026-07-28 upstream: its `input_required`
    /// results become this request's own input requests (under keys prefixed with the mount's
    /// name), and once answered the call is sent again with the answers and its state.
    async fn forward(
        &self,
        ctx: &Context,
        method: &str,
        params: Value,
        relay: &ContextRelay<'_>,
        cancel: &CancellationToken,
    ) -> Result<Value, UpstreamError> {
        let mut params = params;
        for _ in 0..8 {
            let v = self
                .request(Some(ctx), method, params.clone(), Some(relay), cancel)
                .await?;
            if v.get("resultType").and_then(Value::as_str) != Some("input_required") {
                return Ok(v);
            }
            let asked = v
                .get("inputRequests")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let mut keys = Vec::new();
            let mut requests = Vec::new();
            for (k, r) in &asked {
                let m = r.get("method").and_then(Value::as_str).unwrap_or("");
                let p = r.get("params").cloned().unwrap_or(json!({}));
                let Some(req) = input_request(m, p) else {
                    return Err(UpstreamError::Protocol(format!(
                        "the upstream asks for `{m}`, which cannot be relayed"
                    )));
                };
                keys.push(k.clone());
                requests.push((format!("{}:{k}", self.spec.name), req));
            }
            let answers = ctx
                .inputs(requests)
                .await
                .map_err(|e| UpstreamError::Abandoned(Box::new(e)))?;
            let responses: serde_json::Map<String, Value> = keys.into_iter().zip(answers).collect();
            if let Some(o) = params.as_object_mut() {
                o.insert("inputResponses".into(), Value::Object(responses));
                if let Some(s) = v.get("requestState") {
                    o.insert("requestState".into(), s.clone());
                }
            }
        }
        Err(UpstreamError::Protocol(
            "the upstream asked for input more than 8 times".into(),
        ))
    }

    async fn get_prompt(
        &self,
        name: &str,
        args: Value,
        ctx: Context,
    ) -> fastmcp_core::Result<GetPromptResult> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let relay = ContextRelay::new(&ctx, &self.spec.name);
        let params =
            json!({"name": name, "arguments": if args.is_null() { json!({}) } else { args }});
        let cancel = ctx.cancellation().clone();
        let v = self
            .forward(&ctx, "prompts/get", params, &relay, &cancel)
            .await
            .map_err(|e| self.item_error(e))?;
        serde_json::from_value(v).map_err(|e| {
            Error::Rpc(ErrorObject::new(
                -32603,
                format!(
                    "the upstream `{}` sent a malformed prompt: {e}",
                    self.spec.name
                ),
            ))
        })
    }

    async fn read(&self, uri: &str, ctx: Context) -> fastmcp_core::Result<ResourceBody> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let relay = ContextRelay::new(&ctx, &self.spec.name);
        let cancel = ctx.cancellation().clone();
        let v = self
            .forward(&ctx, "resources/read", json!({"uri": uri}), &relay, &cancel)
            .await
            .map_err(|e| self.item_error(e))?;
        let contents: Vec<ResourceContents> = v
            .get("contents")
            .cloned()
            .and_then(|c| serde_json::from_value(c).ok())
            .ok_or_else(|| {
                Error::Rpc(ErrorObject::new(
                    -32603,
                    format!("the upstream `{}` sent malformed contents", self.spec.name),
                ))
            })?;
        Ok(ResourceBody::Contents(contents))
    }

    /// An upstream failure as this item's error.
    fn item_error(&self, e: UpstreamError) -> Error {
        match e {
            UpstreamError::Rpc(e) => Error::Rpc(e),
            UpstreamError::Cancelled => Error::Cancelled,
            UpstreamError::Abandoned(e) => *e,
            other => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                Error::Rpc(ErrorObject::new(
                    -32603,
                    format!("the upstream `{}` failed: {other}", self.spec.name),
                ))
            }
        }
    }
}

/// What `close_sessions` asks about a downstream session: whether it is gone.
#[async_trait]
pub(crate) trait AsyncFnPredicate: Send + Sync {
    async fn test(&self, entity: &EntityId, session: &SessionId) -> bool;
}

/// A tool result as the upstream sent it; content items this server does not model are kept
/// as their JSON text rather than dropped.
fn tool_result(v: Value) -> CallToolResult {
    use serde::Deserialize;
    if let Ok(r) = CallToolResult::deserialize(&v) {
        return r;
    }
    let content = v
        .get("content")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|i| {
                    serde_json::from_value::<Content>(i.clone())
                        .unwrap_or_else(|_| Content::text(i.to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    CallToolResult {
        content,
        structured_content: v.get("structuredContent").cloned(),
        is_error: v.get("isError").and_then(Value::as_bool),
    }
}

fn input_request(method: &str, params: Value) -> Option<InputRequest> {
    match method {
        "elicitation/create" => Some(InputRequest::Elicit {
            message: params
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            requested_schema: params
                .get("requestedSchema")
                .cloned()
                .unwrap_or(json!({"type": "object"})),
        }),
        "sampling/createMessage" => Some(InputRequest::Sample(params)),
        "roots/list" => Some(InputRequest::ListRoots),
        _ => None,
    }
}

/// Relays to the downstream request of `ctx`. Upstream requests are asked under keys
/// `MOUNT-N` counted in the order the upstream asks, so a call re-run after a 2026-07-28 input
/// round finds its answers.
struct ContextRelay<'a> {
    ctx: &'a Context,
    mount: &'a str,
    asked: AtomicU64,
}

impl<'a> ContextRelay<'a> {
    fn new(ctx: &'a Context, mount: &'a str) -> Self {
        Self {
            ctx,
            mount,
            asked: AtomicU64::new(0),
        }
    }
}

#[async_trait]
impl Relay for ContextRelay<'_> {
    async fn progress(&self, progress: f64, total: Option<f64>, message: Option<String>) {
        let _ = self
            .ctx
            .report_progress(progress, total, message.as_deref())
            .await;
    }

    async fn log(&self, level: LoggingLevel, data: Value) {
        let _ = self.ctx.log(level, data).await;
    }

    async fn request(
        &self,
        method: &str,
        params: Value,
    ) -> Result<Value, Result<ErrorObject, Error>> {
        let Some(req) = input_request(method, params) else {
            return Err(Ok(ErrorObject::method_not_found(method)));
        };
        let n = self.asked.fetch_add(1, Ordering::SeqCst) + 1;
        match self.ctx.input(&format!("{}-{n}", self.mount), req).await {
            Ok(v) => Ok(v),
            // The downstream's own answers: another round, a cancellation, a missing capability.
            Err(e @ (Error::InputRequired | Error::Cancelled | Error::MissingCapability(_))) => {
                Err(Err(e))
            }
            Err(e) => Err(Ok(e.to_error_object())),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
