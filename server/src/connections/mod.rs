//! Accepting and serving TCP connections: the one place that decides how long a connection may
//! stay open.
//!
//! We serve connections ourselves rather than through `poem::Server` (see `docs/decisions.md`,
//! "Serving connections ourselves" and "HTTP/1 of our own"): HTTP/1.1 by our own loop
//! (`http1`), HTTP/2 with prior knowledge by hyper. poem stays the router.
//! - **A closed stream is noticed at once.** `poem::Server` kept writing an SSE body into a
//!   closed socket until a write failed, about two keep-alives (30 s) later. Here the
//!   connection watches the socket while a request runs or a stream is open, and drops the
//!   handler or the stream when the client leaves.
//! - **Deadlines.** A request head has `header_timeout` to arrive (slowloris), an idle
//!   connection is closed after `idle_timeout`, and a head larger than `max_header_bytes` gets
//!   431. poem offers none of these for HTTP/1.
//! - **Memory.** An idle connection or stream holds no read or write buffer (hyper kept 16-24
//!   KiB per connection for its life).
//!
//! Request bodies are read by the handlers, under `--body-limit` and `--body-timeout-secs`.

mod acceptor;
mod http1;
mod rewind;
mod watch;

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Endpoint, Response};
use tokio::io::AsyncReadExt;
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
    /// it closes (AWS ALB: 60 s). A write the client leaves stuck this long (it stopped
    /// reading) also closes the connection, whatever is open on it.
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
///
/// It also tells the connection's [`watch::Watch`] when a frame it gave hyper has not gone
/// out: hyper asks for the next frame right after sending one, so a frame not followed by a
/// poll waits for the client's flow-control window, and one held for the idle timeout ends
/// the connection (a client that never opens its window would otherwise hold the answer, and
/// the request's slots, for ever).
struct Tracked<B> {
    body: B,
    open: watch::OpenRequest,
    held: Option<u64>,
}

impl<B> Drop for Tracked<B> {
    fn drop(&mut self) {
        if let Some(t) = self.held.take() {
            self.open.watch().frame_sent(t);
        }
    }
}

