//! Streamable HTTP, handshake era (2025-03-26 … 2025-11-25): `POST|GET|DELETE /{entity}/mcp`.
//! POSTs of the sessionless revision are handed to [`super::stateless`].
//!
//! A POSTed request is answered with plain JSON when its handler produces nothing before the
//! result (the common, fast case), and switches to an SSE stream as soon as the handler emits a
//! notification or a server-to-client request. Every event of such a stream is published to the
//! `MessageQueue` first, so a client can resume it with `Last-Event-ID` on any instance.

use std::sync::Arc;

use bytes::Bytes;
use fastmcp_core::protocol::{
    codes, jsonrpc, ErrorObject, Message, Request as RpcRequest, MODERN_PROTOCOL_VERSION,
};
use fastmcp_core::storage::EventId;
use fastmcp_core::{unsupported_version_error, EntityId, Principal, SessionRecord, StreamKey};
use poem::http::StatusCode;
use poem::web::Data;
use poem::{handler, Body, Request, Response};
use serde_json::Value;
use tokio::sync::mpsc;
use tracing::Instrument as _;

use super::http::{
    accepts, error_status, find_ignore_case, is_media_type, json_bytes_response, json_response,
    load_session, parse_json, read_body, reply_bytes, reply_value, rpc_error, store_error, tenant,
    LAST_EVENT_ID, SESSION_HEADER, VERSION_HEADER,
};
use super::outlet::{ChannelOutlet, OutletMsg};
use super::sse::{self, pulled_response, sse_frame, sse_response, Delivery, Opening, SessionRelay};
use crate::edge::{close_session, open_session, SessionCap};
use crate::limits::Denied;
use crate::state::AppState;

fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Checks `MCP-Protocol-Version`: absent means 2025-03-26; a modern or unknown revision gets
/// 400 + -32022 listing the handshake versions, which is what makes dual-era clients fall back.
fn check_version_header(req: &Request) -> Result<(), Response> {
    match header(req, VERSION_HEADER) {
        None => Ok(()),
        Some(v) if fastmcp_core::protocol::is_supported_version(v) => Ok(()),
        Some(v) => Err(rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            unsupported_version_error(v),
        )),
    }
}

/// Loads the session named by `Mcp-Session-Id` for this entity: 400 when missing, 404 when
/// unknown, expired or another entity's.
async fn session_from_header(
    state: &AppState,
    req: &Request,
    entity: &EntityId,
    principal: &Principal,
) -> Result<SessionRecord, Response> {
    load_session(
        &state.mcp,
        entity,
        principal,
        header(req, SESSION_HEADER),
        "Bad Request: Mcp-Session-Id header is required",
        fastmcp_core::storage::SessionTransport::StreamableHttp,
    )
    .await
}

/// `POST /{entity}/mcp`.
#[handler]
pub(crate) async fn post(req: &Request, body: Body, state: Data<&Arc<AppState>>) -> Response {
    let state = *state;
    let (entity, principal) = match tenant(state, req).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let ct = header(req, "content-type").unwrap_or("");
    if !is_media_type(ct, "application/json") {
        return error_status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            codes::INVALID_REQUEST,
            "Unsupported Media Type: Content-Type must be application/json",
        );
    }
    let accepts_json = accepts(req.headers(), "application/json");
    let accepts_sse = accepts(req.headers(), "text/event-stream") && state.http.hold_streams;
    if !accepts_json && !accepts_sse {
        let why = if state.http.hold_streams {
            "Not Acceptable: accept application/json or text/event-stream"
        } else {
            "Not Acceptable: this deployment answers in application/json only"
        };
        return error_status(StatusCode::NOT_ACCEPTABLE, codes::INVALID_REQUEST, why);
    }
    let bytes = match read_body(&state.http, req.headers(), body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let value = match parse_json(&bytes) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let span = crate::telemetry::edge_span(req.headers(), &value);
    dispatch(state, req, entity, principal, value, accepts_sse)
        .instrument(span)
        .await
}

