//! Attribute macros: an async fn becomes a tool, a prompt, a resource or a resource template.
//!
//! Each macro keeps the function as it is (callable from your own code and tests) and generates
//! a companion that builds the registry item: `add` → `add_tool()`, `summarize` →
//! `summarize_prompt()`, `readme` → `readme_resource()`, `profile` → `profile_template()`.
//! [`catalog`] on an inline module or an impl block generates one `register` for all of them.
//!
//! ```
//! use fastmcp_core::protocol::PromptMessage;
//! use fastmcp_core::{catalog, McpServer};
//!
//! #[catalog]
//! mod demo {
//!     use fastmcp_core::protocol::PromptMessage;
//!     use fastmcp_core::{prompt, resource, resource_template, tool, Context, Error, Result};
//!
//!     /// Add two numbers.
//!     #[tool(read_only, open_world = false)]
//!     pub async fn add(
//!         /// First addend.
//!         a: f64,
//!         /// Second addend.
//!         b: f64,
//!     ) -> Result<String> {
//!         Ok((a + b).to_string())
//!     }
//!
//!     /// Count to `n`, reporting progress.
//!     #[tool(scopes = ["count"])]
//!     pub async fn count(ctx: Context, #[schemars(range(min = 1, max = 100))] n: u32) -> Result<String> {
//!         for i in 1..=n {
//!             ctx.report_progress(f64::from(i), Some(f64::from(n)), None).await?;
//!         }
//!         Ok(format!("counted to {n}"))
//!     }
//!
//!     /// What this server offers.
//!     #[resource("demo://readme", mime_type = "text/markdown")]
//!     pub async fn readme(ctx: &Context) -> Result<String> {
//!         Ok(format!("# Hello, {}", ctx.entity_id()))
//!     }
//!
//!     /// A profile card.
//!     #[resource_template("demo://profile/{name}", complete(name = ["alice", "bob"]))]
//!     pub async fn profile(name: String) -> Result<String> {
//!         if name.len() > 64 {
//!             return Err(Error::invalid_params("name too long"));
//!         }
//!         Ok(format!("{{\"name\": {name:?}}}"))
//!     }
//!
//!     /// Ask for a summary.
//!     #[prompt(complete(style = ["brief", "detailed"]))]
//!     pub async fn summarize(
//!         /// The text to summarize.
//!         text: String,
//!         /// "brief" or "detailed".
//!         style: Option<String>,
//!     ) -> Result<Vec<PromptMessage>> {
//!         let style = style.unwrap_or_else(|| "brief".into());
//!         Ok(vec![PromptMessage::user(format!("Summarize ({style}):\n\n{text}"))])
//!     }
//! }
//!
//! let builder = McpServer::builder("demo", "1.0.0").with(demo::register);
//! # let _ = PromptMessage::user("");
//! ```
//!
//! # Parameters
//! - Every parameter other than the [`Context`](crate::Context) becomes an argument, in a
//!   struct the macro derives `Deserialize` and `JsonSchema` for. Its type therefore needs both
//!   (the compiler says so at the parameter when one is missing); `Option<T>` is optional.
//! - `///` comments on a parameter become its description; `#[serde(…)]` and `#[schemars(…)]`
//!   on a parameter move to that field (`#[serde(default)]`, `#[schemars(range(…))]`, …).
//! - The context may be any parameter, by value or by reference, or absent.
//! - A resource template's parameters are its URI's variables, each parsed from the string with
//!   `FromStr` (a value that does not parse is `-32602`). A variable without a parameter, or a
//!   parameter without a variable, is a compile error; a static `#[resource]` takes only the
//!   context.
//! - Arguments that do not match the schema are answered with `-32602` naming the field, as with
//!   the builder API.
//!
//! # Returns
//! What the builder API's handlers return: a tool any [`ToolOutput`](crate::registry::ToolOutput)
//! (`String`, `Content`, `Structured<T>`, `CallToolResult`, …) in a [`Result`](crate::Result),
//! where `Err(Error::tool(..))` is an `isError` result; a prompt `Result<Vec<PromptMessage>>`;
//! a resource anything `Into<ResourceBody>`.
//!
//! # Attribute arguments
//! | | |
//! |---|---|
//! | all | `name = "…"` (default: the fn's name), `title = "…"`, `description = "…"` (default: the doc comment) |
//! | `#[tool]` | `read_only`, `destructive`, `idempotent`, `open_world` (each alone for `true`, or `= false`), `scopes = ["…"]` |
//! | `#[prompt]` | `complete(arg = ["a", "b"])` or `complete(arg = async_fn)` |
//! | `#[resource("uri")]` | `mime_type = "…"` |
//! | `#[resource_template("x://{id}")]` | `mime_type = "…"`, `complete(id = …)` |
//!
//! A completion fn is `async fn(typed: String, ctx: Context) -> Result<Vec<String>>`.
//!
//! # Methods
//! In an `impl` block with [`catalog`], items may take `&self`; `register(self, r)` moves the
//! instance into an `Arc` shared by every call:
//!
//! ```
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use fastmcp_core::{catalog, McpServer, Result};
//!
//! struct Counter { calls: AtomicU64 }
//!
//! #[catalog]
//! impl Counter {
//!     /// How many times this was called.
//!     #[tool]
//!     async fn hits(&self) -> Result<String> {
//!         Ok((self.calls.fetch_add(1, Ordering::Relaxed) + 1).to_string())
//!     }
//! }
//!
//! let builder = McpServer::builder("demo", "1.0.0")
//!     .with(|r| Counter { calls: AtomicU64::new(0) }.register(r));
//! ```
//!
//! The generated code names `::fastmcp_core`: depend on this crate under that name.

pub use fastmcp_macros::{catalog, prompt, resource, resource_template, tool};
