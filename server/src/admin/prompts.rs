//! `/admin/prompts…` and `/admin/complete`: prompts, rendering one as an entity, and argument completion.

use std::sync::Arc;

use fastmcp_core::{Error, ItemKind};
use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;
use serde_json::{json, Map, Value};

use super::common::*;
use super::types::*;
use crate::state::AppState;

/// The admin API's Prompts routes.
pub struct PromptsApi {
    state: Arc<AppState>,
}

impl PromptsApi {
    pub(super) fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }
}

#[OpenApi]
impl PromptsApi {
    /// List prompts
    #[oai(path = "/prompts", method = "get", tag = "ApiTags::Prompts")]
    async fn list_prompts(&self, _auth: AdminToken) -> Json<Vec<PromptView>> {
        Json(
            self.state
                .mcp
                .registry()
                .prompts()
                .iter()
                .map(|p| prompt_view(p.info()))
                .collect(),
        )
    }

    /// Render a prompt
    ///
    /// The prompt's arguments are passed as query parameters named after them (see
    /// `GET /prompts`); a missing required argument gives 422 naming it.
    #[oai(path = "/prompts/:id", method = "get", tag = "ApiTags::Prompts")]
    async fn get_prompt(
        &self,
        _auth: AdminToken,
        req: &Request,
        /// The prompt's name.
        id: Path<String>,
        /// The entity the prompt renders for.
        entity_id: Query<String>,
    ) -> ApiResult<RenderedPromptView> {
        let entity = entity(&entity_id)?;
        let Some(prompt) = self.state.mcp.registry().prompt(&id) else {
            return Err(api_error(Error::unknown(ItemKind::Prompt, id.0.clone())));
        };
        let known: Vec<&str> = prompt
            .info()
            .arguments
            .iter()
            .map(|a| a.name.as_str())
            .collect();
        let mut args = Map::new();
        let query: Vec<(String, String)> = req.params().unwrap_or_default();
        for (k, v) in query {
            if known.contains(&k.as_str()) {
                args.insert(k, Value::String(v));
            }
        }
        let r = run_as(
            &self.state,
            &entity,
            "prompts/get",
            json!({ "name": id.0, "arguments": args }),
        )
        .await?;
        Ok(Json(RenderedPromptView {
            description: r
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_string),
            messages: r
                .get("messages")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        }))
    }

    /// Complete an argument
    ///
    /// `completion/complete` for a prompt argument (`ref/prompt`) or a template variable
    /// (`ref/resource`).
    #[oai(path = "/complete", method = "post", tag = "ApiTags::Prompts")]
    async fn complete(
        &self,
        _auth: AdminToken,
        body: Json<CompleteRequest>,
    ) -> ApiResult<CompleteResponse> {
        let entity = entity(&body.entity_id)?;
        let key = if body.ref_type == "ref/prompt" {
            "name"
        } else {
            "uri"
        };
        let params = json!({
            "ref": { "type": body.ref_type, key: body.name },
            "argument": { "name": body.argument, "value": body.value },
        });
        let r = run_as(&self.state, &entity, "completion/complete", params).await?;
        let c = r.get("completion").cloned().unwrap_or(Value::Null);
        Ok(Json(CompleteResponse {
            values: c
                .get("values")
                .and_then(Value::as_array)
                .map(|v| {
                    v.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            total: c.get("total").and_then(Value::as_u64).unwrap_or(0),
            has_more: c.get("hasMore").and_then(Value::as_bool).unwrap_or(false),
        }))
    }
}

fn prompt_view(p: &fastmcp_core::protocol::PromptInfo) -> PromptView {
    PromptView {
        name: p.name.clone(),
        title: p.title.clone(),
        description: p.description.clone(),
        arguments: p
            .arguments
            .iter()
            .map(|a| PromptArgumentView {
                name: a.name.clone(),
                description: a.description.clone(),
                required: a.required.unwrap_or(false),
            })
            .collect(),
    }
}
