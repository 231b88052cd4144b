//! `/admin/…/logs`: log records kept by the store.

use std::sync::Arc;

use fastmcp_core::{EntityId, SessionId};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;

use super::common::*;
use super::types::*;
use crate::state::AppState;

/// The admin API's Logs routes.
pub struct LogsApi {
    state: Arc<AppState>,
}

impl LogsApi {
    pub(super) fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }
}

#[OpenApi]
impl LogsApi {
    /// A session's log records
    #[oai(path = "/sessions/:id/logs", method = "get", tag = "ApiTags::Logs")]
    async fn session_logs(
        &self,
        _auth: AdminToken,
        id: Path<String>,
        entity_id: Query<String>,
        /// Most records to return, newest first (1-1000, default 100).
        #[oai(
            default = "default_log_limit",
            validator(minimum(value = "1"), maximum(value = "1000"))
        )]
        limit: Query<u32>,
    ) -> ApiResult<Vec<LogView>> {
        let entity = entity(&entity_id)?;
        let id = session_id(&id)?;
        recent_logs(&self.state, &entity, Some(&id), limit.0).await
    }

    /// An entity's log records
    #[oai(
        path = "/entities/:entity_id/logs",
        method = "get",
        tag = "ApiTags::Logs"
    )]
    async fn entity_logs(
        &self,
        _auth: AdminToken,
        entity_id: Path<String>,
        /// Most records to return, newest first (1-1000, default 100).
        #[oai(
            default = "default_log_limit",
            validator(minimum(value = "1"), maximum(value = "1000"))
        )]
        limit: Query<u32>,
    ) -> ApiResult<Vec<LogView>> {
        let entity = entity(&entity_id)?;
        recent_logs(&self.state, &entity, None, limit.0).await
    }
}

async fn recent_logs(
    state: &AppState,
    entity: &EntityId,
    session: Option<&SessionId>,
    limit: u32,
) -> ApiResult<Vec<LogView>> {
    let Some(logs) = state.mcp.logs() else {
        return Ok(Json(vec![]));
    };
    let records = logs
        .recent(entity, session, limit as usize)
        .await
        .map_err(api_error)?;
    Ok(Json(records.into_iter().map(LogView::from).collect()))
}
