//! `prompts/get` (`prompts/list` is a [listing](super::paging)).

use serde_json::Value;

use super::{str_param, take_arguments, Env};
use crate::context::Context;
use crate::error::{Error, ItemKind, Result};
use crate::protocol::MethodResult;

pub(super) async fn get(env: &Env<'_>, params: &mut Value, ctx: Context) -> Result<MethodResult> {
    let name = str_param(params, "name")?;
    let prompt = env
        .registry
        .prompt(name)
        .filter(|_| env.shows(|c| &c.prompts, name))
        .ok_or_else(|| Error::unknown(ItemKind::Prompt, name))?;
    let args = take_arguments(params);
    prompt.get(args, ctx).await.map(MethodResult::Prompt)
}
