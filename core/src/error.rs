//! The one error type of `fastmcp-core`, shared by the storage traits, the registry and handlers.
//!
//! Each variant says what went wrong in terms a caller can act on (retry, 404, 409, -32602 …);
//! the edge maps it with the one table here: [`Error::rpc_code`] / [`Error::to_error_object`]
//! for JSON-RPC, [`Error::http_status`] for HTTP, and [`Error::is_retryable`] for both.
//! Nothing classifies an error by its message text.

use crate::protocol::jsonrpc::{codes, ErrorObject};

/// A boxed error source kept for the `source()` chain.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can fail in core, a storage backend or a handler.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An entity id that is empty, too long or has characters outside `[A-Za-z0-9._-]`.
    #[error("invalid entity id {0:?}: use 1-128 characters of [A-Za-z0-9._-], not dots alone")]
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

    /// A tool, prompt or resource template that does not exist for this entity (unknown, or
    /// hidden from it): -32602, HTTP 404.
    #[error("Unknown {kind}: {name}")]
    UnknownItem {
        /// What was looked up.
        kind: ItemKind,
        /// The name (or URI template) asked for.
        name: String,
    },

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

    /// The caller's principal lacks a scope the item needs. HTTP edges answer 403 with a
    /// `WWW-Authenticate` challenge before the engine sees such a call; this is the engine's
    /// own check, for every other way in (stdio, in-process clients).
    #[error("{0}")]
    Forbidden(String),

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

/// The kinds of catalog item an [`Error::UnknownItem`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    /// A tool.
    Tool,
    /// A prompt.
    Prompt,
    /// A resource template (completion of its variables).
    ResourceTemplate,
}

impl std::fmt::Display for ItemKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ItemKind::Tool => "tool",
            ItemKind::Prompt => "prompt",
            ItemKind::ResourceTemplate => "resource template",
        })
    }
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

    /// An unknown item of `kind`.
    pub fn unknown(kind: ItemKind, name: impl Into<String>) -> Self {
        Error::UnknownItem {
            kind,
            name: name.into(),
        }
    }

    /// This error with every cause under it, for operators' logs: `{self}: {source}: …`.
    /// Clients see only [`Display`](std::fmt::Display) (a backend's own message can name
    /// tables, hosts or values); the log gets the whole chain, so a store failure names its
    /// cause (SQLSTATE and message, the Redis error kind).
    pub fn report(&self) -> Report<'_> {
        Report(self)
    }

    /// Whether the same call, unchanged, may succeed if made again later: the store was
    /// unreachable, a compare-and-swap lost a race, or the client was slow to answer. The one
    /// definition: JSON-RPC errors carry it as `data.retryable`, HTTP edges as 503/409/504.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Unavailable { .. } | Error::Conflict(_) | Error::Timeout(_)
        )
    }

    /// The HTTP status an edge answers with when this error is the whole answer (admin API,
    /// a session that cannot be loaded, 2026-07-28 statuses are separate: see `modern`).
    pub fn http_status(&self) -> u16 {
        match self {
            Error::NotFound(_) | Error::UnknownItem { .. } | Error::ResourceNotFound(_) => 404,
            Error::InvalidEntityId(_) => 400,
            Error::InvalidParams(_) | Error::MissingCapability(_) | Error::InputRequired => 422,
            Error::Conflict(_) => 409,
            Error::Forbidden(_) => 403,
            Error::Unavailable { .. } => 503,
            Error::Timeout(_) => 504,
            Error::Rpc(e) => match e.code {
                codes::INVALID_PARAMS | codes::MISSING_CLIENT_CAPABILITY => 422,
                codes::METHOD_NOT_FOUND | codes::RESOURCE_NOT_FOUND => 404,
                codes::INVALID_REQUEST | codes::PARSE_ERROR => 400,
                codes::RATE_LIMITED => 429,
                _ => 500,
            },
            Error::Backend { .. }
            | Error::Tool(_)
            | Error::Cancelled
            | Error::Client(_)
            | Error::Internal(_) => 500,
        }
    }

    /// The JSON-RPC error code this error is reported with.
    pub fn rpc_code(&self) -> i64 {
        match self {
            Error::InvalidEntityId(_) | Error::InvalidParams(_) | Error::UnknownItem { .. } => {
                codes::INVALID_PARAMS
            }
            Error::NotFound(_) => codes::INVALID_PARAMS,
            Error::Forbidden(_) => codes::INVALID_REQUEST,
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
            // Retrying may succeed: say so, so edges can answer 503 rather than 500.
            e if e.is_retryable() => ErrorObject::new(self.rpc_code(), self.to_string())
                .with_data(serde_json::json!({ "retryable": true })),
            _ => ErrorObject::new(self.rpc_code(), self.to_string()),
        }
    }
}

/// [`Error::report`]: an error and its causes, one line.
pub struct Report<'a>(pub(crate) &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(c) = cause {
            write!(f, ": {c}")?;
            cause = c.source();
        }
        Ok(())
    }
}

impl From<ErrorObject> for Error {
    fn from(e: ErrorObject) -> Self {
        Error::Rpc(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_see_the_operation_and_logs_see_the_cause() {
        let e = Error::backend(
            "postgres: upsert catalog",
            std::io::Error::other("SQLSTATE 23505: duplicate key"),
        );
        assert_eq!(
            e.to_string(),
            "storage backend error: postgres: upsert catalog"
        );
        assert_eq!(
            e.to_error_object().message,
            "storage backend error: postgres: upsert catalog"
        );
        assert_eq!(
            e.report().to_string(),
            "storage backend error: postgres: upsert catalog: SQLSTATE 23505: duplicate key"
        );
    }
}
