//! Server-sent events, for every transport that streams: framing, the JSON-then-SSE decision
//! a POSTed call goes through, and the copy of a stored event stream to a client.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use fastmcp_core::{McpServer, StreamKey};
use futures::StreamExt;
use poem::http::{header, StatusCode};
use poem::{Body, Response};
use tokio::sync::mpsc;

use super::http::SESSION_HEADER;
use super::outlet::OutletMsg;

/// One SSE frame. `data` is written as one `data:` line (JSON has no raw newlines).
pub(crate) fn sse_frame(event: Option<&str>, id: Option<&str>, data: &str) -> Bytes {
    let mut s = String::with_capacity(data.len() + 48);
    if let Some(id) = id {
        s.push_str("id: ");
        s.push_str(id);
        s.push('\n');
    }
    if let Some(ev) = event {
        s.push_str("event: ");
        s.push_str(ev);
        s.push('\n');
    }
    for line in data.split('\n') {
        s.push_str("data: ");
        s.push_str(line);
        s.push('\n');
    }
    s.push('\n');
    Bytes::from(s)
}

/// A comment frame that keeps proxies from timing the stream out.
pub(crate) fn sse_keepalive() -> Bytes {
    Bytes::from_static(b": keep-alive\n\n")
}

/// An SSE response from a channel of frames.
pub(crate) fn sse_response(
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    session: Option<&str>,
) -> Response {
    let stream = futures::StreamExt::map(
        tokio_stream::wrappers::ReceiverStream::new(rx),
        Ok::<_, std::io::Error>,
    );
    stream_response(stream, session)
}

/// The SSE answer's head (no caching or proxy buffering, the session's id when there is one)
/// over `frames`.
fn stream_response<S>(frames: S, session: Option<&str>) -> Response
where
    S: futures::Stream<Item = std::io::Result<Bytes>> + Send + 'static,
{
    let mut b = Response::builder()
        .status(StatusCode::OK)
        .content_type("text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache, no-transform")
        .header("x-accel-buffering", "no");
    if let Some(s) = session {
        b = b.header(SESSION_HEADER, s);
    }
    b.body(Body::from_bytes_stream(frames))
}

/// How a POSTed call may be answered.
#[derive(Clone, Copy)]
pub(crate) struct Delivery {
    /// The client's `Accept` admits `text/event-stream`.
    pub(crate) accepts_sse: bool,
    /// The client asked for a stream from the start.
    pub(crate) prefers_sse: bool,
    /// A call still silent after this long moves to a stream (when the client takes one).
    pub(crate) move_after: Option<Duration>,
}

/// How a call's answer opens.
pub(crate) enum Opening<R> {
    /// Plain JSON: the call ended without a word before its result (the common, fast case),
    /// or the client takes nothing but JSON.
    Json(R),
    /// A stream, starting with `first` (the first notification, if one came) and, if the call
    /// already ended, its result `done`.
    Stream {
        first: Option<OutletMsg>,
        done: Option<R>,
    },
}

/// The JSON-then-SSE decision, the same in both protocol eras: answer in JSON unless the
/// handler speaks (a notification or a server-to-client request) before its result, or runs
/// past `move_after`, and the client takes a stream. A closed outlet is not a notification (the
/// engine may still be recording the outcome after the handler dropped it).
pub(crate) async fn open<R, F>(
    work: &mut F,
    notes: &mut mpsc::UnboundedReceiver<OutletMsg>,
    delivery: Delivery,
) -> Opening<R>
where
    F: Future<Output = R> + Unpin,
{
    if delivery.prefers_sse && delivery.accepts_sse {
        return Opening::Stream {
            first: None,
            done: None,
        };
    }
    let slow = async {
        match delivery.move_after {
            Some(after) if delivery.accepts_sse => tokio::time::sleep(after).await,
            _ => std::future::pending().await,
        }
    };
    tokio::select! {
        biased;
        done = &mut *work => match notes.try_recv() {
            Ok(first) if delivery.accepts_sse => Opening::Stream { first: Some(first), done: Some(done) },
            // Finished without a word, or the client takes JSON only: nothing but the result
            // can reach it.
            _ => Opening::Json(done),
        },
        Some(first) = notes.recv() => {
            if delivery.accepts_sse {
                Opening::Stream { first: Some(first), done: None }
            } else {
                Opening::Json(work.await)
            }
        }
        () = slow => Opening::Stream { first: None, done: None },
    }
}

/// What a [`Relay`] does after one of its steps.
pub(crate) enum After {
    /// Go on.
    Continue,
    /// Send a keep-alive comment, then go on.
    KeepAlive,
    /// End the stream.
    End,
}

/// Store work a stream waits for before its next frame.
pub(crate) type Chore = futures::future::BoxFuture<'static, After>;

