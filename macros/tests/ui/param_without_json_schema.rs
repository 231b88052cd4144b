use fastmcp_core::{tool, Result};

#[derive(serde::Deserialize)]
struct Point {
    x: f64,
}

/// A parameter type without `JsonSchema` cannot describe itself.
#[tool]
async fn norm(p: Point) -> Result<String> {
    Ok(p.x.abs().to_string())
}

fn main() {}