/// A parsed POST body, by era and kind of message.
async fn dispatch(
    state: &AppState,
    req: &Request,
    entity: EntityId,
    principal: Arc<Principal>,
    value: Value,
    accepts_sse: bool,
) -> Response {
    if super::stateless::is_stateless(req, &value) {
        return super::stateless::post(state, req, entity, principal, value, prefers_sse(req))
            .await;
    }
    let is_initialize = value.get("method").and_then(Value::as_str) == Some("initialize");
    if !is_initialize {
        if let Err(r) = check_version_header(req) {
            return r;
        }
    }
    if value.is_array() {
        return post_batch(state, req, &entity, &principal, value).await;
    }
    let message = match Message::from_value(value) {
        Ok(m) => m,
        Err(inv) => return rpc_error(StatusCode::BAD_REQUEST, inv.id.as_ref(), inv.error),
    };
    match message {
        Message::Request(r) if r.method == "initialize" => {
            initialize(state, entity, &principal, r).await
        }
        Message::Request(r) => {
            let session = match session_from_header(state, req, &entity, &principal).await {
                Ok(s) => s,
                Err(resp) => return resp,
            };
            let slot = match super::http::admit(state, req, &entity, &principal, &r).await {
                Ok(slot) => slot,
                Err(denied) => return denied.into_response(Some(&r.id)),
            };
            let how = (accepts_sse, prefers_sse(req));
            run_request(state, session, r, principal, slot, how).await
        }
        Message::Notification(n) => {
            let session = match session_from_header(state, req, &entity, &principal).await {
                Ok(s) => s,
                Err(resp) => return resp,
            };
            match state.mcp.handle_notification(&session, n).await {
                Ok(()) => accepted(),
                Err(e) => store_error(e),
            }
        }
        Message::Response(r) => {
            let session = match session_from_header(state, req, &entity, &principal).await {
                Ok(s) => s,
                Err(resp) => return resp,
            };
            match state.mcp.handle_response(&session, r).await {
                Ok(()) => accepted(),
                Err(e) => store_error(e),
            }
        }
    }
}

/// Whether `Accept` names `text/event-stream` before `application/json` (equal q-values: the
/// client's order is its preference).
fn prefers_sse(req: &Request) -> bool {
    let accept = header(req, "accept").unwrap_or("");
    match (
        find_ignore_case(accept, "text/event-stream"),
        find_ignore_case(accept, "application/json"),
    ) {
        (Some(sse), Some(json)) => sse < json,
        (Some(_), None) => true,
        _ => false,
    }
}

fn accepted() -> Response {
    Response::builder().status(StatusCode::ACCEPTED).finish()
}

async fn initialize(
    state: &AppState,
    entity: EntityId,
    principal: &Principal,
    req: RpcRequest,
) -> Response {
    let mut record = SessionRecord::new(entity);
    record.principal = Some(principal.subject.clone());
    let result = match state.mcp.initialize(&mut record, req.params.as_ref()) {
        Ok(r) => r,
        Err(e) => return rpc_error(StatusCode::BAD_REQUEST, Some(&req.id), e.to_error_object()),
    };
    let record = match open_session(state, record, SessionCap::Enforced(Some(&req.id))).await {
        Ok(r) => r,
        Err(no) => return no.into_response(),
    };
    let mut resp = json_response(StatusCode::OK, &jsonrpc::response(&req.id, result));
    if let Ok(v) = record.id.to_string().parse() {
        resp.headers_mut().insert(SESSION_HEADER, v);
    }
    resp
}

