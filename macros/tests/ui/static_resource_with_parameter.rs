use fastmcp_core::{resource, Result};

#[resource("shop://readme")]
async fn readme(lang: String) -> Result<String> {
    Ok(lang)
}

fn main() {}
