//! The poem app in process (poem's TestClient): tenancy, limits and error shapes at the edge.
//! The real binary is exercised end to end by `tests/e2e` (Python SDK) and the conformance suite.

use fastmcp_core::storage::Stores;
use fastmcp_core::McpServer;
use fastmcp_server::{routes, AppState, HttpConfig};
use fastmcp_storage_memory::MemoryStore;
use poem::test::TestClient;
use serde_json::{json, Value};

fn client(http: HttpConfig) -> TestClient<impl poem::Endpoint> {
    app(http, 0, 0, 0)
}

/// The demo app on a memory store, with per-entity limits (0: off).
fn app(http: HttpConfig, rps: u64, calls: u64, sessions: u64) -> TestClient<impl poem::Endpoint> {
    let builder = McpServer::builder("t", "1").with(fastmcp_server::demo::register);
    let state = AppState::builder(builder, Stores::of(MemoryStore::default()))
        .http(http)
        .instance_id("test")
        .admin_token("test-token")
        .limits(|l| {
            l.rps = rps;
            l.concurrent_calls = calls;
            l.max_sessions = sessions;
        })
        .build();
    TestClient::new(routes(state))
}

const ACCEPT: &str = "application/json, text/event-stream";

async fn init(cli: &TestClient<impl poem::Endpoint>, entity: &str) -> String {
    let resp = cli
        .post(format!("/{entity}/mcp"))
        .header("accept", ACCEPT)
        .content_type("application/json")
        .body(json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}).to_string())
        .send()
        .await;
    resp.assert_status_is_ok();
    let sid = resp
        .0
        .headers()
        .get("mcp-session-id")
        .expect("session header")
        .to_str()
        .unwrap()
        .to_string();
    let body: Value =
        serde_json::from_slice(&resp.0.into_body().into_bytes().await.unwrap()).unwrap();
    assert_eq!(body["result"]["protocolVersion"], "2025-06-18");
    sid
}

async fn post(
    cli: &TestClient<impl poem::Endpoint>,
    entity: &str,
    sid: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let mut r = cli
        .post(format!("/{entity}/mcp"))
        .header("accept", ACCEPT)
        .content_type("application/json");
    if let Some(s) = sid {
        r = r.header("mcp-session-id", s);
    }
    let resp = r.body(body.to_string()).send().await;
    let status = resp.0.status().as_u16();
    let bytes = resp.0.into_body().into_bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn sessions_are_bound_to_their_entity() {
    let cli = client(HttpConfig::default());
    let sid = init(&cli, "acme").await;
    let call = json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"remember","arguments":{"key":"k","value":"v"}}});
    let (status, body) = post(&cli, "globex", Some(&sid), call.clone()).await;
    assert_eq!(status, 404, "{body}");
    let recall = json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"recall","arguments":{"key":"k"}}});
    let (_, body) = post(&cli, "acme", Some(&sid), recall.clone()).await;
    assert_eq!(
        body["result"]["isError"], true,
        "nothing was written through the foreign path: {body}"
    );
    let (status, _) = post(&cli, "acme", Some(&sid), call).await;
    assert_eq!(status, 200);
    let (_, body) = post(&cli, "acme", Some(&sid), recall).await;
    assert_eq!(body["result"]["content"][0]["text"], "v");
    let resp = cli
        .delete("/globex/mcp")
        .header("mcp-session-id", &sid)
        .send()
        .await;
    resp.assert_status(poem::http::StatusCode::NOT_FOUND);
    let (status, _) = post(
        &cli,
        "acme",
        Some(&sid),
        json!({"jsonrpc":"2.0","id":4,"method":"ping"}),
    )
    .await;
    assert_eq!(status, 200, "still alive after a foreign DELETE");
}

