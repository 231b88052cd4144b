//! `prompts/get` (`prompts/list` is a [listing](super::paging)).

use serde_json::Value;

use super::{str_param, take_arguments, unknown, Env};
use crate::context::Context;
use crate::error::{Error, ItemKind, Result};

pub(super) async fn get(env: &Env<'_>, params: &mut Value, ctx: Context) -> Result<Value> {
    let name = str_param(params, "name")?;
    let prompt = env
        .registry
        .prompt(name)
        .filter(|_| env.shows(|c| &c.prompts, name))
        .ok_or_else(|| unknown(ItemKind::Prompt, name))?;
    let args = take_arguments(params);
    let result = prompt.get(args, ctx).await?;
    serde_json::to_value(result).map_err(|e| Error::Internal(e.to_string()))
}
