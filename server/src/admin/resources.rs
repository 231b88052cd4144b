//! `/admin/resources…`: static resources and templates, and reading one as an entity.

use std::sync::Arc;

use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;
use serde_json::{json, Value};

use super::common::*;
use super::types::*;
use crate::state::AppState;

/// The admin API's Resources routes.
pub struct ResourcesApi {
    state: Arc<AppState>,
}

impl ResourcesApi {
    pub(super) fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }
}

#[OpenApi]
impl ResourcesApi {
    /// List static resources
    #[oai(path = "/resources", method = "get", tag = "ApiTags::Resources")]
    async fn list_resources(&self, _auth: AdminToken) -> Json<Vec<ResourceView>> {
        Json(
            self.state
                .mcp
                .registry()
                .resources()
                .iter()
                .map(|r| {
                    let i = r.info();
                    ResourceView {
                        uri: i.uri.clone(),
                        name: i.name.clone(),
                        title: i.title.clone(),
                        description: i.description.clone(),
                        mime_type: i.mime_type.clone(),
                    }
                })
                .collect(),
        )
    }

    /// List resource templates
    #[oai(
        path = "/resource-templates",
        method = "get",
        tag = "ApiTags::Resources"
    )]
    async fn list_templates(&self, _auth: AdminToken) -> Json<Vec<ResourceTemplateView>> {
        Json(
            self.state
                .mcp
                .registry()
                .templates()
                .iter()
                .map(|t| {
                    let i = t.info();
                    ResourceTemplateView {
                        uri_template: i.uri_template.clone(),
                        name: i.name.clone(),
                        description: i.description.clone(),
                        mime_type: i.mime_type.clone(),
                    }
                })
                .collect(),
        )
    }

    /// Read a resource for an entity
    #[oai(path = "/resources/read", method = "get", tag = "ApiTags::Resources")]
    async fn read_resource(
        &self,
        _auth: AdminToken,
        /// The resource URI (static, or matching a template).
        uri: Query<String>,
        /// The entity the read runs for.
        entity_id: Query<String>,
    ) -> ApiResult<ResourceContentsView> {
        let entity = entity(&entity_id)?;
        let r = run_as(
            &self.state,
            &entity,
            "resources/read",
            json!({ "uri": uri.0 }),
        )
        .await?;
        Ok(Json(ResourceContentsView {
            contents: r
                .get("contents")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        }))
    }
}
