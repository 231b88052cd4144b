//! The 2024-11-05 HTTP+SSE transport: `GET /{entity}/sse` opens the session's stream and
//! announces `/{entity}/messages?session_id=…`, where the client POSTs its messages.
//!
//! Responses travel through the session's `sse` event log in the `MessageQueue`, so the POST
//! may land on a different instance from the one holding the stream.

use std::sync::Arc;

use fastmcp_core::protocol::{jsonrpc, Message, RequestId};
use fastmcp_core::{EntityId, SessionRecord, StreamKey};
use poem::http::StatusCode;
use poem::web::Data;
use poem::{handler, Body, Request, Response};

use super::http::{
    error_status, load_session, parse_json, read_body, rpc_error, store_error, tenant,
    tenant_over_rate,
};
use super::outlet::QueueOutlet;
use super::sse::{pulled_response, sse_frame, SessionRelay};
use crate::edge::{close_session, open_session, SessionCap};
use crate::limits::{Denied, Refusal};
use crate::state::AppState;

const STREAM: &str = "sse";

/// `GET /{entity}/sse`.
#[handler]
pub(crate) async fn connect(req: &Request, state: Data<&Arc<AppState>>) -> Response {
    let state = Arc::clone(*state);
    let (entity, principal) = match tenant(&state, req).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    if !state.http.hold_streams {
        return error_status(
            StatusCode::NOT_IMPLEMENTED,
            fastmcp_core::protocol::codes::INVALID_REQUEST,
            "the legacy HTTP+SSE transport needs a stream this deployment cannot hold open (a \
             serverless function without response streaming): use Streamable HTTP at \
             /{entity_id}/mcp",
        );
    }
    let slot = match state.streams.admit(&entity) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let mcp = state.mcp.clone();
    let mut record = SessionRecord::new(entity.clone());
    record.principal = Some(principal.subject.clone());
    record.transport = fastmcp_core::storage::SessionTransport::LegacySse;
    let record = match open_session(&state, record, SessionCap::Enforced(None)).await {
        Ok(r) => r,
        Err(no) => return no.into_response(),
    };
    // From here the session ends with whatever holds this: the stream's relay, or this
    // handler if the client leaves (or the store fails) before the stream starts.
    let ends = EndsSession {
        state: Arc::clone(&state),
        entity: record.entity.clone(),
        id: record.id,
    };
    let stream = StreamKey::new(record.id, STREAM);
    let sub = match mcp.queue().subscribe(&entity, &stream, None).await {
        Ok(s) => s,
        Err(e) => return store_error(e),
    };
    let endpoint = format!("/{}/messages?session_id={}", entity, record.id);
    let first = sse_frame(Some("endpoint"), None, &endpoint);
    let on_end: Box<dyn FnOnce() + Send> = Box::new(move || drop(ends));
    let relay = SessionRelay {
        mcp,
        entity: record.entity.clone(),
        session: record.id,
        stream,
        resumable: false,
        _slot: slot,
        on_end: Some(on_end),
    };
    pulled_response(&state, relay, Some(first), sub, None)
}

/// Ends a legacy session when dropped. The connection is the session in this transport: when
/// it goes, so does the session (counted and cleaned everywhere by `close_session`).
struct EndsSession {
    state: Arc<AppState>,
    entity: EntityId,
    id: fastmcp_core::SessionId,
}

impl Drop for EndsSession {
    fn drop(&mut self) {
        // No runtime: the process is exiting, and the session expires.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let (state, entity, id) = (Arc::clone(&self.state), self.entity.clone(), self.id);
            rt.spawn(async move {
                if let Err(e) = close_session(&state, &entity, &id).await {
                    tracing::warn!(error = %e.report(), "cannot clean up legacy session");
                }
            });
        }
    }
}

fn session_id_from_query(req: &Request) -> Option<&str> {
    req.uri()
        .query()?
        .split('&')
        .find_map(|kv| kv.strip_prefix("session_id="))
}

