//! MCP over stdio: one client, one session, for one entity. Newline-delimited JSON-RPC on
//! stdin and stdout, as local clients (desktop apps, IDEs, the Inspector) launch a server.
//!
//! The same engine serves it as the HTTP transports: the session is kept in the configured
//! store, requests run concurrently (so a client can cancel or answer an elicitation while a
//! call runs), and messages the server sends on its own (list changes, resource updates) come
//! from the session's stream in the store. Nothing but JSON-RPC is written to stdout: the
//! binary sends its logs to stderr in this mode.

use std::sync::Arc;

use async_trait::async_trait;
use fastmcp_core::protocol::{jsonrpc, ErrorObject, Message};
use fastmcp_core::storage::SessionTransport;
use fastmcp_core::{EntityId, Error, Outlet, Principal, SessionRecord, StreamKey};
use futures::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use crate::edge::{close_session, open_session, SessionCap};
use crate::state::AppState;

/// Writes each message as one line on the output.
struct LineOutlet(mpsc::Sender<String>);

#[async_trait]
impl Outlet for LineOutlet {
    async fn send(&self, message: Value) -> fastmcp_core::Result<()> {
        self.0
            .send(message.to_string())
            .await
            .map_err(|_| Error::Cancelled)
    }
}

/// Serves one client on `input` and `output` (the process's stdin and stdout) until the input
/// ends; then ends the session. A line longer than the body limit is answered with -32600 and
/// skipped, as an HTTP body over it would be.
pub(crate) async fn serve_stdio<R, W>(
    state: Arc<AppState>,
    entity: EntityId,
    input: R,
    output: W,
) -> std::io::Result<()>
where
    R: tokio::io::AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel::<String>(256);
    let writer = tokio::spawn(async move {
        let mut out = output;
        while let Some(line) = rx.recv().await {
            if out.write_all(line.as_bytes()).await.is_err()
                || out.write_all(b"\n").await.is_err()
                || out.flush().await.is_err()
            {
                return;
            }
        }
    });
    // A local process: whoever could start it may act for the entity it was started for.
    let principal = Arc::new(Principal::anonymous());
    let mut session: Option<SessionRecord> = None;
    let mut forwarder: Option<tokio::task::JoinHandle<()>> = None;
    // Requests in flight: the session ends only after them, when the input does.
    let running = tokio_util::task::TaskTracker::new();
    let mut lines = BufReader::new(input);
    let limit = state.http.body_limit;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        // Read at most the limit (plus the newline): a client must not make us hold more.
        let n = (&mut lines)
            .take(limit as u64 + 1)
            .read_until(b'\n', &mut buf)
            .await?;
        if n == 0 {
            break;
        }
        if buf.last() != Some(&b'\n') && buf.len() > limit {
            let err = ErrorObject::invalid_request(format!("message exceeds {limit} bytes"));
            let _ = tx
                .send(jsonrpc::error_response(None, &err).to_string())
                .await;
            // Skip the rest of the line.
            loop {
                buf.clear();
                let n = (&mut lines)
                    .take(64 * 1024)
                    .read_until(b'\n', &mut buf)
                    .await?;
                if n == 0 || buf.last() == Some(&b'\n') {
                    break;
                }
            }
            continue;
        }
        let text = String::from_utf8_lossy(&buf);
        if text.trim().is_empty() {
            continue;
        }
        let value: Value = match serde_json::from_str(text.trim()) {
            Ok(v) => v,
            Err(e) => {
                let err = ErrorObject::new(
                    fastmcp_core::protocol::codes::PARSE_ERROR,
                    format!("Parse error: {e}"),
                );
                let _ = tx
                    .send(jsonrpc::error_response(None, &err).to_string())
                    .await;
                continue;
            }
        };
        let message = match Message::from_value(value) {
            Ok(m) => m,
            Err(inv) => {
                let reply = jsonrpc::error_response(inv.id.as_ref(), &inv.error);
                let _ = tx.send(reply.to_string()).await;
                continue;
            }
        };
        match message {
            Message::Request(r) if r.method == "initialize" && session.is_some() => {
                // One process, one session: a second one would outlive the first's forwarder.
                let err = ErrorObject::invalid_request("this stdio session is already initialized");
                let _ = tx
                    .send(jsonrpc::error_response(Some(&r.id), &err).to_string())
                    .await;
            }
            Message::Request(r) if r.method == "initialize" => {
                let mut record = SessionRecord::new(entity.clone());
                record.principal = Some(principal.subject.clone());
                // Messages not tied to a request go on one stream, which this loop forwards.
                record.transport = SessionTransport::LegacySse;
                let reply = match state.mcp.initialize(&mut record, r.params.as_ref()) {
                    Ok(result) => match open_session(&state, record, SessionCap::Exempt).await {
                        Ok(record) => {
                            forwarder = Some(spawn_forwarder(&state, &record, tx.clone()));
                            session = Some(record);
                            jsonrpc::response(&r.id, result)
                        }
                        Err(_) => jsonrpc::error_response(
                            Some(&r.id),
                            &ErrorObject::new(
                                fastmcp_core::protocol::codes::INTERNAL_ERROR,
                                "cannot open the session",
                            ),
                        ),
                    },
                    Err(e) => jsonrpc::error_response(Some(&r.id), &e.to_error_object()),
                };
                let _ = tx.send(reply.to_string()).await;
            }
            Message::Request(r) => {
                let Some(open) = &session else {
                    let err = ErrorObject::invalid_request("send initialize first");
                    let _ = tx
                        .send(jsonrpc::error_response(Some(&r.id), &err).to_string())
                        .await;
                    continue;
                };
                let (state, tx, principal) =
                    (Arc::clone(&state), tx.clone(), Arc::clone(&principal));
                let (entity, id) = (open.entity.clone(), open.id);
                // Concurrent, as over HTTP: the client may cancel or answer while a call runs.
                running.spawn(async move {
                    // The record as it is now (`logging/setLevel`, `initialized`).
                    let loaded = state.mcp.sessions().load(&entity, &id).await;
                    let record = match loaded.map_err(Error::from).and_then(|r| {
                        r.ok_or_else(|| Error::NotFound("session (it expired)".into()))
                    }) {
                        Ok(r) => r,
                        Err(e) => {
                            let err = e.to_error_object();
                            let _ = tx
                                .send(jsonrpc::error_response(Some(&r.id), &err).to_string())
                                .await;
                            return;
                        }
                    };
                    let outlet = Arc::new(LineOutlet(tx.clone()));
                    let reply = state
                        .mcp
                        .handle_request_as(&record, r, outlet, Some(principal))
                        .await;
                    let cap = state.http.max_response_bytes;
                    let _ = tx
                        .send(crate::response::reply_value(&reply, cap).to_string())
                        .await;
                });
            }
            Message::Notification(n) => {
                if let Some(open) = &session {
                    if let Ok(Some(record)) =
                        state.mcp.sessions().load(&open.entity, &open.id).await
                    {
                        if let Err(e) = state.mcp.handle_notification(&record, n).await {
                            tracing::warn!(error = %e.report(), "stdio notification failed");
                        }
                    }
                }
            }
            Message::Response(r) => {
                if let Some(open) = &session {
                    if let Err(e) = state.mcp.handle_response(open, r).await {
                        tracing::warn!(error = %e.report(), "stdio response failed");
                    }
                }
            }
        }
    }
    running.close();
    running.wait().await;
    // The forwarder waits on the store for more; nothing more is wanted (and it holds the
    // output open).
    if let Some(f) = forwarder {
        f.abort();
        let _ = f.await;
    }
    if let Some(open) = session {
        if let Err(e) = close_session(&state, &open.entity, &open.id).await {
            tracing::warn!(error = %e.report(), "cannot end the stdio session");
        }
    }
    drop(tx);
    let _ = writer.await;
    Ok(())
}

/// Copies what the server sends the session on its own (from the store) to the output.
fn spawn_forwarder(
    state: &Arc<AppState>,
    record: &SessionRecord,
    tx: mpsc::Sender<String>,
) -> tokio::task::JoinHandle<()> {
    let queue = Arc::clone(state.mcp.queue());
    let entity = record.entity.clone();
    let stream = StreamKey::new(record.id, record.transport.standalone_stream());
    tokio::spawn(async move {
        let mut sub = match queue.subscribe(&entity, &stream, None).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e.report(), "stdio: cannot follow the session's stream");
                return;
            }
        };
        while let Some(Ok(ev)) = sub.next().await {
            if tx.send(ev.message.to_string()).await.is_err() {
                return;
            }
        }
    })
}
