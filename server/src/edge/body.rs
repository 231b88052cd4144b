//! Request bodies: read whole, under a size cap and a deadline, for the MCP endpoints and the
//! admin API alike.

use std::time::Duration;

use bytes::Bytes;
use poem::http::{header, HeaderMap};
use poem::Body;

/// Why a body was not taken.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyRefusal {
    /// Larger than the cap: announced by `Content-Length` (refused before a byte is read) or
    /// found while reading.
    #[error("request body exceeds {0} bytes")]
    TooLarge(usize),
    /// Not all there within the deadline.
    #[error("request body not received within {} s", .0.as_secs())]
    TooSlow(Duration),
    /// The connection failed or the framing was invalid.
    #[error("cannot read body: {0}")]
    Broken(String),
}

/// Reads `body` whole: at most `limit` bytes, within `timeout`.
pub(crate) async fn collect(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, BodyRefusal> {
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        // Answer now: waiting for bytes the client may never send only holds the connection.
        return Err(BodyRefusal::TooLarge(limit));
    }
    match tokio::time::timeout(timeout, body.into_bytes_limit(limit)).await {
        Err(_) => Err(BodyRefusal::TooSlow(timeout)),
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(poem::error::ReadBodyError::PayloadTooLarge)) => Err(BodyRefusal::TooLarge(limit)),
        Ok(Err(e)) => Err(BodyRefusal::Broken(e.to_string())),
    }
}
