//! Middleware: ordered layers around every call of a tool, a resource, a prompt or a completion,
//! in both protocol eras.
//!
//! A layer gets the call ([`McpCall`]: what is called, its arguments, the handler's
//! [`Context`]) and the rest of the chain ([`Next`]). It may read or change the call, call
//! `next.run(call)` and read or change the result, or answer without calling `next` at all
//! (short-circuit). Layers run in the order they were added: the first added is the outermost.
//!
//! **Where layers sit.** Before any layer runs, the call has passed everything that decides
//! whether it may happen at all: authentication, the entity's rate and concurrency limits (at
//! the HTTP edge), the entity's visibility rules (a hidden item is unknown), and the tool's
//! scopes. So a layer never sees, and can never answer, a call its caller was not allowed to
//! make. Inside the layers are the handler and what belongs to it: argument validation
//! against the input schema (a layer may rewrite arguments before it), the handler's own
//! `isError` results, and its notifications. Cancellation and panic capture wrap the whole
//! chain, layers included.
//!
//! Four layers ship here as examples, each tested: [`Timing`], [`ResultCache`],
//! [`RedactedLog`] and [`ToolTimeout`].

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::future::BoxFuture;
use serde_json::Value;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::protocol::{Method, MethodResult};

/// One call on its way through the layers.
pub struct McpCall {
    /// `tools/call`, `resources/read`, `prompts/get` or `completion/complete`.
    pub method: Method,
    /// What is called: the tool or prompt name, the resource URI, or the completion's
    /// reference (prompt name or template URI).
    pub name: String,
    /// The tool's or prompt's arguments (`Null` for a read; for a completion,
    /// `{"name": argument, "value": typed so far}`).
    pub arguments: Value,
    /// The handler's context: entity, session, principal, logging, cancellation.
    pub ctx: Context,
}

/// A layer around every call.
#[async_trait]
pub trait Middleware: Send + Sync + 'static {
    /// Serves `call`, normally by passing it (changed or not) to `next.run`.
    async fn handle(&self, call: McpCall, next: Next<'_>) -> Result<MethodResult>;
}

/// A shared layer (kept by the test or the app that also reads its state) is a layer.
#[async_trait]
impl<M: Middleware> Middleware for Arc<M> {
    async fn handle(&self, call: McpCall, next: Next<'_>) -> Result<MethodResult> {
        self.as_ref().handle(call, next).await
    }
}

type Inner<'a> = Box<dyn FnOnce(McpCall) -> BoxFuture<'a, Result<MethodResult>> + Send + 'a>;

/// The layers after this one, then the handler.
pub struct Next<'a> {
    layers: &'a [Arc<dyn Middleware>],
    inner: Inner<'a>,
}

impl<'a> Next<'a> {
    /// Passes `call` on: to the next layer, or to the handler after the last.
    pub async fn run(self, call: McpCall) -> Result<MethodResult> {
        match self.layers.split_first() {
            Some((first, rest)) => {
                first
                    .handle(
                        call,
                        Next {
                            layers: rest,
                            inner: self.inner,
                        },
                    )
                    .await
            }
            None => (self.inner)(call).await,
        }
    }
}

/// Runs `call` through `layers`, then `handler`.
pub(crate) async fn through<'a, F, Fut>(
    layers: &'a [Arc<dyn Middleware>],
    call: McpCall,
    handler: F,
) -> Result<MethodResult>
where
    F: FnOnce(McpCall) -> Fut + Send + 'a,
    Fut: Future<Output = Result<MethodResult>> + Send + 'a,
{
    if layers.is_empty() {
        return handler(call).await;
    }
    let inner: Inner<'a> = Box::new(move |c| Box::pin(handler(c)));
    Next { layers, inner }.run(call).await
}

/// How a call ended, for [`Timing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A result.
    Ok,
    /// A tool's `isError` result.
    ToolError,
    /// A JSON-RPC error (including a question to the client at 2026-07-28).
    Error,
}

type TimingSink = dyn Fn(&McpCall, Duration, Outcome) + Send + Sync;

/// Measures every call and hands the time to a sink (a metrics histogram, a log line). The
/// server wires one into `/metrics` as `fastmcp_call_duration_seconds`.
pub struct Timing {
    sink: Box<TimingSink>,
}

impl Timing {
    /// Calls `sink` after every call with the call (its context still usable), the time it
    /// took through the inner layers and the handler, and how it ended.
    pub fn new(sink: impl Fn(&McpCall, Duration, Outcome) + Send + Sync + 'static) -> Self {
        Self {
            sink: Box::new(sink),
        }
    }
}

#[async_trait]
impl Middleware for Timing {
    async fn handle(&self, call: McpCall, next: Next<'_>) -> Result<MethodResult> {
        let seen = McpCall {
            method: call.method,
            name: call.name.clone(),
            arguments: Value::Null,
            ctx: call.ctx.clone(),
        };
        let started = Instant::now();
        let result = next.run(call).await;
        let outcome = match &result {
            Ok(r) if r.is_tool_error() => Outcome::ToolError,
            Ok(_) => Outcome::Ok,
            Err(_) => Outcome::Error,
        };
        (self.sink)(&seen, started.elapsed(), outcome);
        result
    }
}

