//! `logging/setLevel`: the session's threshold for `notifications/message`.

use serde_json::Value;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::protocol::{LoggingLevel, MethodResult};

pub(super) async fn set_level(params: &Value, ctx: Context) -> Result<MethodResult> {
    let level: LoggingLevel = params
        .get("level")
        .cloned()
        .and_then(|l| serde_json::from_value(l).ok())
        .ok_or_else(|| {
            Error::invalid_params(
                "`level` must be one of debug, info, notice, warning, error, critical, alert, emergency",
            )
        })?;
    ctx.update_session(|r| r.logging_level = Some(level))
        .await?;
    Ok(MethodResult::Empty)
}
