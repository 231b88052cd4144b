//! HTTP/1.1 served by our own loop, one task per connection.
//!
//! hyper kept two buffers of at least 8 KiB for the whole life of every connection (its read
//! buffer, often grown to 16 KiB, and its write buffer), so an idle SSE stream cost more than
//! 20 KiB. Here the read buffer exists only while a head or body is arriving, and responses
//! are written straight from their frames (one `writev` per batch of ready frames), so an idle
//! stream holds its socket, a small state and the application's own stream. See
//! `docs/decisions.md`, "HTTP/1 of our own".
//!
//! What it does, and what it refuses:
//! - heads up to `max_header_bytes` (431 beyond) and [`head::MAX_HEADERS`] lines (431);
//!   malformed heads 400, transfer codings other than chunked 501; the connection closes;
//! - bodies by `Content-Length` or chunked, both and disagreeing lengths refused (400, no
//!   smuggling); the body is read when the handler first reads it, one chunk ahead at most,
//!   `Expect: 100-continue` answered then;
//! - keep-alive (HTTP/1.1, or 1.0 with `Connection: keep-alive`) and pipelining (requests
//!   answered in order); a body the handler did not read closes the connection after the
//!   answer instead of being drained;
//! - the client's leaving is noticed while its request runs or its stream is open: the handler
//!   or the stream is dropped at once (what hyper does);
//! - answers framed by their exact length when known, else chunked (HTTP/1.1) or until close
//!   (HTTP/1.0); `HEAD`, 1xx, 204 and 304 carry none.
//!
//! Deadlines stay with [`super::watch`]: reads and writes go through [`super::Conn`], and a
//! request is open (no connection deadline) from its head until its answer's last byte.

mod body;
mod head;

use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use futures::FutureExt;
use http_body::Body as _;
use poem::http::uri::Scheme;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Endpoint, RequestParts, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::watch::Watch;
use super::Conn;
use body::{Decoder, RequestBody, Step};
use head::{Framing, Out};

/// What a poem answer's body becomes.
type AnswerBody = http_body_util::combinators::BoxBody<Bytes, io::Error>;

/// How much a read asks for at once while a head or body arrives.
const READ_CHUNK: usize = 8 * 1024;
/// Ready frames are gathered into one write up to this many bytes.
const WRITE_BATCH: usize = 64 * 1024;
/// CR and LF bytes tolerated before a request line (stray line ends after a body).
const MAX_BLANK_BEFORE_HEAD: usize = 8;
/// How long, and for how many bytes, a closing connection reads what the client still sends.
const LINGER: std::time::Duration = std::time::Duration::from_secs(2);
const LINGER_BYTES: usize = 1024 * 1024;

/// What a connection needs from its server.
pub(super) struct Serving<'a, E> {
    pub ep: &'a Arc<E>,
    pub local: &'a LocalAddr,
    pub remote: &'a RemoteAddr,
    pub max_header_bytes: usize,
    pub watch: &'a Arc<Watch>,
    pub closing: &'a CancellationToken,
}

