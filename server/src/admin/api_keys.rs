//! `/admin/api-keys…`: the keys that authenticate clients of the MCP endpoints.

use std::sync::Arc;

use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;

use super::common::*;
use super::types::*;
use crate::state::AppState;

/// The admin API's ApiKeys routes.
pub struct ApiKeysApi {
    state: Arc<AppState>,
}

impl ApiKeysApi {
    pub(super) fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }
}

#[OpenApi]
impl ApiKeysApi {
    /// Mint an API key
    ///
    /// The key is in this response only; the store keeps its SHA-256.
    #[oai(path = "/api-keys", method = "post", tag = "ApiTags::ApiKeys")]
    async fn create_api_key(
        &self,
        _auth: AdminToken,
        body: Json<ApiKeyRequest>,
    ) -> ApiResult<ApiKeyCreated> {
        let entity = entity(&body.entity_id)?;
        let minted = crate::auth::ApiKeyAuth::mint(
            self.state.api_keys.as_ref(),
            &entity,
            &body.name,
            body.scopes.clone(),
        )
        .await
        .map_err(api_error)?;
        Ok(Json(ApiKeyCreated {
            key: minted.key,
            api_key: minted.record.into(),
        }))
    }

    /// List an entity's API keys
    #[oai(path = "/api-keys", method = "get", tag = "ApiTags::ApiKeys")]
    async fn list_api_keys(
        &self,
        _auth: AdminToken,
        entity_id: Query<String>,
    ) -> ApiResult<Vec<ApiKeyView>> {
        let entity = entity(&entity_id)?;
        let keys = self
            .state
            .api_keys
            .list_keys(&entity)
            .await
            .map_err(api_error)?;
        Ok(Json(keys.into_iter().map(Into::into).collect()))
    }

    /// Revoke an API key
    ///
    /// Every instance refuses it once its short verification cache (`--api-key-cache-secs`)
    /// has expired.
    #[oai(path = "/api-keys/:id", method = "delete", tag = "ApiTags::ApiKeys")]
    async fn revoke_api_key(
        &self,
        _auth: AdminToken,
        id: Path<String>,
        entity_id: Query<String>,
    ) -> ApiResult<ApiKeyRevoked> {
        let entity = entity(&entity_id)?;
        let found = self
            .state
            .api_keys
            .revoke_key(&entity, &id)
            .await
            .map_err(api_error)?;
        if found {
            Ok(Json(ApiKeyRevoked {
                id: id.0,
                revoked: true,
            }))
        } else {
            Err(ApiError::new(
                ApiError::NotFound,
                "not_found",
                "api key not found",
            ))
        }
    }
}
