//! MCP over HTTP: Streamable HTTP (`/{entity}/mcp`) and the 2024-11-05 HTTP+SSE transport
//! (`/{entity}/sse` + `/{entity}/messages`). Both hand parsed messages to the core dispatcher.

pub(crate) mod http;
pub(crate) mod legacy_sse;
pub(crate) mod outlet;
pub(crate) mod streamable;
