//! Admission: who is calling (authentication, the entity's rate), whether the principal may
//! act for the entity, whether a message may run (tool scopes, a concurrent-call slot), and
//! whether a session id names one of the caller's sessions. Every transport, batch items and
//! the legacy messages endpoint included, goes through these.

use fastmcp_core::protocol::codes;
use fastmcp_core::EntityId;
use poem::http::StatusCode;
use poem::{Request, Response};
use serde_json::Value;

use super::origin::{check_origin, entity_from_path};
use crate::limits::{Denied, Refusal};
use crate::response::{error_status, json_response, store_error};

/// The checks every MCP request passes first: `Origin`/`Host`, the entity in the path, the
/// entity's request rate, then authentication (401/403/503 per [`crate::auth::reject`]).
pub(crate) async fn tenant(
    state: &crate::state::AppState,
    req: &Request,
) -> Result<(EntityId, std::sync::Arc<fastmcp_core::Principal>), Response> {
    let (entity, principal, _) = tenant_checks(state, req, false).await?;
    Ok((entity, principal))
}

/// Who is calling: the path's entity, the authenticated principal, and whether the request is
/// over the entity's rate (only from [`tenant_over_rate`]).
pub(crate) type Caller = (
    EntityId,
    std::sync::Arc<fastmcp_core::Principal>,
    Option<Refusal>,
);

/// [`tenant`] for a transport that answers on a stream: a request over the entity's rate is
/// still authenticated, and the refusal handed back to be answered on the stream (a caller
/// that fails authentication gets the 429, as the rate is checked first).
pub(crate) async fn tenant_over_rate(
    state: &crate::state::AppState,
    req: &Request,
) -> Result<Caller, Response> {
    tenant_checks(state, req, true).await
}

async fn tenant_checks(
    state: &crate::state::AppState,
    req: &Request,
    defer_rate: bool,
) -> Result<Caller, Response> {
    check_origin(&state.http, req.headers())?;
    // A header that decides who is calling, or which session, has one value: with two, a proxy
    // and this server could each read a different one.
    for name in ["authorization", "mcp-session-id", "x-api-key"] {
        if req.headers().get_all(name).iter().nth(1).is_some() {
            return Err(error_status(
                StatusCode::BAD_REQUEST,
                codes::INVALID_REQUEST,
                format!("Bad Request: more than one {name} header"),
            ));
        }
    }
    let entity = entity_from_path(req)?;
    // Requests that fail authentication are budgeted per source address, on this instance,
    // and never count against the entity's rate: a flood without credentials cannot lock the
    // tenant's principals out. A source over its budget is refused before any authentication
    // work (a key lookup, a signature check).
    let enforced = state.auth.enforces();
    let source = enforced.then(|| {
        crate::limits::source_of(
            req.headers(),
            req.remote_addr().as_socket_addr().copied(),
            state.http.client_ip_header.as_deref(),
        )
    });
    if let Some(source) = source {
        if state.unauthenticated.is_over(source) {
            state.metrics.rate_limited(&entity, "unauthenticated");
            return Err(state.unauthenticated.refusal().response(None));
        }
    }
    let headers = crate::auth::PoemHeaders(req.headers());
    let principal = match state.auth.authenticate(&headers, &entity).await {
        Ok(p) => p,
        Err(e) => {
            if let Some(source) = source {
                state.unauthenticated.hit(source);
            }
            return Err(crate::auth::reject(&state.auth_meta, req, &entity, &e));
        }
    };
    // After authentication: only the entity's own callers spend its budget (everyone, when
    // the server authenticates no one).
    let over = match state
        .limits
        .check_rate(&state.mcp, &state.metrics, &entity)
        .await
    {
        Ok(()) => None,
        Err(Denied::Limit(r)) if defer_rate => Some(r),
        Err(d) => return Err(d.into_response(None)),
    };
    let refuse = |over: Option<Refusal>, e: fastmcp_core::AuthError| match over {
        Some(r) => r.response(None),
        None => crate::auth::reject(&state.auth_meta, req, &entity, &e),
    };
    if !principal.may_act_for(&entity) {
        let e =
            fastmcp_core::AuthError::Forbidden(format!("not allowed to act for entity `{entity}`"));
        return Err(refuse(over, e));
    }
    Ok((entity, principal, over))
}

/// Everything a request must pass before it is dispatched: tool scopes, then (for
/// `tools/call`) a concurrent-call slot, held by the returned guard until the call ends.
pub(crate) async fn admit(
    state: &crate::state::AppState,
    req: &Request,
    entity: &EntityId,
    principal: &fastmcp_core::Principal,
    rpc: &fastmcp_core::protocol::Request,
) -> Result<Option<crate::limits::CallSlot>, Denied> {
    check_tool_scopes(state, req, entity, principal, rpc).map_err(Denied::Response)?;
    if rpc.method != "tools/call" {
        return Ok(None);
    }
    state
        .limits
        .take_call_slot(&state.mcp, &state.metrics, entity)
        .await
}

