//! The listening socket: `TCP_NODELAY` on every connection (poem's own acceptor leaves Nagle
//! on, which stalls multi-write SSE responses ~40 ms), a cap on open connections, and the drain.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Poll;

use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::watch::Watch;

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
    /// What the connection's deadlines are computed from (see [`Watch`]).
    watch: Arc<Watch>,
}

impl Conn {
    /// The connection's activity record, shared with the task that serves it.
    pub(crate) fn watch(&self) -> Arc<Watch> {
        Arc::clone(&self.watch)
    }
}

impl Conn {
    /// Waits until the socket has something to read (or has closed), without a buffer.
    pub(crate) async fn readable(&self) -> std::io::Result<()> {
        self.io.readable().await
    }

    /// Reads what is there now, without waiting (`WouldBlock` when nothing is).
    pub(crate) fn try_read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.io.try_read(buf)?;
        if n > 0 {
            self.watch.read();
        }
        Ok(n)
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(read, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.watch.read();
        }
        read
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let written = Pin::new(&mut self.io).poll_write(cx, buf);
        match written {
            Poll::Ready(Ok(n)) if n > 0 => self.watch.wrote(),
            Poll::Pending => self.watch.write_waits(),
            _ => {}
        }
        written
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
        let written = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        match written {
            Poll::Ready(Ok(n)) if n > 0 => self.watch.wrote(),
            Poll::Pending => self.watch.write_waits(),
            _ => {}
        }
        written
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
            Conn {
                io,
                _slot: slot,
                watch: Arc::new(Watch::new()),
            },
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

    use poem::{get, handler, Route};

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
