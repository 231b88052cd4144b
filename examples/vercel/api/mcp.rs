//! The Vercel function: the demo catalog plus the design document's `hello` tool, on the
//! store named by `REDIS_URL`. Every `/{entity_id}/…` path is rewritten to this function
//! (vercel.json), so one deployment serves every tenant.

use fastmcp_core::schemars::{self, JsonSchema};
use fastmcp_core::{Context, McpServer, Tool};
use serde::Deserialize;

#[derive(Deserialize, JsonSchema)]
struct HelloArgs {
    /// Who to greet.
    name: String,
}

#[tokio::main]
async fn main() -> Result<(), vercel_runtime::Error> {
    let builder = McpServer::builder("fastmcp-mt-vercel", env!("CARGO_PKG_VERSION"))
        .with(fastmcp_server::demo::register)
        .with(|r| {
            r.tool(
                Tool::new("hello")
                    .description("Greets someone, from the entity the request came for")
                    .handler(|a: HelloArgs, ctx: Context| async move {
                        Ok(format!("Hello {} from {}!", a.name, ctx.entity_id()))
                    }),
            );
        });
    fastmcp_serverless::vercel::run(builder).await
}
