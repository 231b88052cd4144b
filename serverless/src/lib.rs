//! # fastmcp-serverless
//!
//! FastMCP-MT as a serverless function. Each adapter takes the same [`McpServerBuilder`] as
//! the binary, builds the whole app with [`fastmcp_server::cli::create_function_app`]
//! (settings from the environment: `REDIS_URL`, `FASTMCP_MT_*`), and hands every request to
//! the same poem endpoint the binary serves. A function keeps nothing of its own between
//! invocations: sessions, streams and replies live in the shared store (Redis), so any
//! function instance serves any request, and a client whose instance was stopped resumes its
//! stream on another with `Last-Event-ID`.
//!
//! - [`vercel`] (feature `vercel`): Vercel's Rust runtime on fluid compute, which streams
//!   responses, so both transports and every stream work, each for at most the function's
//!   maximum duration.
//! - [`lambda`] (feature `lambda`): AWS Lambda, buffered (every answer JSON; stream-only
//!   requests refused with a reason) or streaming (function URLs in `RESPONSE_STREAM` mode).

use std::sync::Arc;

use fastmcp_core::McpServerBuilder;
use fastmcp_server::cli::{ServeArgs, StartError};
use poem::endpoint::BoxEndpoint;
use poem::{EndpointExt, IntoEndpoint, Response};

#[cfg(feature = "lambda")]
pub mod lambda;
#[cfg(feature = "vercel")]
pub mod vercel;

/// The whole app as one endpoint: what every adapter serves.
pub async fn endpoint(
    builder: McpServerBuilder,
    platform: impl FnOnce(&mut ServeArgs),
) -> Result<Arc<BoxEndpoint<'static, Response>>, StartError> {
    let state = fastmcp_server::cli::create_function_app(builder, platform).await?;
    let ep = fastmcp_server::routes(state)
        .into_endpoint()
        .map_to_response()
        .boxed();
    Ok(Arc::new(ep))
}
