//! Prompts: typed arguments in, messages out.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::context::Context;
use crate::error::Result;
use crate::protocol::{GetPromptResult, PromptArgument, PromptInfo, PromptMessage};
use crate::registry::tool::{object_schema, parse_args};
use crate::registry::Completer;

/// The type-erased handler: raw `arguments` (string values) in, rendered prompt out.
pub type PromptHandler =
    Arc<dyn Fn(Value, Context) -> BoxFuture<'static, Result<GetPromptResult>> + Send + Sync>;

/// A registered prompt.
#[derive(Clone)]
pub struct Prompt {
    pub(crate) info: PromptInfo,
    pub(crate) handler: PromptHandler,
    pub(crate) completers: HashMap<String, Completer>,
}

impl Prompt {
    /// Defines a prompt; finish with [`handler`](Self::handler).
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            info: PromptInfo {
                name: name.into(),
                title: None,
                description: None,
                arguments: vec![],
            },
            handler: Arc::new(|_, _| {
                Box::pin(async {
                    Ok(GetPromptResult {
                        description: None,
                        messages: vec![],
                    })
                })
            }),
            completers: HashMap::new(),
        }
    }

    /// A prompt from its listing and a raw handler, for providers whose arguments are data
    /// (the handler gets `arguments` as sent and checks them itself).
    pub fn from_parts(info: PromptInfo, handler: PromptHandler) -> Self {
        Self {
            info,
            handler,
            completers: HashMap::new(),
        }
    }

    /// What it is for.
    pub fn description(mut self, d: impl Into<String>) -> Self {
        self.info.description = Some(d.into());
        self
    }

    /// Display title.
    pub fn title(mut self, t: impl Into<String>) -> Self {
        self.info.title = Some(t.into());
        self
    }

    /// Completion for one argument (`completion/complete` with `ref/prompt`).
    pub fn complete(mut self, argument: impl Into<String>, completer: Completer) -> Self {
        self.completers.insert(argument.into(), completer);
        self
    }

    /// Sets the handler. `A`'s fields become the prompt's arguments (doc comments become their
    /// descriptions; non-`Option` fields are required). Missing or invalid arguments are answered
    /// with -32602 naming the argument.
    pub fn handler<A, F, Fut>(mut self, f: F) -> Self
    where
        A: DeserializeOwned + JsonSchema + Send + 'static,
        F: Fn(A, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<PromptMessage>>> + Send + 'static,
    {
        self.info.arguments = arguments_from_schema(&object_schema::<A>());
        let what = format!("prompt `{}`", self.info.name);
        let description = self.info.description.clone();
        let f = Arc::new(f);
        self.handler = Arc::new(move |raw, ctx| {
            let raw = if raw.is_null() {
                Value::Object(Default::default())
            } else {
                raw
            };
            let parsed = parse_args::<A>(&what, raw);
            let f = Arc::clone(&f);
            let description = description.clone();
            Box::pin(async move {
                let messages = f(parsed?, ctx).await?;
                Ok(GetPromptResult {
                    description,
                    messages,
                })
            })
        });
        self
    }

    /// The listing.
    pub fn info(&self) -> &PromptInfo {
        &self.info
    }

    /// Renders the prompt.
    pub async fn get(&self, arguments: Value, ctx: Context) -> Result<GetPromptResult> {
        (self.handler)(arguments, ctx).await
    }
}

fn arguments_from_schema(schema: &Value) -> Vec<PromptArgument> {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return vec![];
    };
    props
        .iter()
        .map(|(name, prop)| PromptArgument {
            name: name.clone(),
            description: prop
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_string),
            required: Some(required.contains(&name.as_str())),
        })
        .collect()
}