/// A `tools/call` of a tool with required scopes the principal lacks: 403 with
/// `error="insufficient_scope"` and the scopes it needs (MCP authorization, RFC 6750 §3.1).
pub(crate) fn check_tool_scopes(
    state: &crate::state::AppState,
    req: &Request,
    entity: &EntityId,
    principal: &fastmcp_core::Principal,
    rpc: &fastmcp_core::protocol::Request,
) -> Result<(), Response> {
    if rpc.method != "tools/call" {
        return Ok(());
    }
    let name = rpc
        .params
        .as_ref()
        .and_then(|p| p.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some(tool) = state.mcp.registry().tool(name) else {
        return Ok(());
    };
    let needed = tool.required_scopes();
    if principal.has_scopes(needed.iter().map(String::as_str)) {
        return Ok(());
    }
    let scope = needed.join(" ");
    let url = state.auth_meta.metadata_url(req, entity);
    let body = serde_json::json!({
        "error": "insufficient_scope",
        "message": format!("tool `{name}` needs scope(s): {scope}"),
    });
    let mut resp = json_response(StatusCode::FORBIDDEN, &body);
    let challenge = format!(
        "Bearer resource_metadata=\"{url}\", error=\"insufficient_scope\", scope=\"{scope}\""
    );
    if let Ok(v) = challenge.parse() {
        resp.headers_mut().insert("www-authenticate", v);
    }
    Err(resp)
}

/// Loads the session named by a client-supplied id for this entity and restarts its TTL:
/// 400 when the id is missing, 404 when it is malformed, unknown, expired, another entity's or
/// another principal's.
pub(crate) async fn load_session(
    mcp: &fastmcp_core::McpServer,
    entity: &EntityId,
    principal: &fastmcp_core::Principal,
    raw_id: Option<&str>,
    missing: &str,
    transport: fastmcp_core::storage::SessionTransport,
) -> Result<fastmcp_core::SessionRecord, Response> {
    let Some(raw) = raw_id else {
        return Err(error_status(
            StatusCode::BAD_REQUEST,
            codes::INVALID_REQUEST,
            missing,
        ));
    };
    let not_found = || {
        error_status(
            StatusCode::NOT_FOUND,
            codes::INVALID_REQUEST,
            "Session not found",
        )
    };
    let Some(id) = fastmcp_core::SessionId::parse(raw) else {
        return Err(not_found());
    };
    match mcp
        .sessions()
        .load_and_touch(entity, &id, mcp.config().session_ttl)
        .await
    {
        // Another principal's session is as unknown as another entity's, and so is one of
        // the other transport (a legacy session's id on `/mcp` would add a second reader of
        // its one stream; a Streamable one's on `/messages` could re-initialise it). A record
        // without a principal (the admin API's throwaway sessions) is no client's.
        Ok(Some(rec))
            if rec.principal.as_deref() == Some(principal.subject.as_str())
                && rec.transport == transport =>
        {
            Ok(rec)
        }
        Ok(_) => Err(not_found()),
        Err(e) => Err(store_error(e)),
    }
}

/// Whether a new session counts against the entity's session cap.
pub(crate) enum SessionCap<'a> {
    /// A client's session: refused (429, or -32029 answering request `id`) at the cap.
    Enforced(Option<&'a fastmcp_core::protocol::RequestId>),
    /// An operator's throwaway session (the admin API's calls): counted, never refused.
    Exempt,
}

/// Why [`open_session`] opened none.
pub(crate) enum NoSession {
    /// The entity is at its session cap (or its limits could not be read): the ready answer.
    Refused(Response),
    /// The store failed.
    Store(fastmcp_core::storage::StoreError),
}

impl NoSession {
    /// The HTTP answer of an MCP transport.
    pub(crate) fn into_response(self) -> Response {
        match self {
            NoSession::Refused(r) => r,
            NoSession::Store(e) => store_error(e),
        }
    }
}

/// The one place sessions are created, so the session cap and the metrics see every one:
/// checks the cap, stores the record, counts it live.
pub(crate) async fn open_session(
    state: &crate::state::AppState,
    record: fastmcp_core::SessionRecord,
    cap: SessionCap<'_>,
) -> Result<fastmcp_core::SessionRecord, NoSession> {
    let mcp = &state.mcp;
    if let SessionCap::Enforced(id) = cap {
        state
            .limits
            .check_sessions(mcp, &state.metrics, &record.entity, id)
            .await
            .map_err(NoSession::Refused)?;
    }
    let record = mcp
        .sessions()
        .create(record, mcp.config().session_ttl)
        .await
        .map_err(NoSession::Store)?;
    tracing::debug!(entity = %record.entity, session = %record.id, "session created");
    state.metrics.session(&record.entity, true);
    Ok(record)
}

/// Ends a session that [`open_session`] opened, everywhere: the record, its streams (their
/// subscribers end), its replies, its running requests on this instance, and its count.
pub(crate) async fn close_session(
    state: &crate::state::AppState,
    entity: &EntityId,
    id: &fastmcp_core::SessionId,
) -> fastmcp_core::Result<()> {
    // Counted once however many ends race (a DELETE and the legacy stream's close, two
    // DELETEs): only the one that found the record.
    if crate::state::end_session(state, entity, id).await? {
        state.metrics.session(entity, false);
    }
    Ok(())
}
