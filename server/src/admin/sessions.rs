//! `/admin/sessions…`: an entity's live MCP sessions.

use std::sync::Arc;

use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;

use super::common::*;
use super::types::*;
use crate::state::AppState;

/// The admin API's Sessions routes.
pub struct SessionsApi {
    state: Arc<AppState>,
}

impl SessionsApi {
    pub(super) fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }
}

#[OpenApi]
impl SessionsApi {
    /// List an entity's sessions
    #[oai(path = "/sessions", method = "get", tag = "ApiTags::Sessions")]
    async fn list_sessions(
        &self,
        _auth: AdminToken,
        /// The entity whose sessions to list.
        entity_id: Query<String>,
        /// From a previous page's `next_cursor`.
        cursor: Query<Option<String>>,
        /// Page size (1-500, default 50).
        #[oai(
            default = "default_limit",
            validator(minimum(value = "1"), maximum(value = "500"))
        )]
        limit: Query<u32>,
    ) -> ApiResult<SessionPageView> {
        let entity = entity(&entity_id)?;
        let page = self
            .state
            .mcp
            .sessions()
            .list(&entity, cursor.0.as_deref(), limit.0 as usize)
            .await
            .map_err(api_error)?;
        Ok(Json(SessionPageView {
            sessions: page.sessions.into_iter().map(SessionView::from).collect(),
            next_cursor: page.next_cursor,
        }))
    }

    /// Get a session
    #[oai(path = "/sessions/:id", method = "get", tag = "ApiTags::Sessions")]
    async fn get_session(
        &self,
        _auth: AdminToken,
        id: Path<String>,
        entity_id: Query<String>,
    ) -> ApiResult<SessionView> {
        let entity = entity(&entity_id)?;
        let id = session_id(&id)?;
        match self
            .state
            .mcp
            .sessions()
            .load(&entity, &id)
            .await
            .map_err(api_error)?
        {
            Some(rec) => Ok(Json(rec.into())),
            None => Err(ApiError::new(
                ApiError::NotFound,
                "not_found",
                "session not found",
            )),
        }
    }

    /// End a session
    ///
    /// Everywhere: its streams close on every instance and later requests get 404.
    #[oai(path = "/sessions/:id", method = "delete", tag = "ApiTags::Sessions")]
    async fn delete_session(
        &self,
        _auth: AdminToken,
        id: Path<String>,
        entity_id: Query<String>,
    ) -> ApiResult<SessionView> {
        let entity = entity(&entity_id)?;
        let id = session_id(&id)?;
        let mcp = &self.state.mcp;
        let Some(rec) = mcp.sessions().load(&entity, &id).await.map_err(api_error)? else {
            return Err(ApiError::new(
                ApiError::NotFound,
                "not_found",
                "session not found",
            ));
        };
        crate::state::end_session(&self.state, &entity, &id)
            .await
            .map_err(api_error)?;
        Ok(Json(rec.into()))
    }
}
