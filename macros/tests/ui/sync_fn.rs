use fastmcp_core::{tool, Result};

/// Handlers are futures.
#[tool]
fn add(a: f64, b: f64) -> Result<String> {
    Ok((a + b).to_string())
}

fn main() {}
