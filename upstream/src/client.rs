//! An MCP client session with one upstream: Streamable HTTP in the handshake era (a session
//! opened by `initialize`) or in 2026-07-28 (sessionless, each request self-describing), or the
//! legacy HTTP+SSE transport (an SSE stream carrying the answers to POSTed requests).
//!
//! A call relays what the upstream sends while it runs — progress, log messages, and its own
//! requests (elicitation, sampling, roots) — through a [`Relay`], and ends with the answer, an
//! error, the mount's timeout, or the caller's cancellation (then `notifications/cancelled`
//! goes upstream). Nothing here waits without a deadline.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use fastmcp_core::catalog::{
    McpServerSpec, UpstreamEra, UpstreamTransport, DEFAULT_UPSTREAM_TIMEOUT_MS,
};
use fastmcp_core::protocol::{ErrorObject, LoggingLevel};
use serde_json::{json, Map, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::error::UpstreamError;
use crate::sse;

/// The newest handshake-era version offered; the upstream answers with the one it speaks.
pub(crate) const HANDSHAKE_VERSION: &str = "2025-11-25";
/// The sessionless era.
pub(crate) const SESSIONLESS_VERSION: &str = "2026-07-28";
/// Largest single upstream message (a JSON answer or one SSE event).
const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
/// Events of one legacy-transport call buffered before the reader waits for the call.
const EVENT_BUFFER: usize = 256;

/// The network an upstream is reached through: the server's HTTP client (no redirects, a
/// resolver that applies the SSRF policy) and the same policy for IP literals.
#[async_trait]
pub trait Network: Send + Sync + 'static {
    /// The HTTP client.
    fn client(&self) -> &reqwest::Client;
    /// Refuses a destination the policy forbids, before any connection.
    async fn check(&self, url: &reqwest::Url) -> Result<(), String>;
}

/// Where what an upstream sends during a call goes: the downstream request's context.
#[async_trait]
pub(crate) trait Relay: Send + Sync {
    /// `notifications/progress` of the call.
    async fn progress(&self, progress: f64, total: Option<f64>, message: Option<String>);
    /// `notifications/message` while the call runs.
    async fn log(&self, level: LoggingLevel, data: Value);
    /// A request from the upstream (`elicitation/create`, `sampling/createMessage`,
    /// `roots/list`): `Ok(result)` or `Err(Ok(error))` answer it; `Err(Err(e))` abandons the
    /// call with `e` (the downstream must answer first, in another round).
    async fn request(
        &self,
        method: &str,
        params: Value,
    ) -> Result<Value, Result<ErrorObject, fastmcp_core::Error>>;
}

/// A mount's fixed settings, shared by its sessions.
pub(crate) struct Link {
    pub(crate) spec: McpServerSpec,
    pub(crate) url: reqwest::Url,
    pub(crate) net: Arc<dyn Network>,
    pub(crate) timeout: Duration,
    headers: reqwest::header::HeaderMap,
}

impl Link {
    pub(crate) fn new(spec: McpServerSpec, net: Arc<dyn Network>) -> Result<Self, UpstreamError> {
        let url = reqwest::Url::parse(&spec.url)
            .map_err(|e| UpstreamError::Protocol(format!("`{}` is not a URL: {e}", spec.url)))?;
        let mut headers = reqwest::header::HeaderMap::new();
        for h in &spec.headers {
            let (Ok(name), Some(Ok(value))) = (
                reqwest::header::HeaderName::from_bytes(h.name.as_bytes()),
                h.value
                    .as_deref()
                    .map(reqwest::header::HeaderValue::from_str),
            ) else {
                // The value is never quoted: it may be a credential.
                return Err(UpstreamError::Protocol(format!(
                    "the header `{}` is not valid",
                    h.name
                )));
            };
            headers.append(name, value);
        }
        Ok(Self {
            timeout: Duration::from_millis(spec.timeout_ms.unwrap_or(DEFAULT_UPSTREAM_TIMEOUT_MS)),
            spec,
            url,
            net,
            headers,
        })
    }

    fn ms(&self) -> u64 {
        u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX)
    }
}