/// `POST /{entity}/messages?session_id=…`: 202, the answer arrives on the stream, including
/// a request's refusal by a limit (-32029): the SDKs' legacy clients take any failed POST for a
/// dead connection, so a 429 here would end the session instead of one call. Over-rate
/// notifications and responses are still processed (a dropped `notifications/cancelled` or
/// answer would strand work); they count towards the rate all the same.
#[handler]
pub(crate) async fn message(req: &Request, body: Body, state: Data<&Arc<AppState>>) -> Response {
    let state = *state;
    let (entity, principal, over_rate) = match tenant_over_rate(state, req).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    // Until the session is known, an over-rate request gets the plain 429.
    let fail = |r: Response| match &over_rate {
        Some(refusal) => refusal.response(None),
        None => r,
    };
    let mcp = &state.mcp;
    let mut session = match load_session(
        mcp,
        &entity,
        &principal,
        session_id_from_query(req),
        "session_id is required",
        fastmcp_core::storage::SessionTransport::LegacySse,
    )
    .await
    {
        Ok(s) => s,
        Err(r) => return fail(r),
    };
    let id = session.id;
    let bytes = match read_body(&state.http, req.headers(), body).await {
        Ok(b) => b,
        Err(r) => return fail(r),
    };
    let value = match parse_json(&bytes) {
        Ok(v) => v,
        Err(r) => return fail(r),
    };
    let message = match Message::from_value(value) {
        Ok(m) => m,
        Err(inv) => {
            return fail(rpc_error(
                StatusCode::BAD_REQUEST,
                inv.id.as_ref(),
                inv.error,
            ))
        }
    };
    let stream = StreamKey::new(id, STREAM);
    let queue = Arc::clone(mcp.queue());
    let refuse_on_stream = |rid: &RequestId, refusal: &Refusal| {
        let reply = jsonrpc::error_response(Some(rid), &refusal.error());
        let (queue, entity, stream) = (Arc::clone(&queue), entity.clone(), stream.clone());
        async move {
            match queue.publish(&entity, &stream, &reply).await {
                Ok(_) => accepted(),
                Err(e) => store_error(e),
            }
        }
    };
    if let (Some(refusal), Message::Request(r)) = (&over_rate, &message) {
        return refuse_on_stream(&r.id, refusal).await;
    }
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
                return store_error(e);
            }
            if let Err(e) = queue.publish(&entity, &stream, &reply).await {
                return store_error(e);
            }
        }
        Message::Request(r) => {
            let slot = match super::http::admit(state, req, &entity, &principal, &r).await {
                Ok(slot) => slot,
                Err(Denied::Limit(refusal)) => return refuse_on_stream(&r.id, &refusal).await,
                Err(Denied::Response(resp)) => return resp,
            };
            let mcp = mcp.clone();
            let outlet = Arc::new(QueueOutlet {
                queue: Arc::clone(&queue),
                entity: entity.clone(),
                stream: stream.clone(),
            });
            let cap = state.http.max_response_bytes;
            // Tracked: a draining process waits for the call, within its grace period.
            state.calls.spawn(async move {
                let _slot = slot;
                let reply = mcp
                    .handle_request_as(&session, r, outlet, Some(principal))
                    .await;
                let reply = crate::response::reply_value(&reply, cap);
                if let Err(e) = queue.publish(&entity, &stream, &reply).await {
                    tracing::warn!(error = %e.report(), "cannot publish response");
                }
            });
        }
        Message::Notification(n) => {
            if let Err(e) = mcp.handle_notification(&session, n).await {
                return store_error(e);
            }
        }
        Message::Response(r) => {
            if let Err(e) = mcp.handle_response(&session, r).await {
                return store_error(e);
            }
        }
    }
    accepted()
}

fn accepted() -> Response {
    Response::builder()
        .status(StatusCode::ACCEPTED)
        .body("Accepted")
}
