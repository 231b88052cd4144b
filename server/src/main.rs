//! `fastmcp`: the demo server (echo, add, whoami, count, fail, remember, recall, a readme
//! resource, a profile template and a summarize prompt) on the memory store by default.

use fastmcp_core::McpServer;

/// glibc's allocator spent ~6% of the request path in `malloc`/`free`/consolidation under load;
/// see `docs/decisions.md` for the measurement.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let builder = McpServer::builder("fastmcp-mt-demo", env!("CARGO_PKG_VERSION"))
        .instructions("A demo multi-tenant MCP server: try `echo`, `add`, `count` and the `summarize` prompt.")
        .with(fastmcp_server::demo::register);
    fastmcp_server::cli::main_with(builder).await
}