/// Serves HTTP/1 requests on `io` until the client leaves, an answer ends the connection, or
/// the server closes. `buf` holds what was already read.
pub(super) async fn serve<E>(mut io: Conn, mut buf: BytesMut, s: Serving<'_, E>)
where
    E: Endpoint<Output = Response> + 'static,
{
    loop {
        let head = match read_head(&mut io, &mut buf, &s).await {
            Ok(Some(h)) => h,
            Ok(None) => return,
            Err(status) => {
                let _ = refuse(&mut io, status).await;
                linger(&mut io).await;
                return;
            }
        };
        if buf.is_empty() {
            // A stream's request holds no read buffer while it is open.
            buf = BytesMut::new();
        }
        match exchange(&mut io, &mut buf, head, &s).await {
            Ok(true) if !s.closing.is_cancelled() => {}
            _ => {
                let _ = io.shutdown().await;
                linger(&mut io).await;
                return;
            }
        }
        if buf.is_empty() {
            // Nothing pipelined: an idle connection keeps no buffer.
            buf = BytesMut::new();
        }
    }
}

/// Reads until a whole head is in `buf`; `Ok(None)` when the client closes or the server
/// does while the connection is idle.
async fn read_head<E>(
    io: &mut Conn,
    buf: &mut BytesMut,
    s: &Serving<'_, E>,
) -> Result<Option<head::Head>, poem::http::StatusCode> {
    // Bytes already searched for the head's end: a head is parsed once its blank line is in,
    // not at every read, so a client sending a 64 KiB head a byte at a time costs a linear
    // scan instead of 64 K parses of a growing buffer.
    let mut searched = 0;
    // Empty lines before a request line (RFC 9112 §2.2 allows skipping some): dropped as they
    // come, so that each cannot look like a head's end and make the whole buffer be parsed
    // again; a few are tolerated, more are refused.
    let mut blank = 0;
    if !buf.is_empty() {
        // Pipelined bytes: a head is arriving, under the header timeout.
        s.watch.head_started();
    }
    loop {
        let lead = buf
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
        if lead > 0 {
            blank += lead;
            if blank > MAX_BLANK_BEFORE_HEAD {
                return Err(poem::http::StatusCode::BAD_REQUEST);
            }
            buf.advance(lead);
            searched = 0;
        }
        if !buf.is_empty() && head::ends_within(buf, searched) {
            match head::parse(buf) {
                Ok(Some((h, len))) => {
                    buf.advance(len);
                    return Ok(Some(h));
                }
                Ok(None) => {}
                Err(refused) => {
                    tracing::debug!(?refused, "refusing a request head");
                    return Err(refused.status());
                }
            }
        }
        searched = buf.len();
        if buf.len() >= s.max_header_bytes {
            return Err(poem::http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        }
        if buf.is_empty() {
            // Idle: wait without a buffer.
            tokio::select! {
                // A request already there is served rather than reset under its sender.
                biased;
                r = io.readable() => if r.is_err() { return Ok(None) },
                () = s.closing.cancelled() => return Ok(None),
            }
        }
        buf.reserve(READ_CHUNK.min(s.max_header_bytes - buf.len()).max(1));
        match io.read_buf(buf).await {
            Ok(0) | Err(_) => return Ok(None),
            Ok(_) => {}
        }
    }
}

/// After our side is shut: reads and drops what the client still sends, for a moment and up
/// to a limit. Closing a socket with unread input makes the kernel reset the connection, and
/// the reset can destroy an answer the client has not read yet (a 413 to a large upload, a
/// 400), so a proxy in front would report a failure instead of our answer.
async fn linger(io: &mut Conn) {
    let _ = tokio::time::timeout(LINGER, async {
        let mut scratch = [0u8; 4096];
        let mut left = LINGER_BYTES;
        while left > 0 {
            match io.read(&mut scratch).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}

/// Answers a refused head and closes.
async fn refuse(io: &mut Conn, status: poem::http::StatusCode) -> io::Result<()> {
    let text = format!(
        "HTTP/1.1 {} {}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        status.as_str(),
        status.canonical_reason().unwrap_or("")
    );
    io.write_all(text.as_bytes()).await?;
    io.shutdown().await
}

/// The interim answer to `Expect: 100-continue`, sent when the handler first reads the body.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The connection's side of a request body.
struct Feed {
    tx: Option<mpsc::Sender<io::Result<Bytes>>>,
    wanted: Option<oneshot::Receiver<()>>,
    decoder: Decoder,
    expect_continue: bool,
    /// Bytes of [`CONTINUE`] written so far (a write can be cut short by the answer).
    continue_sent: usize,
    /// The body cannot be completed (the client broke it, or the handler dropped it unread).
    broken: bool,
}

impl Feed {
    fn complete(&self) -> bool {
        self.decoder.is_done() && !self.broken
    }

    fn active(&self) -> bool {
        self.tx.is_some() && !self.broken
    }

    /// One step: waits for the handler to want the body, then reads and hands over one chunk.
    /// Cancel-safe: each await either completed its effect or left no trace.
    async fn pump(&mut self, io: &mut Conn, buf: &mut BytesMut) -> Activity {
        if let Some(wanted) = self.wanted.as_mut() {
            let read = wanted.await.is_ok();
            self.wanted = None;
            if !read {
                // The handler dropped the body unread.
                self.broken = true;
                self.tx = None;
                return Activity::Some;
            }
        }
        if self.expect_continue {
            // Written piece by piece and counted, so that an answer that wins the race
            // mid-write can finish it first rather than follow half an interim answer.
            while self.continue_sent < CONTINUE.len() {
                match io.write(&CONTINUE[self.continue_sent..]).await {
                    Ok(0) | Err(_) => {
                        self.broken = true;
                        self.tx = None;
                        return Activity::Gone;
                    }
                    Ok(n) => self.continue_sent += n,
                }
            }
            self.expect_continue = false;
        }
        // A handle of our own: the permit borrows it while `self.tx` may be cleared.
        let Some(tx) = self.tx.clone() else {
            return Activity::Some;
        };
        let Ok(permit) = tx.reserve().await else {
            self.broken = !self.decoder.is_done();
            self.tx = None;
            return Activity::Some;
        };
        loop {
            match self.decoder.step(buf) {
                Ok(Step::Data(data)) => {
                    permit.send(Ok(data));
                    if self.decoder.is_done() {
                        // The handler learns the end without another round.
                        self.tx = None;
                    }
                    return Activity::Some;
                }
                Ok(Step::Done) => {
                    self.tx = None;
                    return Activity::Some;
                }
                Ok(Step::NeedMore) => {
                    buf.reserve(READ_CHUNK);
                    match io.read_buf(buf).await {
                        Ok(0) => {
                            permit.send(Err(io::ErrorKind::UnexpectedEof.into()));
                            self.broken = true;
                            self.tx = None;
                            return Activity::Gone;
                        }
                        Ok(_) => {}
                        Err(e) => {
                            permit.send(Err(e));
                            self.broken = true;
                            self.tx = None;
                            return Activity::Gone;
                        }
                    }
                }
                Err(why) => {
                    permit.send(Err(io::Error::new(io::ErrorKind::InvalidData, why)));
                    self.broken = true;
                    self.tx = None;
                    return Activity::Some;
                }
            }
        }
    }
}

/// What the socket did while the handler or the answer was busy.
#[derive(Debug, PartialEq, Eq)]
enum Activity {
    Some,
    /// The client closed or the socket failed: drop everything.
    Gone,
}

/// Waits for the client to close while a request is open, keeping what it pipelines up to
/// `cap` bytes. Beyond that, or once `*spilled` (the connection will not carry another
/// request), what arrives is read and dropped, and `*spilled` is set: the connection closes
/// after this answer. Reading on rather than stopping keeps noticing a client that leaves, and
/// a stream that lasts hours does not keep a client's pipelined bytes all that time.
async fn watch_peer(io: &mut Conn, buf: &mut BytesMut, cap: usize, spilled: &mut bool) -> Activity {
    if io.readable().await.is_err() {
        return Activity::Gone;
    }
    // Read onto the stack first: an open stream whose client only ever closes never gets a
    // heap buffer.
    let mut scratch = [0u8; 1024];
    match io.try_read(&mut scratch) {
        Ok(0) => Activity::Gone,
        Ok(n) => {
            if *spilled || buf.len() + n > cap {
                *spilled = true;
                *buf = BytesMut::new();
            } else {
                buf.extend_from_slice(&scratch[..n]);
            }
            Activity::Some
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Activity::Some,
        Err(_) => Activity::Gone,
    }
}

/// One request and its answer; `Ok(true)` when the connection may carry another.
async fn exchange<E>(
    io: &mut Conn,
    buf: &mut BytesMut,
    head: head::Head,
    s: &Serving<'_, E>,
) -> io::Result<bool>
where
    E: Endpoint<Output = Response> + 'static,
{
    let head::Head {
        parts,
        framing,
        mut keep_alive,
        expect_continue,
    } = head;
    let method = parts.method.clone();
    let version = parts.version;
    let _open = s.watch.request();
    let (body, mut feed) = if framing == Framing::Empty {
        (poem::Body::empty(), None)
    } else {
        let (tx, rx) = mpsc::channel(1);
        let (wanted_tx, wanted_rx) = oneshot::channel();
        let body = RequestBody {
            rx,
            wanted: Some(wanted_tx),
        };
        let body = poem::Body::from(http_body_util::BodyExt::boxed(body));
        let feed = Feed {
            tx: Some(tx),
            wanted: Some(wanted_rx),
            decoder: Decoder::new(framing),
            expect_continue,
            continue_sent: 0,
            broken: false,
        };
        (body, Some(feed))
    };
    let parts = RequestParts::from((parts, s.local.clone(), s.remote.clone(), Scheme::HTTP));
    let req = poem::Request::from_parts(parts, body);
    let ep = Arc::clone(s.ep);
    // Boxed, so the endpoint's state (kilobytes) is freed once the answer's head is out
    // rather than held by the connection's task for the life of a stream.
    let mut respond = Box::pin(async move { ep.get_response(req).await });
    let cap = s.max_header_bytes;
    // Set once nothing more will be read from this connection: later bytes are dropped.
    let mut spilled = !keep_alive;
    let response = loop {
        tokio::select! {
            biased;
            r = &mut respond => break r,
            a = async {
                match feed.as_mut() {
                    Some(f) if f.active() => f.pump(io, buf).await,
                    _ => watch_peer(io, buf, cap, &mut spilled).await,
                }
            } => if a == Activity::Gone && feed.as_ref().is_none_or(|f| !f.active()) {
                // The client left before its answer: drop the handler, as hyper does.
                return Ok(false);
            },
        }
    };
    drop(respond);
    if let Some(f) = feed.as_ref().filter(|f| f.continue_sent > 0) {
        // Half an interim answer is out: finish it before the final one.
        let rest = CONTINUE.get(f.continue_sent..).unwrap_or_default();
        if !rest.is_empty() && io.write_all(rest).await.is_err() {
            return Ok(false);
        }
    }
    if feed.as_ref().is_some_and(|f| !f.complete()) {
        // The body was not read to its end: what follows on the socket cannot be trusted to
        // start a request.
        keep_alive = false;
    }
    if spilled {
        keep_alive = false;
    }
    if !keep_alive {
        spilled = true;
        *buf = BytesMut::new();
    }
    drop(feed);
    if buf.is_empty() {
        *buf = BytesMut::new();
    }
    let (parts, mut body) = poem::http::Response::<AnswerBody>::from(response).into_parts();
    let mut head = Vec::with_capacity(256);
    let out = head::encode(
        &mut head,
        parts.status,
        &parts.headers,
        &method,
        version,
        body.size_hint().exact(),
        &mut keep_alive,
    );
    drop(parts);
    let mut w = Writer::new(out);
    w.push_owned(head);
    if out == Out::Nothing {
        w.flush(io).await?;
        return Ok(keep_alive && !spilled);
    }
    loop {
        // Everything ready now goes in one write.
        let mut ended = false;
        while w.pending < WRITE_BATCH {
            match poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).now_or_never() {
                Some(frame) => {
                    if !w.absorb(frame, &mut keep_alive) {
                        ended = true;
                        break;
                    }
                }
                None => break,
            }
        }
        if ended {
            w.finish(&mut keep_alive);
            w.flush(io).await?;
            return Ok(keep_alive && !spilled);
        }
        w.flush(io).await?;
        // Wait for the next frame, noticing the client's leaving meanwhile.
        tokio::select! {
            biased;
            frame = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)) => {
                if !w.absorb(frame, &mut keep_alive) {
                    w.finish(&mut keep_alive);
                    w.flush(io).await?;
                    return Ok(keep_alive && !spilled);
                }
            }
            a = watch_peer(io, buf, cap, &mut spilled) => if a == Activity::Gone {
                return Ok(false);
            },
        }
    }
}

/// An answer's bytes waiting to be written, and its framing's bookkeeping.
struct Writer {
    out: Out,
    pieces: Vec<Piece>,
    /// Chunk-size lines, referred to by [`Piece::Line`].
    lines: Vec<u8>,
    pending: usize,
    /// Body bytes sent so far, to hold a stated length to its word.
    sent: u64,
}

enum Piece {
    Owned(Vec<u8>),
    Shared(Bytes),
    Line(std::ops::Range<usize>),
    Static(&'static [u8]),
}

impl Writer {
    fn new(out: Out) -> Self {
        Self {
            out,
            pieces: Vec::with_capacity(4),
            lines: Vec::new(),
            pending: 0,
            sent: 0,
        }
    }

    fn push_owned(&mut self, v: Vec<u8>) {
        self.pending += v.len();
        self.pieces.push(Piece::Owned(v));
    }

    /// Takes one polled frame; `false` once the body has ended (or failed, which also ends
    /// the connection).
    fn absorb(
        &mut self,
        frame: Option<Result<http_body::Frame<Bytes>, io::Error>>,
        keep_alive: &mut bool,
    ) -> bool {
        let data = match frame {
            None => return false,
            Some(Err(e)) => {
                tracing::debug!(error = %e, "an answer's body failed");
                *keep_alive = false;
                if self.out == Out::Chunked {
                    // No terminating chunk: the client sees the answer cut short.
                    self.out = Out::UntilClose;
                }
                return false;
            }
            Some(Ok(frame)) => match frame.into_data() {
                Ok(d) => d,
                Err(_) => return true, // trailers: not sent
            },
        };
        if data.is_empty() {
            return true;
        }
        let mut data = data;
        if let Out::Length(n) = self.out {
            let room = n.saturating_sub(self.sent);
            if (data.len() as u64) > room {
                data.truncate(usize::try_from(room).unwrap_or(0));
                *keep_alive = false;
            }
        }
        self.sent += data.len() as u64;
        if self.out == Out::Chunked {
            let start = self.lines.len();
            use std::io::Write as _;
            let _ = write!(self.lines, "{:x}\r\n", data.len());
            self.pending += self.lines.len() - start;
            self.pieces.push(Piece::Line(start..self.lines.len()));
        }
        self.pending += data.len();
        self.pieces.push(Piece::Shared(data));
        if self.out == Out::Chunked {
            self.pending += 2;
            self.pieces.push(Piece::Static(b"\r\n"));
        }
        true
    }

    /// After the body's end: the last chunk, and whether the length was kept.
    fn finish(&mut self, keep_alive: &mut bool) {
        match self.out {
            Out::Chunked => {
                self.pending += 5;
                self.pieces.push(Piece::Static(b"0\r\n\r\n"));
            }
            Out::Length(n) if self.sent != n => *keep_alive = false,
            Out::UntilClose => *keep_alive = false,
            _ => {}
        }
    }

    async fn flush(&mut self, io: &mut Conn) -> io::Result<()> {
        let (mut idx, mut off) = (0usize, 0usize);
        while idx < self.pieces.len() {
            let n = {
                let mut slices = Vec::with_capacity(self.pieces.len() - idx);
                for (i, p) in self.pieces[idx..].iter().enumerate() {
                    let bytes: &[u8] = match p {
                        Piece::Owned(v) => v,
                        Piece::Shared(b) => b,
                        Piece::Line(r) => &self.lines[r.clone()],
                        Piece::Static(s) => s,
                    };
                    slices.push(IoSlice::new(if i == 0 { &bytes[off..] } else { bytes }));
                }
                io.write_vectored(&slices).await?
            };
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            let mut left = n;
            while left > 0 && idx < self.pieces.len() {
                let len = match &self.pieces[idx] {
                    Piece::Owned(v) => v.len(),
                    Piece::Shared(b) => b.len(),
                    Piece::Line(r) => r.len(),
                    Piece::Static(s) => s.len(),
                } - off;
                if left >= len {
                    left -= len;
                    idx += 1;
                    off = 0;
                } else {
                    off += left;
                    left = 0;
                }
            }
        }
        self.pieces.clear();
        self.lines.clear();
        self.pending = 0;
        Ok(())
    }
}
