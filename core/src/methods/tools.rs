//! `tools/call` (`tools/list` is a [listing](super::paging)).

use serde_json::Value;

use super::{str_param, take_arguments, Env};
use crate::context::Context;
use crate::error::{Error, ItemKind, Result};
use crate::ids::EntityId;
use crate::middleware::{self, McpCall};
use crate::protocol::{Method, MethodResult};

/// Hears about tool calls (for metrics); called after each `tools/call`, in both eras.
pub trait CallObserver: Send + Sync + 'static {
    /// `outcome`: `ok`, `tool_error` (an `isError` result), `input_required` or `error`.
    fn tool_call(&self, entity: &EntityId, tool: &str, outcome: &'static str);
}

pub(super) async fn call(env: &Env<'_>, params: &mut Value, ctx: Context) -> Result<MethodResult> {
    let name = str_param(params, "name")?.to_string();
    let name = name.as_str();
    let tool = env
        .registry
        .tool(name)
        .filter(|_| env.shows(|c| &c.tools, name))
        .ok_or_else(|| Error::unknown(ItemKind::Tool, name))?;
    let needed = tool.required_scopes();
    if let Some(p) = ctx.principal() {
        if !p.has_scopes(needed.iter().map(String::as_str)) {
            return Err(Error::Forbidden(format!(
                "tool `{name}` needs scope(s): {}",
                needed.join(" ")
            )));
        }
    }
    let args = take_arguments(params);
    if !(args.is_null() || args.is_object()) {
        return Err(Error::invalid_params("`arguments` must be an object"));
    }
    let entity = ctx.entity_id().clone();
    let call = McpCall {
        method: Method::ToolsCall,
        name: name.to_string(),
        arguments: args,
        ctx,
    };
    let result = middleware::through(env.middleware, call, move |c| async move {
        tool.call(c.arguments, c.ctx).await.map(MethodResult::Tool)
    })
    .await;
    if let Some(o) = env.observer {
        let outcome = match &result {
            Ok(r) if r.is_tool_error() => "tool_error",
            Ok(_) => "ok",
            Err(Error::InputRequired) => "input_required",
            Err(_) => "error",
        };
        o.tool_call(&entity, &tool.info().name, outcome);
    }
    result
}
