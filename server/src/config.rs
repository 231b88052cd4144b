//! HTTP-level settings of the server.

use std::time::Duration;

/// What the HTTP layer enforces.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Largest accepted request body (bytes); larger ones get 413.
    pub body_limit: usize,
    /// Origins accepted besides loopback ones (`*` accepts all).
    pub allowed_origins: Vec<String>,
    /// Host names (with or without port) accepted besides loopback ones (`*` accepts all).
    pub allowed_hosts: Vec<String>,
    /// Bound to a loopback address: only loopback `Host`s and `Origin`s (plus the lists above).
    pub loopback_only: bool,
    /// Interval of SSE keep-alive comments (and of liveness checks of the stream's session).
    pub keep_alive: Duration,
    /// `retry:` hint (ms) sent with the priming event of resumable streams.
    pub sse_retry_ms: u64,
    /// Most messages in one JSON-RPC batch (2025-03-26 sessions); a larger batch gets 400.
    /// Each answer can be far larger than its request (`tools/list`), so this bounds what one
    /// body can make the server build.
    pub max_batch_items: usize,
    /// A request body must arrive whole within this once its head has; slower ones get 408.
    pub body_timeout: Duration,
    /// Most SSE streams open on this instance (`0`: no cap); beyond it, 503.
    pub max_streams: usize,
    /// Most SSE streams one entity may hold open on this instance (`0`: no cap); beyond it, 429.
    pub max_streams_per_entity: usize,
    /// The header whose last address is the client's (set by the proxy in front), for the
    /// per-source budget of unauthenticated requests; `None`: the TCP peer.
    pub client_ip_header: Option<String>,
    /// Requests per second and source address that may fail authentication (`0`: no budget).
    pub unauthenticated_rps: u64,
    /// Largest JSON-RPC answer sent or published, in bytes; a larger one is replaced by a
    /// -32603 error naming its size and the cap.
    pub max_response_bytes: usize,
    /// Whether this deployment can hold a response open as a stream. `false` where every
    /// response must be complete before any of it leaves (AWS Lambda without response
    /// streaming): POSTs are answered in JSON, stream-only requests (`GET /mcp`, legacy
    /// `/sse`, `subscriptions/listen`) are refused with a message saying why, and a handler's
    /// request to the client mid-call fails at once instead of waiting for an answer that
    /// could never come.
    pub hold_streams: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            body_limit: 4 * 1024 * 1024,
            allowed_origins: vec![],
            allowed_hosts: vec![],
            loopback_only: true,
            keep_alive: Duration::from_secs(15),
            sse_retry_ms: 1000,
            max_batch_items: 32,
            body_timeout: Duration::from_secs(30),
            max_streams: 8_000,
            max_streams_per_entity: 1_000,
            client_ip_header: None,
            unauthenticated_rps: 20,
            max_response_bytes: 16 * 1024 * 1024,
            hold_streams: true,
        }
    }
}
