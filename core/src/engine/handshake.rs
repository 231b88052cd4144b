//! The handshake era (2024-11-05 … 2025-11-25): `initialize` opens a session whose record is
//! every later request's envelope.
//!
//! A transport parses bytes into a [`Message`](crate::protocol::Message), loads the session
//! from the [`SessionStore`](crate::SessionStore), and calls [`McpServer::handle_request`] (or
//! `_notification` / `_response`) with an [`Outlet`] for the request's own notifications.

use std::sync::Arc;

use serde_json::{json, Value};

use super::pipeline::{self, Call};
use super::{cancel, McpServer};
use crate::auth::Principal;
use crate::context::{Outlet, RequestScope};
use crate::error::{Error, Result};
use crate::protocol::{
    codes, Eras, ErrorObject, Method, MethodResult, Notification, Reply, Request, RequestId,
    Response, LATEST_PROTOCOL_VERSION, MODERN_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS,
};
use crate::storage::SessionRecord;

/// What the transport gets back from [`McpServer::handle_request`]: the typed JSON-RPC
/// response, written once, by the transport.
pub type ResponseMessage = Reply;

/// The -32022 error for a protocol version this server does not serve, listing those it does.
pub fn unsupported_version_error(requested: &str) -> ErrorObject {
    ErrorObject::new(
        codes::UNSUPPORTED_PROTOCOL_VERSION,
        format!("Unsupported protocol version: {requested}"),
    )
    .with_data(json!({ "requested": requested, "supported": SUPPORTED_PROTOCOL_VERSIONS }))
}

