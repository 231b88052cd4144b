//! # fastmcp-core
//!
//! The transport-free heart of FastMCP-MT: MCP wire types ([`protocol`]), the catalog of tools,
//! resources and prompts ([`registry`]), the per-request [`Context`], the dispatcher
//! ([`McpServer`]) and the storage contract ([`store`]) that lets many server processes share
//! sessions and message streams.
//!
//! ```
//! use fastmcp_core::{Context, McpServer, Result, Tool};
//! use schemars::JsonSchema;
//! use serde::Deserialize;
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct Echo { /// Text to send back
//!     text: String }
//!
//! let mut builder = McpServer::builder("demo", "1.0.0");
//! builder.registry().tool(
//!     Tool::new("echo")
//!         .description("Echo the text back")
//!         .handler(|args: Echo, _ctx: Context| async move { Result::Ok(args.text) }),
//! );
//! ```

pub mod auth;
pub mod context;
pub mod dispatch;
pub mod error;
pub mod ids;
pub mod modern;
mod notify;
pub mod protocol;
pub mod registry;
pub mod store;
#[cfg(feature = "test-suite")]
pub mod test_suite;
pub mod url;

pub use auth::{AuthError, Authenticator, NoAuth, Principal, RequestHeaders};
pub use context::{Context, ElicitResult, InputRequest, NullOutlet, Outlet};
pub use dispatch::{
    unsupported_version_error, McpServer, McpServerBuilder, ServerConfig, ServerInfo,
};
pub use error::{Error, ItemKind, Result};
pub use ids::{EntityId, SessionId};
pub use registry::{
    Completer, NoArgs, Prompt, Resource, ResourceBody, ResourceTemplate, Structured,
    TemplateParams, Tool,
};
pub use store::{
    ApiKeyRecord, ApiKeyStore, EntityConfig, EntityConfigStore, EntityLimits, Event, EventId,
    EventStream, KeyStore, LimitStore, LogKind, LogRecord, LogStore, MessageQueue, SessionRecord,
    SessionStore, SessionTransport, StreamKey, Visibility,
};
pub use url::redact_url;

// Re-exported so handler authors derive with the same versions the registry uses.
pub use schemars;
pub use serde_json;
