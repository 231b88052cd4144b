//! `/admin/entities/{entity_id}/catalog…`: HTTP tools, prompts, resources and resource
//! templates defined as data, per entity, or for every entity with the scope `*`. A change is served by this
//! instance at once and by every other within the refresh interval; the entity's clients are
//! then told (`notifications/*/list_changed`, both eras).

use std::sync::Arc;

use fastmcp_core::catalog::{CatalogItem, CatalogKind, CatalogScope};
use fastmcp_core::storage::{PutMode, StoreError};
use fastmcp_core::Change;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::common::*;
use super::types::*;
use crate::state::AppState;

/// The admin API's stored-catalog routes.
pub struct CatalogApi {
    pub(super) state: Arc<AppState>,
}

impl CatalogApi {
    pub(super) fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }
}

/// The answer to a write.
#[derive(ApiResponse)]
pub(super) enum Written<T: poem_openapi::types::ToJSON> {
    /// Created.
    #[oai(status = 201)]
    Created(Json<T>),
    /// Replaced (or created, by `PUT`).
    #[oai(status = 200)]
    Ok(Json<T>),
}

/// The answer to a delete.
#[derive(ApiResponse)]
pub(super) enum Deleted {
    /// Deleted.
    #[oai(status = 204)]
    Done,
}

pub(super) fn scope(raw: &str) -> Result<CatalogScope, ApiError> {
    CatalogScope::parse(raw).map_err(|e| {
        ApiError::new(ApiError::Unprocessable, "invalid_argument", e.to_string())
            .with_field(Some("entity_id".into()))
    })
}

pub(super) fn unprocessable(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(ApiError::Unprocessable, "invalid_argument", message)
        .with_field(Some(field.into()))
}

/// The admin body as the core definition (same fields, by serde).
pub(super) fn to_item<D: Serialize, S: DeserializeOwned>(
    def: &D,
    wrap: fn(S) -> CatalogItem,
) -> Result<CatalogItem, ApiError> {
    serde_json::to_value(def)
        .and_then(serde_json::from_value::<S>)
        .map(wrap)
        .map_err(|e| unprocessable("body", format!("cannot read the definition: {e}")))
}

/// The stored definition as the admin API shows it: secrets blanked.
fn shown(item: &CatalogItem) -> CatalogItem {
    match item {
        CatalogItem::HttpTool(t) => CatalogItem::HttpTool(t.redacted()),
        CatalogItem::McpServer(m) => CatalogItem::McpServer(m.redacted()),
        other => other.clone(),
    }
}

pub(super) fn from_item<D: DeserializeOwned>(item: &CatalogItem) -> Result<D, ApiError> {
    let mut v = serde_json::to_value(shown(item))
        .map_err(|e| api_error(fastmcp_core::Error::Internal(e.to_string())))?;
    if let Some(o) = v.as_object_mut() {
        o.remove("kind");
    }
    serde_json::from_value(v).map_err(|e| api_error(fastmcp_core::Error::Internal(e.to_string())))
}

fn not_found(kind: CatalogKind, key: &str, scope: &CatalogScope) -> ApiError {
    ApiError::new(
        ApiError::NotFound,
        "not_found",
        format!("no stored {} `{key}` in `{scope}`", kind.as_str()),
    )
}

impl CatalogApi {
    /// Validates, checks for a clash with the code catalog, writes, and announces the change.
    pub(super) async fn write(
        &self,
        scope: &CatalogScope,
        item: CatalogItem,
        mode: PutMode,
    ) -> Result<(), ApiError> {
        let kind = item.kind();
        self.put(scope, item, mode).await?;
        self.changed(scope, kind);
        Ok(())
    }