/// How a [`Pulled`] stream turns its subscription into frames.
pub(crate) trait Relay: Send + Unpin + 'static {
    /// The frame for one event (`None`: not for this client), and work to finish before the
    /// next one.
    fn event(&mut self, ev: fastmcp_core::storage::Event) -> (Option<Bytes>, Option<Chore>);
    /// At each keep-alive interval: work whose outcome decides (a session's liveness), or
    /// `None` to send the keep-alive at once.
    fn keep_alive(&mut self) -> Option<Chore> {
        None
    }
    /// The last frame when the stream ends cleanly (its subscription closed, or the instance
    /// drains).
    fn last(&mut self) -> Option<Bytes> {
        None
    }
}

/// An SSE body that reads its subscription when the connection asks for the next frame, with
/// keep-alives; it ends when the subscription does, the relay says so, or this instance
/// drains, and everything it holds goes when the client does (the body is dropped).
///
/// No task and no channel per stream: an idle stream is this struct, its subscription and its
/// timer (a task and a 64-frame channel cost about 2.5 KiB more per stream).
pub(crate) struct Pulled<R> {
    relay: R,
    first: Option<Bytes>,
    sub: fastmcp_core::EventStream,
    tick: tokio::time::Interval,
    drain: std::pin::Pin<Box<tokio_util::sync::WaitForCancellationFutureOwned>>,
    chore: Option<Chore>,
    ended: bool,
}

impl<R: Relay> Pulled<R> {
    pub(crate) fn new(
        relay: R,
        first: Option<Bytes>,
        sub: fastmcp_core::EventStream,
        keep_alive: Duration,
        drain: tokio_util::sync::CancellationToken,
    ) -> Self {
        let start = tokio::time::Instant::now() + keep_alive;
        Self {
            relay,
            first,
            sub,
            tick: tokio::time::interval_at(start, keep_alive),
            drain: Box::pin(drain.cancelled_owned()),
            chore: None,
            ended: false,
        }
    }

    fn finish(&mut self, clean: bool) -> std::task::Poll<Option<std::io::Result<Bytes>>> {
        self.ended = true;
        std::task::Poll::Ready(if clean {
            self.relay.last().map(Ok)
        } else {
            None
        })
    }
}

impl<R: Relay> futures::Stream for Pulled<R> {
    type Item = std::io::Result<Bytes>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        if let Some(first) = this.first.take() {
            return Poll::Ready(Some(Ok(first)));
        }
        // This instance drains: end the stream; a client resumes it elsewhere (the events are
        // in the shared store).
        if this.drain.as_mut().poll(cx).is_ready() {
            return this.finish(true);
        }
        loop {
            if let Some(chore) = this.chore.as_mut() {
                let after = std::task::ready!(chore.as_mut().poll(cx));
                this.chore = None;
                match after {
                    After::Continue => {}
                    After::KeepAlive => return Poll::Ready(Some(Ok(sse_keepalive()))),
                    After::End => return this.finish(false),
                }
            }
            match this.sub.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok(ev))) => {
                    let (frame, chore) = this.relay.event(ev);
                    this.chore = chore;
                    match frame {
                        Some(frame) => return Poll::Ready(Some(Ok(frame))),
                        None => continue,
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    tracing::warn!(error = %e.report(), "stream subscription failed");
                    return this.finish(false);
                }
                Poll::Ready(None) => return this.finish(true),
                Poll::Pending => {}
            }
            if this.tick.poll_tick(cx).is_ready() {
                match this.relay.keep_alive() {
                    Some(chore) => {
                        this.chore = Some(chore);
                        continue;
                    }
                    None => return Poll::Ready(Some(Ok(sse_keepalive()))),
                }
            }
            return Poll::Pending;
        }
    }
}

/// An SSE response whose frames are pulled from `sub` by `relay` as the connection writes
/// them, starting with `first`, with this instance's keep-alive interval and drain.
pub(crate) fn pulled_response<R: Relay>(
    state: &crate::state::AppState,
    relay: R,
    first: Option<Bytes>,
    sub: fastmcp_core::EventStream,
    session: Option<&str>,
) -> Response {
    let frames = Pulled::new(
        relay,
        first,
        sub,
        state.http.keep_alive,
        state.draining.clone(),
    );
    stream_response(frames, session)
}

/// A session's stream (a GET `/mcp` stream or a legacy `/sse` one): each event as a frame with
/// its id; the session is checked, and its TTL refreshed, at each keep-alive, and a gone
/// session ends the stream.
pub(crate) struct SessionRelay {
    pub(crate) mcp: McpServer,
    pub(crate) entity: fastmcp_core::EntityId,
    pub(crate) session: fastmcp_core::SessionId,
    pub(crate) stream: StreamKey,
    /// A legacy stream ends with its connection and is never resumed: what it sent need not be
    /// kept (on the memory store, 256 answers per session under load).
    pub(crate) resumable: bool,
    /// Its place under the stream caps, given back with it.
    pub(crate) _slot: crate::limits::StreamSlot,
    /// Run once when the stream ends, however it ends (a legacy session is deleted with it).
    pub(crate) on_end: Option<Box<dyn FnOnce() + Send>>,
}

