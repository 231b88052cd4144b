//! MCP over HTTP: Streamable HTTP (`/{entity}/mcp`) and the 2024-11-05 HTTP+SSE transport
//! (`/{entity}/sse` + `/{entity}/messages`); and over stdio (`fastmcp serve --stdio`). All hand
//! parsed messages to the core dispatcher.

// Handlers validate step by step and return the ready HTTP error response early; it is built
// only on the failure path, so its size (poem's Response) costs nothing on the hot path.
#![allow(clippy::result_large_err)]

pub(crate) mod http;
pub(crate) mod legacy_sse;
pub(crate) mod outlet;
pub(crate) mod sse;
pub(crate) mod stateless;
pub(crate) mod stdio;
pub(crate) mod streamable;
