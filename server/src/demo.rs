//! The demo catalog served by `fastmcp`: small tools that exercise every part of the framework
//! (typed args, structured output, progress, logging, session state, resources, templates,
//! prompts and completions). Also the best place to read how a server is written.

use fastmcp_core::protocol::{PromptMessage, ToolAnnotations};
use fastmcp_core::registry::RegistryBuilder;
use fastmcp_core::schemars::{self, JsonSchema};
use fastmcp_core::{
    Completer, Context, Error, NoArgs, Prompt, Resource, ResourceTemplate, Result, Structured, Tool,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::time::Duration;

#[derive(Deserialize, JsonSchema)]
struct EchoArgs {
    /// Text to send back.
    text: String,
}

#[derive(Deserialize, JsonSchema)]
struct AddArgs {
    /// First addend.
    a: f64,
    /// Second addend.
    b: f64,
}

#[derive(Serialize, JsonSchema)]
struct Sum {
    /// a + b.
    sum: f64,
}

#[derive(Serialize, JsonSchema)]
struct WhoAmI {
    /// The tenant of this session.
    entity_id: String,
    /// The session id.
    session_id: String,
}

#[derive(Deserialize, JsonSchema)]
struct CountArgs {
    /// How far to count (1-100).
    #[schemars(range(min = 1, max = 100))]
    n: i64,
    /// Pause between steps in milliseconds (0-1000).
    #[serde(default = "default_delay")]
    #[schemars(range(min = 0, max = 1000))]
    delay_ms: i64,
}

fn default_delay() -> i64 {
    10
}

#[derive(Deserialize, JsonSchema)]
struct FailArgs {
    /// The error message to return.
    message: String,
}

#[derive(Deserialize, JsonSchema)]
struct RememberArgs {
    /// Key in the session state.
    key: String,
    /// Value to store.
    value: String,
}

#[derive(Deserialize, JsonSchema)]
struct RecallArgs {
    /// Key in the session state.
    key: String,
}

#[derive(Deserialize, JsonSchema, Default, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Style {
    #[default]
    Brief,
    Detailed,
}

#[derive(Deserialize, JsonSchema)]
struct SummarizeArgs {
    /// The text to summarize.
    text: String,
    /// "brief" (default) or "detailed".
    style: Option<Style>,
}

/// Renders a number the way people write it: `5`, not `5.0`.
fn format_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

fn read_only() -> ToolAnnotations {
    ToolAnnotations {
        read_only_hint: Some(true),
        open_world_hint: Some(false),
        ..Default::default()
    }
}

/// Registers the demo tools, resources and prompts.
pub fn register(r: &mut RegistryBuilder) {
    r.tool(
        Tool::new("echo")
            .description("Echo the given text back")
            .annotations(read_only())
            .handler(|a: EchoArgs, _ctx: Context| async move { Ok(a.text) }),
    );
    r.tool(
        Tool::new("add")
            .description("Add two numbers")
            .annotations(read_only())
            .handler(|a: AddArgs, _ctx: Context| async move {
                let sum = a.a + a.b;
                Ok(Structured::new(Sum { sum }).with_text(format_number(sum)))
            }),
    );
    r.tool(
        Tool::new("whoami")
            .description("The entity and session this call belongs to")
            .annotations(read_only())
            .handler(|_: NoArgs, ctx: Context| async move {
                Ok(Structured::new(WhoAmI {
                    entity_id: ctx.entity_id().to_string(),
                    session_id: ctx.session_id().map(|s| s.to_string()).unwrap_or_default(),
                }))
            }),
    );
    r.tool(
        Tool::new("count")
            .description("Count to n, reporting progress and logging each step")
            .annotations(read_only())
            .handler(|a: CountArgs, ctx: Context| async move {
                if !(1..=100).contains(&a.n) {
                    return Err(Error::invalid_params("invalid arguments for tool `count` at `n`: must be between 1 and 100"));
                }
                if !(0..=1000).contains(&a.delay_ms) {
                    return Err(Error::invalid_params(
                        "invalid arguments for tool `count` at `delay_ms`: must be between 0 and 1000",
                    ));
                }
                for i in 1..=a.n {
                    if a.delay_ms > 0 {
                        ctx.sleep(Duration::from_millis(a.delay_ms as u64)).await?;
                    }
                    ctx.report_progress(i as f64, Some(a.n as f64), None).await?;
                    ctx.info(format!("step {i} of {}", a.n)).await?;
                }
                Ok(format!("counted to {}", a.n))
            }),
    );
    r.tool(
        Tool::new("fail")
            .description("Return an error result with the given message")
            .handler(|a: FailArgs, _ctx: Context| async move {
                Err::<String, _>(Error::tool(a.message))
            }),
    );
    r.tool(
        Tool::new("remember")
            .description("Store a value in this session's state")
            .annotations(ToolAnnotations {
                idempotent_hint: Some(true),
                ..Default::default()
            })
            .handler(|a: RememberArgs, ctx: Context| async move {
                ctx.set_state(&a.key, &a.value).await?;
                Ok("ok")
            }),
    );
    r.tool(
        Tool::new("recall")
            .description("Read a value stored with `remember` in this session")
            .annotations(read_only())
            .handler(|a: RecallArgs, ctx: Context| async move {
                match ctx.get_state::<String>(&a.key).await? {
                    Some(v) => Ok(v),
                    None => Err(Error::tool(format!("no value for {}", a.key))),
                }
            }),
    );
    r.tool(
        Tool::new("greet")
            .description("Ask the user's name (elicitation), then greet them")
            .handler(|_: NoArgs, ctx: Context| async move {
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
            }),
    );
    r.tool(
        Tool::new("announce_change")
            .description("Tell this entity's listeners that the tool list changed")
            .handler(|_: NoArgs, ctx: Context| async move {
                ctx.notify_tools_changed().await?;
                Ok("listeners notified")
            }),
    );
    r.resource(
        Resource::new("demo://readme", "readme")
            .title("About this demo")
            .description("What the demo server offers")
            .mime_type("text/markdown")
            .handler(|ctx: Context| async move {
                Ok(format!(
                    "# FastMCP-MT demo\n\nYou are entity `{}`.\n\nTools: echo, add, whoami, count, fail, remember, recall, greet, announce_change.\n\
                     Resources: demo://readme, demo://profile/{{name}}.\nPrompt: summarize.\n",
                    ctx.entity_id()
                ))
            }),
    );
    r.resource_template(
        ResourceTemplate::new("demo://profile/{name}", "profile")
            .description("A profile card for a name, as JSON")
            .mime_type("application/json")
            .complete("name", Completer::from_values(["alice", "bob", "carol"]))
            .handler(|params, ctx: Context| async move {
                let name = params.get("name").cloned().unwrap_or_default();
                Ok(json!({ "name": name, "entity_id": ctx.entity_id() }).to_string())
            }),
    );
    r.prompt(
        Prompt::new("summarize")
            .description("Ask the model to summarize a text")
            .complete("style", Completer::from_values(["brief", "detailed"]))
            .handler(|a: SummarizeArgs, _ctx: Context| async move {
                let style = match a.style.unwrap_or_default() {
                    Style::Brief => "brief",
                    Style::Detailed => "detailed",
                };
                Result::Ok(vec![PromptMessage::user(format!(
                    "Summarize the following text in a {style} style:\n\n{}",
                    a.text
                ))])
            }),
    );
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