impl Relay for SessionRelay {
    fn event(&mut self, ev: fastmcp_core::storage::Event) -> (Option<Bytes>, Option<Chore>) {
        let id = format!("{}/{}", self.stream.name, ev.id);
        let frame = sse_frame(Some("message"), Some(&id), &ev.message.to_string());
        let chore = (!self.resumable).then(|| {
            let queue = std::sync::Arc::clone(self.mcp.queue());
            let (entity, stream) = (self.entity.clone(), self.stream.clone());
            let chore: Chore = Box::pin(async move {
                if let Err(e) = queue.delivered(&entity, &stream, &ev.id).await {
                    tracing::debug!(error = %e.report(), "cannot release delivered events");
                }
                After::Continue
            });
            chore
        });
        (Some(frame), chore)
    }

    fn keep_alive(&mut self) -> Option<Chore> {
        let mcp = self.mcp.clone();
        let (entity, id) = (self.entity.clone(), self.session);
        Some(Box::pin(async move {
            let ttl = mcp.config().session_ttl;
            // Gone (deleted or expired) ends the stream; a store hiccup does not.
            match mcp.sessions().touch(&entity, &id, ttl).await {
                Ok(false) => After::End,
                _ => After::KeepAlive,
            }
        }))
    }
}

impl Drop for SessionRelay {
    fn drop(&mut self) {
        if let Some(f) = self.on_end.take() {
            f();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use fastmcp_core::storage::{Event, EventId};
    use tokio_util::sync::CancellationToken;

    /// Frames each event by its id; a last frame when asked.
    struct Probe {
        last: bool,
    }

    impl Relay for Probe {
        fn event(&mut self, ev: Event) -> (Option<Bytes>, Option<Chore>) {
            // Odd ids are not for this client.
            let skip = ev.id.0.parse::<u32>().is_ok_and(|n| n % 2 == 1);
            ((!skip).then(|| Bytes::from(ev.id.0)), None)
        }
        fn last(&mut self) -> Option<Bytes> {
            self.last.then(|| Bytes::from_static(b"last"))
        }
    }

    fn event(id: &str) -> fastmcp_core::storage::StoreResult<Event> {
        Ok(Event {
            id: EventId(id.to_string()),
            message: serde_json::json!({}),
        })
    }

    /// The first frame, then events as they come (skipped ones leave no trace), keep-alives
    /// when silent, and the relay's last frame when the instance drains.
    #[tokio::test(start_paused = true)]
    async fn a_pulled_stream_relays_keeps_alive_and_ends_on_drain() {
        let (tx, rx) = futures::channel::mpsc::unbounded();
        let drain = CancellationToken::new();
        let mut s = Pulled::new(
            Probe { last: true },
            Some(Bytes::from_static(b"first")),
            Box::pin(rx),
            Duration::from_secs(15),
            drain.clone(),
        );
        assert_eq!(s.next().await.unwrap().unwrap(), "first");
        tx.unbounded_send(event("1")).unwrap();
        tx.unbounded_send(event("2")).unwrap();
        assert_eq!(s.next().await.unwrap().unwrap(), "2");
        let before = tokio::time::Instant::now();
        assert_eq!(s.next().await.unwrap().unwrap(), sse_keepalive());
        assert!(before.elapsed() >= Duration::from_secs(15));
        drain.cancel();
        assert_eq!(s.next().await.unwrap().unwrap(), "last");
        assert!(s.next().await.is_none());
    }

    /// A subscription that fails ends the stream without the last frame; one that closes ends
    /// it with it.
    #[tokio::test(start_paused = true)]
    async fn a_failed_subscription_ends_without_the_last_frame() {
        let failing = futures::stream::iter(vec![Err(
            fastmcp_core::storage::StoreError::InvalidValue("down".into()),
        )]);
        let mut s = Pulled::new(
            Probe { last: true },
            None,
            Box::pin(failing),
            Duration::from_secs(15),
            CancellationToken::new(),
        );
        assert!(s.next().await.is_none());
        let closed = futures::stream::iter(vec![event("4")]);
        let mut s = Pulled::new(
            Probe { last: true },
            None,
            Box::pin(closed),
            Duration::from_secs(15),
            CancellationToken::new(),
        );
        assert_eq!(s.next().await.unwrap().unwrap(), "4");
        assert_eq!(s.next().await.unwrap().unwrap(), "last");
        assert!(s.next().await.is_none());
    }

    #[test]
    fn sse_frames() {
        assert_eq!(
            sse_frame(Some("message"), Some("s/1"), "{}"),
            Bytes::from("id: s/1\nevent: message\ndata: {}\n\n")
        );
        assert_eq!(
            sse_frame(None, Some("s/"), ""),
            Bytes::from("id: s/\ndata: \n\n")
        );
    }
}
