//! `/admin/entities/{entity_id}/catalog/openapi…`: OpenAPI documents imported as HTTP tools.
//!
//! An import is a name and the tools it made (stored HTTP tools whose `source` is
//! `openapi:NAME`); nothing else is kept, so the tools are served, listed, secured and
//! announced like any stored tool, on every instance. Importing a name again replaces its
//! tools: new ones are written, changed ones replaced, and those no longer in the document
//! deleted. The writes are one per tool, not one transaction: an import that fails midway
//! (the store down) leaves some tools written, and a retry converges.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use fastmcp_core::catalog::openapi::{self, ImportOptions, RouteAction, RouteMap};
use fastmcp_core::catalog::{
    CatalogItem, CatalogKind, CatalogScope, HeaderSpec, HttpToolSpec, OutboundRequest,
};
use fastmcp_core::storage::PutMode;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;
use serde_json::Value;

use super::catalog::{scope, unprocessable, CatalogApi, Deleted};
use super::common::*;
use super::types::*;
use crate::state::AppState;

/// Largest document fetched by URL.
const MAX_DOCUMENT_BYTES: u64 = 5 * 1024 * 1024;
/// Longest wait for a document fetched by URL.
const FETCH_TIMEOUT: Duration = Duration::from_secs(15);

/// The admin API's OpenAPI import routes.
pub struct ImportsApi {
    catalog: CatalogApi,
}

impl ImportsApi {
    pub(super) fn new(state: Arc<AppState>) -> Self {
        Self {
            catalog: CatalogApi::new(state),
        }
    }

    fn state(&self) -> &AppState {
        &self.catalog.state
    }

    /// The stored tools of `scope`, by name.
    async fn tools(&self, scope: &CatalogScope) -> Result<Vec<HttpToolSpec>, ApiError> {
        let snap = self
            .state()
            .catalog
            .provider
            .store()
            .catalog(scope)
            .await
            .map_err(api_error)?;
        Ok(snap
            .items
            .into_iter()
            .filter_map(|i| match i {
                CatalogItem::HttpTool(t) => Some(t),
                _ => None,
            })
            .collect())
    }

    /// The document the request names: given inline (an object, or JSON or YAML text), or
    /// fetched from `url` through the HTTP tools' network policy.
    async fn document(&self, def: &OpenApiImportDef) -> Result<Value, ApiError> {
        match (&def.document, &def.url) {
            (Some(_), Some(_)) | (None, None) => Err(unprocessable(
                "document",
                "give exactly one of `document` and `url`",
            )),
            (Some(Value::String(text)), None) => parse(text.as_bytes(), "document"),
            (Some(doc), None) => Ok(doc.clone()),
            (None, Some(url)) => {
                let Some(outbound) = self.state().catalog.provider.outbound() else {
                    return Err(disabled());
                };
                let mut headers = Vec::with_capacity(def.url_headers.len());
                for (i, h) in def.url_headers.iter().enumerate() {
                    let Some(v) = &h.value else {
                        return Err(unprocessable(
                            &format!("url_headers[{i}].value"),
                            "is required",
                        ));
                    };
                    headers.push((h.name.clone(), v.clone()));
                }
                let answer = outbound
                    .send(OutboundRequest {
                        method: "GET".into(),
                        url: url.clone(),
                        headers,
                        body: None,
                        timeout: FETCH_TIMEOUT,
                        max_response_bytes: MAX_DOCUMENT_BYTES,
                    })
                    .await
                    .map_err(|e| unprocessable("url", format!("cannot fetch the document: {e}")))?;
                if answer.status >= 400 {
                    return Err(unprocessable(
                        "url",
                        format!(
                            "cannot fetch the document: HTTP {} {}",
                            answer.status, answer.reason
                        ),
                    ));
                }
                parse(&answer.body, "url")
            }
        }
    }
}

fn disabled() -> ApiError {
    unprocessable(
        "document",
        "HTTP tools are not enabled on this server (build it with the `http-tools` feature)",
    )
}

/// A document's text as JSON, or else as YAML.
fn parse(bytes: &[u8], field: &str) -> Result<Value, ApiError> {
    if let Ok(v) = serde_json::from_slice::<Value>(bytes) {
        return Ok(v);
    }
    serde_yaml::from_slice::<Value>(bytes)
        .map_err(|e| unprocessable(field, format!("the document is neither JSON nor YAML: {e}")))
}

