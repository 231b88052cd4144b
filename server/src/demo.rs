//! The demo catalog served by `fastmcp`: small tools that exercise every part of the framework
//! (typed args, structured output, progress, logging, session state, elicitation, resources,
//! templates, prompts and completions). Also the best place to read how a server is written:
//! each item is an async fn with one attribute, and `#[catalog]` registers them all.

pub use items::register;

#[fastmcp_core::catalog]
mod items {
    use std::time::Duration;

    use fastmcp_core::protocol::PromptMessage;
    use fastmcp_core::schemars::{self, JsonSchema};
    use fastmcp_core::{
        prompt, resource, resource_template, tool, Context, Error, Result, Structured,
    };
    use serde::{Deserialize, Serialize};
    use serde_json::{json, Value};

    use super::format_number;

    /// Echo the given text back.
    #[tool(read_only, open_world = false)]
    async fn echo(
        /** Text to send back. */
        text: String,
    ) -> Result<String> {
        Ok(text)
    }

    #[derive(Serialize, JsonSchema)]
    struct Sum {
        /// a + b.
        sum: f64,
    }

    /// Add two numbers.
    #[tool(read_only, open_world = false)]
    async fn add(
        /// First addend.
        a: f64,
        /// Second addend.
        b: f64,
    ) -> Result<Structured<Sum>> {
        let sum = a + b;
        Ok(Structured::new(Sum { sum }).with_text(format_number(sum)))
    }

    #[derive(Serialize, JsonSchema)]
    struct WhoAmI {
        /// The tenant of this session.
        entity_id: String,
        /// The session id.
        session_id: String,
    }

    /// The entity and session this call belongs to.
    #[tool(read_only, open_world = false)]
    async fn whoami(ctx: Context) -> Result<Structured<WhoAmI>> {
        Ok(Structured::new(WhoAmI {
            entity_id: ctx.entity_id().to_string(),
            session_id: ctx.session_id().map(|s| s.to_string()).unwrap_or_default(),
        }))
    }

    fn default_delay() -> i64 {
        10
    }

    /// Count to n, reporting progress and logging each step.
    #[tool(read_only, open_world = false)]
    async fn count(
        ctx: Context,
        /// How far to count (1-100).
        #[schemars(range(min = 1, max = 100))]
        n: i64,
        /// Pause between steps in milliseconds (0-1000).
        #[serde(default = "default_delay")]
        #[schemars(range(min = 0, max = 1000))]
        delay_ms: i64,
    ) -> Result<String> {
        // The schema states the ranges; a client may still send anything.
        if !(1..=100).contains(&n) {
            return Err(Error::invalid_params(
                "invalid arguments for tool `count` at `n`: must be between 1 and 100",
            ));
        }
        if !(0..=1000).contains(&delay_ms) {
            return Err(Error::invalid_params(
                "invalid arguments for tool `count` at `delay_ms`: must be between 0 and 1000",
            ));
        }
        for i in 1..=n {
            if delay_ms > 0 {
                ctx.sleep(Duration::from_millis(delay_ms as u64)).await?;
            }
            ctx.report_progress(i as f64, Some(n as f64), None).await?;
            ctx.info(format!("step {i} of {n}")).await?;
        }
        Ok(format!("counted to {n}"))
    }

    /// Return an error result with the given message.
    #[tool]
    async fn fail(
        /** The error message to return. */
        message: String,
    ) -> Result<String> {
        Err(Error::tool(message))
    }

    /// Store a value in this session's state.
    #[tool(idempotent)]
    async fn remember(
        ctx: Context,
        /// Key in the session state.
        key: String,
        /// Value to store.
        value: String,
    ) -> Result<&'static str> {
        ctx.set_state(&key, &value).await?;
        Ok("ok")
    }

    /// Read a value stored with `remember` in this session.
    #[tool(read_only, open_world = false)]
    async fn recall(
        ctx: Context,
        /** Key in the session state. */
        key: String,
    ) -> Result<String> {
        match ctx.get_state::<String>(&key).await? {
            Some(v) => Ok(v),
            None => Err(Error::tool(format!("no value for {key}"))),
        }
    }

    /// Ask the user's name (elicitation), then greet them.
    #[tool]
    async fn greet(ctx: Context) -> Result<String> {
        let schema = json!({
            "type": "object",
            "properties": { "name": { "type": "string", "description": "Your name" } },
            "required": ["name"],
        });
        let answer = ctx.elicit_as("name", "What is your name?", schema).await?;
        let name = answer
            .content
            .as_ref()
            .and_then(|c| c.get("name"))
            .and_then(Value::as_str)
            .filter(|_| answer.action == "accept");
        Ok(match name {
            Some(n) => format!("Hello, {n}!"),
            None => format!("No name given ({})", answer.action),
        })
    }

    /// Tell this entity's listeners that the tool list changed.
    #[tool]
    async fn announce_change(ctx: Context) -> Result<&'static str> {
        ctx.notify_tools_changed().await?;
        Ok("listeners notified")
    }

    /// What the demo server offers.
    #[resource(
        "demo://readme",
        title = "About this demo",
        mime_type = "text/markdown"
    )]
    async fn readme(ctx: Context) -> Result<String> {
        Ok(format!(
            "# FastMCP-MT demo\n\nYou are entity `{}`.\n\nTools: echo, add, whoami, count, fail, \
             remember, recall, greet, announce_change.\nResources: demo://readme, \
             demo://profile/{{name}}.\nPrompt: summarize.\n",
            ctx.entity_id()
        ))
    }

    /// A profile card for a name, as JSON.
    #[resource_template(
        "demo://profile/{name}",
        mime_type = "application/json",
        complete(name = ["alice", "bob", "carol"])
    )]
    async fn profile(name: String, ctx: Context) -> Result<String> {
        Ok(json!({ "name": name, "entity_id": ctx.entity_id() }).to_string())
    }

    #[derive(Deserialize, JsonSchema, Default, Clone, Copy)]
    #[serde(rename_all = "lowercase")]
    enum Style {
        #[default]
        Brief,
        Detailed,
    }

    /// Ask the model to summarize a text.
    #[prompt(complete(style = ["brief", "detailed"]))]
    async fn summarize(
        /// The text to summarize.
        text: String,
        /// "brief" (default) or "detailed".
        style: Option<Style>,
    ) -> Result<Vec<PromptMessage>> {
        let style = match style.unwrap_or_default() {
            Style::Brief => "brief",
            Style::Detailed => "detailed",
        };
        Ok(vec![PromptMessage::user(format!(
            "Summarize the following text in a {style} style:\n\n{text}"
        ))])
    }
}

/// Renders a number the way people write it: `5`, not `5.0`.
fn format_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

#[cfg(test)]
mod tests {
    use super::format_number;

    #[test]
    fn numbers_render_like_people_write_them() {
        assert_eq!(format_number(5.0), "5");
        assert_eq!(format_number(2.5), "2.5");
        assert_eq!(format_number(-3.0), "-3");
    }
}
