//! The poem application: routes, shared state, health and readiness checks.

use std::sync::Arc;
use std::time::Instant;

use fastmcp_core::EntityId;
use poem::http::StatusCode;
use poem::web::Data;
use poem::{get, handler, Endpoint, EndpointExt, IntoResponse, Request, Response, Route};
use serde_json::json;

use crate::response::json_response;
pub use crate::state::AppState;
use crate::transport::{legacy_sse, streamable};

/// All routes: MCP endpoints per entity, the admin API and its docs, health and readiness.
pub fn routes(state: Arc<AppState>) -> impl poem::Endpoint {
    let tracked = Arc::clone(&state);
    let admin = crate::admin::service(Arc::clone(&state));
    // The document behind these three is rendered when each is built: built on first use, so
    // a cold start (a serverless function's every start) does not render it three times for
    // requests that may never come. That was over half of the time from spawn to first answer.
    let docs_state = Arc::clone(&state);
    let spec = Lazy::new(move || {
        crate::admin::service(Arc::clone(&docs_state))
            .spec_endpoint()
            .map_to_response()
            .boxed()
    });
    let docs_state = Arc::clone(&state);
    let docs = Lazy::new(move || {
        crate::admin::service(Arc::clone(&docs_state))
            .swagger_ui()
            .map_to_response()
            .boxed()
    });
    let docs_state = Arc::clone(&state);
    let redoc = Lazy::new(move || {
        crate::admin::service(Arc::clone(&docs_state))
            .redoc()
            .map_to_response()
            .boxed()
    });
    Route::new()
        .nest(
            "/admin",
            crate::admin::endpoint(admin, state.http.body_limit, state.http.body_timeout),
        )
        .at("/openapi.json", spec)
        .nest("/docs", docs)
        .nest("/redoc", redoc)
        .at("/health", get(health))
        .at("/ready", get(ready))
        .at("/", get(index))
        .at("/metrics", get(metrics))
        .at(
            "/:entity/mcp",
            poem::post(streamable::post)
                .get(streamable::get)
                .delete(streamable::delete)
                .around(|ep, req| observed(ep, req, "mcp")),
        )
        .at(
            "/:entity/sse",
            get(legacy_sse::connect).around(|ep, req| observed(ep, req, "sse")),
        )
        .at(
            "/.well-known/oauth-protected-resource/:entity/mcp",
            get(resource_metadata),
        )
        .at(
            "/:entity/mcp/.well-known/oauth-protected-resource",
            get(resource_metadata),
        )
        .at(
            "/:entity/messages",
            poem::post(legacy_sse::message).around(|ep, req| observed(ep, req, "messages")),
        )
        .data(state)
        .around(move |ep, req| {
            let state = Arc::clone(&tracked);
            async move {
                // Counted while the handler runs, so a draining process knows when the
                // requests it accepted are answered.
                let _in_flight = state.requests.token();
                let mut resp = ep.call(req).await?.into_response();
                if state.is_draining() {
                    // Not reused: the next request goes (through the balancer) elsewhere.
                    resp.headers_mut().insert(
                        poem::http::header::CONNECTION,
                        poem::http::HeaderValue::from_static("close"),
                    );
                }
                Ok(resp)
            }
        })
}

/// An endpoint built on its first request (then kept).
struct Lazy<F> {
    make: F,
    built: std::sync::OnceLock<poem::endpoint::BoxEndpoint<'static>>,
}

impl<F> Lazy<F>
where
    F: Fn() -> poem::endpoint::BoxEndpoint<'static> + Send + Sync,
{
    fn new(make: F) -> Self {
        Self {
            make,
            built: std::sync::OnceLock::new(),
        }
    }
}

impl<F> Endpoint for Lazy<F>
where
    F: Fn() -> poem::endpoint::BoxEndpoint<'static> + Send + Sync,
{
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        self.built.get_or_init(&self.make).call(req).await
    }
}

/// Counts an MCP request and its time to response headers, by entity and status.
async fn observed<E: poem::Endpoint>(
    ep: Arc<E>,
    req: Request,
    endpoint: &'static str,
) -> poem::Result<Response> {
    let start = Instant::now();
    let state = req.data::<Arc<AppState>>().cloned();
    let entity = req
        .uri()
        .path()
        .split('/')
        .nth(1)
        .and_then(|s| EntityId::parse(s).ok());
    let resp = ep.get_response(req).await;
    if let Some(state) = state {
        let label = state.metrics.label(entity.as_ref());
        state
            .metrics
            .request(label, endpoint, resp.status().as_u16(), start.elapsed());
    }
    Ok(resp)
}

/// Prometheus scrape (admin token required: the series name tenants).
#[handler]
async fn metrics(req: &Request, state: Data<&Arc<AppState>>) -> Response {
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !crate::admin::constant_time_eq(token.as_bytes(), state.admin_token.as_bytes()) {
        let mut resp = json_response(
            StatusCode::UNAUTHORIZED,
            &json!({ "code": "unauthorized", "message": "send the admin token as a bearer token" }),
        );
        resp.headers_mut().insert(
            "www-authenticate",
            poem::http::HeaderValue::from_static("Bearer realm=\"fastmcp-metrics\""),
        );
        return resp;
    }
    let store = state
        .metrics
        .read_store(
            state.mcp.sessions().as_ref(),
            std::time::Duration::from_secs(2),
        )
        .await;
    #[allow(unused_mut)]
    let mut text = state.metrics.render(&store);
    #[cfg(feature = "federation")]
    if let Some(f) = &state.catalog.federation {
        crate::metrics::render_mounts(&mut text, &f.health());
    }
    Response::builder()
        .header("content-type", "text/plain; version=0.0.4; charset=utf-8")
        .body(text)
}

/// RFC 9728 protected-resource metadata of one entity's MCP endpoint (public, no auth).
#[handler]
fn resource_metadata(req: &Request, state: Data<&Arc<AppState>>) -> Response {
    let raw = req.path_params::<String>().unwrap_or_default();
    match EntityId::parse(&raw) {
        Ok(entity) => json_response(StatusCode::OK, &state.auth_meta.document(req, &entity)),
        Err(e) => json_response(
            StatusCode::BAD_REQUEST,
            &json!({ "error": "invalid_entity", "message": e.to_string() }),
        ),
    }
}

#[handler]
fn health() -> Response {
    json_response(StatusCode::OK, &json!({ "status": "ok" }))
}

#[handler]
async fn ready(state: Data<&Arc<AppState>>) -> Response {
    // Out of the load balancer's rotation from the first moment of a drain.
    if state.is_draining() {
        return json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({ "status": "draining", "store": state.store_kind }),
        );
    }
    match state.mcp.sessions().ping().await {
        Ok(()) => json_response(
            StatusCode::OK,
            &json!({ "status": "ready", "store": state.store_kind }),
        ),
        Err(e) => json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({ "status": "unavailable", "store": state.store_kind, "error": e.to_string() }),
        ),
    }
}

#[handler]
fn index(req: &Request, state: Data<&Arc<AppState>>) -> Response {
    let host = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:8000");
    json_response(
        StatusCode::OK,
        &json!({
            "name": state.mcp.info().name,
            "version": state.mcp.info().version,
            "instance": state.instance_id,
            "store": state.store_kind,
            "endpoints": {
                "streamable_http": format!("http://{host}/{{entity_id}}/mcp"),
                "legacy_sse": format!("http://{host}/{{entity_id}}/sse"),
                "health": "/health",
                "ready": "/ready",
                "admin_api": "/admin",
                "openapi": "/openapi.json",
                "docs": "/docs",
                "redoc": "/redoc",
            }
        }),
    )
}
