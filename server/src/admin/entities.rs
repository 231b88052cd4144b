//! `/admin/entities/{id}/config`: what an entity sees, and its own limits.

use std::sync::Arc;

use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;

use super::common::*;
use super::types::*;
use crate::state::AppState;

/// The admin API's Entities routes.
pub struct EntitiesApi {
    state: Arc<AppState>,
}

impl EntitiesApi {
    pub(super) fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }
}

#[OpenApi]
impl EntitiesApi {
    /// An entity's configuration
    ///
    /// Empty (everything visible) when none was set.
    #[oai(
        path = "/entities/:entity_id/config",
        method = "get",
        tag = "ApiTags::Entities"
    )]
    async fn get_entity_config(
        &self,
        _auth: AdminToken,
        entity_id: Path<String>,
    ) -> ApiResult<EntityConfigView> {
        let entity = entity(&entity_id)?;
        let cfg = self
            .state
            .mcp
            .entity_config(&entity)
            .await
            .map_err(api_error)?;
        Ok(Json(cfg.map(|c| (*c).clone().into()).unwrap_or_default()))
    }

    /// Replace an entity's configuration
    #[oai(
        path = "/entities/:entity_id/config",
        method = "put",
        tag = "ApiTags::Entities"
    )]
    async fn put_entity_config(
        &self,
        _auth: AdminToken,
        entity_id: Path<String>,
        body: Json<EntityConfigView>,
    ) -> ApiResult<EntityConfigView> {
        let entity = entity(&entity_id)?;
        let config: fastmcp_core::EntityConfig = body.0.clone().into();
        if let Err((field, message)) = config.transforms.validate() {
            return Err(ApiError::new(
                ApiError::Unprocessable,
                "invalid_argument",
                format!("`{field}` {message}"),
            )
            .with_field(Some(field)));
        }
        self.state
            .mcp
            .set_entity_config(&entity, Some(config))
            .await
            .map_err(api_error)?;
        Ok(Json(body.0))
    }

    /// Clear an entity's configuration (everything visible again)
    #[oai(
        path = "/entities/:entity_id/config",
        method = "delete",
        tag = "ApiTags::Entities"
    )]
    async fn delete_entity_config(
        &self,
        _auth: AdminToken,
        entity_id: Path<String>,
    ) -> ApiResult<EntityConfigView> {
        let entity = entity(&entity_id)?;
        self.state
            .mcp
            .set_entity_config(&entity, None)
            .await
            .map_err(api_error)?;
        Ok(Json(EntityConfigView::default()))
    }
}
