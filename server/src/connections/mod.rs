//! Accepting and serving TCP connections: the one place that decides how long a connection may
//! stay open.
//!
//! We run hyper ourselves rather than through `poem::Server`, for two reasons measured on the
//! release binary (see `docs/decisions.md`, "Serving connections"):
//! - **A closed stream is noticed at once.** hyper sees the client's FIN on a busy connection
//!   and ends the connection future with an error; `poem::Server` then polls that finished
//!   connection again, which keeps writing the SSE body until a write fails, about two
//!   keep-alives (30 s) later, holding the descriptor and the stream's tasks. Here the
//!   connection, its response body and the stream's task are dropped when hyper says so.
//! - **Deadlines.** A request head has `header_timeout` to arrive (slowloris), an idle
//!   connection is closed after `idle_timeout`, and a head larger than `max_header_bytes` gets
//!   431. poem offers none of these for HTTP/1.
//!
//! Request bodies are read by the handlers, under `--body-limit` and `--body-timeout-secs`.

mod acceptor;
mod watch;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Endpoint, Response};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use acceptor::{Conn, NoDelayAcceptor};

/// How long connections may take and how much a request head may hold.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// A request head must arrive whole within this, once its first byte has.
    pub header_timeout: Duration,
    /// A connection with no request open and nothing arriving is closed after this. Keep it
    /// above your load balancer's idle timeout, or the balancer may reuse a connection just as
    /// it closes (AWS ALB: 60 s).
    pub idle_timeout: Duration,
    /// Largest request head (request line and headers), in bytes; larger ones get 431.
    pub max_header_bytes: usize,
    /// Once `serve` is told to stop, how long open connections get to finish their last frames.
    pub flush: Duration,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            max_header_bytes: 64 * 1024,
            flush: Duration::from_secs(1),
        }
    }
}

/// Raises this process's soft limit on open descriptors to its hard limit (what Go's runtime
/// does at start) and returns the limit now in force, when the platform tells it.
///
/// The soft limit is often 1,024 outside containers: far under `--max-connections`, so without
/// this the process would run out of descriptors long before its own caps apply.
pub fn raise_descriptor_limit() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let now = getrlimit(Resource::Nofile);
    if now.current.is_some() && now.current != now.maximum {
        let raised = Rlimit {
            current: now.maximum,
            maximum: now.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            tracing::debug!(error = %e, "cannot raise the descriptor limit");
        }
    }
    getrlimit(Resource::Nofile).current
}

/// Caps that fit the descriptors there are: connections under the process's limit (less
/// `reserved` for the store's pool, logs and the listener), and streams under the connection
/// cap with room left for calls, `/health` and the admin API. Returns `(connections, streams)`
/// (`0`: no cap) and says so when it lowers what was asked.
pub fn fit_to_descriptors(
    limit: Option<u64>,
    reserved: u64,
    max_connections: usize,
    max_streams: usize,
) -> (usize, usize) {
    let uncapped = |n: usize| if n == 0 { usize::MAX } else { n };
    let mut connections = uncapped(max_connections);
    if let Some(limit) = limit {
        let fits = usize::try_from(limit.saturating_sub(reserved).max(16)).unwrap_or(usize::MAX);
        if fits < connections {
            tracing::warn!(
                descriptors = limit,
                max_connections = fits,
                "the descriptor limit (ulimit -n) is under --max-connections; capping connections at {fits}"
            );
            connections = fits;
        }
    }
    let mut streams = uncapped(max_streams);
    if connections != usize::MAX {
        // A tenth of the connections, at least 8, stay for everything that is not a stream.
        let room = (connections / 10).max(8).min(connections / 2);
        if streams > connections - room {
            if max_streams != 0 {
                tracing::warn!(
                    max_streams = connections - room,
                    "--max-streams is over what the connection cap leaves; capping streams"
                );
            }
            streams = connections - room;
        }
    }
    let back = |n: usize| if n == usize::MAX { 0 } else { n };
    (back(connections), back(streams))
}

/// A response body that keeps its request open until hyper drops it. It forwards the size
/// hint and the end of stream, or hyper would frame every fixed-length answer as chunked
/// (what `http_body_util`'s `map_frame` does).
struct Tracked<B> {
    body: B,
    _open: watch::OpenRequest,
}