impl<B: http_body::Body + Unpin> http_body::Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        if let Some(t) = self.held.take() {
            self.open.watch().frame_sent(t);
        }
        let polled = std::pin::Pin::new(&mut self.body).poll_frame(cx);
        if let std::task::Poll::Ready(Some(Ok(_))) = &polled {
            self.held = Some(self.open.watch().frame_held());
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// Requests one HTTP/2 connection may have open at once.
const H2_MAX_STREAMS: u32 = 100;

/// What an HTTP/2 connection with prior knowledge starts with.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Reads until the connection's first bytes tell HTTP/2's preface from an HTTP/1 request:
/// `Some(true)` for HTTP/2, `None` when the client leaves first.
async fn sniff(io: &mut Conn, buf: &mut BytesMut) -> Option<bool> {
    loop {
        let n = buf.len().min(H2_PREFACE.len());
        if buf[..n] != H2_PREFACE[..n] {
            return Some(false);
        }
        if n == H2_PREFACE.len() {
            return Some(true);
        }
        if buf.is_empty() {
            // Idle until the first byte: no buffer yet.
            io.readable().await.ok()?;
        }
        buf.reserve(4096);
        match io.read_buf(buf).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

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
    let mut io = io;
    let mut buf = BytesMut::new();
    let expired = watch.expired(cfg.header_timeout, cfg.idle_timeout);
    tokio::pin!(expired);
    // Not cut at once when the server closes: a connection it accepted may have its request
    // on the way already (a balancer's), and closing it unread would reset it, which the
    // balancer cannot retry for a POST. Its first bytes get the server's flush time.
    let grace = async {
        closing.cancelled().await;
        tokio::time::sleep(cfg.flush).await;
    };
    let h2 = tokio::select! {
        biased;
        h2 = sniff(&mut io, &mut buf) => match h2 {
            Some(h2) => h2,
            None => return,
        },
        () = &mut expired => return,
        () = grace => return,
    };
    if !h2 {
        let serving = http1::Serving {
            ep: &ep,
            local: &local,
            remote: &remote,
            max_header_bytes: cfg.max_header_bytes,
            watch: &watch,
            closing: &closing,
        };
        tokio::select! {
            // The loop itself finishes what is in flight when the server closes.
            () = http1::serve(io, buf, serving) => {}
            () = &mut expired => {
                tracing::debug!(remote = %peer, "closing a slow or idle connection");
            }
        }
        return;
    }
    watch.without_heads();
    // Boxed: hyper's HTTP/2 connection is large, and inline it would size every HTTP/1
    // connection's task (an idle stream's) to it.
    Box::pin(serve_h2(
        io, buf, local, remote, ep, cfg, &watch, closing, expired,
    ))
    .await;
}

/// Serves an HTTP/2 connection (prior knowledge; `buf` holds its first bytes) with hyper.
#[allow(clippy::too_many_arguments)]
async fn serve_h2<E>(
    io: Conn,
    buf: BytesMut,
    local: LocalAddr,
    remote: RemoteAddr,
    ep: Arc<E>,
    cfg: Arc<ConnectionConfig>,
    watch: &Arc<watch::Watch>,
    closing: CancellationToken,
    mut expired: Pin<&mut impl std::future::Future<Output = ()>>,
) where
    E: Endpoint<Output = Response> + 'static,
{
    let peer = remote.clone();
    let service = {
        let watch = Arc::clone(watch);
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
            let respond = Box::pin(async move { ep.get_response(req).await });
            async move {
                let res: poem::http::Response<_> = respond.await.into();
                // The request stays open until hyper drops the body: after its last frame, or
                // when the connection goes.
                Ok::<_, Infallible>(res.map(move |body| Tracked {
                    body,
                    open,
                    held: None,
                }))
            }
        })
    };
    let mut http = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    http.max_header_list_size(u32::try_from(cfg.max_header_bytes).unwrap_or(u32::MAX))
        // hyper's default is 200 requests at once per connection, where HTTP/1 has one; 100
        // is the least RFC 9113 recommends, and proxies open more connections beyond it.
        .max_concurrent_streams(H2_MAX_STREAMS)
        // The rapid-reset (CVE-2023-44487) guards, pinned at today's defaults, which hyper
        // documents as subject to change.
        .max_pending_accept_reset_streams(20)
        .max_local_error_reset_streams(1024)
        // What each stream may queue for a slow client beyond the frame being sent.
        .max_send_buf_size(64 * 1024);
    let io = rewind::Rewind::new(buf.freeze(), io);
    let conn = http.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
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

    /// Answers with the request's body, and says how many bytes it read.
    #[handler]
    async fn echo(body: Body) -> poem::Result<String> {
        Ok(body.into_string().await?)
    }

    /// Sends `wire`, then reads until the server closes (or `within` passes).
    async fn exchange_raw(addr: SocketAddr, wire: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(wire).await.unwrap();
        let got = read_until_closed(&mut s, Duration::from_secs(5))
            .await
            .expect("the server kept the connection open");
        String::from_utf8_lossy(&got).into_owned()
    }

    fn echo_server() -> impl Endpoint<Output = Response> {
        Route::new()
            .at("/echo", poem::post(echo))
            .at("/", poem::get(ok))
            .map_to_response()
    }

    /// Requests sent back to back on one connection (pipelined) are answered in order, and
    /// `Connection: close` ends it after its answer.
    #[tokio::test]
    async fn pipelined_requests_are_answered_in_order() {
        let addr = start(echo_server(), ConnectionConfig::default()).await;
        let got = exchange_raw(
            addr,
            b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nfirstGET / HTTP/1.1\r\n\
              host: x\r\n\r\nPOST /echo HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\
              content-length: 4\r\n\r\nlast",
        )
        .await;
        let first = got.find("first").unwrap();
        let second = got.find("\r\n\r\nok").unwrap();
        let last = got.find("last").unwrap();
        assert!(first < second && second < last, "{got}");
        assert_eq!(got.matches("HTTP/1.1 200 OK").count(), 3, "{got}");
        assert!(got.contains("connection: close"));
    }

    /// Chunked bodies are decoded, and a client that waits for `100 Continue` gets it once the
    /// handler reads.
    #[tokio::test]
    async fn chunked_and_expect_continue_bodies_reach_the_handler() {
        let addr = start(echo_server(), ConnectionConfig::default()).await;
        let got = exchange_raw(
            addr,
            b"POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\
              connection: close\r\n\r\n3\r\nabc\r\n4;x=y\r\ndefg\r\n0\r\n\r\n",
        )
        .await;
        assert!(got.starts_with("HTTP/1.1 200 OK"), "{got}");
        assert!(got.ends_with("\r\n\r\nabcdefg"), "{got}");

        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(
            b"POST /echo HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\n\
              connection: close\r\ncontent-length: 3\r\n\r\n",
        )
        .await
        .unwrap();
        let mut buf = [0u8; 256];
        let n = s.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"HTTP/1.1 100 Continue\r\n\r\n");
        s.write_all(b"xyz").await.unwrap();
        let got = read_until_closed(&mut s, Duration::from_secs(5))
            .await
            .unwrap();
        let got = String::from_utf8_lossy(&got);
        assert!(
            got.starts_with("HTTP/1.1 200 OK") && got.ends_with("xyz"),
            "{got}"
        );
    }

    /// A malformed chunked body fails the handler's read (400 here) and the connection closes
    /// rather than reading the rest as a request.
    #[tokio::test]
    async fn a_broken_body_closes_the_connection() {
        let addr = start(echo_server(), ConnectionConfig::default()).await;
        let got = exchange_raw(
            addr,
            b"POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n\
              zz\r\nGET / HTTP/1.1\r\nhost: x\r\n\r\n",
        )
        .await;
        assert_eq!(got.matches("HTTP/1.1 ").count(), 1, "{got}");
        assert!(!got.starts_with("HTTP/1.1 200"), "{got}");
        // Smuggling attempts are refused before any handler runs.
        let got = exchange_raw(
            addr,
            b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n\
              transfer-encoding: chunked\r\n\r\n0\r\n\r\n",
        )
        .await;
        assert!(got.starts_with("HTTP/1.1 400"), "{got}");
    }

    /// An HTTP/1.0 client gets an HTTP/1.0 answer and the connection closes after it.
    #[tokio::test]
    async fn http_1_0_is_answered_and_closed() {
        let addr = start(echo_server(), ConnectionConfig::default()).await;
        let got = exchange_raw(addr, b"GET / HTTP/1.0\r\n\r\n").await;
        assert!(got.starts_with("HTTP/1.0 200 OK"), "{got}");
        assert!(got.ends_with("\r\n\r\nok"), "{got}");
    }

    /// A connection that opens with HTTP/2's preface is served by HTTP/2: the server's
    /// SETTINGS frame comes back.
    #[tokio::test]
    async fn http2_prior_knowledge_is_served() {
        let addr = start(echo_server(), ConnectionConfig::default()).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(H2_PREFACE).await.unwrap();
        // An empty SETTINGS frame: length 0, type 4, no flags, stream 0.
        s.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await.unwrap();
        let mut frame = [0u8; 9];
        tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut frame))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(frame[3], 4, "not a SETTINGS frame: {frame:?}");
    }

    /// One HTTP/2 frame: 9-byte head (24-bit length, type, flags, stream id), then `payload`.
    fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
        let mut f = vec![len[1], len[2], len[3], kind, flags];
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    /// An HTTP/2 client that shuts its flow-control window (and keeps reading, so no write
    /// of ours ever blocks) cannot hold an answer for ever: the frame the answer gave hyper
    /// waits past the idle timeout, and the connection ends with the answer's body.
    #[tokio::test]
    async fn an_http2_client_that_never_opens_its_window_is_cut_off() {
        let (addr, rx) = start_flood().await;
        let s = TcpStream::connect(addr).await.unwrap();
        let (mut rd, mut wr) = s.into_split();
        wr.write_all(H2_PREFACE).await.unwrap();
        // SETTINGS_INITIAL_WINDOW_SIZE (4) = 0: no stream may send a byte of data.
        wr.write_all(&h2_frame(4, 0, 0, &[0, 4, 0, 0, 0, 0]))
            .await
            .unwrap();
        // The server's SETTINGS, then our acknowledgement.
        let mut head = [0u8; 9];
        rd.read_exact(&mut head).await.unwrap();
        assert_eq!(head[3], 4, "not a SETTINGS frame: {head:?}");
        let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        let mut payload = vec![0u8; len];
        rd.read_exact(&mut payload).await.unwrap();
        wr.write_all(&h2_frame(4, 1, 0, &[])).await.unwrap();
        // GET /flood (HPACK: :method GET, :scheme http, :path and :authority as literals).
        let mut block = vec![0x82, 0x86, 0x44, 6];
        block.extend_from_slice(b"/flood");
        block.extend_from_slice(&[0x41, 1, b'x']);
        // END_STREAM | END_HEADERS on stream 1.
        wr.write_all(&h2_frame(1, 0x5, 1, &block)).await.unwrap();
        // Keep reading (and dropping) whatever comes, so the socket never pushes back.
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while matches!(rd.read(&mut buf).await, Ok(n) if n > 0) {}
        });
        tokio::time::timeout(Duration::from_secs(10), rx)
            .await
            .expect("the held answer was kept")
            .unwrap();
        reader.abort();
        drop(wr);
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

    /// A few empty lines before a request line are skipped (RFC 9112 §2.2); a run of them is
    /// refused rather than searched again at every byte.
    #[tokio::test]
    async fn blank_lines_before_a_request_are_skipped_up_to_a_few() {
        let addr = start(echo_server(), ConnectionConfig::default()).await;
        let got = exchange_raw(
            addr,
            b"\r\n\r\nGET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        )
        .await;
        assert!(got.starts_with("HTTP/1.1 200 OK"), "{got}");
        let mut wire = vec![b'\n'; 64];
        wire.extend_from_slice(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
        let got = exchange_raw(addr, &wire).await;
        assert!(got.starts_with("HTTP/1.1 400"), "{got}");
    }

    /// A server whose `GET /flood` answers an endless body, with short deadlines (header 200
    /// ms, idle 500 ms); the receiver fires when that body is dropped.
    async fn start_flood() -> (SocketAddr, oneshot::Receiver<()>) {
        static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];
        let (tx, rx) = oneshot::channel();
        let guard = std::sync::Mutex::new(Some(Dropped(Some(tx))));
        let ep = Route::new().at(
            "/flood",
            poem::get(poem::endpoint::make_sync(move |_| {
                let guard = guard.lock().unwrap().take();
                let frames = futures::stream::unfold(guard, |g| async move {
                    Some((
                        Ok::<_, std::io::Error>(bytes::Bytes::from_static(&ZEROS)),
                        g,
                    ))
                });
                Body::from_bytes_stream(frames)
            })),
        );
        let cfg = ConnectionConfig {
            header_timeout: Duration::from_millis(200),
            idle_timeout: Duration::from_millis(500),
            ..ConnectionConfig::default()
        };
        (start(ep.map_to_response(), cfg).await, rx)
    }

    /// A client that stops reading an endless answer leaves our writes stuck: the connection is
    /// cut after the idle timeout although its request is open, and the answer's body dropped.
    #[tokio::test]
    async fn a_client_that_stops_reading_is_cut_off() {
        let (addr, rx) = start_flood().await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /flood HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        // Never read: the socket's buffers fill and the server's writes wait.
        tokio::time::timeout(Duration::from_secs(10), rx)
            .await
            .expect("the stuck answer was kept")
            .unwrap();
        drop(s);
    }

    /// A request refused before its body was read gets its answer, and the connection ends
    /// although the client is still sending: the server reads on after answering for a moment
    /// and up to a limit (so that its close is not a reset that could destroy the answer on a
    /// real network; on loopback the answer always arrives first), then closes.
    #[tokio::test]
    async fn a_refused_upload_gets_its_answer_and_the_connection_ends() {
        let addr = start(echo_server(), ConnectionConfig::default()).await;
        let s = TcpStream::connect(addr).await.unwrap();
        let (mut rd, mut wr) = s.into_split();
        let body = vec![b'x'; 8 * 1024 * 1024];
        // `/` takes GET only: 405 without reading the body.
        let upload = tokio::spawn(async move {
            let head = format!(
                "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n",
                body.len()
            );
            let _ = wr.write_all(head.as_bytes()).await;
            let _ = wr.write_all(&body).await;
            wr
        });
        // Read late, as a busy client would: by then the server has answered and closed.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let read = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match rd.read(&mut buf).await {
                    Ok(0) => return Ok(()),
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) => return Err(e),
                }
            }
        })
        .await
        .expect("the server kept the connection open");
        let text = String::from_utf8_lossy(&got);
        assert!(read.is_ok(), "{read:?} after {text:?}");
        assert!(text.starts_with("HTTP/1.1 405"), "{text}");
        let _ = upload.await;
    }
}