    /// [`write`](Self::write) without the announcement (a caller writing many announces once).
    pub(super) async fn put(
        &self,
        scope: &CatalogScope,
        item: CatalogItem,
        mode: PutMode,
    ) -> Result<(), ApiError> {
        let settings = &self.state.catalog;
        item.validate(&settings.caps)
            .map_err(|e| unprocessable(&e.field, e.to_string()))?;
        let code = self.state.mcp.registry();
        if matches!(item, CatalogItem::McpServer(_)) && !settings.federates() {
            return Err(unprocessable(
                "url",
                "upstream MCP servers are not served here (build the server with the `federation` feature)",
            ));
        }
        if matches!(item, CatalogItem::HttpTool(_)) && !settings.provider.has_outbound() {
            return Err(unprocessable(
                "request",
                "HTTP tools are not enabled on this server (build it with the `http-tools` feature)",
            ));
        }
        let shadowed = match &item {
            CatalogItem::HttpTool(t) => code.tool(&t.name).is_some(),
            CatalogItem::Prompt(p) => code.prompt(&p.name).is_some(),
            CatalogItem::Resource(r) => code.resources().iter().any(|c| c.info().uri == r.uri),
            CatalogItem::ResourceTemplate(t) => code
                .templates()
                .iter()
                .any(|c| c.info().uri_template == t.uri_template),
            _ => false,
        };
        if shadowed {
            return Err(ApiError::new(
                ApiError::Conflict,
                "conflict",
                format!(
                    "a code-defined {} is keyed `{}`: it would hide this one",
                    item.kind().as_str(),
                    item.key()
                ),
            ));
        }
        match settings
            .provider
            .store()
            .put_catalog_item(scope, &item, mode, settings.caps.max_items)
            .await
        {
            Ok(_) => {}
            Err(StoreError::Conflict(m)) => {
                return Err(ApiError::new(ApiError::Conflict, "conflict", m))
            }
            Err(StoreError::InvalidValue(m)) => return Err(unprocessable("body", m)),
            Err(e) => return Err(api_error(e)),
        }
        Ok(())
    }

    pub(super) async fn remove(
        &self,
        scope: &CatalogScope,
        kind: CatalogKind,
        key: &str,
    ) -> Result<Deleted, ApiError> {
        let gone = self
            .state
            .catalog
            .provider
            .store()
            .delete_catalog_item(scope, kind, key)
            .await
            .map_err(api_error)?;
        if gone.is_none() {
            return Err(not_found(kind, key, scope));
        }
        self.changed(scope, kind);
        Ok(Deleted::Done)
    }

    pub(super) async fn find(
        &self,
        scope: &CatalogScope,
        kind: CatalogKind,
        key: &str,
    ) -> Result<CatalogItem, ApiError> {
        let snap = self
            .state
            .catalog
            .provider
            .store()
            .catalog(scope)
            .await
            .map_err(api_error)?;
        snap.items
            .into_iter()
            .find(|i| i.kind() == kind && i.key() == key)
            .ok_or_else(|| not_found(kind, key, scope))
    }

    pub(super) async fn list<D: DeserializeOwned>(
        &self,
        scope: &CatalogScope,
        kind: CatalogKind,
    ) -> Result<Vec<D>, ApiError> {
        let snap = self
            .state
            .catalog
            .provider
            .store()
            .catalog(scope)
            .await
            .map_err(api_error)?;
        snap.items
            .iter()
            .filter(|i| i.kind() == kind)
            .map(from_item)
            .collect()
    }

    /// This instance serves the change at once; the entity's clients hear of it once every
    /// instance can serve it (after two refresh intervals), so a client that lists on hearing
    /// it sees the change wherever its request lands.
    pub(super) fn changed(&self, scope: &CatalogScope, kind: CatalogKind) {
        let settings = &self.state.catalog;
        settings.provider.invalidate(scope);
        let CatalogScope::Entity(entity) = scope.clone() else {
            // Every entity's clients: not enumerable here; they see it on their next listing.
            return;
        };
        let changes = match kind {
            CatalogKind::Tool => vec![Change::Tools],
            CatalogKind::Prompt => vec![Change::Prompts],
            CatalogKind::Resource | CatalogKind::ResourceTemplate => vec![Change::Resources],
            // A mount brings (or takes away) every kind of item.
            CatalogKind::McpServer => vec![Change::Tools, Change::Prompts, Change::Resources],
        };
        let state = Arc::clone(&self.state);
        let wait = settings.refresh * 2 + std::time::Duration::from_millis(50);
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            for change in changes {
                if let Err(e) = state.mcp.notify(&entity, change).await {
                    tracing::warn!(error = %e.report(), %entity, "cannot announce a catalog change");
                }
            }
        });
    }
}

