//! Pieces shared by both MCP transports: tenant parsing, DNS-rebinding protection, body
//! limits, JSON-RPC error responses and SSE framing.

use bytes::Bytes;
use fastmcp_core::protocol::{codes, jsonrpc, ErrorObject, RequestId};
use fastmcp_core::{EntityId, Error};
use poem::http::{header, HeaderMap, StatusCode};
use poem::{Body, Request, Response};
use serde_json::Value;

use crate::config::HttpConfig;
use crate::limits::{Denied, Refusal};

/// `Mcp-Session-Id`.
pub(crate) const SESSION_HEADER: &str = "mcp-session-id";
/// `MCP-Protocol-Version`.
pub(crate) const VERSION_HEADER: &str = "mcp-protocol-version";
/// `Last-Event-ID`.
pub(crate) const LAST_EVENT_ID: &str = "last-event-id";

/// A JSON-RPC error response with an HTTP status (`id` null unless known).
pub(crate) fn rpc_error(
    status: StatusCode,
    id: Option<&RequestId>,
    error: ErrorObject,
) -> Response {
    json_response(status, &jsonrpc::error_response(id, &error))
}

/// Shorthand for an error with code and message.
pub(crate) fn error_status(status: StatusCode, code: i64, message: impl Into<String>) -> Response {
    rpc_error(status, None, ErrorObject::new(code, message))
}

/// A JSON body with a status.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(bytes)
}

/// Answers a failure that ends the request before any JSON-RPC exchange (a session that cannot
/// be loaded or saved): the status from the one table in core ([`Error::http_status`]), a short
/// message; backend details are logged, never sent.
pub(crate) fn store_error(e: &Error) -> Response {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = match status.as_u16() {
        404 => "Session not found",
        409 => "concurrent update; retry",
        400 | 422 => "a value in the request cannot be stored",
        503 | 504 => "session store unavailable; retry later",
        _ => "session store error",
    };
    if status.is_server_error() {
        tracing::warn!(error = %e, "store failure");
    }
    error_status(status, codes::INTERNAL_ERROR, message)
}

/// The entity from the `{entity}` path segment, or a 400 naming the rule.
pub(crate) fn entity_from_path(req: &Request) -> Result<EntityId, Response> {
    let raw = req.raw_path_param("entity").unwrap_or_default();
    EntityId::parse(raw).map_err(|e| {
        error_status(
            StatusCode::BAD_REQUEST,
            codes::INVALID_REQUEST,
            e.to_string(),
        )
    })
}

fn host_of_origin(origin: &str) -> Option<&str> {
    let rest = origin.split_once("://")?.1;
    Some(rest.split('/').next().unwrap_or(rest))
}

/// `localhost`, `127.x.x.x` or `[::1]`, with or without a port.
pub(crate) fn is_loopback_host(hostport: &str) -> bool {
    let host = if let Some(rest) = hostport.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        hostport.rsplit_once(':').map_or(hostport, |(h, p)| {
            if p.chars().all(|c| c.is_ascii_digit()) {
                h
            } else {
                hostport
            }
        })
    };
    host.eq_ignore_ascii_case("localhost")
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn host_allowed(cfg: &HttpConfig, hostport: &str) -> bool {
    let bare = hostport.rsplit_once(':').map_or(hostport, |(h, _)| h);
    cfg.allowed_hosts
        .iter()
        .any(|h| h == "*" || h.eq_ignore_ascii_case(hostport) || h.eq_ignore_ascii_case(bare))
}

/// DNS-rebinding protection: a foreign `Origin` is refused with 403; on a loopback bind the
/// `Host` must be a loopback name too (or explicitly allowed).
pub(crate) fn check_origin(cfg: &HttpConfig, headers: &HeaderMap) -> Result<(), Response> {
    let forbidden = |what: &str| {
        Err(error_status(
            StatusCode::FORBIDDEN,
            codes::INVALID_REQUEST,
            format!("forbidden: {what}"),
        ))
    };
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let ok = cfg
            .allowed_origins
            .iter()
            .any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
            || host_of_origin(origin).is_some_and(|h| {
                (cfg.loopback_only && is_loopback_host(h)) || host_allowed(cfg, h)
            });
        if !ok {
            return forbidden("origin not allowed");
        }
    }
    // On a loopback bind only loopback names (plus the allow-list) may reach us; elsewhere the
    // Host is checked once an allow-list is configured.
    if cfg.loopback_only || !cfg.allowed_hosts.is_empty() {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let loopback_ok = cfg.loopback_only && is_loopback_host(host);
        if !host.is_empty() && !loopback_ok && !host_allowed(cfg, host) {
            return forbidden("host not allowed");
        }
    }
    Ok(())
}

/// The checks every MCP request passes first: `Origin`/`Host`, the entity in the path, the
/// entity's request rate, then authentication (401/403/503 per [`crate::auth::reject`]).
pub(crate) async fn tenant(
    state: &crate::app::AppState,
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
    state: &crate::app::AppState,
    req: &Request,
) -> Result<Caller, Response> {
    tenant_checks(state, req, true).await
}

