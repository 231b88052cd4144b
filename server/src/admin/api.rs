//! The admin operations.

use std::sync::Arc;

use fastmcp_core::protocol::{
    codes, ErrorObject, LoggingLevel, Message, SUPPORTED_PROTOCOL_VERSIONS,
};
use fastmcp_core::{EntityId, Error, ItemKind, NullOutlet, SessionId, SessionRecord};
use poem::Request;
use poem_openapi::auth::Bearer;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{OpenApi, SecurityScheme};
use serde_json::{json, Map, Value};

use super::constant_time_eq;
use super::types::*;
use crate::state::AppState;

/// `Authorization: Bearer <admin token>`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", checker = "check_token")]
pub(crate) struct AdminToken(());

async fn check_token(req: &Request, bearer: Bearer) -> Option<()> {
    let state = req.data::<Arc<AppState>>()?;
    constant_time_eq(bearer.token.as_bytes(), state.admin_token.as_bytes()).then_some(())
}

/// The admin API.
pub struct AdminApi {
    state: Arc<AppState>,
}

impl AdminApi {
    pub(crate) fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

fn entity(raw: &str) -> Result<EntityId, ApiError> {
    EntityId::parse(raw).map_err(|e| {
        ApiError::new(ApiError::Unprocessable, "invalid_argument", e.to_string())
            .with_field(Some("entity_id".into()))
    })
}

fn session_id(raw: &str) -> Result<SessionId, ApiError> {
    SessionId::parse(raw)
        .ok_or_else(|| ApiError::new(ApiError::NotFound, "not_found", "session not found"))
}

/// The admin API's answer to a core error: by kind, through the one table
/// ([`Error::http_status`]) the MCP edge uses too; never by message text.
fn api_error(e: Error) -> ApiError {
    match e {
        Error::Rpc(obj) => rpc_error(&obj),
        Error::MissingCapability(_) => needs_client_input(&e.to_string()),
        e => match e.http_status() {
            404 => ApiError::new(ApiError::NotFound, "not_found", e.to_string()),
            400 => ApiError::new(ApiError::BadRequest, "bad_request", e.to_string()),
            422 => ApiError::new(ApiError::Unprocessable, "invalid_argument", e.to_string()),
            409 => ApiError::new(ApiError::Conflict, "conflict", "concurrent update; retry"),
            503 | 504 => ApiError::new(
                ApiError::Unavailable,
                "unavailable",
                "temporarily unavailable; retry later",
            ),
            _ => {
                tracing::warn!(error = %e, "admin: request failed");
                ApiError::new(ApiError::Internal, "internal", "internal error")
            }
        },
    }
}

/// A handler that asks the client for input (elicitation, sampling, roots): an admin call has
/// no client to answer it. A property of the tool, not a server fault.
fn needs_client_input(message: &str) -> ApiError {
    ApiError::new(
        ApiError::Unprocessable,
        "needs_client_input",
        format!("{message}; the admin API cannot answer client requests"),
    )
}

/// Maps a JSON-RPC error from the dispatcher to the admin error shape.
fn rpc_error(e: &ErrorObject) -> ApiError {
    let field = e
        .data
        .as_ref()
        .and_then(|d| d.get("path"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let retryable = e
        .data
        .as_ref()
        .and_then(|d| d.get("retryable"))
        .and_then(Value::as_bool)
        == Some(true);
    if retryable {
        return ApiError::new(
            ApiError::Unavailable,
            "unavailable",
            "temporarily unavailable; retry later",
        );
    }
    match e.code {
        codes::INVALID_PARAMS => ApiError::new(
            ApiError::Unprocessable,
            "invalid_argument",
            e.message.clone(),
        )
        .with_field(field),
        codes::RESOURCE_NOT_FOUND | codes::METHOD_NOT_FOUND => {
            ApiError::new(ApiError::NotFound, "not_found", e.message.clone())
        }
        codes::MISSING_CLIENT_CAPABILITY => needs_client_input(&e.message),
        _ => ApiError::new(ApiError::Internal, "internal", e.message.clone()),
    }
}

impl AdminApi {
    /// Runs one MCP request for `entity` in a throwaway session, through the same dispatcher as
    /// MCP clients (validation, cancellation, panic isolation), and returns its result.
    async fn run_as(
        &self,
        entity: &EntityId,
        method: &str,
        params: Value,
    ) -> Result<Value, ApiError> {
        let mcp = &self.state.mcp;
        let mut record = SessionRecord::new(entity.clone());
        let init = json!({
            "protocolVersion": fastmcp_core::protocol::LATEST_PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": { "name": "fastmcp-admin-api", "version": env!("CARGO_PKG_VERSION") },
        });
        mcp.initialize(&mut record, Some(&init))
            .map_err(api_error)?;
        let record = mcp
            .sessions()
            .create(record, mcp.config().session_ttl)
            .await
            .map_err(api_error)?;
        let msg = Message::from_value(
            json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params }),
        );
        let reply = match msg {
            Ok(Message::Request(r)) => Some(
                mcp.serve_request(&record, r, Arc::new(NullOutlet), None)
                    .await,
            ),
            _ => None,
        };
        if let Err(e) = crate::state::end_session(mcp, entity, &record.id).await {
            tracing::warn!(error = %e, "admin: cannot remove a throwaway session");
        }
        reply
            .ok_or_else(|| ApiError::new(ApiError::BadRequest, "bad_request", "malformed request"))?
            .map_err(api_error)
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

#[OpenApi]
impl AdminApi {
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
        let r = self
            .run_as(
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
        let r = self
            .run_as(&entity, "resources/read", json!({ "uri": uri.0 }))
            .await?;
        Ok(Json(ResourceContentsView {
            contents: r
                .get("contents")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        }))
    }

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
        let r = self
            .run_as(
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
        let r = self.run_as(&entity, "completion/complete", params).await?;
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
        crate::state::end_session(mcp, &entity, &id)
            .await
            .map_err(api_error)?;
        Ok(Json(rec.into()))
    }

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
        self.state
            .mcp
            .set_entity_config(&entity, Some(body.0.clone().into()))
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
        self.logs(&entity, Some(&id), limit.0).await
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
        self.logs(&entity, None, limit.0).await
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

impl AdminApi {
    async fn logs(
        &self,
        entity: &EntityId,
        session: Option<&SessionId>,
        limit: u32,
    ) -> ApiResult<Vec<LogView>> {
        let Some(logs) = self.state.mcp.logs() else {
            return Ok(Json(vec![]));
        };
        let records = logs
            .recent(entity, session, limit as usize)
            .await
            .map_err(api_error)?;
        Ok(Json(records.into_iter().map(LogView::from).collect()))
    }
}

fn default_limit() -> u32 {
    50
}

fn default_log_limit() -> u32 {
    100
}
