//! [`StoreError`]: what a storage backend can report, in storage terms. The engine turns it into
//! the crate's [`Error`](crate::Error) (with `?`), whose one table maps it to HTTP and JSON-RPC;
//! a backend never builds a protocol error.

use crate::error::BoxError;

/// The result of a storage call.
pub type StoreResult<T> = std::result::Result<T, StoreError>;

/// Everything a storage call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The record does not exist, has expired, or belongs to another entity (the same answer
    /// on purpose: a foreign id must not be probeable).
    #[error("{0} not found")]
    NotFound(String),

    /// A compare-and-swap lost (someone saved a newer version first), or the id exists.
    #[error("conflict: {0}")]
    Conflict(String),

    /// A value the backend cannot keep (a NUL inside text for PostgreSQL, an unknown event
    /// id): the caller's input, not a fault of the store.
    #[error("{0}")]
    InvalidValue(String),

    /// The backend cannot be reached right now; the same call may succeed later.
    #[error("storage unavailable: {message}")]
    Unavailable {
        /// What was being attempted.
        message: String,
        /// The backend's own error.
        #[source]
        source: Option<BoxError>,
    },

    /// The backend failed in a way a retry will not fix (bad data, protocol error, a bug).
    #[error("storage backend error: {message}")]
    Backend {
        /// What was being attempted.
        message: String,
        /// The backend's own error.
        #[source]
        source: Option<BoxError>,
    },
}

impl StoreError {
    /// This error with every cause under it, for operators' logs (see [`crate::Error::report`]).
    pub fn report(&self) -> crate::error::Report<'_> {
        crate::error::Report(self)
    }

    /// A transient failure: the store is unreachable.
    pub fn unavailable(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        StoreError::Unavailable {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// A permanent failure of the backend.
    pub fn backend(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        StoreError::Backend {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// A permanent failure with no underlying error (corrupt data, an impossible state).
    pub fn internal(message: impl Into<String>) -> Self {
        StoreError::Backend {
            message: message.into(),
            source: None,
        }
    }

    /// A value the store cannot keep.
    pub fn invalid_value(message: impl Into<String>) -> Self {
        StoreError::InvalidValue(message.into())
    }

    /// The same failure again, for another waiter of one batched operation (the backend's
    /// error is not `Clone`): the same variant, with the source's text folded into the message.
    pub fn replicate(&self) -> Self {
        let with_source = |message: &str, source: &Option<BoxError>| match source {
            Some(s) => format!("{message}: {s}"),
            None => message.to_owned(),
        };
        match self {
            StoreError::NotFound(m) => StoreError::NotFound(m.clone()),
            StoreError::Conflict(m) => StoreError::Conflict(m.clone()),
            StoreError::InvalidValue(m) => StoreError::InvalidValue(m.clone()),
            StoreError::Unavailable { message, source } => StoreError::Unavailable {
                message: with_source(message, source),
                source: None,
            },
            StoreError::Backend { message, source } => StoreError::Backend {
                message: with_source(message, source),
                source: None,
            },
        }
    }
}

impl From<StoreError> for crate::Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => crate::Error::NotFound(what),
            StoreError::Conflict(what) => crate::Error::Conflict(what),
            StoreError::InvalidValue(what) => crate::Error::InvalidParams(what),
            StoreError::Unavailable { message, source } => {
                crate::Error::Unavailable { message, source }
            }
            StoreError::Backend { message, source } => crate::Error::Backend { message, source },
        }
    }
}
