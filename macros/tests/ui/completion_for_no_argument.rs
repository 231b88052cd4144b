use fastmcp_core::protocol::PromptMessage;
use fastmcp_core::{prompt, Result};

#[prompt(complete(colour = ["red"]))]
async fn paint(color: String) -> Result<Vec<PromptMessage>> {
    Ok(vec![PromptMessage::user(color)])
}

fn main() {}
