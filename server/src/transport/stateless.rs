//! Streamable HTTP at 2026-07-28 on the same `POST /{entity}/mcp`: no session, the envelope in
//! every request's `_meta`, routing headers that must repeat the body, and
//! `subscriptions/listen` streams fed by the shared `MessageQueue`.

use std::sync::Arc;

use bytes::Bytes;
use fastmcp_core::engine::notify::{changes_stream, listen_ack, ListenFilter};
use fastmcp_core::engine::stateless::{
    is_modern_version, name_param, parse_meta, unsupported_modern_version,
};
use fastmcp_core::protocol::http_fields::decode_header_value;
use fastmcp_core::protocol::SUPPORTED_PROTOCOL_VERSIONS;
use fastmcp_core::protocol::{codes, jsonrpc, ErrorObject, Message, Request as RpcRequest};
use fastmcp_core::EntityId;
use poem::http::StatusCode;
use poem::{Request, Response};
use serde_json::Value;
use tokio::sync::mpsc;

use super::http::{
    json_bytes_response, reply_bytes, reply_value, rpc_error, SESSION_HEADER, VERSION_HEADER,
};
use super::outlet::{ChannelOutlet, OutletMsg};
use super::sse::{
    self, pulled_response, sse_frame, sse_keepalive, sse_response, Chore, Delivery, Opening, Relay,
};
use crate::state::AppState;

const METHOD_HEADER: &str = "mcp-method";
const NAME_HEADER: &str = "mcp-name";
const PARAM_HEADER_PREFIX: &str = "mcp-param-";

fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Whether a POST belongs to the sessionless revision: its `MCP-Protocol-Version` names it
/// (then `Mcp-Session-Id` is ignored), or, as the reference server routes header-less traffic,
/// it has no session id and carries a `_meta` envelope, unless it is plainly handshake-era (a
/// handshake version header and no envelope, or an `initialize`).
pub(crate) fn is_stateless(req: &Request, body: &Value) -> bool {
    if !body.is_object() {
        return false;
    }
    let version = header(req, VERSION_HEADER);
    if version.is_some_and(is_modern_version) {
        return true;
    }
    if req.headers().contains_key(SESSION_HEADER) {
        return false;
    }
    let has_meta = body
        .get("params")
        .and_then(|p| p.get("_meta"))
        .is_some_and(Value::is_object);
    if body.get("method").and_then(Value::as_str) == Some("initialize") {
        return false;
    }
    match version {
        Some(v) if SUPPORTED_PROTOCOL_VERSIONS.contains(&v) => has_meta,
        // An unknown version goes where the envelope says, so the error names it correctly.
        Some(_) => true,
        None => has_meta,
    }
}

fn bad(id: Option<&fastmcp_core::protocol::RequestId>, code: i64, msg: String) -> Response {
    rpc_error(StatusCode::BAD_REQUEST, id, ErrorObject::new(code, msg))
}

