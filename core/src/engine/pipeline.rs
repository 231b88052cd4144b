//! The request pipeline both eras share, between an era's envelope and the methods:
//! cancellation, the entity's visibility rules, routing, panic capture, and keeping failures in
//! the log store. An era builds a [`Call`]; [`run`] serves it and [`finish`] records the outcome.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt as _;
use serde_json::Value;
use tracing::Instrument as _;

use super::cancel;
use super::shared::Shared;
use super::McpServer;
use crate::context::RequestScope;
use crate::error::{Error, Result};
use crate::ids::{EntityId, SessionId};
use crate::methods::{self, Env};
use crate::protocol::{Method, MethodResult, RequestId};

/// One request on its way through the pipeline, whichever era it came in.
pub(crate) struct Call {
    pub(crate) method: Method,
    pub(crate) params: Option<Value>,
    /// What the handler's context will see. Its cancellation token is replaced by the one the
    /// pipeline registers.
    pub(crate) scope: RequestScope,
}

/// Serves `call`: registers it for cancellation (requests of a session), applies the entity's
/// visibility rules, routes it, and turns a handler panic into -32603 for this request only.
pub(crate) async fn run(server: &McpServer, mut call: Call) -> Result<MethodResult> {
    let shared: &Arc<Shared> = &server.shared;
    let entity = call.scope.entity.clone();
    let registration = match (call.scope.session_id, &call.scope.request_id) {
        (Some(session), Some(id)) => Some((
            session,
            id.clone(),
            shared.running.register(session, id.clone())?,
        )),
        _ => None,
    };
    if let Some((_, _, (token, _))) = &registration {
        call.scope.cancel = token.clone();
    }
    let cancel = call.scope.cancel.clone();
    let can_ask = call.scope.input.is_some();
    let span = request_span(&call);
    let ctx = server.context(call.scope);
    let remote_cancel = async {
        match &registration {
            Some((session, id, _)) => {
                cancel::cancelled_elsewhere(
                    shared.queue.as_ref(),
                    &entity,
                    session,
                    id,
                    shared.config.remote_cancel_after,
                )
                .await
            }
            // Stateless requests end when their HTTP request does: nothing to watch.
            None => std::future::pending().await,
        }
    };
    let routed = async {
        let config = shared.entity_config(&entity).await?;
        let transforms = config.as_deref().map(|c| &c.transforms);
        let catalog = shared
            .providers
            .catalog(&entity, ctx.principal(), transforms)
            .await?;
        let env = Env {
            registry: &catalog,
            config: config.as_deref(),
            page_size: shared.config.page_size,
            observer: shared.observer.as_deref(),
            middleware: &shared.middleware,
        };
        let fut = AssertUnwindSafe(methods::route(&env, call.method, call.params, ctx));
        fut.catch_unwind().await.unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "handler panicked".into());
            tracing::error!(panic = %what, "handler panicked");
            Err(Error::Internal("the handler panicked".into()))
        })
    };
    let outcome = tokio::select! {
        r = routed.instrument(span.clone()) => r,
        _ = cancel.cancelled() => Err(Error::Cancelled),
        () = remote_cancel => Err(Error::Cancelled),
    };
    if !span.is_disabled() {
        let (how, error) = match &outcome {
            Ok(r) if r.is_tool_error() => ("tool_error", None),
            Ok(_) => ("ok", None),
            Err(Error::InputRequired) => ("input_required", None),
            Err(e) => ("error", Some(e.rpc_code())),
        };
        span.record("fastmcp.outcome", how);
        if let Some(code) = error {
            span.record("error.type", code);
            span.record("otel.status_code", "ERROR");
        }
    }
    match outcome {
        // Only a 2026-07-28 round can carry the question back to the client.
        Err(Error::InputRequired) if !can_ask => Err(Error::Internal(
            "a handler asked for client input where this method cannot carry it".into(),
        )),
        other => other,
    }
}

/// The request's span (OpenTelemetry's MCP conventions where they exist: `mcp.method.name`,
/// `mcp.session.id`, `gen_ai.tool.name`, `mcp.resource.uri`; ours for the rest). Its fields are
/// computed only when a subscriber wants it (an OTLP endpoint is configured).
fn request_span(call: &Call) -> tracing::Span {
    if !tracing::enabled!(target: crate::storage::traced::SPAN_TARGET, tracing::Level::INFO) {
        return tracing::Span::none();
    }
    let param = |k: &str| {
        call.params
            .as_ref()
            .and_then(|p| p.get(k))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let target = match call.method {
        Method::ToolsCall | Method::PromptsGet => param("name"),
        Method::ResourcesRead | Method::ResourcesSubscribe | Method::ResourcesUnsubscribe => {
            param("uri")
        }
        _ => String::new(),
    };
    let session = call.scope.session_id.map(|s| s.to_string());
    tracing::info_span!(
        target: crate::storage::traced::SPAN_TARGET,
        "mcp.request",
        otel.name = %if target.is_empty() {
            call.method.name().to_string()
        } else {
            format!("{} {target}", call.method.name())
        },
        otel.kind = "server",
        mcp.method.name = call.method.name(),
        gen_ai.tool.name = (call.method == Method::ToolsCall).then_some(target.as_str()),
        mcp.resource.uri = matches!(call.method, Method::ResourcesRead).then_some(target.as_str()),
        mcp.session.id = session.as_deref(),
        fastmcp.entity = %call.scope.entity,
        fastmcp.era = if call.scope.session_id.is_some() { "handshake" } else { "2026-07-28" },
        fastmcp.outcome = tracing::field::Empty,
        error.type = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    )
}

/// Records the outcome of a request, once, whichever era served it: failures go to the log
/// store, and failures of the server itself (a store down, a bug) to the process log.
pub(crate) async fn finish(
    server: &McpServer,
    entity: &EntityId,
    session: Option<SessionId>,
    id: &RequestId,
    method: &str,
    outcome: &Result<MethodResult>,
) {
    if let Err(e @ (Error::Unavailable { .. } | Error::Backend { .. } | Error::Internal(_))) =
        outcome
    {
        tracing::warn!(error = %e.report(), method, "request failed");
    }
    server
        .shared
        .record_failure(entity, session, id, outcome)
        .await;
}
