//! The listings (`tools/list`, `resources/list`, `resources/templates/list`, `prompts/list`):
//! the catalog's pre-rendered items that the entity sees, a page at a time behind an opaque
//! cursor.

use std::sync::Arc;

use base64::Engine as _;
use serde_json::Value;

use super::Env;
use crate::error::{Error, Result};
use crate::protocol::{ListPage, MethodResult};
use crate::storage::{EntityConfig, Visibility};

/// Which listing.
#[derive(Clone, Copy)]
pub(super) enum Listing {
    Tools,
    Resources,
    ResourceTemplates,
    Prompts,
}

impl Listing {
    /// The result's array key, the item field visibility rules match, and the rules.
    fn shape(self) -> (&'static str, &'static str, fn(&EntityConfig) -> &Visibility) {
        match self {
            Listing::Tools => ("tools", "name", |c| &c.tools),
            Listing::Resources => ("resources", "uri", |c| &c.resources),
            Listing::ResourceTemplates => ("resourceTemplates", "uriTemplate", |c| &c.resources),
            Listing::Prompts => ("prompts", "name", |c| &c.prompts),
        }
    }

    fn items(self, env: &Env<'_>) -> Arc<[Value]> {
        let r = env.registry;
        Arc::clone(match self {
            Listing::Tools => &r.tools_json,
            Listing::Resources => &r.resources_json,
            Listing::ResourceTemplates => &r.templates_json,
            Listing::Prompts => &r.prompts_json,
        })
    }
}

/// One page of `listing`, as the entity sees it.
pub(super) fn page(env: &Env<'_>, params: &Value, listing: Listing) -> Result<MethodResult> {
    let (key, field, rules) = listing.shape();
    let items = listing.items(env);
    let size = env.page_size.max(1);
    match env.visibility(rules) {
        None => {
            let start = start(params, items.len())?;
            let end = (start + size).min(items.len());
            let next = (end < items.len()).then(|| encode_cursor(end));
            Ok(MethodResult::List(ListPage::range(
                key,
                items,
                start..end,
                next,
            )))
        }
        Some(vis) => {
            let shown: Vec<usize> = items
                .iter()
                .enumerate()
                .filter(|(_, v)| {
                    v.get(field)
                        .and_then(Value::as_str)
                        .is_some_and(|n| vis.shows(n))
                })
                .map(|(i, _)| i)
                .collect();
            let start = start(params, shown.len())?;
            let end = (start + size).min(shown.len());
            let next = (end < shown.len()).then(|| encode_cursor(end));
            let picked = shown[start..end].to_vec();
            Ok(MethodResult::List(ListPage::picked(
                key, items, picked, next,
            )))
        }
    }
}

/// Where the page starts: the cursor's offset, at most `len`.
fn start(params: &Value, len: usize) -> Result<usize> {
    match params.get("cursor") {
        None | Some(Value::Null) => Ok(0),
        Some(Value::String(c)) => decode_cursor(c)
            .filter(|&o| o <= len)
            .ok_or_else(|| Error::invalid_params("invalid cursor")),
        Some(_) => Err(Error::invalid_params("`cursor` must be a string")),
    }
}

fn encode_cursor(offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("o:{offset}"))
}

fn decode_cursor(cursor: &str) -> Option<usize> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    std::str::from_utf8(&raw)
        .ok()?
        .strip_prefix("o:")?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(decode_cursor(&encode_cursor(42)), Some(42));
        assert_eq!(decode_cursor("!!!"), None);
        assert_eq!(decode_cursor("bm9wZQ"), None);
    }
}
