//! The server the official MCP conformance suite is run against: exactly the fixtures listed in
//! `shared/conformance/README.md`, on any entity path, with the same flags as `fastmcp`.
//!
//! `cargo run --example conformance -- --bind 127.0.0.1:3005`, then point the suite at
//! `http://127.0.0.1:3005/conformance/mcp`.

use std::time::Duration;

use fastmcp_core::protocol::{Content, PromptMessage, ResourceContents};
use fastmcp_core::schemars::{self, JsonSchema};
use fastmcp_core::{
    Context, Error, McpServer, NoArgs, Prompt, Resource, ResourceBody, ResourceTemplate, Result,
    Tool,
};
use serde::Deserialize;
use serde_json::{json, Value};

/// A 1x1 red PNG.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
/// A 44-byte WAV (header only).
const WAV: &str = "UklGRiQAAABXQVZFZm10IBAAAAABAAEARKwAAIhYAQACABAAZGF0YQAAAAA=";

#[derive(Deserialize, JsonSchema)]
struct SamplingArgs {
    /// The prompt to send to the client's LLM.
    prompt: String,
}

#[derive(Deserialize, JsonSchema)]
struct ElicitArgs {
    /// The message to show the user.
    message: String,
}

#[derive(Deserialize, JsonSchema)]
struct TwoArgs {
    /// First test argument
    arg1: String,
    /// Second test argument
    arg2: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct EmbeddedArgs {
    /// URI of the resource to embed
    resource_uri: String,
}

async fn pause(ctx: &Context, ms: u64) -> Result<()> {
    ctx.sleep(Duration::from_millis(ms)).await
}

fn tools(r: &mut fastmcp_core::registry::RegistryBuilder) {
    r.tool(
        Tool::new("test_simple_text")
            .description("Returns a simple text response")
            .handler(|_: NoArgs, _ctx: Context| async move {
                Ok("This is a simple text response for testing.")
            }),
    );
    r.tool(
        Tool::new("test_image_content")
            .description("Returns an image")
            .handler(
                |_: NoArgs, _ctx: Context| async move { Ok(Content::image(PNG, "image/png")) },
            ),
    );
    r.tool(
        Tool::new("test_audio_content")
            .description("Returns audio")
            .handler(
                |_: NoArgs, _ctx: Context| async move { Ok(Content::audio(WAV, "audio/wav")) },
            ),
    );
    r.tool(
        Tool::new("test_embedded_resource")
            .description("Returns an embedded resource")
            .handler(|_: NoArgs, _ctx: Context| async move {
                Ok(Content::resource(ResourceContents::text(
                    "test://embedded-resource",
                    "text/plain",
                    "This is an embedded resource content.",
                )))
            }),
    );
    r.tool(
        Tool::new("test_multiple_content_types")
            .description("Returns text, image and a resource")
            .handler(|_: NoArgs, _ctx: Context| async move {
                Ok(vec![
                    Content::text("Multiple content types test:"),
                    Content::image(PNG, "image/png"),
                    Content::resource(ResourceContents::text(
                        "test://mixed-content-resource",
                        "application/json",
                        r#"{"test":"data","value":123}"#,
                    )),
                ])
            }),
    );
    r.tool(
        Tool::new("test_tool_with_logging")
            .description("Logs three messages while running")
            .handler(|_: NoArgs, ctx: Context| async move {
                ctx.info("Tool execution started").await?;
                pause(&ctx, 50).await?;
                ctx.info("Tool processing data").await?;
                pause(&ctx, 50).await?;
                ctx.info("Tool execution completed").await?;
                Ok("Logging test completed")
            }),
    );
    r.tool(
        Tool::new("test_error_handling")
            .description("Always returns an error result")
            .handler(|_: NoArgs, _ctx: Context| async move {
                Err::<String, _>(Error::tool(
                    "This tool intentionally returns an error for testing",
                ))
            }),
    );
    r.tool(
        Tool::new("test_tool_with_progress")
            .description("Reports progress 0, 50, 100")
            .handler(|_: NoArgs, ctx: Context| async move {
                ctx.report_progress(0.0, Some(100.0), None).await?;
                pause(&ctx, 50).await?;
                ctx.report_progress(50.0, Some(100.0), None).await?;
                pause(&ctx, 50).await?;
                ctx.report_progress(100.0, Some(100.0), None).await?;
                let token = ctx
                    .request_id()
                    .map(|id| id.to_string())
                    .unwrap_or_default();
                Ok(token)
            }),
    );
    r.tool(Tool::new("test_sampling").description("Asks the client's LLM").handler(
        |a: SamplingArgs, ctx: Context| async move {
            let result = ctx
                .sample(json!({
                    "messages": [{ "role": "user", "content": { "type": "text", "text": a.prompt } }],
                    "maxTokens": 100,
                }))
                .await?;
            let text = result.pointer("/content/text").and_then(Value::as_str).unwrap_or_default();
            Ok(format!("LLM response: {text}"))
        },
    ));
    r.tool(
        Tool::new("test_elicitation")
            .description("Asks the user for a username and email")
            .handler(|a: ElicitArgs, ctx: Context| async move {
                let schema = json!({
                    "type": "object",
                    "properties": {
                        "username": { "type": "string", "description": "User's response" },
                        "email": { "type": "string", "description": "User's email address" },
                    },
                    "required": ["username", "email"],
                });
                let r = ctx.elicit(&a.message, schema).await?;
                Ok(format!(
                    "User response: {}",
                    json!({ "action": r.action, "content": r.content })
                ))
            }),
    );
    r.tool(Tool::new("test_elicitation_sep1034_defaults").description("Elicitation with defaults").handler(
        |_: NoArgs, ctx: Context| async move {
            let schema = json!({
                "type": "object",
                "properties": {
                    "name": { "type": "string", "default": "John Doe" },
                    "age": { "type": "integer", "default": 30 },
                    "score": { "type": "number", "default": 95.5 },
                    "status": { "type": "string", "enum": ["active", "inactive", "pending"], "default": "active" },
                    "verified": { "type": "boolean", "default": true },
                },
                "required": [],
            });
            let r = ctx.elicit("Please review your information", schema).await?;
            let content = r.content.unwrap_or(Value::Null);
            Ok(format!("Elicitation completed: action={}, content={content}", r.action))
        },
    ));
    r.tool(Tool::new("test_elicitation_sep1330_enums").description("Elicitation with enum variants").handler(
        |_: NoArgs, ctx: Context| async move {
            let opts = ["option1", "option2", "option3"];
            let schema = json!({
                "type": "object",
                "properties": {
                    "untitledSingle": { "type": "string", "description": "Pick one", "enum": opts },
                    "titledSingle": { "type": "string", "description": "Pick one", "oneOf": [
                        { "const": "value1", "title": "First Option" },
                        { "const": "value2", "title": "Second Option" },
                        { "const": "value3", "title": "Third Option" },
                    ]},
                    "legacyEnum": { "type": "string", "description": "Pick one",
                        "enum": ["opt1", "opt2", "opt3"],
                        "enumNames": ["Option One", "Option Two", "Option Three"] },
                    "untitledMulti": { "type": "array", "description": "Pick some", "minItems": 1, "maxItems": 3,
                        "items": { "type": "string", "enum": opts } },
                    "titledMulti": { "type": "array", "description": "Pick some", "minItems": 1, "maxItems": 3,
                        "items": { "anyOf": [
                            { "const": "value1", "title": "First Choice" },
                            { "const": "value2", "title": "Second Choice" },
                            { "const": "value3", "title": "Third Choice" },
                        ]}},
                },
                "required": [],
            });
            let r = ctx.elicit("Choose your options", schema).await?;
            let content = r.content.unwrap_or(Value::Null);
            Ok(format!("Elicitation completed: action={}, content={content}", r.action))
        },
    ));
    r.tool(
        Tool::new("json_schema_2020_12_tool")
            .description("Tool with JSON Schema 2020-12 features")
            .input_schema(json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "$defs": { "address": { "$anchor": "addressDef", "type": "object", "properties": {
                    "street": { "type": "string" }, "city": { "type": "string" } } } },
                "properties": {
                    "name": { "type": "string" },
                    "address": { "$ref": "#/$defs/address" },
                    "contactMethod": { "type": "string", "enum": ["phone", "email"] },
                    "phone": { "type": "string" },
                    "email": { "type": "string" },
                },
                "allOf": [{ "anyOf": [{ "required": ["phone"] }, { "required": ["email"] }] }],
                "if": { "properties": { "contactMethod": { "const": "phone" } }, "required": ["contactMethod"] },
                "then": { "required": ["phone"] },
                "else": { "required": ["email"] },
                "additionalProperties": false,
            }))
            .handler(|a: Value, _ctx: Context| async move { Ok(format!("Received: {a}")) }),
    );
    r.tool(
        Tool::new("test_reconnection")
            .description("Closes its SSE stream mid-call; the result arrives on resumption")
            .handler(|_: NoArgs, ctx: Context| async move {
                pause(&ctx, 50).await?;
                ctx.close_sse_stream();
                pause(&ctx, 300).await?;
                Ok("Reconnection test completed successfully")
            }),
    );
}