impl McpServer {
    /// Fills `record` from an `initialize` request and returns the `initialize` result.
    /// The transport then creates (Streamable HTTP) or saves (HTTP+SSE) the record.
    pub fn initialize(&self, record: &mut SessionRecord, params: Option<&Value>) -> Result<Value> {
        let empty = json!({});
        let params = params.unwrap_or(&empty);
        let requested = params
            .get("protocolVersion")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::invalid_params("initialize: `protocolVersion` is required"))?;
        let version = if SUPPORTED_PROTOCOL_VERSIONS.contains(&requested) {
            requested
        } else {
            LATEST_PROTOCOL_VERSION
        };
        let client_info = params.get("clientInfo").cloned().unwrap_or(Value::Null);
        let capabilities = params.get("capabilities").cloned().unwrap_or(json!({}));
        // Kept in the session record, which every later request loads.
        self.shared
            .config
            .retention
            .check_client_info(&client_info, &capabilities)?;
        record.protocol_version = Some(version.to_string());
        record.client_info = Arc::new(client_info);
        record.client_capabilities = Arc::new(capabilities);
        let info = &self.shared.info;
        let mut result = json!({
            "protocolVersion": version,
            "capabilities": self.capabilities(),
            "serverInfo": { "name": info.name, "version": info.version },
        });
        if let Some(instr) = &info.instructions {
            result["instructions"] = json!(instr);
        }
        Ok(result)
    }

    /// The capabilities this server declares.
    pub fn capabilities(&self) -> Value {
        json!({
            "tools": { "listChanged": true },
            "resources": { "subscribe": true, "listChanged": true },
            "prompts": { "listChanged": true },
            "logging": {},
            "completions": {},
        })
    }

    /// Serves one request of an initialized session and returns the JSON-RPC response message.
    /// Request-related notifications go to `outlet` before this returns. A panicking handler
    /// yields -32603 for this request only.
    pub async fn handle_request(
        &self,
        session: &SessionRecord,
        request: Request,
        outlet: Arc<dyn Outlet>,
    ) -> ResponseMessage {
        self.handle_request_as(session, request, outlet, None).await
    }

    /// [`handle_request`](Self::handle_request) on behalf of an authenticated principal
    /// (visible to handlers as `ctx.principal()`).
    pub async fn handle_request_as(
        &self,
        session: &SessionRecord,
        request: Request,
        outlet: Arc<dyn Outlet>,
        principal: Option<Arc<Principal>>,
    ) -> ResponseMessage {
        let id = request.id.clone();
        match self
            .serve_request(session, request, outlet, principal)
            .await
        {
            Ok(result) => Reply::result(id, result),
            Err(e) => Reply::error(id, e.to_error_object()),
        }
    }

    /// [`handle_request_as`](Self::handle_request_as) with the outcome still typed, for edges
    /// that answer in their own shape (the admin API maps [`Error`] by kind, never by text).
    /// Failures are kept in the log store here, once, whichever edge asked.
    pub async fn serve_request(
        &self,
        session: &SessionRecord,
        request: Request,
        outlet: Arc<dyn Outlet>,
        principal: Option<Arc<Principal>>,
    ) -> Result<MethodResult> {
        let id = request.id.clone();
        let method = Method::parse(&request.method);
        let outcome = match method {
            Some(Method::Initialize) => Err(Error::Rpc(ErrorObject::invalid_request(
                "the session is already initialized",
            ))),
            Some(Method::Ping) => Ok(MethodResult::Empty),
            _ if session.protocol_version.is_none() => {
                Err(Error::Rpc(ErrorObject::invalid_request(
                    "the session is not initialized: send `initialize` first",
                )))
            }
            // A 2026-07-28 client that reached a session: tell it which versions work here.
            Some(Method::ServerDiscover) => Err(Error::Rpc(unsupported_version_error(
                MODERN_PROTOCOL_VERSION,
            ))),
            Some(m) if m.info().eras != Eras::Modern => {
                let scope = RequestScope {
                    entity: session.entity.clone(),
                    session_id: Some(session.id),
                    request_id: Some(id.clone()),
                    progress_token: request.progress_token(),
                    log_threshold: Some(
                        session
                            .logging_level
                            // The run-time default (admin API), not the start-up one.
                            .unwrap_or_else(|| self.shared.default_log_level()),
                    ),
                    client_capabilities: Arc::clone(&session.client_capabilities),
                    outlet,
                    cancel: Default::default(),
                    input: None,
                    principal,
                };
                pipeline::run(
                    self,
                    Call {
                        method: m,
                        params: request.params,
                        scope,
                    },
                )
                .await
            }
            _ => Err(Error::Rpc(ErrorObject::method_not_found(&request.method))),
        };
        pipeline::finish(
            self,
            &session.entity,
            Some(session.id),
            &id,
            &request.method,
            &outcome,
        )
        .await;
        outcome
    }

    /// Handles a client notification (`initialized`, `cancelled`, …).
    pub async fn handle_notification(
        &self,
        session: &SessionRecord,
        notification: Notification,
    ) -> Result<()> {
        match notification.method.as_str() {
            "notifications/initialized" => {
                if !session.initialized {
                    self.shared
                        .update_session(&session.entity, &session.id, &mut |r| r.initialized = true)
                        .await?;
                }
            }
            "notifications/cancelled" => {
                let id = notification
                    .params
                    .as_ref()
                    .and_then(|p| p.get("requestId"))
                    .and_then(|v| serde_json::from_value::<RequestId>(v.clone()).ok());
                if let Some(id) = id {
                    // Running on another instance (or already over): leave the cancellation
                    // where that instance's watcher looks.
                    if !self.shared.running.cancel(session.id, &id) {
                        cancel::leave_for_others(
                            self.shared.queue.as_ref(),
                            &session.entity,
                            &session.id,
                            &id,
                        )
                        .await?;
                    }
                }
            }
            other => tracing::debug!(method = other, "ignored notification"),
        }
        Ok(())
    }

    /// Routes a client's answer to a server-to-client request to whoever awaits it.
    pub async fn handle_response(&self, session: &SessionRecord, response: Response) -> Result<()> {
        // Only ids this server minted can have a waiter; anything else would just sit in the
        // mailbox, so it is dropped here.
        if !response.id.is_server_minted() {
            tracing::debug!(id = %response.id, "ignored a response to no request of ours");
            return Ok(());
        }
        let reply = match response.outcome {
            Ok(result) => json!({ "result": result }),
            Err(error) => json!({ "error": error }),
        };
        self.shared
            .queue
            .deliver_reply(&session.entity, &session.id, &response.id.key(), &reply)
            .await
            .map_err(Into::into)
    }
}