/// JSON-RPC batches (allowed by 2025-03-26): each message is handled in order; responses are
/// returned together as JSON. Notifications emitted by handlers are not deliverable here.
async fn post_batch(
    state: &AppState,
    req: &Request,
    entity: &EntityId,
    principal: &Arc<Principal>,
    value: Value,
) -> Response {
    let Value::Array(items) = value else {
        return accepted();
    };
    if items.is_empty() {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            ErrorObject::invalid_request("empty batch"),
        );
    }
    if items.len() > state.http.max_batch_items {
        state.metrics.rate_limited(entity, "batch_size");
        return rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            ErrorObject::invalid_request(format!(
                "a batch may hold at most {} messages (this one has {})",
                state.http.max_batch_items,
                items.len()
            )),
        );
    }
    let session = match session_from_header(state, req, entity, principal).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    if session
        .protocol_version
        .as_deref()
        .is_some_and(|v| v >= "2025-06-18")
    {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            ErrorObject::invalid_request("JSON-RPC batches are not part of this protocol version"),
        );
    }
    let mut out = Vec::new();
    let mut room = state.http.max_response_bytes;
    let mut requests = 0usize;
    for item in items {
        match Message::from_value(item) {
            Err(inv) => out.push(jsonrpc::error_response(inv.id.as_ref(), &inv.error)),
            Ok(Message::Request(r)) => {
                // Each item is admitted like a lone request: counted against the entity's rate
                // (the first was, with the HTTP request), scopes, and a call slot for a
                // `tools/call` (held until its answer). A refused item is answered in its slot.
                requests += 1;
                if requests > 1 {
                    match state
                        .limits
                        .check_rate(&state.mcp, &state.metrics, entity)
                        .await
                    {
                        Ok(()) => {}
                        Err(Denied::Limit(refusal)) => {
                            out.push(jsonrpc::error_response(Some(&r.id), &refusal.error()));
                            continue;
                        }
                        Err(Denied::Response(resp)) => return resp,
                    }
                }
                let _slot = match super::http::admit(state, req, entity, principal, &r).await {
                    Ok(slot) => slot,
                    Err(Denied::Limit(refusal)) => {
                        out.push(jsonrpc::error_response(Some(&r.id), &refusal.error()));
                        continue;
                    }
                    Err(Denied::Response(resp)) => return resp,
                };
                let outlet = Arc::new(fastmcp_core::NullOutlet);
                let who = Some(Arc::clone(principal));
                let reply = state.mcp.handle_request_as(&session, r, outlet, who).await;
                // The batch's answers share the one cap.
                let (value, n) = crate::response::reply_value_sized(&reply, room);
                room = room.saturating_sub(n);
                out.push(value);
            }
            Ok(Message::Notification(n)) => {
                if let Err(e) = state.mcp.handle_notification(&session, n).await {
                    return store_error(e);
                }
            }
            Ok(Message::Response(r)) => {
                if let Err(e) = state.mcp.handle_response(&session, r).await {
                    return store_error(e);
                }
            }
        }
    }
    if out.is_empty() {
        return accepted();
    }
    json_response(StatusCode::OK, &Value::Array(out))
}

/// Why a stream is refused where [`crate::HttpConfig::hold_streams`] is off.
pub(crate) const NO_STREAMS: &str = "this deployment cannot hold a stream open (a serverless \
function without response streaming): POST requests are answered in JSON";

/// Names this server gives streams: `get`, `sse`, or `post-` + 32 hex digits.
fn new_stream_name() -> String {
    format!("post-{}", uuid::Uuid::new_v4().simple())
}

fn wants_priming(session: &SessionRecord) -> bool {
    session
        .protocol_version
        .as_deref()
        .is_some_and(|v| v >= "2025-11-25")
}

