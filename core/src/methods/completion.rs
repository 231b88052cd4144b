//! `completion/complete`: suggestions for a prompt argument or a template variable.

use serde_json::Value;

use super::{str_param, Env};
use crate::context::Context;
use crate::error::{Error, ItemKind, Result};
use crate::middleware::{self, McpCall};
use crate::protocol::{Method, MethodResult};

/// Suggestions returned at most (the spec's limit); `total` says how many there were.
const MAX_VALUES: usize = 100;

pub(super) async fn complete(env: &Env<'_>, params: &Value, ctx: Context) -> Result<MethodResult> {
    let r = params
        .get("ref")
        .ok_or_else(|| Error::invalid_params("`ref` is required"))?;
    let ref_type = str_param(r, "type")?;
    let ref_name = r
        .get("name")
        .or_else(|| r.get("uri"))
        .and_then(Value::as_str)
        .ok_or_else(|| Error::invalid_params("`ref.name` (or `ref.uri`) is required"))?;
    // A completion for a hidden prompt or template is as unknown as the item.
    match ref_type {
        "ref/prompt" if !env.shows(|c| &c.prompts, ref_name) => {
            return Err(Error::unknown(ItemKind::Prompt, ref_name))
        }
        "ref/resource" if !env.shows(|c| &c.resources, ref_name) => {
            return Err(Error::unknown(ItemKind::ResourceTemplate, ref_name))
        }
        _ => {}
    }
    let arg = params
        .get("argument")
        .ok_or_else(|| Error::invalid_params("`argument` is required"))?;
    let arg_name = str_param(arg, "name")?;
    let typed = arg
        .get("value")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let completer = env.registry.completer(ref_type, ref_name, arg_name)?;
    let call = McpCall {
        method: Method::CompletionComplete,
        name: ref_name.to_string(),
        arguments: serde_json::json!({ "name": arg_name, "value": typed }),
        ctx,
    };
    middleware::through(env.middleware, call, move |c| async move {
        let typed = c
            .arguments
            .get("value")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let values = match completer {
            Some(f) => (f.0)(typed, c.ctx).await?,
            None => vec![],
        };
        let total = values.len();
        let values = values.into_iter().take(MAX_VALUES).collect();
        Ok(MethodResult::Completion { values, total })
    })
    .await
}
