use fastmcp_core::{tool, Result};

#[tool(readonly)]
async fn ping() -> Result<String> {
    Ok("pong".into())
}

fn main() {}
