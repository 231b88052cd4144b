//! # fastmcp-core
//!
//! The transport-free heart of FastMCP-MT, in the order a request meets it:
//! - [`protocol`]: MCP wire types and the method table;
//! - [`engine`]: the [`McpServer`] both protocol eras run on (envelopes, the shared pipeline,
//!   cancellation, the notifier);
//! - [`methods`]: what each method does, over the catalog of tools, resources and prompts
//!   ([`registry`]), whose handlers get a [`Context`];
//! - [`storage`]: the contract that lets many server processes share sessions and message
//!   streams, and ([`testing`]) the suite every backend must pass.
//!
//! A tool is an async fn with `#[tool]`: its parameters become the input schema, its doc
//! comments the descriptions, and `echo_tool()` the [`Tool`] to register:
//!
//! ```
//! use fastmcp_core::{tool, McpServer, Result};
//!
//! /// Echo the text back.
//! #[tool(read_only)]
//! async fn echo(/** Text to send back. */ text: String) -> Result<String> { Ok(text) }
//!
//! let builder = McpServer::builder("demo", "1.0.0").with(|r| { r.tool(echo_tool()); });
//! ```
//!
//! The same without the macro, where the schema comes from a type of your own:
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
//!
//! See [`macro@tool`] for the attribute macros and [`macro@catalog`] to register a whole module.

pub mod auth;
pub mod catalog;
pub mod context;
pub mod engine;
pub mod error;
pub mod ids;
pub mod methods;
pub mod middleware;
pub mod protocol;
pub mod provider;
pub mod registry;
pub mod retention;
pub mod storage;
#[cfg(feature = "test-suite")]
pub mod testing;
pub mod url;

pub use auth::{AuthError, Authenticator, NoAuth, Principal, RequestHeaders};
pub use context::{Context, ElicitResult, InputRequest, NullOutlet, Outlet};
pub use engine::{
    unsupported_version_error, CallObserver, McpServer, McpServerBuilder, ServerConfig, ServerInfo,
};
pub use error::{Error, ItemKind, Result};
pub use ids::{EntityId, SessionId};
pub use protocol::Change;
pub use registry::{
    Completer, NoArgs, Prompt, Resource, ResourceBody, ResourceTemplate, Structured,
    TemplateParams, Tool,
};
pub use retention::RetentionCaps;
pub use storage::{
    ApiKeyRecord, ApiKeyStore, EntityConfig, EntityConfigStore, EntityLimits, Event, EventId,
    EventStream, KeyStore, LimitStore, LogKind, LogRecord, LogStore, MessageQueue, SessionRecord,
    SessionStore, SessionTransport, StreamKey, Visibility,
};
pub use url::redact_url;

// Re-exported so handler authors derive with the same versions the registry uses.
pub use schemars;
// Lets the macros' `::fastmcp_core::…` paths resolve inside this crate too (its own tests).
extern crate self as fastmcp_core;

pub mod macros;
pub use macros::{catalog, prompt, resource, resource_template, tool};

#[doc(hidden)]
pub mod __private;
pub use serde_json;
