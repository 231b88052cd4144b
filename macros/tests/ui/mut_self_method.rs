use fastmcp_core::{catalog, Result};

struct Tally(u64);

#[catalog]
impl Tally {
    #[fastmcp_core::tool]
    async fn bump(&mut self) -> Result<String> {
        self.0 += 1;
        Ok(self.0.to_string())
    }
}

fn main() {}
