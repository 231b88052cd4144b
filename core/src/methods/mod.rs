//! The methods a server answers, one file per family: what each does with its params, the
//! catalog and the request's [`Context`]. Nothing here knows about protocol eras, sessions as
//! transports see them, or HTTP: the engine calls `route` for both eras.

mod completion;
mod logging;
mod paging;
mod prompts;
mod resources;
mod tools;

pub use tools::CallObserver;

use serde_json::{json, Value};

use crate::context::Context;
use crate::error::{Error, Result};
use crate::protocol::{ErrorObject, Method, MethodResult};
use crate::registry::Registry;
use crate::storage::{EntityConfig, Visibility};

/// What a method needs besides its params and context: the catalog, the entity's visibility
/// rules and the listing page size.
pub(crate) struct Env<'a> {
    pub(crate) registry: &'a Registry,
    /// The entity's configuration; `None` shows everything.
    pub(crate) config: Option<&'a EntityConfig>,
    pub(crate) page_size: usize,
    pub(crate) observer: Option<&'a dyn CallObserver>,
    /// Layers around every call, outermost first.
    pub(crate) middleware: &'a [std::sync::Arc<dyn crate::middleware::Middleware>],
}

impl Env<'_> {
    fn visibility(&self, kind: fn(&EntityConfig) -> &Visibility) -> Option<&Visibility> {
        self.config.map(kind)
    }

    /// Whether the entity sees the item `name` of a kind.
    fn shows(&self, kind: fn(&EntityConfig) -> &Visibility, name: &str) -> bool {
        self.visibility(kind).is_none_or(|v| v.shows(name))
    }
}

/// Serves one request of a method that the engine dispatches (everything but `initialize`,
/// `ping`, `server/discover` and `subscriptions/listen`, which are answered around it).
pub(crate) async fn route(
    env: &Env<'_>,
    method: Method,
    params: Option<Value>,
    ctx: Context,
) -> Result<MethodResult> {
    let mut params = params.unwrap_or_else(|| json!({}));
    match method {
        Method::ToolsList => paging::page(env, &params, paging::Listing::Tools),
        Method::ToolsCall => tools::call(env, &mut params, ctx).await,
        Method::ResourcesList => paging::page(env, &params, paging::Listing::Resources),
        Method::ResourcesTemplatesList => {
            paging::page(env, &params, paging::Listing::ResourceTemplates)
        }
        Method::ResourcesRead => resources::read(env, &params, ctx).await,
        Method::ResourcesSubscribe => resources::subscribe(env, &params, ctx, true).await,
        Method::ResourcesUnsubscribe => resources::subscribe(env, &params, ctx, false).await,
        Method::PromptsList => paging::page(env, &params, paging::Listing::Prompts),
        Method::PromptsGet => prompts::get(env, &mut params, ctx).await,
        Method::CompletionComplete => completion::complete(env, &params, ctx).await,
        Method::LoggingSetLevel => logging::set_level(&params, ctx).await,
        Method::Initialize
        | Method::Ping
        | Method::ServerDiscover
        | Method::SubscriptionsListen => {
            Err(Error::Rpc(ErrorObject::method_not_found(method.name())))
        }
    }
}

/// A required string parameter.
fn str_param<'a>(params: &'a Value, name: &str) -> Result<&'a str> {
    params
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| Error::invalid_params(format!("`{name}` is required and must be a string")))
}

/// Moves `arguments` out of the params (no copy of a possibly large payload).
fn take_arguments(params: &mut Value) -> Value {
    params
        .as_object_mut()
        .and_then(|m| m.remove("arguments"))
        .unwrap_or(Value::Null)
}