/// Runs one request: JSON if the handler emits nothing before its result, else SSE. A client
/// that lists `text/event-stream` before `application/json` in `Accept` always gets a stream.
async fn run_request(
    state: &AppState,
    session: SessionRecord,
    request: RpcRequest,
    principal: Arc<Principal>,
    slot: Option<crate::limits::CallSlot>,
    (accepts_sse, prefers_sse): (bool, bool),
) -> Response {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let outlet = Arc::new(if accepts_sse {
        ChannelOutlet::new(tx)
    } else if state.http.hold_streams {
        ChannelOutlet::json_only(tx, "it accepts JSON answers only (no text/event-stream)")
    } else {
        ChannelOutlet::json_only(tx, NO_STREAMS)
    });
    let mcp = state.mcp.clone();
    let session = Arc::new(session);
    let s2 = Arc::clone(&session);
    let mut work = Box::pin(async move {
        // Held for the whole call, wherever its future ends up being polled.
        let _slot = slot;
        mcp.handle_request_as(&s2, request, outlet, Some(principal))
            .await
    });

    let delivery = Delivery {
        accepts_sse,
        prefers_sse,
        move_after: None,
    };
    let (mut pending, mut final_response) = match sse::open(&mut work, &mut rx, delivery).await {
        Opening::Json(response) => {
            let bytes = reply_bytes(&response, state.http.max_response_bytes);
            return json_bytes_response(StatusCode::OK, bytes);
        }
        Opening::Stream { first, done } => (first, done),
    };
    let (frames_tx, frames_rx) = mpsc::channel::<Bytes>(64);
    let stream = StreamKey::new(session.id, new_stream_name());
    let primed = wants_priming(&session);
    if primed {
        let priming = format!(
            "id: {}/\nretry: {}\ndata: \n\n",
            stream.name, state.http.sse_retry_ms
        );
        let _ = frames_tx.try_send(Bytes::from(priming));
    }
    let queue = Arc::clone(state.mcp.queue());
    let entity = session.entity.clone();
    let session_header = session.id.to_string();
    let drain = state.draining.clone();
    let cap = state.http.max_response_bytes;
    // Tracked: a draining process waits for the call, within its grace period.
    state.calls.spawn(async move {
        // Runs to completion even if the client goes away: every event is published first,
        // so a reconnect with Last-Event-ID (here or elsewhere) gets the rest.
        let mut frames = Some(frames_tx);
        loop {
            let msg = if let Some(m) = pending.take() {
                m
            } else if final_response.is_some() {
                match rx.try_recv() {
                    Ok(m) => m,
                    Err(_) => break,
                }
            } else {
                tokio::select! {
                    biased;
                    Some(m) = rx.recv() => m,
                    resp = &mut work => { final_response = Some(resp); continue; }
                    // Draining: end a resumable stream now; the client resumes it on another
                    // instance with Last-Event-ID while the call finishes here and publishes.
                    _ = drain.cancelled(), if primed && frames.is_some() => {
                        frames = None;
                        continue;
                    }
                }
            };
            match msg {
                // Without a priming event id the client could not resume: keep the stream.
                OutletMsg::CloseStream if primed => frames = None,
                OutletMsg::CloseStream => {}
                OutletMsg::Message(m) => {
                    emit(&queue, &entity, &stream, &mut frames, &m, primed).await
                }
            }
        }
        if let Some(resp) = final_response {
            emit(
                &queue,
                &entity,
                &stream,
                &mut frames,
                &reply_value(&resp, cap),
                primed,
            )
            .await;
        }
        if let Err(e) = queue.close(&entity, &stream).await {
            tracing::warn!(error = %e.report(), "cannot close stream");
        }
    });
    sse_response(frames_rx, Some(&session_header))
}

async fn emit(
    queue: &Arc<dyn fastmcp_core::MessageQueue>,
    entity: &EntityId,
    stream: &StreamKey,
    frames: &mut Option<mpsc::Sender<Bytes>>,
    message: &Value,
    resumable: bool,
) {
    let id = match queue.publish(entity, stream, message).await {
        Ok(id) => Some(format!("{}/{}", stream.name, id)),
        Err(e) => {
            tracing::warn!(error = %e.report(), "event not persisted; delivering without resumability");
            None
        }
    };
    if let Some(tx) = frames {
        let frame = sse_frame(Some("message"), id.as_deref(), &message.to_string());
        let gone = if resumable && id.is_some() {
            // A client that stops reading must not stall the handler: end its stream; the
            // events are stored and it can resume with Last-Event-ID.
            tx.try_send(frame).is_err()
        } else {
            tx.send(frame).await.is_err()
        };
        if gone {
            *frames = None;
        }
    }
}

