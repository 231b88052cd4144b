//! One HTTP/1.1 keep-alive connection with TCP_NODELAY, and an incremental SSE reader.
//!
//! A worker owns its connection and sends one request at a time: no pool, no locks, so the
//! load generator's own cost per request stays small next to the server's.

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Method, Request, Response, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Where requests go: `host:port` and the path (with query) of the endpoint.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    /// `host:port`, also sent as the `Host` header.
    pub(crate) authority: String,
    /// Path and query of the endpoint.
    pub(crate) path: String,
}

impl Target {
    /// Parses `http://host:port/path?query` (plain HTTP only: the load stays on loopback).
    pub(crate) fn parse(url: &str) -> Result<Self, String> {
        let uri: Uri = url.parse().map_err(|e| format!("bad URL {url}: {e}"))?;
        if uri.scheme_str() != Some("http") {
            return Err(format!("only http:// URLs are supported: {url}"));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| format!("no host in {url}"))?
            .to_string();
        let authority = if authority.contains(':') {
            authority
        } else {
            format!("{authority}:80")
        };
        let path = uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        Ok(Self { authority, path })
    }
}

/// One open connection.
pub(crate) struct Conn {
    sender: SendRequest<Full<Bytes>>,
    target: Target,
}

impl Conn {
    /// Connects with TCP_NODELAY (without it, small request/response pairs wait on Nagle).
    pub(crate) async fn open(target: &Target) -> Result<Self, String> {
        let tcp = TcpStream::connect(&target.authority)
            .await
            .map_err(|e| format!("connect {}: {e}", target.authority))?;
        tcp.set_nodelay(true)
            .map_err(|e| format!("TCP_NODELAY: {e}"))?;
        let (sender, driver) = http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| format!("HTTP handshake: {e}"))?;
        tokio::spawn(async move {
            let _ = driver.await;
        });
        Ok(Self {
            sender,
            target: target.clone(),
        })
    }

    /// Sends one request to `path` (the target's when `None`) and returns the response head
    /// with its body still to be read.
    pub(crate) async fn send(
        &mut self,
        method: Method,
        path: Option<&str>,
        headers: &[(String, String)],
        body: Option<Bytes>,
    ) -> Result<Response<Incoming>, String> {
        let mut req = Request::builder()
            .method(method)
            .uri(path.unwrap_or(&self.target.path))
            .header("host", &self.target.authority);
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let req = req
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|e| format!("request: {e}"))?;
        self.sender
            .ready()
            .await
            .map_err(|e| format!("connection: {e}"))?;
        self.sender
            .send_request(req)
            .await
            .map_err(|e| format!("send: {e}"))
    }

    /// [`send`](Self::send) and read the whole body.
    pub(crate) async fn exchange(
        &mut self,
        method: Method,
        path: Option<&str>,
        headers: &[(String, String)],
        body: Option<Bytes>,
    ) -> Result<(Response<()>, Bytes), String> {
        let resp = self.send(method, path, headers, body).await?;
        let (parts, body) = resp.into_parts();
        let bytes = body
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?
            .to_bytes();
        Ok((Response::from_parts(parts, ()), bytes))
    }
}

/// One server-sent event.
#[derive(Debug, Default)]
pub(crate) struct Event {
    /// The `event:` field (`message` when absent).
    pub(crate) event: String,
    /// The `data:` lines joined by newlines.
    pub(crate) data: String,
}

/// Reads events from a streaming body as their bytes arrive.
pub(crate) struct SseReader {
    body: Incoming,
    buf: BytesMut,
}

impl SseReader {
    /// Wraps a `text/event-stream` body.
    pub(crate) fn new(body: Incoming) -> Self {
        Self {
            body,
            buf: BytesMut::new(),
        }
    }

    /// The next event with data (comments and keep-alives are skipped); `None` at the end.
    pub(crate) async fn next(&mut self) -> Result<Option<Event>, String> {
        loop {
            if let Some(event) = self.take_event() {
                if event.data.is_empty() {
                    continue;
                }
                return Ok(Some(event));
            }
            match self.body.frame().await {
                None => return Ok(None),
                Some(Err(e)) => return Err(format!("stream: {e}")),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
            }
        }
    }

    /// The next chunk of the body as it arrived, unparsed: what an idle holder watches for
    /// keep-alives. `None` at the end of the stream.
    pub(crate) async fn raw_chunk(&mut self) -> Option<Result<Bytes, String>> {
        loop {
            match self.body.frame().await? {
                Err(e) => return Some(Err(format!("stream: {e}"))),
                Ok(frame) => {
                    if let Ok(data) = frame.into_data() {
                        return Some(Ok(data));
                    }
                }
            }
        }
    }

    /// Cuts one event off the buffer, if a whole one is there.
    fn take_event(&mut self) -> Option<Event> {
        let text = std::str::from_utf8(&self.buf).ok()?;
        let (end, sep) = [("\r\n\r\n", 4), ("\n\n", 2)]
            .iter()
            .filter_map(|(s, n)| text.find(s).map(|i| (i, *n)))
            .min()?;
        let mut event = Event {
            event: "message".into(),
            data: String::new(),
        };
        for line in text[..end].lines() {
            if let Some(v) = line.strip_prefix("data:") {
                if !event.data.is_empty() {
                    event.data.push('\n');
                }
                event.data.push_str(v.strip_prefix(' ').unwrap_or(v));
            } else if let Some(v) = line.strip_prefix("event:") {
                event.event = v.trim().to_string();
            }
        }
        let _ = self.buf.split_to(end + sep);
        Some(event)
    }
}
