//! What can go wrong talking to an upstream, and how each failure reaches the downstream
//! client: always for the one item involved, never for the whole list.

use fastmcp_core::protocol::ErrorObject;

/// A failed exchange with an upstream.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The network policy (the SSRF guard) refused the destination.
    #[error("destination refused: {0}")]
    Refused(String),
    /// No connection, or it broke.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// No answer within the mount's timeout.
    #[error("no answer within {0} ms")]
    Timeout(u64),
    /// The upstream no longer knows the session (it restarted, or expired it).
    #[error("the upstream session is gone")]
    SessionGone,
    /// The upstream broke the protocol (a bad status, a malformed answer).
    #[error("{0}")]
    Protocol(String),
    /// The upstream answered with a JSON-RPC error.
    #[error("{}", .0.message)]
    Rpc(ErrorObject),
    /// The downstream request was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// The call was abandoned for a downstream error (the downstream client must answer an
    /// input request first, in the 2026-07-28 era).
    #[error("{0}")]
    Abandoned(Box<fastmcp_core::Error>),
}

impl UpstreamError {
    pub(crate) fn unreachable(e: &reqwest::Error) -> Self {
        // The URL is ours (the mount's), never a secret; the error's source says why.
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(e);
        while let Some(s) = src {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            src = s.source();
        }
        if e.is_timeout() {
            return UpstreamError::Unreachable(format!("timed out: {msg}"));
        }
        UpstreamError::Unreachable(msg)
    }

    /// Whether the mount itself is unwell (as opposed to one request failing).
    pub fn is_outage(&self) -> bool {
        matches!(
            self,
            UpstreamError::Unreachable(_) | UpstreamError::Timeout(_) | UpstreamError::Protocol(_)
        )
    }
}