/// The 2026-07-28 fixtures (`shared/conformance/REQUIREMENTS-2026-07-28.md` §5). The
/// multi-round-trip ones are ordinary tools: the same code asks on the stream in the handshake
/// era and answers `input_required` at 2026-07-28.
fn modern_tools(r: &mut fastmcp_core::registry::RegistryBuilder) {
    fn name_schema() -> Value {
        json!({ "type": "object", "properties": { "name": { "type": "string" } }, "required": ["name"] })
    }
    fn confirm_schema() -> Value {
        json!({ "type": "object", "properties": { "ok": { "type": "boolean" } }, "required": ["ok"] })
    }
    fn question(text: &str) -> Value {
        json!({
            "messages": [{ "role": "user", "content": { "type": "text", "text": text } }],
            "maxTokens": 100,
        })
    }
    fn sampled_text(v: &Value) -> String {
        v.pointer("/content/text")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    }
    fn field(r: &fastmcp_core::ElicitResult, k: &str) -> String {
        r.content
            .as_ref()
            .and_then(|c| c.get(k))
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .unwrap_or_default()
    }
    r.tool(
        Tool::new("test_missing_capability")
            .description("Needs the client's sampling capability")
            .handler(|_: NoArgs, ctx: Context| async move {
                ctx.require_capability("sampling")?;
                Ok("The client can sample")
            }),
    );
    r.tool(
        Tool::new("test_streaming_elicitation")
            .description("Answers without asking the client anything on the stream")
            .handler(|_: NoArgs, _ctx: Context| async move {
                Ok("No server-to-client request was needed")
            }),
    );
    r.tool(
        Tool::new("test_logging_tool")
            .description("Logs; the client only hears it when it asked for a log level")
            .handler(|_: NoArgs, ctx: Context| async move {
                ctx.info("test_logging_tool ran").await?;
                Ok("Logged at info")
            }),
    );
    r.tool(
        Tool::new("test_trigger_tool_change")
            .description("Announces a tool-list change to listeners (the list stays the same)")
            .handler(|_: NoArgs, ctx: Context| async move {
                ctx.notify_tools_changed().await?;
                Ok("tools/list_changed sent")
            }),
    );
    r.tool(
        Tool::new("test_trigger_prompt_change")
            .description("Announces a prompt-list change to listeners (the list stays the same)")
            .handler(|_: NoArgs, ctx: Context| async move {
                ctx.notify_prompts_changed().await?;
                Ok("prompts/list_changed sent")
            }),
    );
    r.tool(
        Tool::new("test_input_required_result_elicitation")
            .description("Asks the user's name")
            .handler(|_: NoArgs, ctx: Context| async move {
                let r = ctx
                    .elicit_as("user_name", "What is your name?", name_schema())
                    .await?;
                Ok(format!("Hello, {}!", field(&r, "name")))
            }),
    );
    r.tool(
        Tool::new("test_input_required_result_sampling")
            .description("Asks the client's LLM a question")
            .handler(|_: NoArgs, ctx: Context| async move {
                let r = ctx
                    .sample_as("sample_request", question("What is the capital of France?"))
                    .await?;
                Ok(format!("The model said: {}", sampled_text(&r)))
            }),
    );
    r.tool(
        Tool::new("test_input_required_result_list_roots")
            .description("Lists the client's roots")
            .handler(|_: NoArgs, ctx: Context| async move {
                let roots = ctx.list_roots_as("client_roots").await?;
                Ok(format!("The client has {} root(s)", roots.len()))
            }),
    );
    r.tool(
        Tool::new("test_input_required_result_request_state")
            .description("Asks for a confirmation carried across rounds in requestState")
            .handler(|_: NoArgs, ctx: Context| async move {
                let r = ctx
                    .elicit_as("confirm", "Proceed?", confirm_schema())
                    .await?;
                Ok(format!("state-ok: confirmed={}", field(&r, "ok")))
            }),
    );
    r.tool(
        Tool::new("test_input_required_result_multiple_inputs")
            .description("Asks for a name, a greeting and the roots in one round")
            .handler(|_: NoArgs, ctx: Context| async move {
                let answers = ctx
                    .inputs(vec![
                        (
                            "user_name".into(),
                            fastmcp_core::InputRequest::Elicit {
                                message: "What is your name?".into(),
                                requested_schema: name_schema(),
                            },
                        ),
                        (
                            "greeting".into(),
                            fastmcp_core::InputRequest::Sample(question("Write a greeting")),
                        ),
                        ("client_roots".into(), fastmcp_core::InputRequest::ListRoots),
                    ])
                    .await?;
                let name = answers[0]
                    .pointer("/content/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                Ok(format!(
                    "{} {name}; {} root(s)",
                    sampled_text(&answers[1]),
                    answers[2]
                        .get("roots")
                        .and_then(Value::as_array)
                        .map_or(0, Vec::len)
                ))
            }),
    );
    r.tool(
        Tool::new("test_input_required_result_multi_round")
            .description("Asks two questions, one round each")
            .handler(|_: NoArgs, ctx: Context| async move {
                let name = ctx.elicit_as("user_name", "What is your name?", name_schema()).await?;
                let schema = json!({ "type": "object", "properties": { "color": { "type": "string" } }, "required": ["color"] });
                let color = ctx.elicit_as("favorite_color", "Your favourite colour?", schema).await?;
                Ok(format!("{} likes {}", field(&name, "name"), field(&color, "color")))
            }),
    );
    r.tool(
        Tool::new("test_input_required_result_tampered_state")
            .description("Rejects a requestState that was altered")
            .handler(|_: NoArgs, ctx: Context| async move {
                let r = ctx
                    .elicit_as("confirm", "Proceed?", confirm_schema())
                    .await?;
                Ok(format!("confirmed={}", field(&r, "ok")))
            }),
    );
    r.tool(
        Tool::new("test_input_required_result_capabilities")
            .description("Asks only through capabilities the client declared")
            .handler(|_: NoArgs, ctx: Context| async move {
                if ctx.client_supports("elicitation") {
                    let r = ctx
                        .elicit_as("user_input", "Your input?", name_schema())
                        .await?;
                    Ok(format!("elicited {}", field(&r, "name")))
                } else {
                    let r = ctx
                        .sample_as("sample_input", question("Say something"))
                        .await?;
                    Ok(format!("sampled {}", sampled_text(&r)))
                }
            }),
    );
    r.tool(
        Tool::new("test_header_param")
            .description("Takes a region that is also sent as the Mcp-Param-Region header")
            .input_schema(json!({
                "type": "object",
                "properties": { "region": { "type": "string", "x-mcp-header": "Region" } },
                "required": ["region"],
            }))
            .handler(|a: Value, _ctx: Context| async move {
                Ok(format!(
                    "region={}",
                    a.get("region").and_then(Value::as_str).unwrap_or_default()
                ))
            }),
    );
}

