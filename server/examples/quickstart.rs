//! The README's "Writing a server" example, compiled with every build so it cannot drift:
//! `cargo run -p fastmcp-server --example quickstart`, then call `add` on
//! `http://127.0.0.1:8000/acme/mcp`.

use fastmcp_core::{tool, Context, McpServer, Result};

/// Add two numbers.
#[tool]
async fn add(a: f64, b: f64) -> Result<String> {
    Ok((a + b).to_string())
}

/// Greet someone on behalf of the caller's tenant, and log it.
#[tool(read_only)]
async fn hello(
    /// Who to greet.
    name: String,
    ctx: Context,
) -> Result<String> {
    ctx.info(format!("greeting {name} for {}", ctx.entity_id()))
        .await?;
    Ok(format!("Hello, {name}, from {}!", ctx.entity_id()))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let builder = McpServer::builder("my-server", "1.0.0").with(|r| {
        r.tool(add_tool()).tool(hello_tool());
    });
    fastmcp_server::cli::main_with(builder).await // the same flags as `fastmcp`
}
