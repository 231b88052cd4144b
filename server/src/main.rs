//! `fastmcp`: the demo server (echo, add, whoami, count, fail, remember, recall, a readme
//! resource, a profile template and a summarize prompt) on the memory store by default.

use fastmcp_core::McpServer;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let builder = McpServer::builder("fastmcp-mt-demo", env!("CARGO_PKG_VERSION"))
        .instructions("A demo multi-tenant MCP server: try `echo`, `add`, `count` and the `summarize` prompt.")
        .with(fastmcp_server::demo::register);
    fastmcp_server::cli::main_with("fastmcp", builder).await
}
