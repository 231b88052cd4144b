//! `/admin/entities/{entity_id}/catalog/mcp-servers…`: upstream MCP servers mounted into an
//! entity (or, with `*`, every entity). A mount is a stored catalog item, so it is served by
//! every instance within the refresh interval, and the entity's clients are told.

use std::sync::Arc;

use fastmcp_core::catalog::{CatalogItem, CatalogKind};
use fastmcp_core::storage::PutMode;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;

use super::catalog::{from_item, scope, to_item, unprocessable, CatalogApi, Deleted, Written};
use super::common::*;
use super::types::*;
use crate::state::AppState;

/// The admin API's mount routes.
pub struct MountsApi {
    catalog: CatalogApi,
}

impl MountsApi {
    pub(super) fn new(state: Arc<AppState>) -> Self {
        Self {
            catalog: CatalogApi::new(state),
        }
    }
}

#[OpenApi]
impl MountsApi {
    /// List mounted MCP servers
    ///
    /// Secret header values are never returned (`null`).
    #[oai(
        path = "/entities/:entity_id/catalog/mcp-servers",
        method = "get",
        tag = "ApiTags::Catalog"
    )]
    async fn list_mounts(
        &self,
        _auth: AdminToken,
        entity_id: Path<String>,
    ) -> ApiResult<Vec<McpServerDef>> {
        let scope = scope(&entity_id)?;
        Ok(Json(
            self.catalog.list(&scope, CatalogKind::McpServer).await?,
        ))
    }

    /// Mount an MCP server
    ///
    /// The upstream's tools, prompts, resources and templates join the scope's lists (tools and
    /// prompts as `NAME_…`), and calls are forwarded with progress, logs, cancellation and the
    /// upstream's elicitation and sampling relayed. 201 when created; 409 when the name is
    /// taken; 422 naming the field (a bad URL, `2026-07-28` over `sse`, a header the client
    /// sets itself). Upstreams on loopback or private addresses are refused when contacted
    /// unless `--http-tools-allow` names them.
    #[oai(
        path = "/entities/:entity_id/catalog/mcp-servers",
        method = "post",
        tag = "ApiTags::Catalog"
    )]
    async fn create_mount(
        &self,
        _auth: AdminToken,
        entity_id: Path<String>,
        body: Json<McpServerDef>,
    ) -> Result<Written<McpServerDef>, ApiError> {
        let scope = scope(&entity_id)?;
        let item = to_item(&body.0, CatalogItem::McpServer)?;
        self.catalog
            .write(&scope, item.clone(), PutMode::Create)
            .await?;
        Ok(Written::Created(Json(from_item(&item)?)))
    }

    /// Get a mounted MCP server
    #[oai(
        path = "/entities/:entity_id/catalog/mcp-servers/:name",
        method = "get",
        tag = "ApiTags::Catalog"
    )]
    async fn get_mount(
        &self,
        _auth: AdminToken,
        entity_id: Path<String>,
        name: Path<String>,
    ) -> ApiResult<McpServerDef> {
        let scope = scope(&entity_id)?;
        let item = self
            .catalog
            .find(&scope, CatalogKind::McpServer, &name)
            .await?;
        Ok(Json(from_item(&item)?))
    }

    /// Mount or replace an MCP server
    ///
    /// A secret header sent with `"value": null` keeps the stored value. Sessions opened under
    /// the old definition are closed once unused for ten minutes.
    #[oai(
        path = "/entities/:entity_id/catalog/mcp-servers/:name",
        method = "put",
        tag = "ApiTags::Catalog"
    )]
    async fn put_mount(
        &self,
        _auth: AdminToken,
        entity_id: Path<String>,
        name: Path<String>,
        body: Json<McpServerDef>,
    ) -> Result<Written<McpServerDef>, ApiError> {
        let scope = scope(&entity_id)?;
        if body.name != *name {
            return Err(unprocessable("name", "must be the name in the path"));
        }
        let mut item = to_item(&body.0, CatalogItem::McpServer)?;
        if let CatalogItem::McpServer(new) = &mut item {
            if let Ok(CatalogItem::McpServer(old)) = self
                .catalog
                .find(&scope, CatalogKind::McpServer, &name)
                .await
            {
                new.keep_secrets_from(&old);
            }
        }
        self.catalog
            .write(&scope, item.clone(), PutMode::Upsert)
            .await?;
        Ok(Written::Ok(Json(from_item(&item)?)))
    }

    /// Unmount an MCP server
    #[oai(
        path = "/entities/:entity_id/catalog/mcp-servers/:name",
        method = "delete",
        tag = "ApiTags::Catalog"
    )]
    async fn delete_mount(
        &self,
        _auth: AdminToken,
        entity_id: Path<String>,
        name: Path<String>,
    ) -> Result<Deleted, ApiError> {
        let scope = scope(&entity_id)?;
        self.catalog
            .remove(&scope, CatalogKind::McpServer, &name)
            .await
    }

    /// A mounted MCP server's health
    ///
    /// As this instance sees it (it lists the upstream first if it has not yet): whether it
    /// answers, its last error, what it lists, and the calls forwarded here.
    #[oai(
        path = "/entities/:entity_id/catalog/mcp-servers/:name/status",
        method = "get",
        tag = "ApiTags::Catalog"
    )]
    async fn mount_status(
        &self,
        _auth: AdminToken,
        entity_id: Path<String>,
        name: Path<String>,
    ) -> ApiResult<McpServerStatusView> {
        let scope = scope(&entity_id)?;
        let item = self
            .catalog
            .find(&scope, CatalogKind::McpServer, &name)
            .await?;
        let CatalogItem::McpServer(spec) = item else {
            return Err(unprocessable("name", "is not a mounted MCP server"));
        };
        #[cfg(feature = "federation")]
        if let Some(f) = &self.catalog.state.catalog.federation {
            let h = f.status_of(&spec).await;
            let n = |i: usize| u64::try_from(h.counts[i]).unwrap_or(u64::MAX);
            return Ok(Json(McpServerStatusView {
                name: spec.name,
                url: spec.url,
                up: h.up,
                last_error: h.last_error,
                listed_secs_ago: h.listed_secs_ago,
                tools: n(0),
                prompts: n(1),
                resources: n(2),
                resource_templates: n(3),
                calls: h.calls,
                failures: h.failures,
            }));
        }
        Ok(Json(McpServerStatusView {
            name: spec.name,
            url: spec.url,
            up: false,
            last_error: Some("federation is not built into this server".into()),
            listed_secs_ago: None,
            tools: 0,
            prompts: 0,
            resources: 0,
            resource_templates: 0,
            calls: 0,
            failures: 0,
        }))
    }
}
