use fastmcp_core::{resource_template, Result};

/// `size` would never be given.
#[resource_template("shop://items/{id}")]
async fn item(id: u32, size: u32) -> Result<String> {
    Ok(format!("{id} {size}"))
}

fn main() {}