/// Keeps successful results of chosen tools for a while, per entity, principal and arguments,
/// and answers repeats from memory (this instance's). Only for tools whose answer depends on
/// nothing but their arguments; `isError` results and errors are never kept.
pub struct ResultCache {
    tools: Vec<String>,
    ttl: Duration,
    max_entries: usize,
    entries: Mutex<HashMap<String, (Instant, MethodResult)>>,
}

impl ResultCache {
    /// Caches `tools/call` of `tools` for `ttl`, at most 10,000 entries (beyond it, expired
    /// entries are dropped, then the cache is cleared).
    pub fn new<S: Into<String>>(tools: impl IntoIterator<Item = S>, ttl: Duration) -> Self {
        Self {
            tools: tools.into_iter().map(Into::into).collect(),
            ttl,
            max_entries: 10_000,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn key(call: &McpCall) -> String {
        let who = call.ctx.principal().map_or("", |p| p.subject.as_str());
        // The entity and the principal are part of the key: one tenant's answer is never
        // another's, and a caller never gets an answer made for someone with other rights.
        format!(
            "{}\u{0}{}\u{0}{}\u{0}{}",
            call.ctx.entity_id(),
            who,
            call.name,
            call.arguments
        )
    }
}

#[async_trait]
impl Middleware for ResultCache {
    async fn handle(&self, call: McpCall, next: Next<'_>) -> Result<MethodResult> {
        if call.method != Method::ToolsCall || !self.tools.contains(&call.name) {
            return next.run(call).await;
        }
        let key = Self::key(&call);
        let now = Instant::now();
        if let Some((at, hit)) = lock(&self.entries).get(&key) {
            if now.duration_since(*at) < self.ttl {
                return Ok(hit.clone());
            }
        }
        let result = next.run(call).await;
        if let Ok(r) = &result {
            if !r.is_tool_error() {
                let mut entries = lock(&self.entries);
                if entries.len() >= self.max_entries {
                    let ttl = self.ttl;
                    entries.retain(|_, (at, _)| now.duration_since(*at) < ttl);
                    if entries.len() >= self.max_entries {
                        entries.clear();
                    }
                }
                entries.insert(key, (now, r.clone()));
            }
        }
        result
    }
}

/// Writes one log line per call (`tracing`, at `info`) with its arguments, the values of
/// sensitive keys replaced by `"[redacted]"` at any depth.
pub struct RedactedLog {
    keys: Vec<String>,
}

impl RedactedLog {
    /// Redacts the values of `keys` (compared without case).
    pub fn new<S: Into<String>>(keys: impl IntoIterator<Item = S>) -> Self {
        Self {
            keys: keys
                .into_iter()
                .map(|k| k.into().to_ascii_lowercase())
                .collect(),
        }
    }

    /// `value` with the values of the sensitive keys replaced.
    pub fn redact(&self, value: &Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| {
                        let shown = if self.keys.contains(&k.to_ascii_lowercase()) {
                            Value::String("[redacted]".into())
                        } else {
                            self.redact(v)
                        };
                        (k.clone(), shown)
                    })
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.redact(v)).collect()),
            other => other.clone(),
        }
    }
}

#[async_trait]
impl Middleware for RedactedLog {
    async fn handle(&self, call: McpCall, next: Next<'_>) -> Result<MethodResult> {
        tracing::info!(
            entity = %call.ctx.entity_id(),
            method = call.method.name(),
            name = %call.name,
            arguments = %self.redact(&call.arguments),
            "call"
        );
        next.run(call).await
    }
}

/// Ends a tool call that runs too long with an error naming the limit; the handler is dropped
/// (its future is not polled again), as on cancellation.
pub struct ToolTimeout {
    default: Option<Duration>,
    per_tool: HashMap<String, Duration>,
}

impl ToolTimeout {
    /// No limit unless [`default`](Self::default_limit) or [`tool`](Self::tool) sets one.
    pub fn new() -> Self {
        Self {
            default: None,
            per_tool: HashMap::new(),
        }
    }

    /// The limit of every tool without one of its own.
    pub fn default_limit(mut self, limit: Duration) -> Self {
        self.default = Some(limit);
        self
    }

    /// The limit of one tool.
    pub fn tool(mut self, name: impl Into<String>, limit: Duration) -> Self {
        self.per_tool.insert(name.into(), limit);
        self
    }
}

impl Default for ToolTimeout {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Middleware for ToolTimeout {
    async fn handle(&self, call: McpCall, next: Next<'_>) -> Result<MethodResult> {
        let limit = match call.method {
            Method::ToolsCall => self.per_tool.get(&call.name).copied().or(self.default),
            _ => None,
        };
        let Some(limit) = limit else {
            return next.run(call).await;
        };
        let name = call.name.clone();
        match tokio::time::timeout(limit, next.run(call)).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout(format!(
                "tool `{name}` to finish (its limit is {} ms)",
                limit.as_millis()
            ))),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
