//! Tools: typed arguments in, content (and optionally structured content) out.

use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::context::Context;
use crate::error::{Error, Result};
use crate::protocol::{CallToolResult, Content, ToolAnnotations, ToolInfo};

/// The type-erased handler: raw `arguments` in, result out.
pub type ToolHandler =
    Arc<dyn Fn(Value, Context) -> BoxFuture<'static, Result<CallToolResult>> + Send + Sync>;

/// A registered tool: its listing and its handler.
#[derive(Clone)]
pub struct Tool {
    pub(crate) info: ToolInfo,
    pub(crate) handler: ToolHandler,
    pub(crate) scopes: Vec<String>,
}

/// Arguments of a tool that takes none (accepts `{}` or no `arguments` at all).
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
pub struct NoArgs {}

/// What a tool handler may return. Implemented for text (`String`, `&'static str`), content
/// (`Content`, `Vec<Content>`), a full [`CallToolResult`], and [`Structured`] values, which also
/// give the tool its `outputSchema`.
pub trait ToolOutput: Send + 'static {
    /// The JSON Schema of `structuredContent`, if this output has one.
    fn output_schema() -> Option<Value> {
        None
    }
    /// Converts into the wire result.
    fn into_call_result(self) -> Result<CallToolResult>;
}

impl ToolOutput for String {
    fn into_call_result(self) -> Result<CallToolResult> {
        Ok(CallToolResult::text(self))
    }
}

impl ToolOutput for &'static str {
    fn into_call_result(self) -> Result<CallToolResult> {
        Ok(CallToolResult::text(self))
    }
}

impl ToolOutput for Content {
    fn into_call_result(self) -> Result<CallToolResult> {
        Ok(CallToolResult::content(vec![self]))
    }
}

impl ToolOutput for Vec<Content> {
    fn into_call_result(self) -> Result<CallToolResult> {
        Ok(CallToolResult::content(self))
    }
}

impl ToolOutput for CallToolResult {
    fn into_call_result(self) -> Result<CallToolResult> {
        Ok(self)
    }
}

/// A typed result: serialised into `structuredContent`, with its schema as the tool's
/// `outputSchema`. The text content defaults to the JSON (as the spec recommends for clients
/// that ignore structured content); [`with_text`](Self::with_text) overrides it.
#[derive(Debug, Clone)]
pub struct Structured<T> {
    value: T,
    text: Option<String>,
}

impl<T> Structured<T> {
    /// Wraps a value.
    pub fn new(value: T) -> Self {
        Self { value, text: None }
    }

    /// Sets the text content shown beside the structured value.
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }
}

impl<T: Serialize + JsonSchema + Send + 'static> ToolOutput for Structured<T> {
    fn output_schema() -> Option<Value> {
        Some(object_schema::<T>())
    }

    fn into_call_result(self) -> Result<CallToolResult> {
        let value = serde_json::to_value(&self.value)
            .map_err(|e| Error::Internal(format!("cannot serialise tool output: {e}")))?;
        let text = match self.text {
            Some(t) => t,
            None => value.to_string(),
        };
        Ok(CallToolResult {
            content: vec![Content::text(text)],
            structured_content: Some(value),
            is_error: None,
        })
    }
}

/// The JSON Schema of `T`, with `type: object` guaranteed at the root as MCP requires.
pub(crate) fn object_schema<T: JsonSchema>() -> Value {
    let mut schema = schemars::schema_for!(T).to_value();
    if let Some(obj) = schema.as_object_mut() {
        obj.remove("title");
        obj.entry("type").or_insert_with(|| json!("object"));
        if obj.get("properties").is_none() {
            obj.insert("properties".into(), json!({}));
        }
    }
    schema
}

/// Deserialises `value` into `T`; on failure a -32602 naming the field path.
pub(crate) fn parse_args<T: DeserializeOwned>(what: &str, value: Value) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let mut path = e.path().to_string();
        let inner = e.into_inner();
        // A missing field is reported at its parent; name the field itself.
        let text = inner.to_string();
        if let Some(name) = text
            .strip_prefix("missing field `")
            .and_then(|r| r.split('`').next())
        {
            path = if path == "." {
                name.to_string()
            } else {
                format!("{path}.{name}")
            };
        }
        let at = if path == "." {
            String::new()
        } else {
            format!(" at `{path}`")
        };
        Error::Rpc(
            crate::protocol::ErrorObject::invalid_params(format!(
                "invalid arguments for {what}{at}: {inner}"
            ))
            .with_data(json!({ "path": path })),
        )
    })
}

