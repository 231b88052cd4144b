//! Server-sent events, for every transport that streams: framing, the JSON-then-SSE decision
//! a POSTed call goes through, and the copy of a stored event stream to a client.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use fastmcp_core::{McpServer, SessionRecord, StreamKey};
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
    let mut b = Response::builder()
        .status(StatusCode::OK)
        .content_type("text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache, no-transform")
        .header("x-accel-buffering", "no");
    if let Some(s) = session {
        b = b.header(SESSION_HEADER, s);
    }
    b.body(Body::from_bytes_stream(stream))
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

/// Copies a subscription to an SSE body, with keep-alives; ends when the stream ends, the
/// client goes away, the session is gone (checked, and its TTL refreshed, at each keep-alive), or
/// this instance drains.
pub(crate) async fn forward_stream(
    mcp: McpServer,
    session: SessionRecord,
    stream: StreamKey,
    mut sub: fastmcp_core::EventStream,
    frames: mpsc::Sender<Bytes>,
    keep_alive: std::time::Duration,
    drain: tokio_util::sync::CancellationToken,
) {
    let mut tick = tokio::time::interval(keep_alive);
    tick.tick().await;
    // A legacy session's stream ends with its connection and is never resumed: what it has
    // sent need not be kept (on the memory store, 256 answers per session under load).
    let resumable = session.transport != fastmcp_core::storage::SessionTransport::LegacySse;
    loop {
        tokio::select! {
            ev = sub.next() => match ev {
                Some(Ok(ev)) => {
                    let id = format!("{}/{}", stream.name, ev.id);
                    let frame = sse_frame(Some("message"), Some(&id), &ev.message.to_string());
                    if frames.send(frame).await.is_err() { return; }
                    if !resumable {
                        if let Err(e) = mcp.queue().delivered(&session.entity, &stream, &ev.id).await {
                            tracing::debug!(error = %e.report(), "cannot release delivered events");
                        }
                    }
                }
                Some(Err(e)) => { tracing::warn!(error = %e.report(), "stream subscription failed"); return; }
                None => return,
            },
            _ = tick.tick() => {
                let ttl = mcp.config().session_ttl;
                // Gone (deleted or expired) ends the stream; a store hiccup does not.
                if let Ok(false) = mcp.sessions().touch(&session.entity, &session.id, ttl).await {
                    return;
                }
                if frames.send(sse_keepalive()).await.is_err() { return; }
            }
            _ = frames.closed() => return,
            // This instance drains: end the stream; the client resumes it elsewhere with
            // Last-Event-ID (the events are in the shared store).
            _ = drain.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
