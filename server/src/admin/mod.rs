//! The REST admin API (poem-openapi): catalog, tool calls, resources, prompts, completion,
//! logging levels, sessions and logs, for operators and integrators without an MCP client.
//!
//! Mounted at `/admin`; the OpenAPI document is generated from this code and served at
//! `/openapi.json`, with Swagger UI at `/docs`. Every route needs the admin bearer token.

//! One file per tag of the OpenAPI document; `common` holds what they share.

mod api_keys;
mod catalog;
mod common;
mod entities;
mod imports;
mod logs;
mod mounts;
mod prompts;
mod resources;
mod server;
mod sessions;
mod tools;
mod types;

use std::sync::Arc;

use poem::http::StatusCode;
use poem::{Endpoint, EndpointExt, IntoEndpoint, IntoResponse, Response};
use poem_openapi::OpenApiService;

use crate::state::AppState;
use types::ErrorBody;

/// The admin API: every tag's routes, in the order the document lists them.
pub type AdminApi = (
    tools::ToolsApi,
    resources::ResourcesApi,
    prompts::PromptsApi,
    server::ServerApi,
    sessions::SessionsApi,
    entities::EntitiesApi,
    catalog::CatalogApi,
    imports::ImportsApi,
    mounts::MountsApi,
    api_keys::ApiKeysApi,
    logs::LogsApi,
);

/// The OpenAPI service of the admin API (also used to render the spec in tests).
pub fn service(state: Arc<AppState>) -> OpenApiService<AdminApi, ()> {
    let api = (
        tools::ToolsApi::new(Arc::clone(&state)),
        resources::ResourcesApi::new(Arc::clone(&state)),
        prompts::PromptsApi::new(Arc::clone(&state)),
        server::ServerApi::new(Arc::clone(&state)),
        sessions::SessionsApi::new(Arc::clone(&state)),
        entities::EntitiesApi::new(Arc::clone(&state)),
        catalog::CatalogApi::new(Arc::clone(&state)),
        imports::ImportsApi::new(Arc::clone(&state)),
        mounts::MountsApi::new(Arc::clone(&state)),
        api_keys::ApiKeysApi::new(Arc::clone(&state)),
        logs::LogsApi::new(state),
    );
    OpenApiService::new(api, "FastMCP-MT admin API", env!("CARGO_PKG_VERSION"))
        .description(
            "Query and drive a FastMCP-MT server without an MCP client. Every route needs \
             `Authorization: Bearer <admin token>` (`--admin-token`, or the token printed at start).",
        )
        .server("/admin")
}

/// `/admin` routes, with every failure (bad token, unparsable input, a body over `body_limit`
/// bytes) in the one JSON error shape.
pub fn endpoint(
    service: OpenApiService<AdminApi, ()>,
    body_limit: usize,
    body_timeout: std::time::Duration,
) -> impl Endpoint<Output = Response> {
    use crate::edge::body::{collect, BodyRefusal};
    service
        .into_endpoint()
        .around(move |ep, mut req| async move {
            // The same cap and deadline as the MCP endpoints: poem-openapi reads a JSON body
            // whole, without either, and a request body is the client's to size and to pace.
            let body = req.take_body();
            match collect(req.headers(), body, body_limit, body_timeout).await {
                Ok(bytes) => req.set_body(bytes),
                Err(e) => {
                    let status = match e {
                        BodyRefusal::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
                        BodyRefusal::TooSlow(_) => StatusCode::REQUEST_TIMEOUT,
                        BodyRefusal::Broken(_) => StatusCode::BAD_REQUEST,
                    };
                    return Err(poem::Error::from_string(e.to_string(), status));
                }
            }
            ep.call(req).await.map(IntoResponse::into_response)
        })
        .catch_all_error(|err: poem::Error| async move {
            if err.is_from_response() {
                // An `ApiError` of an operation: already in the JSON shape.
                return err.into_response();
            }
            let status = err.status();
            let code = match status {
                StatusCode::UNAUTHORIZED => "unauthorized",
                StatusCode::NOT_FOUND => "not_found",
                StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
                StatusCode::PAYLOAD_TOO_LARGE => "too_large",
                StatusCode::REQUEST_TIMEOUT => "timeout",
                s if s.is_client_error() => "bad_request",
                _ => "internal",
            };
            let message = if status == StatusCode::UNAUTHORIZED {
                "missing or wrong admin bearer token".to_string()
            } else {
                err.to_string()
            };
            let body = ErrorBody {
                code: code.into(),
                message,
                field: None,
            };
            let mut resp = Response::builder()
                .status(status)
                .content_type("application/json")
                .body(serde_json::to_vec(&body).unwrap_or_default());
            if status == StatusCode::UNAUTHORIZED {
                resp.headers_mut().insert(
                    poem::http::header::WWW_AUTHENTICATE,
                    poem::http::HeaderValue::from_static("Bearer realm=\"fastmcp-admin\""),
                );
            }
            resp
        })
}

/// Compares secrets in time independent of where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A fresh random admin token (256 bits, hex).
pub fn generate_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
