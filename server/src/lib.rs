//! # fastmcp-server
//!
//! Serves a [`fastmcp_core::McpServer`] over HTTP with poem, one tenant per path segment:
//!
//! | path | transport |
//! |---|---|
//! | `POST/GET/DELETE /{entity_id}/mcp` | Streamable HTTP (2025-03-26 … 2025-11-25) |
//! | `GET /{entity_id}/sse` + `POST /{entity_id}/messages?session_id=…` | HTTP+SSE (2024-11-05) |
//! | `/admin/…`, `GET /openapi.json`, `GET /docs` | admin REST API, its OpenAPI document, Swagger UI |
//! | `GET /health`, `GET /ready` | liveness, store readiness |
//!
//! A custom server is a `main` that registers its catalog and hands over to [`cli::main_with`].

pub mod admin;
pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod connections;
pub mod demo;
mod edge;
pub mod limits;
pub mod metrics;
#[cfg(feature = "http-tools")]
pub mod outbound;
mod response;
pub mod state;
pub mod storage;
pub mod telemetry;
mod transport;

pub use app::routes;
pub use config::HttpConfig;
pub use connections::NoDelayAcceptor;
pub use state::{AppBuilder, AppState};
