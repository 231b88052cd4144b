//! Wire types, separate from any transport.
//!
//! Hand-written rather than borrowed from `rmcp::model`: see `docs/decisions.md` ("Wire types").

pub mod changes;
pub mod http_fields;
pub mod jsonrpc;
pub mod methods;
pub mod results;
pub mod types;

pub use changes::Change;
pub use jsonrpc::{codes, ErrorObject, Message, Notification, Request, RequestId, Response};
pub use methods::{CacheHint, Eras, Method, MethodInfo};
pub use results::{ListPage, MethodResult, Reply, Stamp, Stamped};
pub use types::*;
