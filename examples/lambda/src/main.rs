//! The Lambda function: the demo catalog plus a `hello` tool, on the store named by
//! `REDIS_URL`. Buffered by default; `FASTMCP_MT_LAMBDA_STREAMING=true` for a function URL in
//! `RESPONSE_STREAM` mode.

use fastmcp_core::schemars::{self, JsonSchema};
use fastmcp_core::{Context, McpServer, Tool};
use serde::Deserialize;

#[derive(Deserialize, JsonSchema)]
struct HelloArgs {
    /// Who to greet.
    name: String,
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let builder = McpServer::builder("fastmcp-mt-lambda", env!("CARGO_PKG_VERSION"))
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
    fastmcp_serverless::lambda::run(builder).await
}