#[tokio::test]
async fn edge_errors_have_clear_statuses_and_json_bodies() {
    let cli = client(HttpConfig {
        body_limit: 1024,
        ..HttpConfig::default()
    });
    let ping = json!({"jsonrpc":"2.0","id":1,"method":"ping"});
    let (status, body) = post(&cli, "bad%20entity", None, ping.clone()).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("entity"),
        "{body}"
    );
    let (status, body) = post(&cli, "acme", None, ping.clone()).await;
    assert_eq!(status, 400, "missing session id: {body}");
    let (status, _) = post(&cli, "acme", Some("not-a-uuid"), ping.clone()).await;
    assert_eq!(status, 404);
    let big = json!({"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"x".repeat(2048)}});
    let (status, _) = post(&cli, "acme", None, big).await;
    assert_eq!(status, 413);
    let resp = cli
        .post("/acme/mcp")
        .header("accept", ACCEPT)
        .content_type("application/json")
        .body("{nope")
        .send()
        .await;
    resp.assert_status(poem::http::StatusCode::BAD_REQUEST);
    let body: Value =
        serde_json::from_slice(&resp.0.into_body().into_bytes().await.unwrap()).unwrap();
    assert_eq!(body["error"]["code"], -32700);
    let resp = cli
        .post("/acme/mcp")
        .header("accept", ACCEPT)
        .content_type("text/plain")
        .body("{}")
        .send()
        .await;
    resp.assert_status(poem::http::StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let resp = cli
        .post("/acme/mcp")
        .header("accept", ACCEPT)
        .header("origin", "http://evil.example.com")
        .content_type("application/json")
        .body(ping.to_string())
        .send()
        .await;
    resp.assert_status(poem::http::StatusCode::FORBIDDEN);
}

fn modern_body(id: i64, method: &str, params: Value) -> String {
    let mut params = params;
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    json!({"jsonrpc":"2.0","id":id,"method":method,"params":params}).to_string()
}

/// A log store that answers after a pause, as a remote one (Redis, PostgreSQL) does.
struct SlowLogs(MemoryStore);

#[async_trait::async_trait]
impl fastmcp_core::LogStore for SlowLogs {
    async fn append(
        &self,
        record: &fastmcp_core::LogRecord,
    ) -> fastmcp_core::storage::StoreResult<()> {
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        fastmcp_core::LogStore::append(&self.0, record).await
    }

    async fn recent(
        &self,
        entity: &fastmcp_core::EntityId,
        session: Option<&fastmcp_core::SessionId>,
        limit: usize,
    ) -> fastmcp_core::storage::StoreResult<Vec<fastmcp_core::LogRecord>> {
        fastmcp_core::LogStore::recent(&self.0, entity, session, limit).await
    }
}

/// At 2026-07-28 an error keeps its HTTP status (404 for a method this revision removed) even
/// when recording the failure takes a store round trip: the request's notification channel
/// closing meanwhile is not a notification, so the answer stays plain JSON. (On Redis the
/// conformance suite saw HTTP 200 with the error inside an SSE stream.)
#[tokio::test]
async fn modern_errors_keep_their_status_with_a_remote_log_store() {
    let store = MemoryStore::default();
    let mut stores = Stores::of(store.clone());
    stores.logs = std::sync::Arc::new(SlowLogs(store));
    let builder = McpServer::builder("t", "1").with(fastmcp_server::demo::register);
    let cli = TestClient::new(routes(AppState::builder(builder, stores).build()));
    let (status, body) = modern_post(&cli, "ping", modern_body(5, "ping", json!({}))).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], -32601, "{body}");
}

/// A 2026-07-28 POST whose `Mcp-Method` header says `method_header`; the status and the JSON.
async fn modern_post(
    cli: &TestClient<impl poem::Endpoint>,
    method_header: &str,
    body: String,
) -> (u16, Value) {
    let resp = cli
        .post("/acme/mcp")
        .header("accept", ACCEPT)
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method_header)
        .content_type("application/json")
        .body(body)
        .send()
        .await;
    let status = resp.0.status().as_u16();
    let bytes = resp.0.into_body().into_bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn modern_requests_are_served_without_a_session() {
    let cli = client(HttpConfig::default());
    let resp = cli
        .post("/acme/mcp")
        .header("accept", ACCEPT)
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "server/discover")
        .content_type("application/json")
        .body(modern_body(0, "server/discover", json!({})))
        .send()
        .await;
    resp.assert_status_is_ok();
    assert!(resp.0.headers().get("mcp-session-id").is_none());
    let body: Value =
        serde_json::from_slice(&resp.0.into_body().into_bytes().await.unwrap()).unwrap();
    assert_eq!(body["id"], 0);
    assert!(body["result"]["supportedVersions"]
        .as_array()
        .unwrap()
        .contains(&json!("2026-07-28")));
    // The same request with a disagreeing method header: 400 + -32020.
    let (status, body) = modern_post(
        &cli,
        "tools/list",
        modern_body(1, "server/discover", json!({})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], -32020);
    // A foreign Host is refused before anything else, as in the handshake era.
    let resp = cli
        .post("/acme/mcp")
        .header("host", "evil.example.com")
        .header("accept", ACCEPT)
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "server/discover")
        .content_type("application/json")
        .body(modern_body(2, "server/discover", json!({})))
        .send()
        .await;
    resp.assert_status(poem::http::StatusCode::FORBIDDEN);
}

