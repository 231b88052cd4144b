//! The MCP side of a worker: opening a session in each era and making one `tools/call`.

use bytes::Bytes;
use hyper::Method;
use serde_json::{json, Value};

use crate::conn::{Conn, SseReader, Target};

/// Which protocol a worker speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Era {
    /// Streamable HTTP with `initialize` and `Mcp-Session-Id` (2025-11-25).
    Handshake,
    /// Streamable HTTP, sessionless 2026-07-28 (`_meta` envelope and routing headers).
    Modern,
    /// The 2024-11-05 HTTP+SSE transport: answers arrive on the GET stream.
    Legacy,
}

const HANDSHAKE_VERSION: &str = "2025-11-25";
const MODERN_VERSION: &str = "2026-07-28";

/// The tool call every request makes, serialised once but for its id.
#[derive(Clone, Debug)]
pub(crate) struct ToolCall {
    /// The method (`tools/call`, or any other measured alone, e.g. `tools/list`).
    pub(crate) method: String,
    /// Tool name.
    pub(crate) name: String,
    /// What follows `"id":N` in the request body.
    tail: String,
    /// The text an `echo` must answer, when checked.
    expect_text: Option<String>,
}

impl ToolCall {
    /// `echo` with `payload` bytes of text (checked), or `name` with raw JSON arguments.
    pub(crate) fn new(
        name: &str,
        payload: usize,
        args: Option<&str>,
        era: Era,
        method: &str,
    ) -> Result<Self, String> {
        let (arguments, expect_text) = match args {
            Some(raw) => (
                serde_json::from_str::<Value>(raw).map_err(|e| format!("--args: {e}"))?,
                None,
            ),
            None if name == "echo" => {
                let text = "x".repeat(payload);
                (json!({ "text": text }), Some(text))
            }
            None => (json!({}), None),
        };
        let mut params = if method == "tools/call" {
            json!({ "name": name, "arguments": arguments })
        } else {
            json!({})
        };
        let expect_text = expect_text.filter(|_| method == "tools/call");
        if era == Era::Modern {
            params["_meta"] = json!({
                "io.modelcontextprotocol/protocolVersion": MODERN_VERSION,
                "io.modelcontextprotocol/clientCapabilities": {},
            });
        }
        let tail = format!(r#","method":"{method}","params":{params}}}"#);
        Ok(Self {
            method: method.to_string(),
            name: name.to_string(),
            tail,
            expect_text,
        })
    }

    fn body(&self, id: u64) -> Bytes {
        Bytes::from(format!(r#"{{"jsonrpc":"2.0","id":{id}{}"#, self.tail))
    }

    /// Checks one response message: a result, not `isError`, and the echoed text.
    fn check(&self, message: &Value) -> Result<(), String> {
        if let Some(err) = message.get("error") {
            return Err(format!("JSON-RPC error {err}"));
        }
        let result = message
            .get("result")
            .ok_or_else(|| format!("no result in {message}"))?;
        if result.get("isError") == Some(&Value::Bool(true)) {
            return Err(format!("isError result {result}"));
        }
        if let Some(want) = &self.expect_text {
            let got = result["content"][0]["text"].as_str();
            if got != Some(want.as_str()) {
                return Err(format!("echo answered {:?}", got));
            }
        }
        Ok(())
    }
}

/// An open MCP client: a connection and, in the handshake and legacy eras, a session.
pub(crate) struct Client {
    era: Era,
    conn: Conn,
    headers: Vec<(String, String)>,
    /// Legacy only: the messages path and the stream its answers arrive on.
    legacy: Option<(String, SseReader, Conn)>,
    next_id: u64,
}

impl Client {
    /// Connects and, where the era has one, opens a session.
    pub(crate) async fn open(
        target: &Target,
        era: Era,
        extra: &[(String, String)],
    ) -> Result<Self, String> {
        let mut headers: Vec<(String, String)> = extra.to_vec();
        headers.push((
            "accept".into(),
            "application/json, text/event-stream".into(),
        ));
        let mut conn = Conn::open(target).await?;
        let mut legacy = None;
        match era {
            Era::Modern => {
                headers.push(("mcp-protocol-version".into(), MODERN_VERSION.into()));
            }
            Era::Handshake => {
                let init = initialize_body(1);
                let (resp, body) = conn
                    .exchange(Method::POST, None, &headers, Some(init))
                    .await?;
                if !resp.status().is_success() {
                    return Err(format!(
                        "initialize: HTTP {}: {}",
                        resp.status(),
                        lossy(&body)
                    ));
                }
                let sid = resp
                    .headers()
                    .get("mcp-session-id")
                    .and_then(|v| v.to_str().ok())
                    .ok_or("initialize: no Mcp-Session-Id")?
                    .to_string();
                headers.push(("mcp-session-id".into(), sid));
                headers.push(("mcp-protocol-version".into(), HANDSHAKE_VERSION.into()));
                initialized(&mut conn, None, &headers).await?;
            }
            Era::Legacy => {
                let mut get_headers = extra.to_vec();
                get_headers.push(("accept".into(), "text/event-stream".into()));
                let resp = conn.send(Method::GET, None, &get_headers, None).await?;
                if !resp.status().is_success() {
                    return Err(format!("GET {}: HTTP {}", target.path, resp.status()));
                }
                let mut stream = SseReader::new(resp.into_body());
                let endpoint = loop {
                    match stream.next().await? {
                        Some(e) if e.event == "endpoint" => break e.data,
                        Some(_) => continue,
                        None => return Err("the stream ended before its endpoint event".into()),
                    }
                };
                // The endpoint may be absolute or a path; keep only the path and query.
                let path = match endpoint.find("://") {
                    Some(i) => endpoint[i + 3..]
                        .find('/')
                        .map(|j| endpoint[i + 3 + j..].to_string())
                        .unwrap_or_else(|| "/".into()),
                    None => endpoint,
                };
                let mut post = Conn::open(target).await?;
                let mut client_headers = extra.to_vec();
                client_headers.push(("accept".into(), "application/json".into()));
                post.exchange(
                    Method::POST,
                    Some(&path),
                    &client_headers,
                    Some(initialize_body(1)),
                )
                .await?;
                wait_for(&mut stream, 1).await?;
                initialized(&mut post, Some(&path), &client_headers).await?;
                headers = client_headers;
                legacy = Some((path, stream, post));
            }
        }
        Ok(Self {
            era,
            conn,
            headers,
            legacy,
            next_id: 2,
        })
    }

    /// One `tools/call`, answered and checked.
    pub(crate) async fn call(&mut self, call: &ToolCall) -> Result<(), String> {
        let id = self.next_id;
        self.next_id += 1;
        let body = call.body(id);
        if let Some((path, stream, post)) = &mut self.legacy {
            let (resp, text) = post
                .exchange(Method::POST, Some(path), &self.headers, Some(body))
                .await?;
            if resp.status().as_u16() != 202 {
                return Err(format!("HTTP {}: {}", resp.status(), lossy(&text)));
            }
            let message = wait_for(stream, id).await?;
            return call.check(&message);
        }
        let mut headers = self.headers.clone();
        if self.era == Era::Modern {
            headers.push(("mcp-method".into(), call.method.clone()));
            if call.method == "tools/call" {
                headers.push(("mcp-name".into(), call.name.clone()));
            }
        }
        let (resp, text) = self
            .conn
            .exchange(Method::POST, None, &headers, Some(body))
            .await?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}: {}", resp.status(), lossy(&text)));
        }
        let is_sse = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        let message = if is_sse {
            find_response_in_sse(&text, id)?
        } else {
            serde_json::from_slice(&text).map_err(|e| format!("JSON: {e}: {}", lossy(&text)))?
        };
        call.check(&message)
    }
}

/// `notifications/initialized`, which ends the handshake; any 2xx is an acceptance.
async fn initialized(
    conn: &mut Conn,
    path: Option<&str>,
    headers: &[(String, String)],
) -> Result<(), String> {
    let note = Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    let (resp, body) = conn
        .exchange(Method::POST, path, headers, Some(note))
        .await?;
    if !resp.status().is_success() {
        return Err(format!(
            "initialized: HTTP {}: {}",
            resp.status(),
            lossy(&body)
        ));
    }
    Ok(())
}

fn initialize_body(id: u64) -> Bytes {
    let body = json!({
        "jsonrpc": "2.0", "id": id, "method": "initialize",
        "params": {
            "protocolVersion": HANDSHAKE_VERSION,
            "capabilities": {},
            "clientInfo": { "name": "fastmcp-load", "version": env!("CARGO_PKG_VERSION") },
        },
    });
    Bytes::from(body.to_string())
}

/// Reads the stream until the response to `id`; other messages (notifications) are skipped.
async fn wait_for(stream: &mut SseReader, id: u64) -> Result<Value, String> {
    while let Some(event) = stream.next().await? {
        if event.event != "message" {
            continue;
        }
        let message: Value =
            serde_json::from_str(&event.data).map_err(|e| format!("SSE JSON: {e}"))?;
        if message.get("id").and_then(Value::as_u64) == Some(id) {
            return Ok(message);
        }
    }
    Err("the stream ended".into())
}

/// The response to `id` in a finished SSE body.
fn find_response_in_sse(body: &[u8], id: u64) -> Result<Value, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("SSE body: {e}"))?;
    for line in text.lines() {
        let Some(data) = line.strip_prefix("data:") else {
            continue;
        };
        let Ok(message) = serde_json::from_str::<Value>(data.trim_start()) else {
            continue;
        };
        if message.get("id").and_then(Value::as_u64) == Some(id) {
            return Ok(message);
        }
    }
    Err(format!(
        "no response to {id} in the stream: {}",
        lossy(body)
    ))
}

