//! The one error type of `fastmcp-core`, shared by the storage traits, the registry and handlers.
//!
//! Each variant says what went wrong in terms a caller can act on (retry, 404, 409, -32602 …);
//! the transport maps it to an HTTP status or a JSON-RPC error code at the edge
//! ([`Error::rpc_code`], [`Error::is_retryable`]).

use crate::protocol::jsonrpc::{codes, ErrorObject};

/// A boxed error source kept for the `source()` chain.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can fail in core, a storage backend or a handler.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An entity id that is empty, too long or has characters outside `[A-Za-z0-9._-]`.
    #[error("invalid entity id {0:?}: use 1-128 characters of [A-Za-z0-9._-]")]
    InvalidEntityId(String),

    /// The record does not exist, has expired, or belongs to another entity
    /// (the two are indistinguishable on purpose: a foreign id must not be probeable).
    #[error("{0} not found")]
    NotFound(String),

    /// A compare-and-swap lost: someone else saved a newer version first, or the id exists.
    #[error("conflict: {0}")]
    Conflict(String),

    /// The backend cannot be reached right now; the same call may succeed later (HTTP 503).
    #[error("storage unavailable: {message}")]
    Unavailable {
        /// What was being attempted.
        message: String,
        /// The backend's own error.
        #[source]
        source: Option<BoxError>,
    },

    /// The backend failed in a way a retry will not fix (bad data, protocol error …).
    #[error("storage backend error: {message}")]
    Backend {
        /// What was being attempted.
        message: String,
        /// The backend's own error.
        #[source]
        source: Option<BoxError>,
    },

    /// Arguments or params that do not match what the method or handler expects (-32602).
    #[error("{0}")]
    InvalidParams(String),

    /// A resource URI that no static resource or template serves (-32002).
    #[error("resource not found: {0}")]
    ResourceNotFound(String),

    /// A tool's own failure, reported to the model as an `isError` result, not a protocol error.
    #[error("{0}")]
    Tool(String),

    /// A server-to-client request was not answered in time.
    #[error("timed out waiting for {0}")]
    Timeout(String),

    /// The request was cancelled by the client (`notifications/cancelled`).
    #[error("request cancelled")]
    Cancelled,

    /// The client answered a server-to-client request with an error, or lacks the capability.
    #[error("client error: {0}")]
    Client(String),

    /// The client did not declare a capability the operation needs (`sampling`, `elicitation`,
    /// `roots`). 2026-07-28: -32021 with `data.requiredCapabilities`; handshake era: -32603.
    #[error("the client did not declare the `{0}` capability")]
    MissingCapability(String),

    /// 2026-07-28 only: the handler needs input from the client (elicitation, sampling, roots)
    /// that this request does not carry. The dispatcher turns it into an `InputRequiredResult`;
    /// handlers just propagate it with `?`.
    #[error("input required from the client")]
    InputRequired,

    /// A JSON-RPC error to be returned as is.
    #[error("{}", .0.message)]
    Rpc(ErrorObject),

    /// Anything else (a bug): -32603.
    #[error("internal error: {0}")]
    Internal(String),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A tool failure shown to the model as an `isError` result.
    pub fn tool(message: impl std::fmt::Display) -> Self {
        Error::Tool(message.to_string())
    }

    /// Invalid parameters (-32602).
    pub fn invalid_params(message: impl std::fmt::Display) -> Self {
        Error::InvalidParams(message.to_string())
    }

    /// A retryable backend failure.
    pub fn unavailable(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::Unavailable {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// A permanent backend failure.
    pub fn backend(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::Backend {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// Whether the same call may succeed if retried later (maps to HTTP 503).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Unavailable { .. } | Error::Timeout(_))
    }

    /// The JSON-RPC error code this error is reported with.
    pub fn rpc_code(&self) -> i64 {
        match self {
            Error::InvalidEntityId(_) | Error::InvalidParams(_) => codes::INVALID_PARAMS,
            Error::NotFound(_) => codes::INVALID_PARAMS,
            Error::ResourceNotFound(_) => codes::RESOURCE_NOT_FOUND,
            Error::Cancelled => codes::REQUEST_CANCELLED,
            Error::Rpc(e) => e.code,
            Error::MissingCapability(_) => codes::MISSING_CLIENT_CAPABILITY,
            _ => codes::INTERNAL_ERROR,
        }
    }

    /// The JSON-RPC error object for this error. Backend sources are logged, not leaked.
    pub fn to_error_object(&self) -> ErrorObject {
        match self {
            Error::Rpc(e) => e.clone(),
            Error::ResourceNotFound(uri) => {
                ErrorObject::new(codes::RESOURCE_NOT_FOUND, self.to_string())
                    .with_data(serde_json::json!({ "uri": uri }))
            }
            Error::MissingCapability(name) => ErrorObject::new(self.rpc_code(), self.to_string())
                .with_data(serde_json::json!({ "requiredCapabilities": { name: {} } })),
            // Retrying may succeed (store briefly down, lost race): say so, so edges can answer
            // 503 rather than 500.
            Error::Unavailable { .. } | Error::Conflict(_) => {
                ErrorObject::new(self.rpc_code(), self.to_string())
                    .with_data(serde_json::json!({ "retryable": true }))
            }
            _ => ErrorObject::new(self.rpc_code(), self.to_string()),
        }
    }
}

impl From<ErrorObject> for Error {
    fn from(e: ErrorObject) -> Self {
        Error::Rpc(e)
    }
}