fn limited(rps: u64, calls: u64) -> TestClient<impl poem::Endpoint> {
    app(HttpConfig::default(), rps, calls, 0)
}

#[tokio::test]
async fn requests_over_the_entity_rate_get_429_with_retry_after() {
    let cli = limited(5, 0);
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for i in 0..12 {
        let resp = cli
            .post("/acme/mcp")
            .header("accept", ACCEPT)
            .content_type("application/json")
            .body(json!({"jsonrpc":"2.0","id":i,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}).to_string())
            .send()
            .await;
        let s = resp.0.status().as_u16();
        if s == 429 {
            retry_after = resp.0.headers().get("retry-after").cloned();
        }
        statuses.push(s);
    }
    let ok = statuses.iter().filter(|s| **s == 200).count();
    // A one-second window may roll over mid-burst: at most two windows' worth get through.
    assert!((5..=10).contains(&ok), "{statuses:?}");
    assert!(statuses.contains(&429), "{statuses:?}");
    let secs: u64 = retry_after.unwrap().to_str().unwrap().parse().unwrap();
    assert_eq!(secs, 1);
    // Another entity has its own budget.
    let sid = init(&cli, "globex").await;
    assert!(!sid.is_empty());
}

#[tokio::test]
async fn concurrent_tool_calls_are_capped_per_entity() {
    let cli = limited(0, 1);
    let sid = init(&cli, "acme").await;
    let slow = json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"count","arguments":{"n":3,"delay_ms":150}}});
    let quick = json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"}}});
    let slow_call = post(&cli, "acme", Some(&sid), slow.clone());
    let quick_call = async {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        post(&cli, "acme", Some(&sid), quick.clone()).await
    };
    let ((s1, _), (s2, body)) = tokio::join!(slow_call, quick_call);
    assert_eq!((s1, s2), (200, 429), "{body}");
    assert_eq!(body["error"]["code"], -32029);
    assert_eq!(body["id"], 3);
    // Once the slow call ended, its slot is back.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let (s, body) = post(&cli, "acme", Some(&sid), quick).await;
    assert_eq!(s, 200, "{body}");
}

/// A session at 2025-03-26, the one revision with JSON-RPC batches; its id.
async fn batch_session(cli: &TestClient<impl poem::Endpoint>) -> String {
    let resp = cli
        .post("/acme/mcp")
        .header("accept", ACCEPT)
        .content_type("application/json")
        .body(json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}).to_string())
        .send()
        .await;
    resp.assert_status_is_ok();
    resp.0.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_string()
}

/// A JSON-RPC batch (2025-03-26) is admitted item by item: with the entity's one call slot
/// taken, a `tools/call` inside a batch is refused in its own slot of the answer (-32029), and
/// the batch's other items are still served.
#[tokio::test]
async fn batch_items_are_admitted_like_single_requests() {
    let cli = limited(0, 1);
    let sid = batch_session(&cli).await;
    let slow = json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"count","arguments":{"n":3,"delay_ms":150}}});
    let batch = json!([
        {"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"}}},
        {"jsonrpc":"2.0","id":4,"method":"tools/list"},
    ]);
    let slow_call = post(&cli, "acme", Some(&sid), slow);
    let batch_call = async {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        post(&cli, "acme", Some(&sid), batch.clone()).await
    };
    let ((s1, _), (s2, body)) = tokio::join!(slow_call, batch_call);
    assert_eq!((s1, s2), (200, 200), "{body}");
    let items = body.as_array().expect("a batch answer");
    assert_eq!(items[0]["id"], 3);
    assert_eq!(items[0]["error"]["code"], -32029, "{body}");
    assert_eq!(items[1]["id"], 4);
    assert!(items[1]["result"]["tools"].is_array(), "{body}");
    // With the slot free again, the same batch item runs.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let (_, body) = post(&cli, "acme", Some(&sid), batch).await;
    assert_eq!(body[0]["result"]["content"][0]["text"], "x", "{body}");
}

