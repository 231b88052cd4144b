//! AWS Lambda, on the official runtime crate (`lambda_http`): API Gateway (REST or HTTP API),
//! an Application Load Balancer, or a function URL.
//!
//! Two ways to answer, chosen by `FASTMCP_MT_LAMBDA_STREAMING` because it must match how the
//! function is invoked:
//! - **buffered** (default; API Gateway, ALB, function URLs in `BUFFERED` mode): Lambda sends a
//!   response only once it is complete, so nothing can stay open. Every POST is answered in
//!   JSON, and what needs a stream (`GET /mcp`, legacy `/sse`, `subscriptions/listen`, a
//!   request to the client in the middle of a handshake-era call) is refused at once with a
//!   message saying why, rather than hanging until the function times out.
//! - **streaming** (`FASTMCP_MT_LAMBDA_STREAMING=true`; function URLs in `RESPONSE_STREAM`
//!   mode): bodies stream as the binary's do, so SSE works for up to the function's timeout
//!   (15 minutes at most).
//!
//! A Lambda process handles one invocation at a time (unless `AWS_LAMBDA_MAX_CONCURRENCY`
//! says otherwise); Lambda runs more processes for more concurrent requests, and they share
//! sessions through Redis.

use std::sync::Arc;

use fastmcp_core::McpServerBuilder;
use http_body_util::combinators::BoxBody;
use http_body_util::BodyExt;
use lambda_http::{service_fn, Body, Error, Request};
use poem::endpoint::BoxEndpoint;
use poem::http::uri::Scheme;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Addr, Endpoint, RequestParts, Response};

/// Largest buffered response Lambda returns (6 MB for synchronous invocations): a bigger one
/// becomes a clear 502 from us rather than an opaque one from the platform.
const LAMBDA_PAYLOAD_LIMIT: usize = 6 * 1024 * 1024;

/// Serves `builder`'s catalog as a Lambda function until the platform stops it, buffered or
/// streaming as `FASTMCP_MT_LAMBDA_STREAMING` says.
pub async fn run(builder: McpServerBuilder) -> Result<(), Error> {
    let streaming = std::env::var("FASTMCP_MT_LAMBDA_STREAMING")
        .is_ok_and(|v| matches!(v.as_str(), "1" | "true" | "yes"));
    let ep = crate::endpoint(builder, |args| {
        if !streaming {
            args.hold_streams = false;
        }
    })
    .await?;
    if streaming {
        lambda_http::run_with_streaming_response(service_fn(move |req: Request| {
            let ep = Arc::clone(&ep);
            async move { streamed(ep.as_ref(), req).await }
        }))
        .await
    } else {
        lambda_http::run(service_fn(move |req: Request| {
            let ep = Arc::clone(&ep);
            async move { buffered(ep.as_ref(), req).await }
        }))
        .await
    }
}

fn to_poem(req: Request) -> poem::Request {
    let (parts, body) = req.into_parts();
    let body = match body {
        Body::Empty => poem::Body::empty(),
        Body::Text(t) => poem::Body::from_string(t),
        Body::Binary(b) => poem::Body::from_vec(b),
        // A body kind added by a later version of the events crate: passed on as bytes.
        #[allow(unreachable_patterns)]
        other => poem::Body::from_vec(other.as_ref().to_vec()),
    };
    let parts = RequestParts::from((
        parts,
        LocalAddr(Addr::Custom("lambda", "".into())),
        RemoteAddr(Addr::Custom("lambda", "".into())),
        Scheme::HTTPS,
    ));
    poem::Request::from_parts(parts, body)
}

/// One request, answered whole.
async fn buffered(
    ep: &BoxEndpoint<'static, Response>,
    req: Request,
) -> Result<poem::http::Response<Body>, Error> {
    let res: poem::http::Response<BoxBody<_, std::io::Error>> =
        ep.get_response(to_poem(req)).await.into();
    let (parts, body) = res.into_parts();
    let bytes = body.collect().await?.to_bytes();
    if bytes.len() > LAMBDA_PAYLOAD_LIMIT {
        let msg = format!(
            "the response is {} bytes, over Lambda's {LAMBDA_PAYLOAD_LIMIT}-byte limit for a buffered answer",
            bytes.len()
        );
        return Ok(poem::http::Response::builder()
            .status(502)
            .header("content-type", "text/plain")
            .body(Body::Text(msg))?);
    }
    // Text stays text (API Gateway passes it through); anything else goes base64.
    let body = match String::from_utf8(bytes.to_vec()) {
        Ok(text) if !text.is_empty() => Body::Text(text),
        Ok(_) => Body::Empty,
        Err(e) => Body::Binary(e.into_bytes()),
    };
    Ok(poem::http::Response::from_parts(parts, body))
}

/// One request, its body streamed back as it is written.
async fn streamed(
    ep: &BoxEndpoint<'static, Response>,
    req: Request,
) -> Result<poem::http::Response<BoxBody<bytes::Bytes, std::io::Error>>, Error> {
    Ok(ep.get_response(to_poem(req)).await.into())
}