fn resources(r: &mut fastmcp_core::registry::RegistryBuilder) {
    r.resource(
        Resource::new("test://static-text", "static-text")
            .title("Static text")
            .description("A static text resource")
            .mime_type("text/plain")
            .handler(|_ctx: Context| async move {
                Ok("This is the content of the static text resource.")
            }),
    );
    r.resource(
        Resource::new("test://static-binary", "static-binary")
            .title("Static binary")
            .description("A static PNG")
            .mime_type("image/png")
            .handler(|_ctx: Context| async move { Ok(ResourceBody::Blob(PNG.to_string())) }),
    );
    r.resource(
        Resource::new("test://watched-resource", "watched-resource")
            .title("Watched resource")
            .description("A resource clients may subscribe to")
            .mime_type("text/plain")
            .handler(|_ctx: Context| async move { Ok("Watched resource content") }),
    );
    r.resource_template(
        ResourceTemplate::new("test://template/{id}/data", "template-data")
            .description("Data for an id")
            .mime_type("application/json")
            .handler(|p, _ctx: Context| async move {
                let id = p.get("id").cloned().unwrap_or_default();
                Ok(
                    json!({ "id": id, "templateTest": true, "data": format!("Data for ID: {id}") })
                        .to_string(),
                )
            }),
    );
}