/// A session with an upstream (for a sessionless upstream, the settings requests carry).
pub(crate) struct Session {
    link: Arc<Link>,
    /// `Mcp-Session-Id` (handshake era over Streamable HTTP).
    id: Option<String>,
    /// The protocol version in use.
    protocol: String,
    /// The upstream's `capabilities` (empty when not known).
    pub(crate) capabilities: Value,
    next: AtomicI64,
    legacy: Option<Legacy>,
    /// Ends the background tasks (the change listener, the legacy reader).
    stop: CancellationToken,
}

/// The legacy transport: where to POST, and the calls waiting for the stream.
struct Legacy {
    endpoint: reqwest::Url,
    calls: Arc<Mutex<HashMap<i64, mpsc::Sender<Value>>>>,
}

/// What the upstream announced outside any call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Announced {
    /// A `notifications/*/list_changed`.
    ListChanged,
    /// The stream carrying announcements ended (the session may be gone).
    StreamEnded,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Session {
    /// Opens a session: `initialize` and `notifications/initialized` in the handshake era
    /// (over the SSE stream's endpoint for the legacy transport); nothing for a sessionless
    /// upstream. `announce` hears list changes (from the GET stream or the legacy stream).
    pub(crate) async fn open(
        link: Arc<Link>,
        announce: Option<mpsc::UnboundedSender<Announced>>,
    ) -> Result<Arc<Self>, UpstreamError> {
        link.net
            .check(&link.url)
            .await
            .map_err(UpstreamError::Refused)?;
        let stop = CancellationToken::new();
        if link.spec.era == UpstreamEra::Sessionless {
            let session = Arc::new(Self {
                link,
                id: None,
                protocol: SESSIONLESS_VERSION.into(),
                capabilities: json!({}),
                next: AtomicI64::new(first_id()),
                legacy: None,
                stop,
            });
            if let Some(tx) = announce {
                tokio::spawn(announcements(
                    Arc::downgrade(&session),
                    tx,
                    session.stop.clone(),
                    Announcer::Listen,
                ));
            }
            return Ok(session);
        }
        let legacy = match link.spec.transport {
            UpstreamTransport::Sse => Some(
                tokio::time::timeout(link.timeout, open_legacy(&link, announce.clone(), &stop))
                    .await
                    .map_err(|_| UpstreamError::Timeout(link.ms()))??,
            ),
            UpstreamTransport::StreamableHttp => None,
        };
        let mut session = Self {
            link: Arc::clone(&link),
            id: None,
            protocol: HANDSHAKE_VERSION.into(),
            capabilities: json!({}),
            next: AtomicI64::new(first_id()),
            legacy,
            stop,
        };
        let params = json!({
            "protocolVersion": HANDSHAKE_VERSION,
            "capabilities": {"elicitation": {}, "sampling": {}, "roots": {"listChanged": false}},
            "clientInfo": {"name": "fastmcp-mt", "version": env!("CARGO_PKG_VERSION")},
        });
        let (result, id) = session
            .exchange("initialize", params, None, &CancellationToken::new())
            .await?;
        session.id = id;
        if let Some(v) = result.get("protocolVersion").and_then(Value::as_str) {
            session.protocol = v.to_string();
        }
        session.capabilities = result.get("capabilities").cloned().unwrap_or(json!({}));
        session
            .notify("notifications/initialized", json!({}))
            .await?;
        let session = Arc::new(session);
        if let (Some(tx), true) = (announce, session.legacy.is_none()) {
            tokio::spawn(announcements(
                Arc::downgrade(&session),
                tx,
                session.stop.clone(),
                Announcer::GetStream,
            ));
        }
        Ok(session)
    }

    /// Adopts a Streamable HTTP session another instance opened (its id kept in the store).
    pub(crate) fn adopt(link: Arc<Link>, id: String, protocol: String) -> Arc<Self> {
        Arc::new(Self {
            link,
            id: Some(id),
            protocol,
            capabilities: json!({}),
            next: AtomicI64::new(first_id()),
            legacy: None,
            stop: CancellationToken::new(),
        })
    }

    /// The session id and protocol version another instance needs to adopt this session
    /// (`None` for a sessionless upstream or the legacy transport, which cannot be shared).
    pub(crate) fn shareable(&self) -> Option<(String, String)> {
        match (&self.id, &self.legacy) {
            (Some(id), None) => Some((id.clone(), self.protocol.clone())),
            _ => None,
        }
    }

    /// One request; what the upstream sends meanwhile goes to `relay`.
    pub(crate) async fn call(
        &self,
        method: &str,
        params: Value,
        relay: Option<&dyn Relay>,
        cancel: &CancellationToken,
    ) -> Result<Value, UpstreamError> {
        self.exchange(method, params, relay, cancel)
            .await
            .map(|(v, _)| v)
    }

    /// Ends the session upstream (`DELETE`, best effort) and stops its tasks.
    pub(crate) async fn close(&self) {
        self.stop.cancel();
        if let (Some(id), None) = (&self.id, &self.legacy) {
            let req = self
                .link
                .net
                .client()
                .delete(self.link.url.clone())
                .headers(self.link.headers.clone())
                .header("mcp-session-id", id)
                .header("mcp-protocol-version", &self.protocol)
                .timeout(Duration::from_secs(5));
            if let Err(e) = req.send().await {
                tracing::debug!(error = %e, mount = %self.link.spec.name, "cannot end an upstream session");
            }
        }
    }

    fn post(&self, url: &reqwest::Url, body: &Value) -> reqwest::RequestBuilder {
        let mut req = self
            .link
            .net
            .client()
            .post(url.clone())
            .headers(self.link.headers.clone())
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-protocol-version", &self.protocol)
            .body(body.to_string());
        if let Some(id) = &self.id {
            req = req.header("mcp-session-id", id);
        }
        if self.protocol == SESSIONLESS_VERSION {
            if let Some(m) = body.get("method").and_then(Value::as_str) {
                req = req.header("mcp-method", m);
                let name = match m {
                    "tools/call" | "prompts/get" => body["params"].get("name"),
                    "resources/read" => body["params"].get("uri"),
                    _ => None,
                };
                if let Some(n) = name.and_then(Value::as_str) {
                    req = req.header("mcp-name", n);
                }
            }
        }
        req
    }

    async fn notify(&self, method: &str, params: Value) -> Result<(), UpstreamError> {
        let body = json!({"jsonrpc": "2.0", "method": method, "params": params});
        let url = self.legacy.as_ref().map_or(&self.link.url, |l| &l.endpoint);
        let resp = tokio::time::timeout(self.link.timeout, self.post(url, &body).send())
            .await
            .map_err(|_| UpstreamError::Timeout(self.link.ms()))?
            .map_err(|e| UpstreamError::unreachable(&e))?;
        if resp.status().is_success() {
            Ok(())
        } else if resp.status() == reqwest::StatusCode::NOT_FOUND && self.id.is_some() {
            Err(UpstreamError::SessionGone)
        } else {
            Err(UpstreamError::Protocol(format!(
                "{method}: HTTP {}",
                resp.status()
            )))
        }
    }

    /// Sends a request; the result, and the `Mcp-Session-Id` the answer carried.
    async fn exchange(
        &self,
        method: &str,
        params: Value,
        relay: Option<&dyn Relay>,
        cancel: &CancellationToken,
    ) -> Result<(Value, Option<String>), UpstreamError> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let mut params = match params {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let meta = params
            .entry("_meta")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .map(std::mem::take)
            .unwrap_or_default();
        let mut meta = meta;
        if relay.is_some() {
            meta.insert("progressToken".into(), json!(id));
        }
        if self.protocol == SESSIONLESS_VERSION {
            meta.insert(
                "io.modelcontextprotocol/protocolVersion".into(),
                json!(SESSIONLESS_VERSION),
            );
            meta.insert(
                "io.modelcontextprotocol/clientCapabilities".into(),
                json!({"elicitation": {}, "sampling": {}, "roots": {}}),
            );
            meta.insert(
                "io.modelcontextprotocol/clientInfo".into(),
                json!({"name": "fastmcp-mt", "version": env!("CARGO_PKG_VERSION")}),
            );
        }
        if !meta.is_empty() {
            params.insert("_meta".into(), Value::Object(meta));
        } else {
            params.remove("_meta");
        }
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let work = async {
            match &self.legacy {
                Some(l) => self
                    .exchange_legacy(l, id, &body, relay)
                    .await
                    .map(|v| (v, None)),
                None => self.exchange_http(id, &body, relay).await,
            }
        };
        // Dropped before it ends (the downstream request was abandoned, its task cancelled),
        // the call is cancelled upstream: a closed connection alone does not cancel a request
        // in Streamable HTTP. `initialize` is never cancelled (spec): its session is dropped.
        let mut on_drop = CancelOnDrop {
            session: self,
            id: (method != "initialize").then_some(id),
        };
        let outcome = tokio::select! {
            r = tokio::time::timeout(self.link.timeout, work) => match r {
                Ok(r) => {
                    on_drop.id = None;
                    r
                }
                Err(_) => Err(UpstreamError::Timeout(self.link.ms())),
            },
            _ = cancel.cancelled() => Err(UpstreamError::Cancelled),
        };
        // Answered or not, a request that needs no cancelling is disarmed above; the rest are
        // cancelled when the guard drops, here.
        drop(on_drop);
        outcome
    }

    /// The `notifications/cancelled` request for request `id`.
    fn cancel_request(&self, id: i64) -> reqwest::RequestBuilder {
        let body = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                          "params": {"requestId": id, "reason": "cancelled downstream"}});
        let url = self.legacy.as_ref().map_or(&self.link.url, |l| &l.endpoint);
        self.post(url, &body).timeout(Duration::from_secs(5))
    }

    /// `notifications/cancelled` for request `id`, sent in the background.
    fn cancel_upstream(&self, id: i64) {
        drop(CancelOnDrop {
            session: self,
            id: Some(id),
        });
    }

    async fn exchange_http(
        &self,
        id: i64,
        body: &Value,
        relay: Option<&dyn Relay>,
    ) -> Result<(Value, Option<String>), UpstreamError> {
        let resp = self
            .post(&self.link.url, body)
            .send()
            .await
            .map_err(|e| UpstreamError::unreachable(&e))?;
        let status = resp.status();
        let session = resp
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if status == reqwest::StatusCode::NOT_FOUND && self.id.is_some() {
            return Err(UpstreamError::SessionGone);
        }
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if !status.is_success() {
            let text = read_capped(resp).await.unwrap_or_default();
            // A JSON-RPC error in an error status is still the upstream's answer.
            if let Some(e) = serde_json::from_slice::<Value>(&text)
                .ok()
                .and_then(|v| v.get("error").cloned())
                .and_then(|e| serde_json::from_value::<ErrorObject>(e).ok())
            {
                return Err(UpstreamError::Rpc(e));
            }
            let snippet: String = String::from_utf8_lossy(&text).chars().take(300).collect();
            return Err(UpstreamError::Protocol(format!("HTTP {status}: {snippet}")));
        }
        if content_type.starts_with("text/event-stream") {
            let mut resp = resp;
            let mut reader = sse::Reader::new(MAX_MESSAGE_BYTES);
            while let Some(chunk) = resp
                .chunk()
                .await
                .map_err(|e| UpstreamError::unreachable(&e))?
            {
                for event in reader.push(&chunk).map_err(UpstreamError::Protocol)? {
                    let Ok(msg) = serde_json::from_str::<Value>(&event.data) else {
                        continue;
                    };
                    if let Some(done) = self.handle(id, msg, relay).await? {
                        return done.map(|v| (v, session));
                    }
                }
            }
            return Err(UpstreamError::Protocol(
                "the answer stream ended without a response".into(),
            ));
        }
        let bytes = read_capped(resp).await?;
        let msg: Value = serde_json::from_slice(&bytes)
            .map_err(|e| UpstreamError::Protocol(format!("the answer is not JSON: {e}")))?;
        let messages = match msg {
            Value::Array(a) => a,
            one => vec![one],
        };
        for m in messages {
            if let Some(done) = self.handle(id, m, relay).await? {
                return done.map(|v| (v, session));
            }
        }
        Err(UpstreamError::Protocol("the answer has no response".into()))
    }

    async fn exchange_legacy(
        &self,
        legacy: &Legacy,
        id: i64,
        body: &Value,
        relay: Option<&dyn Relay>,
    ) -> Result<Value, UpstreamError> {
        let (tx, mut rx) = mpsc::channel(EVENT_BUFFER);
        lock(&legacy.calls).insert(id, tx);
        let _unregister = Unregister(Arc::clone(&legacy.calls), id);
        let resp = self
            .post(&legacy.endpoint, body)
            .send()
            .await
            .map_err(|e| UpstreamError::unreachable(&e))?;
        // The upstream forgot the stream's session (it restarted): open another.
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Err(UpstreamError::SessionGone);
        }
        if !resp.status().is_success() {
            return Err(UpstreamError::Protocol(format!(
                "posting to the SSE endpoint: HTTP {}",
                resp.status()
            )));
        }
        while let Some(msg) = rx.recv().await {
            if let Some(done) = self.handle(id, msg, relay).await? {
                return done;
            }
        }
        Err(UpstreamError::Unreachable(
            "the upstream's SSE stream ended".into(),
        ))
    }

    /// One message received during call `id`: `Some` when it is the call's answer.
    async fn handle(
        &self,
        id: i64,
        msg: Value,
        relay: Option<&dyn Relay>,
    ) -> Result<Option<Result<Value, UpstreamError>>, UpstreamError> {
        let method = msg.get("method").and_then(Value::as_str);
        match (method, msg.get("id")) {
            (None, Some(rid)) => {
                if rid.as_i64() != Some(id) {
                    return Ok(None);
                }
                if let Some(e) = msg.get("error") {
                    let e = serde_json::from_value::<ErrorObject>(e.clone()).unwrap_or_else(|_| {
                        ErrorObject::new(-32603, "the upstream answered with a malformed error")
                    });
                    return Ok(Some(Err(UpstreamError::Rpc(e))));
                }
                Ok(Some(Ok(msg.get("result").cloned().unwrap_or(Value::Null))))
            }
            (Some(m), Some(rid)) => {
                // The upstream asks something of the client.
                let params = msg.get("params").cloned().unwrap_or(json!({}));
                let outcome = match (m, relay) {
                    ("ping", _) => Ok(json!({})),
                    (_, Some(r)) => r.request(m, params).await,
                    (_, None) => Err(Ok(ErrorObject::method_not_found(m))),
                };
                let reply = match outcome {
                    Ok(result) => json!({"jsonrpc": "2.0", "id": rid, "result": result}),
                    Err(Ok(e)) => json!({"jsonrpc": "2.0", "id": rid, "error": e}),
                    Err(Err(abandon)) => {
                        self.cancel_upstream(id);
                        return Err(UpstreamError::Abandoned(Box::new(abandon)));
                    }
                };
                let url = self.legacy.as_ref().map_or(&self.link.url, |l| &l.endpoint);
                let resp = self
                    .post(url, &reply)
                    .send()
                    .await
                    .map_err(|e| UpstreamError::unreachable(&e))?;
                if !resp.status().is_success() {
                    tracing::debug!(status = %resp.status(), mount = %self.link.spec.name,
                        "the upstream refused our answer to its request");
                }
                Ok(None)
            }
            (Some(m), None) => {
                let p = msg.get("params").cloned().unwrap_or(json!({}));
                if let Some(r) = relay {
                    match m {
                        "notifications/progress"
                            if p.get("progressToken").and_then(Value::as_i64) == Some(id) =>
                        {
                            let progress = p.get("progress").and_then(Value::as_f64).unwrap_or(0.0);
                            let total = p.get("total").and_then(Value::as_f64);
                            let message =
                                p.get("message").and_then(Value::as_str).map(str::to_string);
                            r.progress(progress, total, message).await;
                        }
                        "notifications/message" => {
                            let level = p
                                .get("level")
                                .cloned()
                                .and_then(|l| serde_json::from_value(l).ok())
                                .unwrap_or(LoggingLevel::Info);
                            let data = match p.get("logger").and_then(Value::as_str) {
                                Some(logger) => json!({"logger": logger, "data": p.get("data")}),
                                None => p.get("data").cloned().unwrap_or(Value::Null),
                            };
                            r.log(level, data).await;
                        }
                        _ => {}
                    }
                }
                Ok(None)
            }
            (None, None) => Ok(None),
        }
    }
}