#[OpenApi]
impl CatalogApi {
    /// List a scope's stored items
    ///
    /// Every prompt, resource and resource template stored for `entity_id` (or, with `*`, for
    /// every entity), in creation order. Code-defined items are under `/tools`, `/prompts` and
    /// `/resources`.
    #[oai(
        path = "/entities/:entity_id/catalog",
        method = "get",
        tag = "ApiTags::Catalog"
    )]
    async fn get_catalog(
        &self,
        _auth: AdminToken,
        entity_id: Path<String>,
    ) -> ApiResult<CatalogView> {
        let scope = scope(&entity_id)?;
        let snap = self
            .state
            .catalog
            .provider
            .store()
            .catalog(&scope)
            .await
            .map_err(api_error)?;
        let items = snap
            .items
            .iter()
            .map(|i| {
                let mut definition = serde_json::to_value(shown(i)).unwrap_or_default();
                if let Some(o) = definition.as_object_mut() {
                    o.remove("kind");
                }
                CatalogItemView {
                    kind: i.kind().as_str().into(),
                    key: i.key().into(),
                    definition,
                }
            })
            .collect();
        Ok(Json(CatalogView {
            scope: scope.to_string(),
            version: snap.version,
            items,
        }))
    }

    /// List stored HTTP tools
    ///
    /// Secret header values are never returned (`null`).
    #[oai(
        path = "/entities/:entity_id/catalog/tools",
        method = "get",
        tag = "ApiTags::Catalog"
    )]
    async fn list_tools(
        &self,
        _auth: AdminToken,
        entity_id: Path<String>,
    ) -> ApiResult<Vec<HttpToolDef>> {
        let scope = scope(&entity_id)?;
        Ok(Json(self.list(&scope, CatalogKind::Tool).await?))
    }

    /// Create a stored HTTP tool
    ///
    /// A tool whose call is one HTTP request, filled from its (schema-checked) arguments. 201
    /// when created; 409 when a tool of that name exists in the scope or in code; 422 naming the
    /// field (an invalid JSON Schema, a URL placeholder naming no argument, a host taken from an
    /// argument, a missing header value). Requests to loopback, private and link-local
    /// addresses are refused when called unless `--http-tools-allow` names them.
    #[oai(
        path = "/entities/:entity_id/catalog/tools",
        method = "post",
        tag = "ApiTags::Catalog"
    )]
    async fn create_tool(
        &self,
        _auth: AdminToken,
        entity_id: Path<String>,
        body: Json<HttpToolDef>,
    ) -> Result<Written<HttpToolDef>, ApiError> {
        let scope = scope(&entity_id)?;
        let item = to_item(&body.0, CatalogItem::HttpTool)?;
        self.write(&scope, item.clone(), PutMode::Create).await?;
        Ok(Written::Created(Json(from_item(&item)?)))
    }

    /// Get a stored HTTP tool
    #[oai(
        path = "/entities/:entity_id/catalog/tools/:name",
        method = "get",
        tag = "ApiTags::Catalog"
    )]
    async fn get_tool(
        &self,
        _auth: AdminToken,
        entity_id: Path<String>,
        name: Path<String>,
    ) -> ApiResult<HttpToolDef> {
        let scope = scope(&entity_id)?;
        let item = self.find(&scope, CatalogKind::Tool, &name).await?;
        Ok(Json(from_item(&item)?))
    }

    /// Create or replace a stored HTTP tool
    ///
    /// A secret header sent with `"value": null` keeps the stored value.
    #[oai(
        path = "/entities/:entity_id/catalog/tools/:name",
        method = "put",
        tag = "ApiTags::Catalog"
    )]
    async fn put_tool(
        &self,
        _auth: AdminToken,
        entity_id: Path<String>,
        name: Path<String>,
        body: Json<HttpToolDef>,
    ) -> Result<Written<HttpToolDef>, ApiError> {
        let scope = scope(&entity_id)?;
        if body.name != *name {
            return Err(unprocessable("name", "must be the name in the path"));
        }
        let mut item = to_item(&body.0, CatalogItem::HttpTool)?;
        if let CatalogItem::HttpTool(new) = &mut item {
            if let Ok(CatalogItem::HttpTool(old)) =
                self.find(&scope, CatalogKind::Tool, &name).await
            {
                new.keep_secrets_from(&old);
            }
        }
        self.write(&scope, item.clone(), PutMode::Upsert).await?;
        Ok(Written::Ok(Json(from_item(&item)?)))
    }

    /// Delete a stored HTTP tool
    #[oai(
        path = "/entities/:entity_id/catalog/tools/:name",
        method = "delete",
        tag = "ApiTags::Catalog"
    )]
    async fn delete_tool(
        &self,
        _auth: AdminToken,
        entity_id: Path<String>,
        name: Path<String>,
    ) -> Result<Deleted, ApiError> {
        let scope = scope(&entity_id)?;
        self.remove(&scope, CatalogKind::Tool, &name).await
    }

    /// List stored prompts
    #[oai(
        path = "/entities/:entity_id/catalog/prompts",
        method = "get",
        tag = "ApiTags::Catalog"
    )]
    async fn list_prompts(
        &self,
        _auth: AdminToken,
        entity_id: Path<String>,
    ) -> ApiResult<Vec<PromptDef>> {
        let scope = scope(&entity_id)?;
        Ok(Json(self.list(&scope, CatalogKind::Prompt).await?))
    }

    /// Create a stored prompt
    ///
    /// 201 when created; 409 when a prompt of that name exists in the scope or in code; 422
    /// naming the field for a bad definition (a placeholder naming no argument, a name with
    /// spaces, a field over its size cap) or when the scope is full (`--max-catalog-items`).
    #[oai(
        path = "/entities/:entity_id/catalog/prompts",
        method = "post",
        tag = "ApiTags::Catalog"
    )]
    async fn create_prompt(
        &self,
        _auth: AdminToken,
        entity_id: Path<String>,
        body: Json<PromptDef>,
    ) -> Result<Written<PromptDef>, ApiError> {
        let scope = scope(&entity_id)?;
        let item = to_item(&body.0, CatalogItem::Prompt)?;
        self.write(&scope, item, PutMode::Create).await?;
        Ok(Written::Created(body))
    }

    /// Get a stored prompt
    #[oai(
        path = "/entities/:entity_id/catalog/prompts/:name",
        method = "get",
        tag = "ApiTags::Catalog"
    )]
    async fn get_prompt(
        &self,
        _auth: AdminToken,
        entity_id: Path<String>,
        name: Path<String>,
    ) -> ApiResult<PromptDef> {
        let scope = scope(&entity_id)?;
        let item = self.find(&scope, CatalogKind::Prompt, &name).await?;
        Ok(Json(from_item(&item)?))
    }

    /// Create or replace a stored prompt
    #[oai(
        path = "/entities/:entity_id/catalog/prompts/:name",
        method = "put",
        tag = "ApiTags::Catalog"
    )]
    async fn put_prompt(
        &self,
        _auth: AdminToken,
        entity_id: Path<String>,
        name: Path<String>,
        body: Json<PromptDef>,
    ) -> Result<Written<PromptDef>, ApiError> {
        let scope = scope(&entity_id)?;
        if body.name != *name {
            return Err(unprocessable("name", "must be the name in the path"));
        }
        let item = to_item(&body.0, CatalogItem::Prompt)?;
        self.write(&scope, item, PutMode::Upsert).await?;
        Ok(Written::Ok(body))
    }

    /// Delete a stored prompt
    #[oai(
        path = "/entities/:entity_id/catalog/prompts/:name",
        method = "delete",
        tag = "ApiTags::Catalog"
    )]
    async fn delete_prompt(
        &self,
        _auth: AdminToken,
        entity_id: Path<String>,
        name: Path<String>,
    ) -> Result<Deleted, ApiError> {
        let scope = scope(&entity_id)?;
        self.remove(&scope, CatalogKind::Prompt, &name).await
    }

    /// List stored resources
    #[oai(
        path = "/entities/:entity_id/catalog/resources",
        method = "get",
        tag = "ApiTags::Catalog"
    )]
    async fn list_resources(
        &self,
        _auth: AdminToken,
        entity_id: Path<String>,
    ) -> ApiResult<Vec<ResourceDef>> {
        let scope = scope(&entity_id)?;
        Ok(Json(self.list(&scope, CatalogKind::Resource).await?))
    }

    /// Create a stored resource
    ///
    /// 201 when created; 409 when the URI exists in the scope or in code; 422 naming the field.
    #[oai(
        path = "/entities/:entity_id/catalog/resources",
        method = "post",
        tag = "ApiTags::Catalog"
    )]
    async fn create_resource(
        &self,
        _auth: AdminToken,
        entity_id: Path<String>,
        body: Json<ResourceDef>,
    ) -> Result<Written<ResourceDef>, ApiError> {
        let scope = scope(&entity_id)?;
        let item = to_item(&body.0, CatalogItem::Resource)?;
        self.write(&scope, item, PutMode::Create).await?;
        Ok(Written::Created(body))
    }

    /// Get a stored resource (by `uri`)
    #[oai(
        path = "/entities/:entity_id/catalog/resources/item",
        method = "get",
        tag = "ApiTags::Catalog"
    )]
    async fn get_resource(
        &self,
        _auth: AdminToken,
        entity_id: Path<String>,
        uri: Query<String>,
    ) -> ApiResult<ResourceDef> {
        let scope = scope(&entity_id)?;
        let item = self.find(&scope, CatalogKind::Resource, &uri).await?;
        Ok(Json(from_item(&item)?))
    }

    /// Create or replace a stored resource (by `uri`)
    #[oai(
        path = "/entities/:entity_id/catalog/resources/item",
        method = "put",
        tag = "ApiTags::Catalog"
    )]
    async fn put_resource(
        &self,
        _auth: AdminToken,
        entity_id: Path<String>,
        uri: Query<String>,
        body: Json<ResourceDef>,
    ) -> Result<Written<ResourceDef>, ApiError> {
        let scope = scope(&entity_id)?;
        if body.uri != *uri {
            return Err(unprocessable("uri", "must be the `uri` of the query"));
        }
        let item = to_item(&body.0, CatalogItem::Resource)?;
        self.write(&scope, item, PutMode::Upsert).await?;
        Ok(Written::Ok(body))
    }

    /// Delete a stored resource (by `uri`)
    #[oai(
        path = "/entities/:entity_id/catalog/resources/item",
        method = "delete",
        tag = "ApiTags::Catalog"
    )]
    async fn delete_resource(
        &self,
        _auth: AdminToken,
        entity_id: Path<String>,
        uri: Query<String>,
    ) -> Result<Deleted, ApiError> {
        let scope = scope(&entity_id)?;
        self.remove(&scope, CatalogKind::Resource, &uri).await
    }

    /// List stored resource templates
    #[oai(
        path = "/entities/:entity_id/catalog/resource-templates",
        method = "get",
        tag = "ApiTags::Catalog"
    )]
    async fn list_templates(
        &self,
        _auth: AdminToken,
        entity_id: Path<String>,
    ) -> ApiResult<Vec<TemplateDef>> {
        let scope = scope(&entity_id)?;
        Ok(Json(
            self.list(&scope, CatalogKind::ResourceTemplate).await?,
        ))
    }

    /// Create a stored resource template
    ///
    /// 201 when created; 409 when the URI template exists in the scope or in code; 422 naming
    /// the field (a bad URI template, a placeholder that is not one of its variables).
    #[oai(
        path = "/entities/:entity_id/catalog/resource-templates",
        method = "post",
        tag = "ApiTags::Catalog"
    )]
    async fn create_template(
        &self,
        _auth: AdminToken,
        entity_id: Path<String>,
        body: Json<TemplateDef>,
    ) -> Result<Written<TemplateDef>, ApiError> {
        let scope = scope(&entity_id)?;
        let item = to_item(&body.0, CatalogItem::ResourceTemplate)?;
        self.write(&scope, item, PutMode::Create).await?;
        Ok(Written::Created(body))
    }

    /// Get a stored resource template (by `uri_template`)
    #[oai(
        path = "/entities/:entity_id/catalog/resource-templates/item",
        method = "get",
        tag = "ApiTags::Catalog"
    )]
    async fn get_template(
        &self,
        _auth: AdminToken,
        entity_id: Path<String>,
        uri_template: Query<String>,
    ) -> ApiResult<TemplateDef> {
        let scope = scope(&entity_id)?;
        let item = self
            .find(&scope, CatalogKind::ResourceTemplate, &uri_template)
            .await?;
        Ok(Json(from_item(&item)?))
    }

    /// Create or replace a stored resource template (by `uri_template`)
    #[oai(
        path = "/entities/:entity_id/catalog/resource-templates/item",
        method = "put",
        tag = "ApiTags::Catalog"
    )]
    async fn put_template(
        &self,
        _auth: AdminToken,
        entity_id: Path<String>,
        uri_template: Query<String>,
        body: Json<TemplateDef>,
    ) -> Result<Written<TemplateDef>, ApiError> {
        let scope = scope(&entity_id)?;
        if body.uri_template != *uri_template {
            return Err(unprocessable(
                "uri_template",
                "must be the `uri_template` of the query",
            ));
        }
        let item = to_item(&body.0, CatalogItem::ResourceTemplate)?;
        self.write(&scope, item, PutMode::Upsert).await?;
        Ok(Written::Ok(body))
    }

    /// Delete a stored resource template (by `uri_template`)
    #[oai(
        path = "/entities/:entity_id/catalog/resource-templates/item",
        method = "delete",
        tag = "ApiTags::Catalog"
    )]
    async fn delete_template(
        &self,
        _auth: AdminToken,
        entity_id: Path<String>,
        uri_template: Query<String>,
    ) -> Result<Deleted, ApiError> {
        let scope = scope(&entity_id)?;
        self.remove(&scope, CatalogKind::ResourceTemplate, &uri_template)
            .await
    }
}
