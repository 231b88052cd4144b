//! The poem application: routes, shared state, health checks, and a TCP acceptor with
//! `TCP_NODELAY` (poem's own leaves Nagle on, which stalls multi-write SSE responses ~40 ms).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use fastmcp_core::EntityId;
use poem::http::StatusCode;
use poem::listener::Acceptor;
use poem::web::Data;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{get, handler, Endpoint, EndpointExt, IntoResponse, Request, Response, Route};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::response::json_response;
pub use crate::state::AppState;
use crate::transport::{legacy_sse, streamable};

/// All routes: MCP endpoints per entity, the admin API and its docs, health and readiness.
pub fn routes(state: Arc<AppState>) -> impl poem::Endpoint {
    let tracked = Arc::clone(&state);
    let admin = crate::admin::service(Arc::clone(&state));
    let spec = admin.spec_endpoint();
    let docs = admin.swagger_ui();
    let redoc = admin.redoc();
    Route::new()
        .nest("/admin", crate::admin::endpoint(admin))
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
    Response::builder()
        .header("content-type", "text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render(&store))
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

/// A TCP acceptor with `TCP_NODELAY` that drains: once its token is cancelled it takes every
/// connection the kernel has already queued, then closes the listening socket, so later connects
/// are refused (a balancer sends them to another instance) and none that was queued is reset.
pub struct NoDelayAcceptor {
    listener: Option<TcpListener>,
    local: LocalAddr,
    drain: Option<CancellationToken>,
    /// Connections taken from the backlog at the drain, handed out one by one.
    queued: VecDeque<(TcpStream, SocketAddr)>,
}

impl NoDelayAcceptor {
    /// Binds `addr`.
    pub async fn bind(addr: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let local = LocalAddr(listener.local_addr()?.into());
        Ok(Self {
            listener: Some(listener),
            local,
            drain: None,
            queued: VecDeque::new(),
        })
    }

    /// Stops accepting when `drain` is cancelled (after taking what is already queued).
    pub fn draining_on(mut self, drain: CancellationToken) -> Self {
        self.drain = Some(drain);
        self
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match &self.listener {
            Some(l) => l.local_addr(),
            None => Err(std::io::Error::other("the listener is closed")),
        }
    }

    /// Takes the kernel's queue of established connections and closes the listener.
    fn close(&mut self) -> std::io::Result<()> {
        let Some(listener) = self.listener.take() else {
            return Ok(());
        };
        // A std listener in non-blocking mode answers `WouldBlock` once the queue is empty,
        // whatever the runtime's readiness bookkeeping says.
        let listener = listener.into_std()?;
        loop {
            match listener.accept() {
                Ok((io, peer)) => {
                    io.set_nonblocking(true)?;
                    self.queued.push_back((TcpStream::from_std(io)?, peer));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    tracing::warn!(error = %e, "draining the accept queue");
                    break;
                }
            }
        }
        tracing::info!(queued = self.queued.len(), "listener closed");
        Ok(())
    }

    fn wrap(
        &self,
        io: TcpStream,
        peer: SocketAddr,
    ) -> std::io::Result<(TcpStream, LocalAddr, RemoteAddr, poem::http::uri::Scheme)> {
        io.set_nodelay(true)?;
        Ok((
            io,
            self.local.clone(),
            RemoteAddr(peer.into()),
            poem::http::uri::Scheme::HTTP,
        ))
    }
}

impl Acceptor for NoDelayAcceptor {
    type Io = TcpStream;

    fn local_addr(&self) -> Vec<LocalAddr> {
        vec![self.local.clone()]
    }

    async fn accept(
        &mut self,
    ) -> std::io::Result<(TcpStream, LocalAddr, RemoteAddr, poem::http::uri::Scheme)> {
        loop {
            if let Some((io, peer)) = self.queued.pop_front() {
                return self.wrap(io, peer);
            }
            let draining = self.drain.as_ref().is_some_and(|d| d.is_cancelled());
            let Some(listener) = &self.listener else {
                // Closed: nothing more will come; the server stops through its own signal.
                return std::future::pending().await;
            };
            if draining {
                self.close()?;
                continue;
            }
            let accepted = match &self.drain {
                Some(drain) => tokio::select! {
                    r = listener.accept() => r,
                    () = drain.cancelled() => continue,
                },
                None => listener.accept().await,
            };
            let (io, peer) = accepted?;
            return self.wrap(io, peer);
        }
    }
}
