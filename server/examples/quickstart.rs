//! The README's "Writing a server" example, compiled with every build so it cannot drift:
//! `cargo run -p fastmcp-server --example quickstart`, then call `add` on
//! `http://127.0.0.1:8000/acme/mcp`.

use fastmcp_core::schemars::{self, JsonSchema};
use fastmcp_core::{Context, McpServer, Structured, Tool};
use serde::{Deserialize, Serialize};

#[derive(Deserialize, JsonSchema)]
struct AddArgs {
    /// First addend
    a: f64,
    /// Second addend
    b: f64,
}

#[derive(Serialize, JsonSchema)]
struct Sum {
    sum: f64,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let builder = McpServer::builder("my-server", "1.0.0").with(|r| {
        r.tool(Tool::new("add").description("Add two numbers").handler(
            |a: AddArgs, ctx: Context| async move {
                ctx.info(format!("adding for {}", ctx.entity_id())).await?;
                Ok(Structured::new(Sum { sum: a.a + a.b }))
            },
        ));
    });
    fastmcp_server::cli::main_with(builder).await // the same flags as `fastmcp`
}
