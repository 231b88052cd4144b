//! The HTTP answers every layer shares: a JSON body, a JSON-RPC error with a status, and the
//! status of a core error (from the one table in core, `Error::http_status`).

use fastmcp_core::protocol::{codes, jsonrpc, ErrorObject, RequestId};
use fastmcp_core::Error;
use poem::http::StatusCode;
use poem::Response;

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

/// A JSON body with a status: a typed response written once, or a `Value`.
pub(crate) fn json_response<T: serde::Serialize + ?Sized>(
    status: StatusCode,
    body: &T,
) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(bytes)
}

/// The JSON text of an answer, or of an error in its place when the text is over `cap`: a
/// client that asks for too much (a large page, a huge resource) gets a clear error rather than
/// making the server buffer, store and send it.
pub(crate) fn reply_bytes(reply: &fastmcp_core::protocol::Reply, cap: usize) -> Vec<u8> {
    let bytes = serde_json::to_vec(reply).unwrap_or_else(|_| b"{}".to_vec());
    if bytes.len() <= cap {
        return bytes;
    }
    serde_json::to_vec(&too_large(&reply.id, bytes.len(), cap)).unwrap_or_default()
}

/// [`reply_bytes`] as a value, for answers that are published to a stream.
pub(crate) fn reply_value(reply: &fastmcp_core::protocol::Reply, cap: usize) -> serde_json::Value {
    reply_value_sized(reply, cap).0
}

/// [`reply_value`] and the size of the answer kept (for a batch, whose answers share one cap).
pub(crate) fn reply_value_sized(
    reply: &fastmcp_core::protocol::Reply,
    cap: usize,
) -> (serde_json::Value, usize) {
    let value = reply.to_value();
    let n = fastmcp_core::retention::json_len(&value);
    if n <= cap {
        return (value, n);
    }
    (too_large(&reply.id, n, cap), 0)
}

fn too_large(id: &RequestId, bytes: usize, cap: usize) -> serde_json::Value {
    let error = ErrorObject::new(
        codes::INTERNAL_ERROR,
        format!("the answer takes {bytes} bytes; the cap is {cap} bytes (--max-response-bytes)"),
    )
    .with_data(serde_json::json!({ "bytes": bytes, "cap": cap }));
    jsonrpc::error_response(Some(id), &error)
}

/// A JSON body already encoded.
pub(crate) fn json_bytes_response(status: StatusCode, bytes: Vec<u8>) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(bytes)
}

/// Answers a failure that ends the request before any JSON-RPC exchange (a session that cannot
/// be loaded or saved): the status from the one table in core ([`Error::http_status`]), a short
/// message; backend details are logged, never sent.
pub(crate) fn store_error(e: impl Into<Error>) -> Response {
    let e: Error = e.into();
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = match status.as_u16() {
        404 => "Session not found",
        409 => "concurrent update; retry",
        400 | 422 => "a value in the request cannot be stored",
        503 | 504 => "session store unavailable; retry later",
        _ => "session store error",
    };
    if status.is_server_error() {
        tracing::warn!(error = %e.report(), "store failure");
    }
    error_status(status, codes::INTERNAL_ERROR, message)
}