/// Where a session's request ids start: random, so two instances sharing one upstream
/// session (adopted through the store) do not reuse each other's ids, and below 2^53 (ids a
/// JavaScript upstream reads exactly).
fn first_id() -> i64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    i64::try_from(h.finish() % (1 << 40)).unwrap_or(0) + 1
}

/// Sends the cancellation of request `id` when dropped armed (in the background: a drop
/// cannot wait). Built only then: most requests end and are disarmed.
struct CancelOnDrop<'a> {
    session: &'a Session,
    id: Option<i64>,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        if let (Some(id), Ok(rt)) = (self.id.take(), tokio::runtime::Handle::try_current()) {
            let req = self.session.cancel_request(id);
            rt.spawn(async move {
                let _ = req.send().await;
            });
        }
    }
}

/// Removes a legacy call's channel when the call ends, however it ends.
struct Unregister(Arc<Mutex<HashMap<i64, mpsc::Sender<Value>>>>, i64);

impl Drop for Unregister {
    fn drop(&mut self) {
        lock(&self.0).remove(&self.1);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A whole body, at most [`MAX_MESSAGE_BYTES`].
async fn read_capped(mut resp: reqwest::Response) -> Result<Vec<u8>, UpstreamError> {
    let mut out = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| UpstreamError::unreachable(&e))?
    {
        if out.len() + chunk.len() > MAX_MESSAGE_BYTES {
            return Err(UpstreamError::Protocol(format!(
                "the answer is larger than {MAX_MESSAGE_BYTES} bytes"
            )));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Opens the legacy SSE stream, waits for its `endpoint` event, and leaves a task reading it:
/// answers and call notifications go to their call, list changes to `announce`.
async fn open_legacy(
    link: &Arc<Link>,
    announce: Option<mpsc::UnboundedSender<Announced>>,
    stop: &CancellationToken,
) -> Result<Legacy, UpstreamError> {
    let mut resp = link
        .net
        .client()
        .get(link.url.clone())
        .headers(link.headers.clone())
        .header("accept", "text/event-stream")
        .send()
        .await
        .map_err(|e| UpstreamError::unreachable(&e))?;
    if !resp.status().is_success() {
        return Err(UpstreamError::Protocol(format!(
            "the SSE stream: HTTP {}",
            resp.status()
        )));
    }
    let mut reader = sse::Reader::new(MAX_MESSAGE_BYTES);
    let mut early = Vec::new();
    let endpoint = 'found: loop {
        let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| UpstreamError::unreachable(&e))?
        else {
            return Err(UpstreamError::Protocol(
                "the SSE stream ended before naming its endpoint".into(),
            ));
        };
        for e in reader.push(&chunk).map_err(UpstreamError::Protocol)? {
            if e.name == "endpoint" {
                break 'found e.data;
            }
            early.push(e);
        }
    };
    let endpoint = link.url.join(endpoint.trim()).map_err(|e| {
        UpstreamError::Protocol(format!("the SSE endpoint `{endpoint}` is not a URL: {e}"))
    })?;
    // The endpoint must stay on the upstream's origin: the stream cannot send us elsewhere.
    if endpoint.origin() != link.url.origin() {
        return Err(UpstreamError::Protocol(format!(
            "the SSE endpoint `{endpoint}` is on another origin"
        )));
    }
    let calls: Arc<Mutex<HashMap<i64, mpsc::Sender<Value>>>> = Arc::default();
    let routes = Arc::clone(&calls);
    let stop = stop.clone();
    let name = link.spec.name.clone();
    tokio::spawn(async move {
        let route = |msg: Value| {
            let target = msg
                .get("id")
                .and_then(Value::as_i64)
                .filter(|_| msg.get("method").is_none())
                .or_else(|| msg.pointer("/params/progressToken").and_then(Value::as_i64))
                .or_else(|| lock(&routes).keys().max().copied());
            target.and_then(|t| lock(&routes).get(&t).cloned())
        };
        let mut pending: Vec<sse::Event> = early;
        loop {
            for e in pending.drain(..) {
                let Ok(msg) = serde_json::from_str::<Value>(&e.data) else {
                    continue;
                };
                let method = msg.get("method").and_then(Value::as_str).unwrap_or("");
                if method.ends_with("/list_changed") {
                    if let Some(a) = &announce {
                        let _ = a.send(Announced::ListChanged);
                    }
                    continue;
                }
                if let Some(tx) = route(msg.clone()) {
                    let _ = tx.send(msg).await;
                }
            }
            let next = tokio::select! {
                c = resp.chunk() => c,
                _ = stop.cancelled() => return,
            };
            match next {
                Ok(Some(chunk)) => match reader.push(&chunk) {
                    Ok(events) => pending = events,
                    Err(e) => {
                        tracing::warn!(mount = %name, error = %e, "the upstream's SSE stream is unusable");
                        break;
                    }
                },
                _ => break,
            }
        }
        // Calls waiting on this stream end (their channels close).
        lock(&routes).clear();
        if let Some(a) = &announce {
            let _ = a.send(Announced::StreamEnded);
        }
    });
    Ok(Legacy { endpoint, calls })
}

/// How an upstream announces changes outside calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Announcer {
    /// The GET stream of a handshake-era Streamable HTTP session.
    GetStream,
    /// `subscriptions/listen` of a 2026-07-28 upstream.
    Listen,
}

impl Session {
    /// The request that opens the stream announcements come on.
    fn announcer(&self, how: Announcer) -> reqwest::RequestBuilder {
        match how {
            Announcer::GetStream => {
                let mut req = self
                    .link
                    .net
                    .client()
                    .get(self.link.url.clone())
                    .headers(self.link.headers.clone())
                    .header("accept", "text/event-stream")
                    .header("mcp-protocol-version", &self.protocol);
                if let Some(id) = &self.id {
                    req = req.header("mcp-session-id", id);
                }
                req
            }
            Announcer::Listen => {
                let id = self.next.fetch_add(1, Ordering::Relaxed);
                let body = json!({"jsonrpc": "2.0", "id": id, "method": "subscriptions/listen",
                "params": {
                    "notifications": {"toolsListChanged": true, "promptsListChanged": true,
                                      "resourcesListChanged": true},
                    "_meta": {
                        "io.modelcontextprotocol/protocolVersion": SESSIONLESS_VERSION,
                        "io.modelcontextprotocol/clientCapabilities": {},
                        "io.modelcontextprotocol/clientInfo":
                            {"name": "fastmcp-mt", "version": env!("CARGO_PKG_VERSION")},
                    }}});
                self.post(&self.link.url, &body)
            }
        }
    }
}

/// Hears an upstream's list changes (`how`) and passes them to `announce`. Reconnects after a
/// pause while the session lives; stops for good when the upstream serves no such stream.
async fn announcements(
    session: std::sync::Weak<Session>,
    announce: mpsc::UnboundedSender<Announced>,
    stop: CancellationToken,
    how: Announcer,
) {
    let mut pause = Duration::from_millis(500);
    loop {
        let Some(s) = session.upgrade() else { return };
        let req = s.announcer(how);
        drop(s);
        let resp = tokio::select! {
            r = req.send() => r,
            _ = stop.cancelled() => return,
        };
        match resp {
            // The session is gone: whoever uses it next opens another.
            Ok(r)
                if r.status() == reqwest::StatusCode::NOT_FOUND && how == Announcer::GetStream =>
            {
                let _ = announce.send(Announced::StreamEnded);
                return;
            }
            // No such stream here (405 for GET, an error for `subscriptions/listen`).
            Ok(r) if r.status().is_client_error() => return,
            Ok(r) if r.status().is_success() => {
                let sse = r
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|c| c.starts_with("text/event-stream"));
                // A JSON answer to `subscriptions/listen` is an error: not served.
                if !sse {
                    return;
                }
                pause = Duration::from_millis(500);
                if read_announcements(r, &announce, &stop).await {
                    return;
                }
            }
            _ => {}
        }
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.cancelled() => return,
        }
        pause = (pause * 2).min(Duration::from_secs(30));
    }
}

/// Reads one announcement stream until it ends; `true` when told to stop.
async fn read_announcements(
    mut r: reqwest::Response,
    announce: &mpsc::UnboundedSender<Announced>,
    stop: &CancellationToken,
) -> bool {
    let mut reader = sse::Reader::new(MAX_MESSAGE_BYTES);
    loop {
        let chunk = tokio::select! {
            c = r.chunk() => c,
            _ = stop.cancelled() => return true,
        };
        let Ok(Some(chunk)) = chunk else { return false };
        let Ok(events) = reader.push(&chunk) else {
            return false;
        };
        for e in events {
            let method = serde_json::from_str::<Value>(&e.data)
                .ok()
                .and_then(|m| m.get("method").and_then(Value::as_str).map(str::to_string));
            if method.is_some_and(|m| m.ends_with("/list_changed")) {
                let _ = announce.send(Announced::ListChanged);
            }
        }
    }
}
