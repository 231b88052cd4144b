use fastmcp_core::{resource_template, Result};

/// `{color}` has nowhere to go.
#[resource_template("shop://items/{id}/{color}")]
async fn item(id: u32) -> Result<String> {
    Ok(id.to_string())
}

fn main() {}