/// A short printable excerpt of a body, for error messages.
pub(crate) fn lossy(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    text.chars().take(300).collect()
}

/// The kinds of long-lived SSE stream a client can hold open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum StreamKind {
    /// A handshake-era session's standalone stream: `initialize`, then GET on the endpoint.
    Get,
    /// A legacy HTTP+SSE session: GET on the `/sse` URL, `initialize` answered on the stream.
    Legacy,
    /// A 2026-07-28 `subscriptions/listen` request, acknowledged on its stream.
    Listen,
}

/// One open, idle stream: its body and the connection it lives on (dropping either closes it).
pub(crate) struct HeldStream {
    pub(crate) reader: SseReader,
    _conn: Conn,
}

impl HeldStream {
    /// Opens a stream of `kind` at `target` and reads it until it is established: the session
    /// made (and, for `legacy`, initialized) or the subscription acknowledged. What remains on
    /// the server is exactly what an idle client of that kind costs it.
    pub(crate) async fn open(
        target: &Target,
        kind: StreamKind,
        extra: &[(String, String)],
    ) -> Result<Self, String> {
        let mut headers: Vec<(String, String)> = extra.to_vec();
        match kind {
            StreamKind::Get => {
                let client = Client::open(target, Era::Handshake, extra).await?;
                let mut conn = client.conn;
                let mut headers = client.headers;
                headers.retain(|(k, _)| k != "accept");
                headers.push(("accept".into(), "text/event-stream".into()));
                let resp = conn.send(Method::GET, None, &headers, None).await?;
                if !resp.status().is_success() {
                    return Err(format!("GET {}: HTTP {}", target.path, resp.status()));
                }
                Ok(Self {
                    reader: SseReader::new(resp.into_body()),
                    _conn: conn,
                })
            }
            StreamKind::Legacy => {
                let client = Client::open(target, Era::Legacy, extra).await?;
                // The POST connection closes here: an idle legacy client keeps only its stream.
                let (_, reader, _post) = client.legacy.ok_or("legacy client without stream")?;
                Ok(Self {
                    reader,
                    _conn: client.conn,
                })
            }
            StreamKind::Listen => {
                let mut conn = Conn::open(target).await?;
                headers.push((
                    "accept".into(),
                    "application/json, text/event-stream".into(),
                ));
                headers.push(("mcp-protocol-version".into(), MODERN_VERSION.into()));
                headers.push(("mcp-method".into(), "subscriptions/listen".into()));
                let body = json!({
                    "jsonrpc": "2.0", "id": 1, "method": "subscriptions/listen",
                    "params": {
                        "notifications": { "toolsListChanged": true },
                        "_meta": {
                            "io.modelcontextprotocol/protocolVersion": MODERN_VERSION,
                            "io.modelcontextprotocol/clientCapabilities": {},
                        },
                    },
                });
                let resp = conn
                    .send(
                        Method::POST,
                        None,
                        &headers,
                        Some(Bytes::from(body.to_string())),
                    )
                    .await?;
                if !resp.status().is_success() {
                    return Err(format!("listen: HTTP {}", resp.status()));
                }
                let mut reader = SseReader::new(resp.into_body());
                match reader.next().await? {
                    Some(e) if e.data.contains("notifications/subscriptions/acknowledged") => {}
                    Some(e) => return Err(format!("listen: first event {:?}", e.data)),
                    None => {
                        return Err("listen: the stream ended before its acknowledgement".into())
                    }
                }
                Ok(Self {
                    reader,
                    _conn: conn,
                })
            }
        }
    }
}
