//! `resources/read`, `resources/subscribe` and `resources/unsubscribe` (the lists are
//! [listings](super::paging)).

use serde_json::Value;

use super::{str_param, Env};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::middleware::{self, McpCall};
use crate::protocol::{Method, MethodResult};

/// Whether the entity sees the resource or template that serves `uri`.
fn visible(env: &Env<'_>, uri: &str) -> bool {
    env.registry
        .resource_key(uri)
        .is_some_and(|k| env.shows(|c| &c.resources, k))
}

pub(super) async fn read(env: &Env<'_>, params: &Value, ctx: Context) -> Result<MethodResult> {
    let uri = str_param(params, "uri")?;
    if !visible(env, uri) {
        return Err(Error::ResourceNotFound(uri.to_string()));
    }
    let call = McpCall {
        method: Method::ResourcesRead,
        name: uri.to_string(),
        arguments: Value::Null,
        ctx,
    };
    let registry = env.registry;
    middleware::through(env.middleware, call, move |c| async move {
        registry
            .read_resource(&c.name, c.ctx)
            .await
            .map(MethodResult::Read)
    })
    .await
}

/// Adds `uri` to (or removes it from) the session's subscriptions, which the notifier reads.
pub(super) async fn subscribe(
    env: &Env<'_>,
    params: &Value,
    ctx: Context,
    subscribe: bool,
) -> Result<MethodResult> {
    let uri = str_param(params, "uri")?.to_string();
    if !visible(env, &uri) {
        return Err(Error::ResourceNotFound(uri));
    }
    ctx.update_session(|r| {
        if subscribe {
            r.subscriptions.insert(uri.clone());
        } else {
            r.subscriptions.remove(&uri);
        }
    })
    .await?;
    Ok(MethodResult::Empty)
}
