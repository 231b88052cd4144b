//! The 2024-11-05 HTTP+SSE transport: `GET /{entity}/sse` opens the session's stream and
//! announces `/{entity}/messages?session_id=…`, where the client POSTs its messages.
//!
//! Responses travel through the session's `sse` event log in the `MessageQueue`, so the POST
//! may land on a different instance from the one holding the stream.

use std::sync::Arc;

use bytes::Bytes;
use fastmcp_core::protocol::{jsonrpc, Message};
use fastmcp_core::{SessionRecord, StreamKey};
use poem::http::StatusCode;
use poem::web::Data;
use poem::{handler, Body, Request, Response};
use tokio::sync::mpsc;

use super::http::{
    load_session, parse_json, read_body, rpc_error, sse_frame, sse_response, store_error, tenant,
};
use super::outlet::QueueOutlet;
use super::streamable::forward_stream;
use crate::app::AppState;

const STREAM: &str = "sse";

/// `GET /{entity}/sse`.
#[handler]
pub(crate) async fn connect(req: &Request, state: Data<&Arc<AppState>>) -> Response {
    let state = Arc::clone(*state);
    let (entity, principal) = match tenant(&state, req).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let mcp = state.mcp.clone();
    if let Err(resp) = state
        .limits
        .check_sessions(&mcp, &state.metrics, &entity, None)
        .await
    {
        return resp;
    }
    let mut record = SessionRecord::new(entity.clone());
    record.principal = Some(principal.subject.clone());
    let record = match mcp
        .sessions()
        .create(record, mcp.config().session_ttl)
        .await
    {
        Ok(r) => r,
        Err(e) => return store_error(&e),
    };
    let stream = StreamKey::new(record.id, STREAM);
    let sub = match mcp.queue().subscribe(&entity, &stream, None).await {
        Ok(s) => s,
        Err(e) => return store_error(&e),
    };
    let (frames_tx, frames_rx) = mpsc::channel::<Bytes>(64);
    let endpoint = format!("/{}/messages?session_id={}", entity, record.id);
    let _ = frames_tx.try_send(sse_frame(Some("endpoint"), None, &endpoint));
    let keep_alive = state.http.keep_alive;
    let metrics = Arc::clone(&state.metrics);
    tokio::spawn(async move {
        let (entity, id) = (record.entity.clone(), record.id);
        metrics.session(&entity, true);
        metrics.stream(&entity, 1);
        forward_stream(mcp.clone(), record, stream, sub, frames_tx, keep_alive).await;
        metrics.stream(&entity, -1);
        metrics.session(&entity, false);
        // The connection is the session in this transport: when it goes, so does the session.
        if let Err(e) = crate::app::end_session(&mcp, &entity, &id).await {
            tracing::warn!(error = %e, "cannot clean up legacy session");
        }
    });
    sse_response(frames_rx, None)
}

fn session_id_from_query(req: &Request) -> Option<&str> {
    req.uri()
        .query()?
        .split('&')
        .find_map(|kv| kv.strip_prefix("session_id="))
}

/// `POST /{entity}/messages?session_id=…`: 202, the answer arrives on the stream.
#[handler]
pub(crate) async fn message(req: &Request, body: Body, state: Data<&Arc<AppState>>) -> Response {
    let state = *state;
    let (entity, principal) = match tenant(state, req).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let mcp = &state.mcp;
    let mut session = match load_session(
        mcp,
        &entity,
        &principal,
        session_id_from_query(req),
        "session_id is required",
    )
    .await
    {
        Ok(s) => s,
        Err(r) => return r,
    };
    let id = session.id;
    let bytes = match read_body(&state.http, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let value = match parse_json(&bytes) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let message = match Message::from_value(value) {
        Ok(m) => m,
        Err(inv) => return rpc_error(StatusCode::BAD_REQUEST, inv.id.as_ref(), inv.error),
    };
    let stream = StreamKey::new(id, STREAM);
    let queue = Arc::clone(mcp.queue());
    match message {
        Message::Request(r) if r.method == "initialize" => {
            // Synchronous, so the session is initialized before the client's next POST.
            let reply = match mcp.initialize(&mut session, r.params.as_ref()) {
                Ok(result) => jsonrpc::response(&r.id, result),
                Err(e) => jsonrpc::error_response(Some(&r.id), &e.to_error_object()),
            };
            if let Err(e) = mcp
                .sessions()
                .save(&session, mcp.config().session_ttl)
                .await
            {
                return store_error(&e);
            }
            if let Err(e) = queue.publish(&entity, &stream, &reply).await {
                return store_error(&e);
            }
        }
        Message::Request(r) => {
            let slot = match super::http::admit(state, req, &entity, &principal, &r).await {
                Ok(slot) => slot,
                Err(resp) => return resp,
            };
            let mcp = mcp.clone();
            let outlet = Arc::new(QueueOutlet {
                queue: Arc::clone(&queue),
                entity: entity.clone(),
                stream: stream.clone(),
            });
            tokio::spawn(async move {
                let _slot = slot;
                let reply = mcp
                    .handle_request_as(&session, r, outlet, Some(principal))
                    .await;
                if let Err(e) = queue.publish(&entity, &stream, &reply).await {
                    tracing::warn!(error = %e, "cannot publish response");
                }
            });
        }
        Message::Notification(n) => {
            if let Err(e) = mcp.handle_notification(&session, n).await {
                return store_error(&e);
            }
        }
        Message::Response(r) => {
            if let Err(e) = mcp.handle_response(&session, r).await {
                return store_error(&e);
            }
        }
    }
    Response::builder()
        .status(StatusCode::ACCEPTED)
        .body("Accepted")
}
