//! The poem application: routes, shared state, health checks, and a TCP acceptor with
//! `TCP_NODELAY` (poem's own leaves Nagle on, which stalls multi-write SSE responses ~40 ms).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use fastmcp_core::EntityId;
use poem::http::StatusCode;
use poem::listener::Acceptor;
use poem::web::Data;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{get, handler, Endpoint, EndpointExt, IntoResponse, Request, Response, Route};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
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
        .nest(
            "/admin",
            crate::admin::endpoint(admin, state.http.body_limit),
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

/// A TCP acceptor with `TCP_NODELAY`, a cap on open connections, and a drain.
///
/// - At the cap it stops accepting until a connection closes: the kernel's queue holds the
///   next ones, and beyond it new connects wait or are refused. Idle connections cannot use up
///   the process's descriptors, whoever opens them.
/// - Once its drain token is cancelled it takes every connection the kernel has already
///   queued, then closes the listening socket, so later connects are refused (a balancer sends
///   them to another instance) and none that was queued is reset.
pub struct NoDelayAcceptor {
    listener: Option<TcpListener>,
    local: LocalAddr,
    drain: Option<CancellationToken>,
    /// Connections taken from the backlog at the drain, handed out one by one.
    queued: VecDeque<(TcpStream, SocketAddr)>,
    /// One permit per open connection, when capped.
    slots: Option<Arc<Semaphore>>,
    /// Whether the cap was reached and not yet left (one warning per episode, not per accept).
    saturated: AtomicBool,
}

/// An accepted connection; it gives its slot back when it closes.
pub struct Conn {
    io: TcpStream,
    _slot: Option<OwnedSemaphorePermit>,
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
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
            slots: None,
            saturated: AtomicBool::new(false),
        })
    }

    /// At most `n` connections open at once (`0`: no cap).
    pub fn max_connections(mut self, n: usize) -> Self {
        self.slots = (n > 0).then(|| Arc::new(Semaphore::new(n)));
        self
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
        slot: Option<OwnedSemaphorePermit>,
    ) -> std::io::Result<(Conn, LocalAddr, RemoteAddr, poem::http::uri::Scheme)> {
        io.set_nodelay(true)?;
        Ok((
            Conn { io, _slot: slot },
            self.local.clone(),
            RemoteAddr(peer.into()),
            poem::http::uri::Scheme::HTTP,
        ))
    }

    /// A connection slot, waiting for one at the cap (unless the drain starts meanwhile:
    /// `None` then, and the caller takes the drain path).
    async fn slot(&self) -> Option<Option<OwnedSemaphorePermit>> {
        let Some(slots) = &self.slots else {
            return Some(None);
        };
        if let Ok(permit) = Arc::clone(slots).try_acquire_owned() {
            self.saturated.store(false, Ordering::Relaxed);
            return Some(Some(permit));
        }
        if !self.saturated.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "connection cap reached (--max-connections); accepting again when one closes"
            );
        }
        let acquire = Arc::clone(slots).acquire_owned();
        match &self.drain {
            Some(drain) => tokio::select! {
                p = acquire => p.ok().map(Some),
                () = drain.cancelled() => None,
            },
            None => acquire.await.ok().map(Some),
        }
    }
}

impl Acceptor for NoDelayAcceptor {
    type Io = Conn;

    fn local_addr(&self) -> Vec<LocalAddr> {
        vec![self.local.clone()]
    }

    async fn accept(
        &mut self,
    ) -> std::io::Result<(Conn, LocalAddr, RemoteAddr, poem::http::uri::Scheme)> {
        loop {
            if let Some((io, peer)) = self.queued.pop_front() {
                // Already established: served even beyond the cap, the drain's last few.
                return self.wrap(io, peer, None);
            }
            if self.listener.is_none() {
                // Closed: nothing more will come; the server stops through its own signal.
                return std::future::pending().await;
            }
            if self.drain.as_ref().is_some_and(|d| d.is_cancelled()) {
                self.close()?;
                continue;
            }
            let Some(slot) = self.slot().await else {
                continue; // the drain began while waiting for a slot
            };
            let Some(listener) = &self.listener else {
                continue;
            };
            let accepted = match &self.drain {
                Some(drain) => tokio::select! {
                    r = listener.accept() => r,
                    () = drain.cancelled() => continue,
                },
                None => listener.accept().await,
            };
            let (io, peer) = accepted?;
            return self.wrap(io, peer, slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[handler]
    fn hello() -> &'static str {
        "hi"
    }

    async fn answered(s: &mut TcpStream, wait: Duration) -> bool {
        let mut buf = [0u8; 256];
        match tokio::time::timeout(wait, s.read(&mut buf)).await {
            Ok(Ok(n)) => buf[..n].starts_with(b"HTTP/1.1 200"),
            _ => false,
        }
    }

    /// At a cap of two, a third connection waits in the kernel's queue while two are open, and
    /// is served as soon as one closes.
    #[tokio::test]
    async fn connections_beyond_the_cap_wait_for_a_slot() {
        let acceptor = NoDelayAcceptor::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap()
            .max_connections(2);
        let addr = acceptor.local_addr().unwrap();
        tokio::spawn(
            poem::Server::new_with_acceptor(acceptor).run(Route::new().at("/", get(hello))),
        );
        let request = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n";
        let mut open = Vec::new();
        for _ in 0..2 {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(request).await.unwrap();
            assert!(answered(&mut s, Duration::from_secs(5)).await);
            open.push(s); // kept alive: the slot stays taken
        }
        let mut third = TcpStream::connect(addr).await.unwrap();
        third.write_all(request).await.unwrap();
        assert!(
            !answered(&mut third, Duration::from_millis(300)).await,
            "served beyond the cap"
        );
        drop(open.pop());
        assert!(answered(&mut third, Duration::from_secs(5)).await);
    }
}
