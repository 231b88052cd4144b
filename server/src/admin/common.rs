//! What every admin route shares: the admin token, the error mapping (by kind, never by
//! message text), parameter parsing, and running an MCP request as an entity.

use std::sync::Arc;

use fastmcp_core::protocol::{codes, ErrorObject, Message};
use fastmcp_core::{EntityId, Error, NullOutlet, SessionId, SessionRecord};
use poem::Request;
use poem_openapi::auth::Bearer;
use poem_openapi::payload::Json;
use poem_openapi::SecurityScheme;
use serde_json::{json, Value};

use super::constant_time_eq;
use super::types::ApiError;
use crate::edge::{close_session, open_session, NoSession, SessionCap};
use crate::state::AppState;

/// `Authorization: Bearer <admin token>`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", checker = "check_token")]
pub(crate) struct AdminToken(());

async fn check_token(req: &Request, bearer: Bearer) -> Option<()> {
    let state = req.data::<Arc<AppState>>()?;
    constant_time_eq(bearer.token.as_bytes(), state.admin_token.as_bytes()).then_some(())
}

pub(super) type ApiResult<T> = Result<Json<T>, ApiError>;

pub(super) fn entity(raw: &str) -> Result<EntityId, ApiError> {
    EntityId::parse(raw).map_err(|e| {
        ApiError::new(ApiError::Unprocessable, "invalid_argument", e.to_string())
            .with_field(Some("entity_id".into()))
    })
}

pub(super) fn session_id(raw: &str) -> Result<SessionId, ApiError> {
    SessionId::parse(raw)
        .ok_or_else(|| ApiError::new(ApiError::NotFound, "not_found", "session not found"))
}

/// The admin API's answer to a core error: by kind, through the one table
/// ([`Error::http_status`]) the MCP edge uses too; never by message text.
pub(super) fn api_error(e: impl Into<Error>) -> ApiError {
    let e: Error = e.into();
    match e {
        Error::Rpc(obj) => rpc_error(&obj),
        Error::MissingCapability(_) => needs_client_input(&e.to_string()),
        e => match e.http_status() {
            404 => ApiError::new(ApiError::NotFound, "not_found", e.to_string()),
            400 => ApiError::new(ApiError::BadRequest, "bad_request", e.to_string()),
            422 => ApiError::new(ApiError::Unprocessable, "invalid_argument", e.to_string()),
            409 => ApiError::new(ApiError::Conflict, "conflict", "concurrent update; retry"),
            503 | 504 => ApiError::new(
                ApiError::Unavailable,
                "unavailable",
                "temporarily unavailable; retry later",
            ),
            _ => {
                tracing::warn!(error = %e.report(), "admin: request failed");
                ApiError::new(ApiError::Internal, "internal", "internal error")
            }
        },
    }
}

/// A handler that asks the client for input (elicitation, sampling, roots): an admin call has
/// no client to answer it. A property of the tool, not a server fault.
fn needs_client_input(message: &str) -> ApiError {
    ApiError::new(
        ApiError::Unprocessable,
        "needs_client_input",
        format!("{message}; the admin API cannot answer client requests"),
    )
}

/// Maps a JSON-RPC error from the dispatcher to the admin error shape.
fn rpc_error(e: &ErrorObject) -> ApiError {
    let field = e
        .data
        .as_ref()
        .and_then(|d| d.get("path"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let retryable = e
        .data
        .as_ref()
        .and_then(|d| d.get("retryable"))
        .and_then(Value::as_bool)
        == Some(true);
    if retryable {
        return ApiError::new(
            ApiError::Unavailable,
            "unavailable",
            "temporarily unavailable; retry later",
        );
    }
    match e.code {
        codes::INVALID_PARAMS => ApiError::new(
            ApiError::Unprocessable,
            "invalid_argument",
            e.message.clone(),
        )
        .with_field(field),
        codes::RESOURCE_NOT_FOUND | codes::METHOD_NOT_FOUND => {
            ApiError::new(ApiError::NotFound, "not_found", e.message.clone())
        }
        codes::MISSING_CLIENT_CAPABILITY => needs_client_input(&e.message),
        _ => ApiError::new(ApiError::Internal, "internal", e.message.clone()),
    }
}

/// Runs one MCP request for `entity` in a throwaway session, through the same dispatcher as
/// MCP clients (validation, cancellation, panic isolation), and returns its result.
pub(super) async fn run_as(
    state: &AppState,
    entity: &EntityId,
    method: &str,
    params: Value,
) -> Result<Value, ApiError> {
    let mcp = &state.mcp;
    let mut record = SessionRecord::new(entity.clone());
    let init = json!({
        "protocolVersion": fastmcp_core::protocol::LATEST_PROTOCOL_VERSION,
        "capabilities": {},
        "clientInfo": { "name": "fastmcp-admin-api", "version": env!("CARGO_PKG_VERSION") },
    });
    mcp.initialize(&mut record, Some(&init))
        .map_err(api_error)?;
    let record = match open_session(state, record, SessionCap::Exempt).await {
        Ok(r) => r,
        Err(NoSession::Store(e)) => return Err(api_error(e)),
        Err(NoSession::Refused(_)) => {
            return Err(api_error(Error::Internal(
                "an exempt session was refused".into(),
            )))
        }
    };
    let msg = Message::from_value(
        json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params }),
    );
    let reply = match msg {
        Ok(Message::Request(r)) => Some(
            mcp.serve_request(&record, r, Arc::new(NullOutlet), None)
                .await,
        ),
        _ => None,
    };
    if let Err(e) = close_session(state, entity, &record.id).await {
        tracing::warn!(error = %e.report(), "admin: cannot remove a throwaway session");
    }
    reply
        .ok_or_else(|| ApiError::new(ApiError::BadRequest, "bad_request", "malformed request"))?
        .map(|r| r.to_value())
        .map_err(api_error)
}

pub(super) fn default_limit() -> u32 {
    50
}

pub(super) fn default_log_limit() -> u32 {
    100
}