fn prompts(r: &mut fastmcp_core::registry::RegistryBuilder) {
    r.prompt(
        Prompt::new("test_input_required_result_prompt")
            .description("Asks the user for context before rendering")
            .handler(|_: NoArgs, ctx: Context| async move {
                let schema = json!({ "type": "object", "properties": { "context": { "type": "string" } }, "required": ["context"] });
                let r = ctx.elicit_as("user_context", "Any context for this prompt?", schema).await?;
                let text = r.content.as_ref().and_then(|c| c.get("context")).and_then(Value::as_str).unwrap_or_default().to_string();
                Ok(vec![PromptMessage::user(format!("Context: {text}"))])
            }),
    );
    r.prompt(
        Prompt::new("test_simple_prompt")
            .description("A simple prompt without arguments")
            .handler(|_: NoArgs, _ctx: Context| async move {
                Ok(vec![PromptMessage::user(
                    "This is a simple prompt for testing.",
                )])
            }),
    );
    r.prompt(
        Prompt::new("test_prompt_with_arguments")
            .description("A prompt with two arguments")
            .handler(|a: TwoArgs, _ctx: Context| async move {
                Ok(vec![PromptMessage::user(format!(
                    "Prompt with arguments: arg1='{}', arg2='{}'",
                    a.arg1, a.arg2
                ))])
            }),
    );
    r.prompt(
        Prompt::new("test_prompt_with_embedded_resource")
            .description("A prompt embedding a resource")
            .handler(|a: EmbeddedArgs, _ctx: Context| async move {
                Ok(vec![
                    PromptMessage::user_content(Content::resource(ResourceContents::text(
                        a.resource_uri,
                        "text/plain",
                        "Embedded resource content for testing.",
                    ))),
                    PromptMessage::user("Please process the embedded resource above."),
                ])
            }),
    );
    r.prompt(
        Prompt::new("test_prompt_with_image")
            .description("A prompt with an image")
            .handler(|_: NoArgs, _ctx: Context| async move {
                Ok(vec![
                    PromptMessage::user_content(Content::image(PNG, "image/png")),
                    PromptMessage::user("Please analyze the image above."),
                ])
            }),
    );
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let builder = McpServer::builder("fastmcp-mt-conformance", env!("CARGO_PKG_VERSION"))
        .with(tools)
        .with(modern_tools)
        .with(resources)
        .with(prompts);
    fastmcp_server::cli::main_with(builder).await
}