/// A batch has a size cap (400 before the session is even read), and each of its requests
/// counts against the entity's rate like a lone request.
#[tokio::test]
async fn batches_are_capped_and_every_item_counts_against_the_rate() {
    let list = |n: usize| {
        Value::Array(
            (0..n)
                .map(|i| json!({"jsonrpc":"2.0","id":i + 10,"method":"tools/list"}))
                .collect(),
        )
    };
    let cli = client(HttpConfig {
        max_batch_items: 4,
        ..HttpConfig::default()
    });
    let sid = batch_session(&cli).await;
    let (s, body) = post(&cli, "acme", Some(&sid), list(5)).await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(body["error"]["code"], -32600);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 4"),
        "{body}"
    );
    let (s, body) = post(&cli, "acme", Some(&sid), list(4)).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body.as_array().unwrap().len(), 4);

    let cli = limited(3, 0);
    let sid = batch_session(&cli).await;
    let (s, body) = post(&cli, "acme", Some(&sid), list(6)).await;
    assert_eq!(s, 200, "{body}");
    let items = body.as_array().unwrap();
    assert_eq!(items.len(), 6);
    let refused = items
        .iter()
        .filter(|i| i["error"]["code"] == -32029)
        .count();
    let served = items
        .iter()
        .filter(|i| i["result"]["tools"].is_array())
        .count();
    assert_eq!(refused + served, 6, "{body}");
    assert!(
        refused >= 2,
        "six requests in a batch got through a limit of 3/s: {body}"
    );
}

/// An entity's stored limits override the server's, in both directions, and only for it.
#[tokio::test]
async fn entity_limits_override_the_server_limits() {
    async fn burst(cli: &TestClient<impl poem::Endpoint>, entity: &str, n: usize) -> usize {
        let mut refused = 0;
        for i in 0..n {
            let resp = cli
                .post(format!("/{entity}/mcp"))
                .header("accept", ACCEPT)
                .header("mcp-protocol-version", "2026-07-28")
                .header("mcp-method", "tools/list")
                .content_type("application/json")
                .body(modern_body(i as i64, "tools/list", json!({})))
                .send()
                .await;
            refused += usize::from(resp.0.status().as_u16() == 429);
        }
        refused
    }
    // No server limits: an entity given 3 rps is limited, its neighbour is not.
    let cli = limited(0, 0);
    let strict = json!({"limits": {"requests_per_second": 3, "max_sessions": 1}});
    assert_eq!(admin_config(&cli, "PUT", "acme", Some(strict)).await, 200);
    assert!(burst(&cli, "acme", 12).await >= 2);
    assert_eq!(burst(&cli, "globex", 12).await, 0);
    // Its session cap: the second session is refused.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    init(&cli, "acme").await;
    let body = json!({"jsonrpc":"2.0","id":9,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}});
    let (s, body) = post(&cli, "acme", None, body).await;
    assert_eq!(s, 429, "{body}");
    assert_eq!(body["error"]["code"], -32029);

    // A server limit of 2 rps, lifted (0) for one entity and raised for another.
    let cli = limited(2, 0);
    let lifted = json!({"limits": {"requests_per_second": 0}});
    assert_eq!(admin_config(&cli, "PUT", "acme", Some(lifted)).await, 200);
    assert_eq!(burst(&cli, "acme", 12).await, 0);
    assert!(burst(&cli, "globex", 12).await >= 2);
    // Reading the configuration back shows the override; clearing it restores the default.
    let got: Value = cli
        .get("/admin/entities/acme/config")
        .header("authorization", "Bearer test-token")
        .send()
        .await
        .0
        .into_body()
        .into_json()
        .await
        .unwrap();
    assert_eq!(got["limits"], json!({"requests_per_second": 0}));
    assert_eq!(admin_config(&cli, "DELETE", "acme", None).await, 200);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert!(burst(&cli, "acme", 12).await >= 2);
}

async fn admin_config(
    cli: &TestClient<impl poem::Endpoint>,
    method: &str,
    entity: &str,
    body: Option<Value>,
) -> u16 {
    let path = format!("/admin/entities/{entity}/config");
    let r = match method {
        "PUT" => cli.put(path),
        _ => cli.delete(path),
    }
    .header("authorization", "Bearer test-token")
    .content_type("application/json");
    let resp = match body {
        Some(b) => r.body(b.to_string()).send().await,
        None => r.send().await,
    };
    resp.0.status().as_u16()
}