fn header(h: &HttpHeaderDef) -> HeaderSpec {
    HeaderSpec {
        name: h.name.clone(),
        value: h.value.clone(),
        secret: h.secret,
    }
}

fn options(def: &OpenApiImportDef) -> Result<ImportOptions, ApiError> {
    let mut routes = Vec::with_capacity(def.routes.len());
    for (i, r) in def.routes.iter().enumerate() {
        let action = match r.action.as_str() {
            "include" => RouteAction::Include,
            "exclude" => RouteAction::Exclude,
            _ => {
                return Err(unprocessable(
                    &format!("routes[{i}].action"),
                    "must be `include` or `exclude`",
                ))
            }
        };
        routes.push(RouteMap {
            methods: r.methods.clone(),
            path: r.path.clone(),
            tags: r.tags.clone(),
            action,
        });
    }
    Ok(ImportOptions {
        name: def.name.clone(),
        base_url: def.base_url.clone(),
        document_url: def.url.clone(),
        headers: def.headers.iter().map(header).collect(),
        routes,
        name_prefix: def.name_prefix.clone(),
        timeout_ms: def.timeout_ms,
        max_response_bytes: def.max_response_bytes,
    })
}

#[OpenApi]
impl ImportsApi {
    /// List a scope's OpenAPI imports
    ///
    /// Each import's name and the tools it made.
    #[oai(
        path = "/entities/:entity_id/catalog/openapi",
        method = "get",
        tag = "ApiTags::Catalog"
    )]
    async fn list_imports(
        &self,
        _auth: AdminToken,
        entity_id: Path<String>,
    ) -> ApiResult<Vec<OpenApiImportView>> {
        let scope = scope(&entity_id)?;
        let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for t in self.tools(&scope).await? {
            if let Some(name) = t.source.as_deref().and_then(|s| s.strip_prefix("openapi:")) {
                by_name.entry(name.to_string()).or_default().push(t.name);
            }
        }
        Ok(Json(
            by_name
                .into_iter()
                .map(|(name, tools)| OpenApiImportView {
                    name,
                    tools,
                    removed: Vec::new(),
                    skipped: Vec::new(),
                })
                .collect(),
        ))
    }

    /// Import an OpenAPI document as HTTP tools
    ///
    /// Each operation of an OpenAPI 3.0 or 3.1 document (JSON or YAML, inline or fetched from
    /// `url`) becomes a stored HTTP tool named by its `operationId`, its arguments the path,
    /// query and header parameters and the JSON body's properties (`$ref`s resolved), its
    /// description the summary. `routes` include or exclude operations by method, path and tag.
    /// An operation that cannot be expressed (a non-JSON body, a required cookie, an external
    /// or recursive `$ref`, a name taken by another tool) is listed in `skipped` with its
    /// reason; the rest are imported. Importing a name again replaces its tools. Calls go out
    /// under the HTTP tools' network policy (`--http-tools-allow`). 422 naming the field when
    /// the document is unusable as a whole, or when the tools would not fit the scope
    /// (`--max-catalog-items`).
    #[oai(
        path = "/entities/:entity_id/catalog/openapi",
        method = "post",
        tag = "ApiTags::Catalog"
    )]
    async fn import(
        &self,
        _auth: AdminToken,
        entity_id: Path<String>,
        body: Json<OpenApiImportDef>,
    ) -> ApiResult<OpenApiImportView> {
        let scope = scope(&entity_id)?;
        if !self.state().catalog.provider.has_outbound() {
            return Err(disabled());
        }
        let mut options = options(&body)?;
        let document = self.document(&body).await?;
        let source = openapi::source_tag(&options.name);
        let stored = self.tools(&scope).await?;
        let (mine, others): (Vec<_>, Vec<_>) = stored
            .into_iter()
            .partition(|t| t.source.as_deref() == Some(source.as_str()));
        // A secret sent as `null` keeps the value the previous import stored.
        if let Some(previous) = mine.first() {
            for h in options
                .headers
                .iter_mut()
                .filter(|h| h.secret && h.value.is_none())
            {
                h.value = previous
                    .request
                    .headers
                    .iter()
                    .find(|o| o.secret && o.name.eq_ignore_ascii_case(&h.name))
                    .and_then(|o| o.value.clone());
            }
        }
        if let Some((i, _)) = options
            .headers
            .iter()
            .enumerate()
            .find(|(_, h)| h.value.is_none())
        {
            return Err(unprocessable(
                &format!("headers[{i}].value"),
                "is required (a secret may be `null` only when a previous import stored it)",
            ));
        }
        let settings = &self.state().catalog;
        let imported = openapi::import(&document, &options, &settings.caps)
            .map_err(|e| unprocessable(&e.field, e.message))?;

        let code = self.state().mcp.registry();
        let taken: BTreeSet<&str> = others.iter().map(|t| t.name.as_str()).collect();
        let mut skipped: Vec<SkippedOperationView> = imported
            .skipped
            .into_iter()
            .map(|s| SkippedOperationView {
                method: s.method,
                path: s.path,
                operation_id: s.operation_id,
                reason: s.reason,
            })
            .collect();
        let mut tools = Vec::with_capacity(imported.tools.len());
        for t in imported.tools {
            let clash = if code.tool(&t.name).is_some() {
                Some("a code-defined tool")
            } else if taken.contains(t.name.as_str()) {
                Some("a stored tool of another source")
            } else {
                None
            };
            match clash {
                Some(what) => skipped.push(SkippedOperationView {
                    method: t.request.method.clone(),
                    path: t.request.url.clone(),
                    operation_id: None,
                    reason: format!(
                        "{what} is named `{}` (rename it with `name_prefix`)",
                        t.name
                    ),
                }),
                None => tools.push(t),
            }
        }
        let others_count = self
            .state()
            .catalog
            .provider
            .store()
            .catalog(&scope)
            .await
            .map_err(api_error)?
            .items
            .len()
            .saturating_sub(mine.len());
        if others_count + tools.len() > settings.caps.max_items {
            return Err(unprocessable(
                "document",
                format!(
                    "{} tools would not fit: `{scope}` holds {others_count} other items and \
                     {} are allowed (`--max-catalog-items`)",
                    tools.len(),
                    settings.caps.max_items
                ),
            ));
        }
        let names: Vec<String> = tools.iter().map(|t| t.name.clone()).collect();
        let keep: BTreeSet<&str> = names.iter().map(String::as_str).collect();
        let removed: Vec<String> = mine
            .iter()
            .filter(|t| !keep.contains(t.name.as_str()))
            .map(|t| t.name.clone())
            .collect();
        let store = Arc::clone(settings.provider.store());
        for name in &removed {
            store
                .delete_catalog_item(&scope, CatalogKind::Tool, name)
                .await
                .map_err(api_error)?;
        }
        let unchanged: BTreeMap<&str, &HttpToolSpec> =
            mine.iter().map(|t| (t.name.as_str(), t)).collect();
        let mut wrote = !removed.is_empty();
        for t in tools {
            if unchanged.get(t.name.as_str()) == Some(&&t) {
                continue;
            }
            wrote = true;
            self.catalog
                .put(&scope, CatalogItem::HttpTool(t), PutMode::Upsert)
                .await?;
        }
        if wrote {
            self.catalog.changed(&scope, CatalogKind::Tool);
        }
        Ok(Json(OpenApiImportView {
            name: options.name,
            tools: names,
            removed,
            skipped,
        }))
    }

    /// Delete an OpenAPI import and its tools
    #[oai(
        path = "/entities/:entity_id/catalog/openapi/:name",
        method = "delete",
        tag = "ApiTags::Catalog"
    )]
    async fn delete_import(
        &self,
        _auth: AdminToken,
        entity_id: Path<String>,
        name: Path<String>,
    ) -> Result<Deleted, ApiError> {
        let scope = scope(&entity_id)?;
        let source = openapi::source_tag(&name);
        let mine: Vec<String> = self
            .tools(&scope)
            .await?
            .into_iter()
            .filter(|t| t.source.as_deref() == Some(source.as_str()))
            .map(|t| t.name)
            .collect();
        if mine.is_empty() {
            return Err(ApiError::new(
                ApiError::NotFound,
                "not_found",
                format!("no OpenAPI import `{}` in `{scope}`", *name),
            ));
        }
        let store = Arc::clone(self.state().catalog.provider.store());
        for t in &mine {
            store
                .delete_catalog_item(&scope, CatalogKind::Tool, t)
                .await
                .map_err(api_error)?;
        }
        self.catalog.changed(&scope, CatalogKind::Tool);
        Ok(Deleted::Done)
    }
}