/// `GET /{entity}/mcp`: the standalone stream, or the resumption of any of the session's
/// streams with `Last-Event-ID: {stream}/{event}`.
#[handler]
pub(crate) async fn get(req: &Request, state: Data<&Arc<AppState>>) -> Response {
    let state = *state;
    let (entity, principal) = match tenant(state, req).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    if !state.http.hold_streams {
        return error_status(
            StatusCode::METHOD_NOT_ALLOWED,
            codes::INVALID_REQUEST,
            NO_STREAMS,
        );
    }
    if !accepts(req.headers(), "text/event-stream") {
        return error_status(
            StatusCode::NOT_ACCEPTABLE,
            codes::INVALID_REQUEST,
            "Not Acceptable: GET needs Accept: text/event-stream",
        );
    }
    if header(req, VERSION_HEADER) == Some(MODERN_PROTOCOL_VERSION) {
        return error_status(
            StatusCode::METHOD_NOT_ALLOWED,
            codes::INVALID_REQUEST,
            "GET is not part of protocol 2026-07-28",
        );
    }
    if let Err(r) = check_version_header(req) {
        return r;
    }
    let session = match session_from_header(state, req, &entity, &principal).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let slot = match state.streams.admit(&entity) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let queue = Arc::clone(state.mcp.queue());
    let (stream, after) = match header(req, LAST_EVENT_ID) {
        Some(last) => {
            let Some((name, ev)) = fastmcp_core::protocol::http_fields::parse_last_event_id(last)
            else {
                return error_status(
                    StatusCode::BAD_REQUEST,
                    codes::INVALID_REQUEST,
                    "malformed Last-Event-ID",
                );
            };
            let after = (!ev.is_empty()).then(|| EventId(ev.to_string()));
            (StreamKey::new(session.id, name), after)
        }
        None => {
            let stream = StreamKey::new(session.id, "get");
            // Start from "now": older standalone events were for earlier GETs.
            let last = match queue.replay_after(&entity, &stream, None).await {
                Ok(evs) => evs.last().map(|e| e.id.clone()),
                Err(e) => return store_error(e),
            };
            (stream, last)
        }
    };
    let sub = match queue.subscribe(&entity, &stream, after.clone()).await {
        Ok(s) => s,
        Err(fastmcp_core::storage::StoreError::InvalidValue(m)) => {
            return error_status(StatusCode::BAD_REQUEST, codes::INVALID_REQUEST, m)
        }
        Err(e) => return store_error(e),
    };
    let first = (wants_priming(&session) && stream.name == "get").then(|| {
        let id = format!("{}/{}", stream.name, after.map(|a| a.0).unwrap_or_default());
        Bytes::from(format!("id: {id}\ndata: \n\n"))
    });
    let session_header = session.id.to_string();
    let relay = SessionRelay {
        mcp: state.mcp.clone(),
        entity: session.entity.clone(),
        session: session.id,
        stream,
        resumable: true,
        _slot: slot,
        on_end: None,
    };
    pulled_response(state, relay, first, sub, Some(&session_header))
}

/// `DELETE /{entity}/mcp`: ends the session everywhere.
#[handler]
pub(crate) async fn delete(req: &Request, state: Data<&Arc<AppState>>) -> Response {
    let state = *state;
    let (entity, principal) = match tenant(state, req).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    if header(req, VERSION_HEADER) == Some(MODERN_PROTOCOL_VERSION) {
        return error_status(
            StatusCode::METHOD_NOT_ALLOWED,
            codes::INVALID_REQUEST,
            "DELETE is not part of protocol 2026-07-28",
        );
    }
    let session = match session_from_header(state, req, &entity, &principal).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    match close_session(state, &entity, &session.id).await {
        Ok(()) => Response::builder().status(StatusCode::OK).finish(),
        Err(e) => store_error(e),
    }
}
