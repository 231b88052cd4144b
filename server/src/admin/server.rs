//! `/admin/server` and `/admin/logging-level`: server identity and logging levels.

use std::sync::Arc;

use fastmcp_core::protocol::{LoggingLevel, SUPPORTED_PROTOCOL_VERSIONS};
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;

use super::common::*;
use super::types::*;
use crate::state::AppState;

/// The admin API's Server routes.
pub struct ServerApi {
    state: Arc<AppState>,
}

impl ServerApi {
    pub(super) fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }
}

#[OpenApi]
impl ServerApi {
    /// Set a logging level
    ///
    /// Without `session_id`: the level of every session that has not set its own (this
    /// instance). With `session_id` and `entity_id`: that session's level, in the store, so it
    /// takes effect on the session's next messages on every instance.
    #[oai(path = "/logging-level", method = "post", tag = "ApiTags::Server")]
    async fn logging_level(
        &self,
        _auth: AdminToken,
        body: Json<LoggingLevelRequest>,
    ) -> ApiResult<LoggingLevelResponse> {
        let level = LoggingLevel::parse(&body.level).ok_or_else(|| {
            ApiError::new(ApiError::Unprocessable, "invalid_argument", "unknown level")
                .with_field(Some("level".into()))
        })?;
        match (&body.session_id, &body.entity_id) {
            (None, _) => {
                self.state.mcp.set_default_log_level(level);
                Ok(Json(LoggingLevelResponse {
                    level: level.as_str().into(),
                    scope: "server".into(),
                }))
            }
            (Some(_), None) => Err(ApiError::new(
                ApiError::Unprocessable,
                "invalid_argument",
                "`entity_id` is required with `session_id`",
            )
            .with_field(Some("entity_id".into()))),
            (Some(sid), Some(e)) => {
                let entity = entity(e)?;
                let id = session_id(sid)?;
                self.state
                    .mcp
                    .set_session_log_level(&entity, &id, level)
                    .await
                    .map_err(api_error)?;
                Ok(Json(LoggingLevelResponse {
                    level: level.as_str().into(),
                    scope: "session".into(),
                }))
            }
        }
    }

    /// Server identity
    #[oai(path = "/server", method = "get", tag = "ApiTags::Server")]
    async fn server(&self, _auth: AdminToken) -> Json<ServerView> {
        let s = &self.state;
        Json(ServerView {
            name: s.mcp.info().name.clone(),
            version: s.mcp.info().version.clone(),
            protocol_versions: SUPPORTED_PROTOCOL_VERSIONS
                .iter()
                .map(|v| v.to_string())
                .collect(),
            store: s.store_kind.clone(),
            instance_id: s.instance_id.clone(),
            uptime_seconds: s.started.elapsed().as_secs(),
            default_logging_level: s.mcp.default_log_level().as_str().into(),
        })
    }
}