/// The routing headers must repeat the body: `Mcp-Method` always, `Mcp-Name` for the methods
/// that name something, `Mcp-Param-{X}` for tool arguments whose schema says `x-mcp-header: X`.
fn check_routing_headers(state: &AppState, req: &Request, rpc: &RpcRequest) -> Result<(), String> {
    match header(req, METHOD_HEADER).map(str::trim) {
        Some(m) if m == rpc.method => {}
        Some(_) => return Err("Mcp-Method header does not match the body's method".into()),
        None => return Err("Mcp-Method header is required".into()),
    }
    let params = rpc.params.as_ref();
    if let Some(key) = name_param(&rpc.method) {
        let body = params.and_then(|p| p.get(key)).and_then(Value::as_str);
        let given = header(req, NAME_HEADER);
        match (body, given) {
            (Some(b), Some(h)) => match decode_header_value(h) {
                Some(h) if h == b => {}
                Some(_) => return Err(format!("Mcp-Name header does not match params.{key}")),
                None => return Err("Mcp-Name header is not valid Base64".into()),
            },
            (Some(_), None) => return Err("Mcp-Name header is required".into()),
            (None, _) => {}
        }
    }
    if rpc.method == "tools/call" {
        let name = params
            .and_then(|p| p.get("name"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some(tool) = state.mcp.registry().tool(name) else {
            return Ok(());
        };
        let args = params.and_then(|p| p.get("arguments"));
        let props = tool
            .info()
            .input_schema
            .get("properties")
            .and_then(Value::as_object);
        for (prop, schema) in props.into_iter().flatten() {
            let Some(hname) = schema.get("x-mcp-header").and_then(Value::as_str) else {
                continue;
            };
            let Some(value) = args.and_then(|a| a.get(prop)).filter(|v| !v.is_null()) else {
                continue;
            };
            let expected = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let hdr = format!("{PARAM_HEADER_PREFIX}{}", hname.to_ascii_lowercase());
            match header(req, &hdr).map(decode_header_value) {
                Some(Some(v)) if v == expected => {}
                Some(Some(_)) => return Err(format!("Mcp-Param-{hname} does not match `{prop}`")),
                Some(None) => return Err(format!("Mcp-Param-{hname} is not valid Base64")),
                None => return Err(format!("Mcp-Param-{hname} header is required")),
            }
        }
    }
    Ok(())
}

/// Serves one 2026-07-28 POST whose body is already parsed.
pub(crate) async fn post(
    state: &AppState,
    req: &Request,
    entity: EntityId,
    principal: Arc<fastmcp_core::Principal>,
    value: Value,
    prefers_sse: bool,
) -> Response {
    let rpc = match Message::from_value(value) {
        Ok(Message::Request(r)) => r,
        // This revision has no client notifications or responses over HTTP; accept and drop.
        Ok(_) => return Response::builder().status(StatusCode::ACCEPTED).finish(),
        Err(inv) => return rpc_error(StatusCode::BAD_REQUEST, inv.id.as_ref(), inv.error),
    };
    let id = Some(&rpc.id);
    // The order of these checks is the revision's: envelope, header agreement, version,
    // routing headers, then the method.
    let meta = match parse_meta(rpc.params.as_ref()) {
        Ok(m) => m,
        Err(e) => return rpc_error(StatusCode::BAD_REQUEST, id, e),
    };
    if header(req, VERSION_HEADER) != meta.protocol_version.as_str() {
        return bad(
            id,
            codes::HEADER_MISMATCH,
            "MCP-Protocol-Version header does not match params._meta protocolVersion".into(),
        );
    }
    let Some(version) = meta.protocol_version.as_str() else {
        return bad(
            id,
            codes::INVALID_PARAMS,
            "protocolVersion must be a string".into(),
        );
    };
    if !is_modern_version(version) {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            id,
            unsupported_modern_version(version),
        );
    }
    if let Err(msg) = check_routing_headers(state, req, &rpc) {
        return bad(id, codes::HEADER_MISMATCH, msg);
    }
    let slot = match super::http::admit(state, req, &entity, &principal, &rpc).await {
        Ok(slot) => slot,
        Err(denied) => return denied.into_response(Some(&rpc.id)),
    };
    if rpc.method == "subscriptions/listen" {
        if !state.http.hold_streams {
            let msg = format!("subscriptions/listen: {}", super::streamable::NO_STREAMS);
            return bad(Some(&rpc.id), codes::INVALID_REQUEST, msg);
        }
        return listen(state, entity, rpc).await;
    }
    let accepts_sse =
        super::http::accepts(req.headers(), "text/event-stream") && state.http.hold_streams;
    run(
        state,
        entity,
        rpc,
        meta,
        principal,
        slot,
        (accepts_sse, prefers_sse),
    )
    .await
}

/// JSON when the handler says nothing before its result, else SSE with the notifications first.
/// Nothing is persisted: this revision has no stream resumption.
async fn run(
    state: &AppState,
    entity: EntityId,
    rpc: RpcRequest,
    meta: fastmcp_core::engine::stateless::RequestMeta,
    principal: Arc<fastmcp_core::Principal>,
    slot: Option<crate::limits::CallSlot>,
    (accepts_sse, prefers_sse): (bool, bool),
) -> Response {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let outlet = Arc::new(ChannelOutlet::new(tx));
    let mcp = state.mcp.clone();
    let mut work = Box::pin(async move {
        let _slot = slot;
        mcp.handle_modern(&entity, rpc, &meta, outlet, Some(principal))
            .await
    });
    let keep_alive = state.http.keep_alive;
    // A call still running after one keep-alive interval moves to a stream when the client
    // accepts one: this revision cancels by closing the POST, and only a response that is
    // being written (keep-alives included) notices the close. A plain-JSON answer pending in
    // hyper would let the handler run on for nobody.
    let delivery = Delivery {
        accepts_sse,
        prefers_sse,
        move_after: Some(keep_alive),
    };
    let (first, done) = match sse::open(&mut work, &mut rx, delivery).await {
        Opening::Json(done) => {
            let status = StatusCode::from_u16(done.status).unwrap_or(StatusCode::OK);
            let bytes = reply_bytes(&done.message, state.http.max_response_bytes);
            return json_bytes_response(status, bytes);
        }
        Opening::Stream { first, done } => (first, done),
    };
    let (frames_tx, frames_rx) = mpsc::channel::<Bytes>(64);
    let cap = state.http.max_response_bytes;
    // Tracked: a draining process waits for the call (its grace period), as for a JSON one.
    state.calls.spawn(async move {
        if let Some(m) = first {
            forward(&frames_tx, m).await;
        }
        let mut tick =
            tokio::time::interval_at(tokio::time::Instant::now() + keep_alive, keep_alive);
        let done = if let Some(done) = done {
            done
        } else {
            loop {
                tokio::select! {
                    biased;
                    Some(m) = rx.recv() => forward(&frames_tx, m).await,
                    done = &mut work => break done,
                    // The client went away: dropping the work cancels the handler.
                    _ = frames_tx.closed() => return,
                    // Writing is how a closed connection is noticed while the handler is silent.
                    _ = tick.tick() => if frames_tx.send(sse_keepalive()).await.is_err() { return },
                }
            }
        };
        while let Ok(m) = rx.try_recv() {
            forward(&frames_tx, m).await;
        }
        send(&frames_tx, &reply_value(&done.message, cap)).await;
    });
    sse_response(frames_rx, None)
}

async fn forward(frames: &mpsc::Sender<Bytes>, msg: OutletMsg) {
    if let OutletMsg::Message(m) = msg {
        send(frames, &m).await;
    }
}

async fn send<T: serde::Serialize + ?Sized>(frames: &mpsc::Sender<Bytes>, message: &T) {
    let text = serde_json::to_string(message).unwrap_or_default();
    let _ = frames.send(sse_frame(Some("message"), None, &text)).await;
}

/// `subscriptions/listen`: an acknowledgement at once, then the changes the filter asked for,
/// from whichever instance made them, until the client disconnects.
async fn listen(state: &AppState, entity: EntityId, rpc: RpcRequest) -> Response {
    let filter = match ListenFilter::parse(rpc.params.as_ref()) {
        Ok(f) => f,
        Err(e) => return rpc_error(StatusCode::BAD_REQUEST, Some(&rpc.id), e.to_error_object()),
    };
    let sub_id = serde_json::to_value(&rpc.id).unwrap_or(Value::Null);
    let slot = match state.streams.admit(&entity) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let queue = Arc::clone(state.mcp.queue());
    let stream = changes_stream();
    // From now on: earlier changes were for earlier listeners.
    let after = match queue.replay_after(&entity, &stream, None).await {
        Ok(evs) => evs.last().map(|e| e.id.clone()),
        Err(e) => return super::http::store_error(e),
    };
    let sub = match queue.subscribe(&entity, &stream, after).await {
        Ok(s) => s,
        Err(e) => return super::http::store_error(e),
    };
    let ack = listen_ack(&filter, &sub_id);
    let first = sse_frame(Some("message"), None, &ack.to_string());
    let relay = ListenRelay {
        filter,
        sub_id,
        rpc_id: rpc.id,
        _slot: slot,
    };
    pulled_response(state, relay, Some(first), sub, None)
}

/// A `subscriptions/listen` stream: the changes its filter asked for, and the listen result
/// when it ends cleanly, so the client listens again, on any instance.
struct ListenRelay {
    filter: ListenFilter,
    sub_id: Value,
    rpc_id: fastmcp_core::protocol::RequestId,
    _slot: crate::limits::StreamSlot,
}

impl Relay for ListenRelay {
    fn event(&mut self, ev: fastmcp_core::storage::Event) -> (Option<Bytes>, Option<Chore>) {
        let frame = self
            .filter
            .notification_for(&ev.message, &self.sub_id)
            .map(|n| sse_frame(Some("message"), None, &n.to_string()));
        (frame, None)
    }

    fn last(&mut self) -> Option<Bytes> {
        let done = jsonrpc::response(
            &self.rpc_id,
            serde_json::json!({
                "_meta": { fastmcp_core::engine::stateless::META_SUBSCRIPTION_ID: self.sub_id },
                "resultType": "complete",
            }),
        );
        Some(sse_frame(Some("message"), None, &done.to_string()))
    }
}