async fn tenant_checks(
    state: &crate::app::AppState,
    req: &Request,
    defer_rate: bool,
) -> Result<Caller, Response> {
    check_origin(&state.http, req.headers())?;
    let entity = entity_from_path(req)?;
    // Before authentication: unauthenticated floods count against the entity too.
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
    let headers = crate::auth::PoemHeaders(req.headers());
    let principal = match state.auth.authenticate(&headers, &entity).await {
        Ok(p) => p,
        Err(e) => return Err(refuse(over, e)),
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
    state: &crate::app::AppState,
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
    state: &crate::app::AppState,
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
        // Another principal's session is as unknown as another entity's.
        Ok(Some(rec)) if rec.principal.as_deref().unwrap_or("anonymous") == principal.subject => {
            Ok(rec)
        }
        Ok(_) => Err(not_found()),
        Err(e) => Err(store_error(&e)),
    }
}

/// Reads the body up to the configured limit; 413 beyond it.
pub(crate) async fn read_body(cfg: &HttpConfig, body: Body) -> Result<Bytes, Response> {
    body.into_bytes_limit(cfg.body_limit)
        .await
        .map_err(|e| match e {
            poem::error::ReadBodyError::PayloadTooLarge => error_status(
                StatusCode::PAYLOAD_TOO_LARGE,
                codes::INVALID_REQUEST,
                format!("request body exceeds {} bytes", cfg.body_limit),
            ),
            other => error_status(
                StatusCode::BAD_REQUEST,
                codes::PARSE_ERROR,
                format!("cannot read body: {other}"),
            ),
        })
}

/// Parses JSON or answers 400 with -32700.
pub(crate) fn parse_json(bytes: &[u8]) -> Result<Value, Response> {
    serde_json::from_slice(bytes).map_err(|e| {
        error_status(
            StatusCode::BAD_REQUEST,
            codes::PARSE_ERROR,
            format!("Parse error: {e}"),
        )
    })
}

/// One SSE frame. `data` is written as one `data:` line (JSON has no raw newlines).
pub(crate) fn sse_frame(event: Option<&str>, id: Option<&str>, data: &str) -> Bytes {
    let mut s = String::with_capacity(data.len() + 48);
    if let Some(id) = id {
        s.push_str("id: ");
        s.push_str(id);
        s.push('\n');
    }
    if let Some(ev) = event {
        s.push_str("event: ");
        s.push_str(ev);
        s.push('\n');
    }
    for line in data.split('\n') {
        s.push_str("data: ");
        s.push_str(line);
        s.push('\n');
    }
    s.push('\n');
    Bytes::from(s)
}

/// A comment frame that keeps proxies from timing the stream out.
pub(crate) fn sse_keepalive() -> Bytes {
    Bytes::from_static(b": keep-alive\n\n")
}

/// An SSE response from a channel of frames.
pub(crate) fn sse_response(
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    session: Option<&str>,
) -> Response {
    let stream = futures::StreamExt::map(
        tokio_stream::wrappers::ReceiverStream::new(rx),
        Ok::<_, std::io::Error>,
    );
    let mut b = Response::builder()
        .status(StatusCode::OK)
        .content_type("text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache, no-transform")
        .header("x-accel-buffering", "no");
    if let Some(s) = session {
        b = b.header(SESSION_HEADER, s);
    }
    b.body(Body::from_bytes_stream(stream))
}

/// Whether the `Accept` header admits `mime` (absent header or `*/*` admit everything).
pub(crate) fn accepts(headers: &HeaderMap, mime: &str) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let ty = mime.split_once('/').map_or(mime, |(t, _)| t);
    accept.split(',').any(|part| {
        let m = part.split(';').next().unwrap_or("").trim();
        m == "*/*"
            || m.eq_ignore_ascii_case(mime)
            || m.split_once('/')
                .is_some_and(|(t, sub)| sub == "*" && t.eq_ignore_ascii_case(ty))
    })
}

/// Whether `value` starts with `prefix`, ignoring ASCII case (no allocation).
pub(crate) fn starts_with_ignore_case(value: &str, prefix: &str) -> bool {
    value.len() >= prefix.len()
        && value.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// Byte offset of `needle` in `hay`, ignoring ASCII case (no allocation).
pub(crate) fn find_ignore_case(hay: &str, needle: &str) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    (0..=h.len().checked_sub(n.len())?).find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "localhost:8000",
            "127.0.0.1",
            "127.0.0.1:3005",
            "[::1]:80",
            "[::1]",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "evil.example.com",
            "evil.example.com:80",
            "10.0.0.1:80",
            "localhost.evil.com",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn header_matching_ignores_case_without_allocating() {
        assert!(starts_with_ignore_case(
            "Application/JSON; charset=utf-8",
            "application/json"
        ));
        assert!(!starts_with_ignore_case("text/plain", "application/json"));
        assert!(!starts_with_ignore_case("é", "application/json"));
        assert_eq!(
            find_ignore_case("a, TEXT/event-stream", "text/event-stream"),
            Some(3)
        );
        assert_eq!(find_ignore_case("x", "text/event-stream"), None);
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, "text/*;q=0.5".parse().unwrap());
        assert!(accepts(&h, "text/event-stream"));
        assert!(!accepts(&h, "application/json"));
    }

    #[test]
    fn sse_frames() {
        assert_eq!(
            sse_frame(Some("message"), Some("s/1"), "{}"),
            Bytes::from("id: s/1\nevent: message\ndata: {}\n\n")
        );
        assert_eq!(
            sse_frame(None, Some("s/"), ""),
            Bytes::from("id: s/\ndata: \n\n")
        );
    }
}
