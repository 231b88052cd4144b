//! Federation: upstream MCP servers mounted into an entity's catalog.
//!
//! A mount (a [`McpServerSpec`](fastmcp_core::catalog::McpServerSpec) stored through the admin
//! API, per entity or global) names an upstream by URL. Its tools and prompts are listed under
//! the mount's namespace (`NAME_tool`), its resources and templates under their own URIs, and a
//! call is forwarded with what happens during it relayed both ways:
//! - progress and log messages from the upstream reach the downstream client;
//! - the downstream's cancellation reaches the upstream (`notifications/cancelled`);
//! - the upstream's elicitation, sampling and roots requests are asked of the downstream
//!   client — on its stream in the handshake era, as an `input_required` round at
//!   2026-07-28 (the call is sent upstream again with the answers, so no instance holds it
//!   between rounds);
//! - an upstream's `list_changed` becomes the entity's own.
//!
//! The client (`client.rs`) is this crate's own, on the core's protocol types: Streamable HTTP
//! in both eras and the legacy HTTP+SSE transport (see `docs/decisions.md`). Failures stay with
//! the item involved: an upstream that is down, slow or broken makes its calls fail with a
//! clear error and its items drop out of the lists, never a hang or an error for the whole
//! list; [`Federation::health`] shows each mount's state, and recovery is automatic.

mod client;
mod error;
mod mount;
mod provider;
mod sse;

pub use client::Network;
pub use error::UpstreamError;
pub use mount::Health;
pub use provider::{Federation, MountHealth};
