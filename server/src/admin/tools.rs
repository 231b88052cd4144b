//! `/admin/tools…`: the tools registered on this server, and calling one as an entity.

use std::sync::Arc;

use fastmcp_core::{Error, ItemKind};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;
use serde_json::{json, Value};

use super::common::*;
use super::types::*;
use crate::state::AppState;

/// The admin API's Tools routes.
pub struct ToolsApi {
    state: Arc<AppState>,
}

impl ToolsApi {
    pub(super) fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }
}

#[OpenApi]
impl ToolsApi {
    /// List tools
    ///
    /// Every registered tool with its schemas and annotations.
    #[oai(path = "/tools", method = "get", tag = "ApiTags::Tools")]
    async fn list_tools(&self, _auth: AdminToken) -> Json<Vec<ToolView>> {
        Json(
            self.state
                .mcp
                .registry()
                .tools()
                .iter()
                .map(|t| tool_view(t.info()))
                .collect(),
        )
    }

    /// Get a tool
    #[oai(path = "/tools/:name", method = "get", tag = "ApiTags::Tools")]
    async fn get_tool(&self, _auth: AdminToken, name: Path<String>) -> ApiResult<ToolView> {
        self.state
            .mcp
            .registry()
            .tool(&name)
            .map(|t| Json(tool_view(t.info())))
            .ok_or_else(|| api_error(Error::unknown(ItemKind::Tool, name.0.clone())))
    }

    /// Call a tool for an entity
    ///
    /// Runs the real handler with a `Context` for `entity_id`. Arguments that fail the tool's
    /// schema give 422 naming the field; a tool failure is a 200 with `isError: true`.
    #[oai(path = "/tools/:name/call", method = "post", tag = "ApiTags::Tools")]
    async fn call_tool(
        &self,
        _auth: AdminToken,
        name: Path<String>,
        body: Json<CallToolRequest>,
    ) -> ApiResult<ToolResultView> {
        let entity = entity(&body.entity_id)?;
        if self.state.mcp.registry().tool(&name).is_none() {
            return Err(api_error(Error::unknown(ItemKind::Tool, name.0.clone())));
        }
        let arguments = body.0.arguments.unwrap_or_else(|| json!({}));
        if !arguments.is_object() {
            return Err(ApiError::new(
                ApiError::Unprocessable,
                "invalid_argument",
                "`arguments` must be an object",
            )
            .with_field(Some("arguments".into())));
        }
        let r = run_as(
            &self.state,
            &entity,
            "tools/call",
            json!({ "name": name.0, "arguments": arguments }),
        )
        .await?;
        Ok(Json(ToolResultView {
            content: r
                .get("content")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            structured_content: r.get("structuredContent").cloned(),
            is_error: r.get("isError").and_then(Value::as_bool).unwrap_or(false),
        }))
    }
}

fn tool_view(info: &fastmcp_core::protocol::ToolInfo) -> ToolView {
    ToolView {
        name: info.name.clone(),
        title: info.title.clone(),
        description: info.description.clone(),
        input_schema: info.input_schema.clone(),
        output_schema: info.output_schema.clone(),
        annotations: info
            .annotations
            .as_ref()
            .and_then(|a| serde_json::to_value(a).ok()),
    }
}