impl<B: http_body::Body + Unpin> http_body::Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// hyper refuses a read buffer smaller than this.
const MIN_HEAD_BUFFER: usize = 8192;

/// Serves `ep` on every connection `acceptor` yields until `stop` is cancelled, then gives the
/// open connections [`ConnectionConfig::flush`] to finish and returns.
pub async fn serve<E>(
    mut acceptor: NoDelayAcceptor,
    ep: E,
    cfg: ConnectionConfig,
    stop: CancellationToken,
) where
    E: Endpoint<Output = Response> + 'static,
{
    let ep = Arc::new(ep);
    let cfg = Arc::new(cfg);
    let connections = TaskTracker::new();
    let closing = CancellationToken::new();
    let mut failing = false;
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => break,
            a = poem::listener::Acceptor::accept(&mut acceptor) => a,
        };
        let (io, local, remote, _scheme) = match accepted {
            Ok(c) => {
                failing = false;
                c
            }
            Err(e) => {
                // Out of descriptors (EMFILE) or memory: the connection stays in the kernel's
                // queue. Pause rather than spin; one warning per episode.
                if !failing {
                    tracing::warn!(error = %e, "cannot accept a connection; retrying");
                    failing = true;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        connections.spawn(connection(
            io,
            local,
            remote,
            Arc::clone(&ep),
            Arc::clone(&cfg),
            closing.clone(),
        ));
    }
    closing.cancel();
    connections.close();
    let _ = tokio::time::timeout(cfg.flush, connections.wait()).await;
}

/// Serves one connection until it ends, a deadline passes, or the server closes.
async fn connection<E>(
    io: Conn,
    local: LocalAddr,
    remote: RemoteAddr,
    ep: Arc<E>,
    cfg: Arc<ConnectionConfig>,
    closing: CancellationToken,
) where
    E: Endpoint<Output = Response> + 'static,
{
    let watch = io.watch();
    let peer = remote.clone();
    let service = {
        let watch = Arc::clone(&watch);
        hyper::service::service_fn(move |req: poem::http::Request<Incoming>| {
            // Taken when hyper hands over the head, before the body is read: from here the
            // request is the handler's to time.
            let open = watch.request();
            let ep = Arc::clone(&ep);
            let req = poem::Request::from((
                req,
                local.clone(),
                remote.clone(),
                poem::http::uri::Scheme::HTTP,
            ));
            // Boxed: hyper keeps one allocation the size of this future for the whole life of
            // the connection, and the endpoint's future is kilobytes. Boxed, that allocation
            // is a pointer, and the endpoint's state is freed as soon as the response head is
            // out: an idle stream or keep-alive connection stops paying for it.
            let respond = Box::pin(async move { ep.get_response(req).await });
            async move {
                let res: poem::http::Response<_> = respond.await.into();
                // The request stays open until hyper drops the body: after its last frame, or
                // when the connection goes.
                Ok::<_, Infallible>(res.map(move |body| Tracked { body, _open: open }))
            }
        })
    };
    let mut http = auto::Builder::new(TokioExecutor::new());
    http.http1()
        .max_buf_size(cfg.max_header_bytes.max(MIN_HEAD_BUFFER))
        // The watch keeps the header deadline, apart from the idle one (hyper's own timer
        // would close idle keep-alive connections at the header timeout).
        .header_read_timeout(None);
    http.http2()
        .max_header_list_size(u32::try_from(cfg.max_header_bytes).unwrap_or(u32::MAX));
    let conn = http.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let expired = watch.expired(cfg.header_timeout, cfg.idle_timeout);
    tokio::pin!(expired);
    tokio::select! {
        // Done, or failed (the client went away): drop it all now.
        _ = conn.as_mut() => return,
        () = &mut expired => {
            tracing::debug!(remote = %peer, "closing a slow or idle connection");
            return;
        }
        () = closing.cancelled() => {}
    }
    // The server stops: let what is in flight finish (the caller bounds how long).
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use poem::{handler, Body, EndpointExt, Route};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio::sync::oneshot;

    use super::*;

    /// Sends on the channel when dropped.
    struct Dropped(Option<oneshot::Sender<()>>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            if let Some(tx) = self.0.take() {
                let _ = tx.send(());
            }
        }
    }

    async fn start(
        ep: impl Endpoint<Output = Response> + 'static,
        cfg: ConnectionConfig,
    ) -> SocketAddr {
        let acceptor = NoDelayAcceptor::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let addr = acceptor.local_addr().unwrap();
        tokio::spawn(serve(acceptor, ep, cfg, CancellationToken::new()));
        addr
    }

    /// What the server sends before it closes, and whether it closed within `within`.
    async fn read_until_closed(s: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
        let mut got = Vec::new();
        let read = tokio::time::timeout(within, async {
            let mut buf = [0u8; 4096];
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
        });
        read.await.ok().map(|()| got)
    }

    /// A client that closes its end of an endless response (an SSE stream) is noticed at once:
    /// the body, and with it the stream's task, is dropped within moments, not at the next
    /// failed write (`poem::Server` took two keep-alives, about 30 s).
    #[tokio::test]
    async fn a_client_that_leaves_a_stream_drops_it_at_once() {
        let (tx, rx) = oneshot::channel();
        let guard = std::sync::Mutex::new(Some(Dropped(Some(tx))));
        let ep = Route::new().at(
            "/stream",
            poem::get(poem::endpoint::make_sync(move |_| {
                let guard = guard.lock().unwrap().take();
                let frames = futures::stream::unfold(guard, |g| async move {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Some((Ok::<_, std::io::Error>(bytes::Bytes::new()), g))
                });
                let first = futures::stream::once(async {
                    Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"data: hi\n\n"))
                });
                Body::from_bytes_stream(futures::StreamExt::chain(first, frames))
            })),
        );
        let addr = start(ep.map_to_response(), ConnectionConfig::default()).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /stream HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        drop(s);
        tokio::time::timeout(Duration::from_secs(2), rx)
            .await
            .expect("the stream outlived its client")
            .unwrap();
    }

    #[handler]
    fn ok() -> &'static str {
        "ok"
    }

    /// A head that trickles in is cut off at the header timeout; an idle connection at the
    /// idle timeout, which a served request restarts.
    #[tokio::test]
    async fn slow_heads_and_idle_connections_are_closed() {
        let cfg = ConnectionConfig {
            header_timeout: Duration::from_millis(300),
            idle_timeout: Duration::from_millis(900),
            ..ConnectionConfig::default()
        };
        let addr = start(Route::new().at("/", poem::get(ok)).map_to_response(), cfg).await;

        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n")
            .await
            .unwrap();
        let started = tokio::time::Instant::now();
        assert!(read_until_closed(&mut slow, Duration::from_secs(5))
            .await
            .is_some());
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(250) && took < Duration::from_millis(850),
            "{took:?}"
        );

        let mut kept = TcpStream::connect(addr).await.unwrap();
        kept.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 512];
        let n = kept.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        let served = tokio::time::Instant::now();
        assert!(read_until_closed(&mut kept, Duration::from_secs(5))
            .await
            .is_some());
        let took = served.elapsed();
        assert!(
            took >= Duration::from_millis(800),
            "closed as if slow: {took:?}"
        );
    }

    #[test]
    fn caps_fit_the_descriptors() {
        // Plenty of descriptors: the flags stand.
        assert_eq!(
            fit_to_descriptors(Some(1 << 20), 64, 10_000, 8_000),
            (10_000, 8_000)
        );
        // `ulimit -n 256`: connections under it, streams under connections with room left.
        assert_eq!(fit_to_descriptors(Some(256), 64, 10_000, 8_000), (192, 173));
        // No connection cap asked, but the limit still bounds it.
        assert_eq!(fit_to_descriptors(Some(1024), 24, 0, 0), (1000, 900));
        // Nothing known, nothing asked.
        assert_eq!(fit_to_descriptors(None, 64, 0, 0), (0, 0));
    }

    /// A head over the cap gets 431 and the connection closes.
    #[tokio::test]
    async fn an_oversized_head_gets_431() {
        let cfg = ConnectionConfig {
            max_header_bytes: 16 * 1024,
            ..ConnectionConfig::default()
        };
        let addr = start(Route::new().at("/", poem::get(ok)).map_to_response(), cfg).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        let big = format!(
            "GET / HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
            "a".repeat(40_000)
        );
        let _ = s.write_all(big.as_bytes()).await;
        let got = read_until_closed(&mut s, Duration::from_secs(5))
            .await
            .unwrap();
        assert!(
            got.starts_with(b"HTTP/1.1 431"),
            "{}",
            String::from_utf8_lossy(&got)
        );
    }
}