fn rpc(id: i64, method: &str, params: Value) -> Value {
    json!({"jsonrpc":"2.0","id":id,"method":method,"params":params})
}

fn names(list: &Value, key: &str, field: &str) -> Vec<String> {
    list["result"][key]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t[field].as_str().unwrap().to_string())
        .collect()
}

/// An entity's configuration hides items from its lists and makes them answer like unknown
/// ones on every path; other entities are unaffected; clearing it restores everything.
#[tokio::test]
async fn entity_visibility_hides_items_like_unknown_ones() {
    let cli = client(HttpConfig::default());
    let config = json!({"tools": {"hide": ["fail"]}, "resources": {"allow": ["demo://readme"]},
                        "prompts": {"hide": ["summarize"]}});
    assert_eq!(admin_config(&cli, "PUT", "acme", Some(config)).await, 200);
    let sid = init(&cli, "acme").await;
    let (_, tools) = post(&cli, "acme", Some(&sid), rpc(2, "tools/list", json!({}))).await;
    let tools = names(&tools, "tools", "name");
    assert!(
        tools.contains(&"echo".to_string()) && !tools.contains(&"fail".to_string()),
        "{tools:?}"
    );
    let (_, hidden) = post(
        &cli,
        "acme",
        Some(&sid),
        rpc(
            3,
            "tools/call",
            json!({"name": "fail", "arguments": {"message": "x"}}),
        ),
    )
    .await;
    let (_, unknown) = post(
        &cli,
        "acme",
        Some(&sid),
        rpc(3, "tools/call", json!({"name": "nope", "arguments": {}})),
    )
    .await;
    assert_eq!(hidden["error"]["code"], unknown["error"]["code"]);
    assert_eq!(hidden["error"]["message"], "Unknown tool: fail");
    let (_, res) = post(
        &cli,
        "acme",
        Some(&sid),
        rpc(4, "resources/list", json!({})),
    )
    .await;
    assert_eq!(names(&res, "resources", "uri"), ["demo://readme"]);
    let (_, tpl) = post(
        &cli,
        "acme",
        Some(&sid),
        rpc(5, "resources/templates/list", json!({})),
    )
    .await;
    assert!(tpl["result"]["resourceTemplates"]
        .as_array()
        .unwrap()
        .is_empty());
    let (_, read) = post(
        &cli,
        "acme",
        Some(&sid),
        rpc(6, "resources/read", json!({"uri": "demo://profile/bob"})),
    )
    .await;
    assert_eq!(read["error"]["code"], -32002, "{read}");
    let (_, prompts) = post(&cli, "acme", Some(&sid), rpc(7, "prompts/list", json!({}))).await;
    assert!(prompts["result"]["prompts"].as_array().unwrap().is_empty());
    let (_, get) = post(
        &cli,
        "acme",
        Some(&sid),
        rpc(
            8,
            "prompts/get",
            json!({"name": "summarize", "arguments": {"text": "t"}}),
        ),
    )
    .await;
    assert_eq!(get["error"]["code"], -32602);
    let (_, complete) = post(&cli, "acme", Some(&sid), rpc(9, "completion/complete", json!({
        "ref": {"type": "ref/prompt", "name": "summarize"}, "argument": {"name": "style", "value": "b"}}))).await;
    assert_eq!(complete["error"]["code"], -32602);
    // Another entity sees the whole catalog.
    let other = init(&cli, "globex").await;
    let (_, tools) = post(
        &cli,
        "globex",
        Some(&other),
        rpc(10, "tools/list", json!({})),
    )
    .await;
    assert!(names(&tools, "tools", "name").contains(&"fail".to_string()));
    // Cleared: visible again (this instance drops its cached copy at once).
    assert_eq!(admin_config(&cli, "DELETE", "acme", None).await, 200);
    let (_, tools) = post(&cli, "acme", Some(&sid), rpc(11, "tools/list", json!({}))).await;
    assert!(names(&tools, "tools", "name").contains(&"fail".to_string()));
}

