//! `prompts/get` (`prompts/list` is a [listing](super::paging)).

use serde_json::Value;

use super::{str_param, take_arguments, Env};
use crate::context::Context;
use crate::error::{Error, ItemKind, Result};
use crate::middleware::{self, McpCall};
use crate::protocol::{Method, MethodResult};

pub(super) async fn get(env: &Env<'_>, params: &mut Value, ctx: Context) -> Result<MethodResult> {
    let name = str_param(params, "name")?.to_string();
    let name = name.as_str();
    let prompt = env
        .registry
        .prompt(name)
        .filter(|_| env.shows(|c| &c.prompts, name))
        .ok_or_else(|| Error::unknown(ItemKind::Prompt, name))?;
    let call = McpCall {
        method: Method::PromptsGet,
        name: name.to_string(),
        arguments: take_arguments(params),
        ctx,
    };
    middleware::through(env.middleware, call, move |c| async move {
        prompt
            .get(c.arguments, c.ctx)
            .await
            .map(MethodResult::Prompt)
    })
    .await
}
