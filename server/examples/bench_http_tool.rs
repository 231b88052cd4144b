//! The demo plus `fetch_code`, a code tool that makes the request a stored HTTP tool makes, so
//! `scripts/bench-catalog.sh` can compare the two in one run: `GET {BENCH_ECHO_URL}/forecast/{city}`
//! with a shared reqwest client, its answer as text.

use std::sync::OnceLock;

use fastmcp_core::{tool, Error, McpServer, Result};

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(reqwest::Client::new)
}

/// The forecast for a city, fetched by code.
#[tool(read_only)]
async fn fetch_code(city: String) -> Result<String> {
    let base = std::env::var("BENCH_ECHO_URL").unwrap_or_else(|_| "http://127.0.0.1:18999".into());
    let resp = client()
        .get(format!("{base}/forecast/{city}"))
        .send()
        .await
        .map_err(|e| Error::tool(e.to_string()))?;
    resp.text().await.map_err(|e| Error::tool(e.to_string()))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let builder = McpServer::builder("bench", "1")
        .with(fastmcp_server::demo::register)
        .with(|r| {
            r.tool(fetch_code_tool());
        });
    fastmcp_server::cli::main_with(builder).await
}