/// Starts a tool definition: `Tool::new("echo").description("…").handler(f)`.
pub struct ToolBuilder {
    info: ToolInfo,
    input_schema_override: Option<Value>,
    scopes: Vec<String>,
}

impl Tool {
    /// Begins defining a tool named `name`.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(name: impl Into<String>) -> ToolBuilder {
        ToolBuilder {
            info: ToolInfo {
                name: name.into(),
                title: None,
                description: None,
                input_schema: json!({"type": "object", "properties": {}}),
                output_schema: None,
                annotations: None,
            },
            input_schema_override: None,
            scopes: Vec::new(),
        }
    }

    /// A tool from its listing and a raw handler, for providers whose schemas are data (the
    /// handler gets `arguments` as sent, `null` when absent, and checks them itself).
    pub fn from_parts(info: ToolInfo, handler: ToolHandler) -> Tool {
        Tool {
            info,
            handler,
            scopes: Vec::new(),
        }
    }

    /// Sets the scopes a caller's principal must hold (403 `insufficient_scope` otherwise).
    pub fn with_scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Tool {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The listing (`tools/list` entry).
    pub fn info(&self) -> &ToolInfo {
        &self.info
    }

    /// Scopes a caller's principal must hold to call this tool (403 `insufficient_scope`).
    pub fn required_scopes(&self) -> &[String] {
        &self.scopes
    }

    /// Runs the handler with raw arguments (validation included).
    pub async fn call(&self, arguments: Value, ctx: Context) -> Result<CallToolResult> {
        (self.handler)(arguments, ctx).await
    }
}

impl ToolBuilder {
    /// Scopes the caller must hold (checked against the authenticated principal before the
    /// call; a caller without them gets 403 with `error="insufficient_scope"`).
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// What the tool does (shown to the model).
    pub fn description(mut self, d: impl Into<String>) -> Self {
        self.info.description = Some(d.into());
        self
    }

    /// Display title.
    pub fn title(mut self, t: impl Into<String>) -> Self {
        self.info.title = Some(t.into());
        self
    }

    /// Behaviour hints.
    pub fn annotations(mut self, a: ToolAnnotations) -> Self {
        self.info.annotations = Some(a);
        self
    }

    /// Uses this exact JSON Schema as `inputSchema` instead of the one derived from the
    /// argument type (arguments are still deserialised into that type).
    pub fn input_schema(mut self, schema: Value) -> Self {
        self.input_schema_override = Some(schema);
        self
    }

    /// Sets the handler: an async fn or closure taking typed arguments and a [`Context`].
    ///
    /// `A`'s JSON Schema (schemars) becomes `inputSchema`; arguments that do not deserialise
    /// into `A` are answered with -32602 naming the field. `Err(Error::Tool(..))` becomes an
    /// `isError` result; any other error a JSON-RPC error.
    pub fn handler<A, O, F, Fut>(mut self, f: F) -> Tool
    where
        A: DeserializeOwned + JsonSchema + Send + 'static,
        O: ToolOutput,
        F: Fn(A, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O>> + Send + 'static,
    {
        self.info.input_schema = self
            .input_schema_override
            .take()
            .unwrap_or_else(object_schema::<A>);
        self.info.output_schema = O::output_schema();
        let what = format!("tool `{}`", self.info.name);
        let f = Arc::new(f);
        let handler: ToolHandler = Arc::new(move |raw: Value, ctx: Context| {
            let f = Arc::clone(&f);
            let raw = if raw.is_null() { json!({}) } else { raw };
            let parsed = parse_args::<A>(&what, raw);
            Box::pin(async move {
                let args = parsed?;
                match f(args, ctx).await {
                    Ok(out) => out.into_call_result(),
                    Err(Error::Tool(msg)) => Ok(CallToolResult::error(msg)),
                    Err(e) => Err(e),
                }
            })
        });
        Tool {
            info: self.info,
            handler,
            scopes: self.scopes,
        }
    }
}
