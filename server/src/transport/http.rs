//! Pieces shared by the MCP transports: body limits, JSON parsing and content negotiation (SSE
//! lives in `sse`, tenant checks and admission in `edge`, shared answers in `response`).

use bytes::Bytes;
use fastmcp_core::protocol::codes;
use poem::http::{header, HeaderMap, StatusCode};
use poem::{Body, Response};
use serde_json::Value;

use crate::config::HttpConfig;
pub(crate) use crate::edge::{admit, load_session, tenant, tenant_over_rate};
pub(crate) use crate::response::{
    error_status, json_bytes_response, json_response, reply_bytes, reply_value, rpc_error,
    store_error,
};

/// `Mcp-Session-Id`.
pub(crate) const SESSION_HEADER: &str = "mcp-session-id";
/// `MCP-Protocol-Version`.
pub(crate) const VERSION_HEADER: &str = "mcp-protocol-version";
/// `Last-Event-ID`.
pub(crate) const LAST_EVENT_ID: &str = "last-event-id";

/// Reads the body whole under the configured cap and deadline: 413 beyond the cap (at once
/// when `Content-Length` announces it), 408 when it is too slow.
pub(crate) async fn read_body(
    cfg: &HttpConfig,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, Response> {
    use crate::edge::body::{collect, BodyRefusal};
    collect(headers, body, cfg.body_limit, cfg.body_timeout)
        .await
        .map_err(|e| {
            let (status, code) = match e {
                BodyRefusal::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, codes::INVALID_REQUEST),
                BodyRefusal::TooSlow(_) => (StatusCode::REQUEST_TIMEOUT, codes::INVALID_REQUEST),
                BodyRefusal::Broken(_) => (StatusCode::BAD_REQUEST, codes::PARSE_ERROR),
            };
            error_status(status, code, e.to_string())
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

/// Whether a `Content-Type` value names exactly the media type `mime` (parameters such as
/// `charset` allowed, case ignored): `application/jsonx` is not `application/json`.
pub(crate) fn is_media_type(value: &str, mime: &str) -> bool {
    value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .eq_ignore_ascii_case(mime)
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
    fn header_matching_ignores_case_without_allocating() {
        assert!(!is_media_type("text/plain", "application/json"));
        assert!(!is_media_type("é", "application/json"));
        assert!(!is_media_type("application/jsonx", "application/json"));
        assert!(is_media_type(
            "Application/JSON; charset=utf-8",
            "application/json"
        ));
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
}
