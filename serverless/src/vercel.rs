//! Vercel (fluid compute) on Vercel's own runtime crate, `vercel_runtime`.
//!
//! The runtime runs an HTTP/1 server on `127.0.0.1:$VERCEL_DEV_PORT` (3000 when unset) that
//! the platform's bridge forwards each request to; response bodies stream, so SSE works for
//! the function's maximum duration. The rewrites in `examples/vercel/vercel.json` send every
//! path to the one function, which sees the path as the client sent it (`/{entity}/mcp`).

use std::sync::Arc;

use fastmcp_core::McpServerBuilder;
use http_body_util::combinators::BoxBody;
use http_body_util::BodyExt;
use poem::endpoint::BoxEndpoint;
use poem::http::uri::Scheme;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Addr, Endpoint, Response};
use vercel_runtime::{Error, Request, ResponseBody};

/// Serves `builder`'s catalog as a Vercel function until the platform stops it.
pub async fn run(builder: McpServerBuilder) -> Result<(), Error> {
    let ep = crate::endpoint(builder, |_| {}).await?;
    let handler = move |req: Request| {
        let ep = Arc::clone(&ep);
        async move { respond(ep.as_ref(), req).await }
    };
    vercel_runtime::run(vercel_runtime::service_fn(handler)).await
}

/// One request through the app. The platform terminates TLS at its edge, so the request is
/// HTTPS as far as links and cookies go; the client's address comes from the headers
/// (`FASTMCP_MT_CLIENT_IP_HEADER`, e.g. `x-real-ip`), as the runtime does not pass the peer.
async fn respond(
    ep: &BoxEndpoint<'static, Response>,
    req: Request,
) -> Result<poem::http::Response<ResponseBody>, Error> {
    let req = poem::Request::from((
        req,
        LocalAddr(Addr::Custom("vercel", "".into())),
        RemoteAddr(Addr::Custom("vercel", "".into())),
        Scheme::HTTPS,
    ));
    let res: poem::http::Response<BoxBody<_, std::io::Error>> = ep.get_response(req).await.into();
    Ok(res.map(|body| ResponseBody(body.map_err(|e| Box::new(e) as Error).boxed())))
}
