//! What the attribute macros' expansions call. Not a public API: it may change in any release.

use std::fmt::Display;
use std::str::FromStr;

pub use serde;

use crate::error::{Error, Result};
use crate::registry::TemplateParams;

/// A template variable parsed into its parameter's type; a value that does not parse is `-32602`
/// naming the variable.
pub fn template_var<T>(params: &TemplateParams, name: &str) -> Result<T>
where
    T: FromStr,
    T::Err: Display,
{
    let raw = params
        .get(name)
        .ok_or_else(|| Error::invalid_params(format!("missing URI template variable `{name}`")))?;
    raw.parse().map_err(|e| {
        Error::invalid_params(format!(
            "URI template variable `{name}` = {raw:?} is not valid: {e}"
        ))
    })
}