#[tokio::test]
async fn live_sessions_per_entity_are_capped() {
    let cli = app(HttpConfig::default(), 0, 0, 2);
    let first = init(&cli, "acme").await;
    let _second = init(&cli, "acme").await;
    let resp = cli
        .post("/acme/mcp")
        .header("accept", ACCEPT)
        .content_type("application/json")
        .body(json!({"jsonrpc":"2.0","id":7,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}).to_string())
        .send()
        .await;
    resp.assert_status(poem::http::StatusCode::TOO_MANY_REQUESTS);
    let body: Value =
        serde_json::from_slice(&resp.0.into_body().into_bytes().await.unwrap()).unwrap();
    assert_eq!(
        (body["error"]["code"].as_i64(), body["id"].as_i64()),
        (Some(-32029), Some(7))
    );
    // Other entities are unaffected; ending a session frees its place.
    init(&cli, "globex").await;
    cli.delete("/acme/mcp")
        .header("mcp-session-id", &first)
        .send()
        .await
        .assert_status_is_ok();
    init(&cli, "acme").await;
}

/// An answer over `max_response_bytes` is replaced by a -32603 error naming its size and the
/// cap, alone or in a batch; smaller answers are untouched. (A batch of `tools/list` calls once
/// made a 306 MB answer.)
#[tokio::test]
async fn answers_over_the_response_cap_become_an_error_naming_it() {
    let cli = client(HttpConfig {
        max_response_bytes: 1500,
        ..HttpConfig::default()
    });
    let sid = init(&cli, "acme").await;
    let (status, body) = post(
        &cli,
        "acme",
        Some(&sid),
        json!({"jsonrpc":"2.0","id":2,"method":"tools/list"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["id"], 2);
    assert_eq!(body["error"]["code"], -32603, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("the cap is 1500 bytes"), "{message}");
    assert!(body["error"]["data"]["bytes"].as_u64().unwrap() > 1500);
    let (_, small) = post(
        &cli,
        "acme",
        Some(&sid),
        json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}),
    )
    .await;
    assert_eq!(small["result"]["content"][0]["text"], "hi", "{small}");

    let sid = batch_session(&cli).await;
    let (status, body) = post(
        &cli,
        "acme",
        Some(&sid),
        json!([{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":2,"method":"ping"}]),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body[0]["error"]["code"], -32603, "{body}");
    assert_eq!(body[1]["result"], json!({}), "{body}");
    // Answers within the cap one by one, but not together: the cap is the batch's.
    let echo = |id: u64| json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":"echo","arguments":{"text":"e".repeat(600)}}});
    let (_, body) = post(&cli, "acme", Some(&sid), json!([echo(1), echo(2), echo(3)])).await;
    assert!(
        body[0]["result"].is_object() && body[1]["result"].is_object(),
        "{body}"
    );
    assert_eq!(body[2]["error"]["code"], -32603, "{body}");
}

/// A session id names a session of one transport: a Streamable HTTP session's id on the legacy
/// `/messages` endpoint, or a legacy session's on `/mcp` (a second reader of its one stream, a
/// DELETE of it), is as unknown as another entity's.
#[tokio::test]
async fn session_ids_work_on_their_own_transport_only() {
    use futures::StreamExt as _;
    let cli = client(HttpConfig::default());
    let streamable = init(&cli, "acme").await;
    let ping = json!({"jsonrpc":"2.0","id":7,"method":"ping"});
    let resp = cli
        .post(format!("/acme/messages?session_id={streamable}"))
        .content_type("application/json")
        .body(ping.to_string())
        .send()
        .await;
    resp.assert_status(poem::http::StatusCode::NOT_FOUND);

    let resp = cli.get("/acme/sse").send().await;
    resp.assert_status_is_ok();
    let mut events = resp.0.into_body().into_bytes_stream();
    let first = events.next().await.expect("the endpoint event").unwrap();
    let first = String::from_utf8_lossy(&first).into_owned();
    let legacy = first
        .split("session_id=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("a session id in the endpoint event")
        .to_string();
    let (status, body) = post(&cli, "acme", Some(&legacy), ping.clone()).await;
    assert_eq!(status, 404, "{body}");
    let resp = cli
        .get("/acme/mcp")
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &legacy)
        .send()
        .await;
    resp.assert_status(poem::http::StatusCode::NOT_FOUND);
    let resp = cli
        .delete("/acme/mcp")
        .header("mcp-session-id", &legacy)
        .send()
        .await;
    resp.assert_status(poem::http::StatusCode::NOT_FOUND);
    // Its own endpoint still takes it: the refusals above touched nothing.
    let resp = cli
        .post(format!("/acme/messages?session_id={legacy}"))
        .content_type("application/json")
        .body(ping.to_string())
        .send()
        .await;
    resp.assert_status(poem::http::StatusCode::ACCEPTED);
    drop(events);
}
