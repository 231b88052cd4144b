//! Federation in process, over real loopback HTTP: the demo server as the upstream, mounted
//! three ways (Streamable HTTP in the handshake era, Streamable HTTP at 2026-07-28, the legacy
//! HTTP+SSE transport) into a proxy whose own catalog is empty. Listing, calls, prompts,
//! resources and templates; elicitation relayed as 2026-07-28 input rounds; progress relayed;
//! an upstream that is down failing its own items only, and recovering by itself.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fastmcp_core::storage::Stores;
use fastmcp_core::McpServer;
use fastmcp_server::outbound::{AllowList, HttpOutbound};
use fastmcp_server::{routes, AppState};
use fastmcp_storage_memory::MemoryStore;
use poem::test::TestClient;
use serde_json::{json, Value};

use super::catalog::{call as admin, mcp, refused_field, serve_on, TOKEN};

/// The demo server on `addr` (a free port when `None`).
async fn upstream(addr: Option<SocketAddr>) -> SocketAddr {
    let builder = McpServer::builder("upstream", "1").with(fastmcp_server::demo::register);
    let state: Arc<AppState> =
        AppState::builder(builder, Stores::of(MemoryStore::default())).build();
    serve_on(routes(state), addr).await
}

/// A proxy with no code items of its own, federating, loopback allowed.
fn proxy() -> TestClient<impl poem::Endpoint> {
    let builder = McpServer::builder("proxy", "1");
    let allow = AllowList::parse(&["127.0.0.1".to_string()]).unwrap();
    let net = Arc::new(HttpOutbound::new(allow).unwrap());
    let state: Arc<AppState> = AppState::builder(builder, Stores::of(MemoryStore::default()))
        .admin_token(TOKEN)
        .catalog(Default::default(), Duration::from_millis(50))
        .outbound(Arc::clone(&net) as _)
        .federation(net)
        .build();
    TestClient::new(routes(state))
}

async fn mount(cli: &TestClient<impl poem::Endpoint>, entity: &str, def: Value) {
    let (s, b) = admin(
        cli,
        "POST",
        &format!("/admin/entities/{entity}/catalog/mcp-servers"),
        Some(def),
    )
    .await;
    assert_eq!(s, 201, "{b}");
}

fn names(answer: &Value, key: &str, field: &str) -> Vec<String> {
    answer["result"][key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t[field].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A 2026-07-28 request from a client that can answer elicitations.
async fn eliciting(cli: &TestClient<impl poem::Endpoint>, entity: &str, params: Value) -> Value {
    let mut params = params;
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}},
    });
    let name = params["name"].as_str().unwrap_or_default().to_string();
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params});
    let resp = cli
        .post(format!("/{entity}/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", name)
        .content_type("application/json")
        .body(body.to_string())
        .send()
        .await;
    serde_json::from_slice(&resp.0.into_body().into_bytes().await.unwrap()).unwrap_or(Value::Null)
}

fn text(answer: &Value) -> String {
    answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn every_transport_and_era_lists_and_forwards() {
    let up = upstream(None).await;
    let cli = proxy();
    mount(&cli, "acme", json!({"name": "hs", "url": format!("http://{up}/u1/mcp"),
                               "headers": [{"name": "X-Key", "value": "k-s3cret", "secret": true}]})).await;
    mount(
        &cli,
        "acme",
        json!({"name": "modern", "url": format!("http://{up}/u2/mcp"), "era": "2026-07-28"}),
    )
    .await;
    mount(
        &cli,
        "acme",
        json!({"name": "legacy", "url": format!("http://{up}/u3/sse"), "transport": "sse",
                               "sessions": "shared"}),
    )
    .await;

    let tools = names(
        &mcp(&cli, "acme", "tools/list", json!({})).await,
        "tools",
        "name",
    );
    for prefix in ["hs", "modern", "legacy"] {
        for t in ["add", "echo", "greet", "count"] {
            assert!(
                tools.contains(&format!("{prefix}_{t}")),
                "{prefix}_{t} in {tools:?}"
            );
        }
    }
    // Another entity mounts nothing.
    let other = names(
        &mcp(&cli, "globex", "tools/list", json!({})).await,
        "tools",
        "name",
    );
    assert!(other.is_empty(), "{other:?}");

    for prefix in ["hs", "modern", "legacy"] {
        let got = mcp(
            &cli,
            "acme",
            "tools/call",
            json!({"name": format!("{prefix}_add"), "arguments": {"a": 2, "b": 3}}),
        )
        .await;
        assert_eq!(
            got["result"]["structuredContent"]["sum"], 5.0,
            "{prefix}: {got}"
        );
        // The upstream's own argument errors come back as its JSON-RPC error.
        let bad = mcp(
            &cli,
            "acme",
            "tools/call",
            json!({"name": format!("{prefix}_add"), "arguments": {"a": "x"}}),
        )
        .await;
        assert_eq!(bad["error"]["code"], -32602, "{prefix}: {bad}");
        // Elicitation: the upstream's question becomes this request's input round, and the
        // call is sent again with the answer.
        let refused = mcp(
            &cli,
            "acme",
            "tools/call",
            json!({"name": format!("{prefix}_greet"), "arguments": {}}),
        )
        .await;
        assert_eq!(
            refused["error"]["code"], -32021,
            "no elicitation capability: {refused}"
        );
        let asked = eliciting(
            &cli,
            "acme",
            json!({"name": format!("{prefix}_greet"), "arguments": {}}),
        )
        .await;
        assert_eq!(
            asked["result"]["resultType"], "input_required",
            "{prefix}: {asked}"
        );
        let (key, q) = asked["result"]["inputRequests"]
            .as_object()
            .unwrap()
            .iter()
            .next()
            .unwrap();
        assert_eq!(q["method"], "elicitation/create");
        let answered = eliciting(
            &cli,
            "acme",
            json!({
                "name": format!("{prefix}_greet"), "arguments": {},
                "requestState": asked["result"]["requestState"],
                "inputResponses": {key.as_str(): {"action": "accept", "content": {"name": "Ada"}}},
            }),
        )
        .await;
        assert_eq!(text(&answered), "Hello, Ada!", "{prefix}: {answered}");
    }

    // Prompts are namespaced; resources and templates keep their URIs (the first mount wins).
    let prompts = names(
        &mcp(&cli, "acme", "prompts/list", json!({})).await,
        "prompts",
        "name",
    );
    assert!(prompts.contains(&"hs_summarize".to_string()), "{prompts:?}");
    let got = mcp(
        &cli,
        "acme",
        "prompts/get",
        json!({"name": "legacy_summarize", "arguments": {"text": "abc"}}),
    )
    .await;
    assert!(
        got["result"]["messages"][0]["content"]["text"]
            .as_str()
            .unwrap()
            .contains("abc"),
        "{got}"
    );
    let read = mcp(
        &cli,
        "acme",
        "resources/read",
        json!({"uri": "demo://readme"}),
    )
    .await;
    assert!(
        read["result"]["contents"][0]["text"]
            .as_str()
            .unwrap()
            .contains("u1"),
        "{read}"
    );
    let read = mcp(
        &cli,
        "acme",
        "resources/read",
        json!({"uri": "demo://profile/bob"}),
    )
    .await;
    let card: Value =
        serde_json::from_str(read["result"]["contents"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(card["name"], "bob");

    // The admin API never shows the secret; the status counts what was listed and called.
    let (_, shown) = admin(
        &cli,
        "GET",
        "/admin/entities/acme/catalog/mcp-servers/hs",
        None,
    )
    .await;
    assert!(
        shown["headers"][0]["value"].is_null() && !shown.to_string().contains("s3cret"),
        "{shown}"
    );
    let (s, status) = admin(
        &cli,
        "GET",
        "/admin/entities/acme/catalog/mcp-servers/hs/status",
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(status["up"], true, "{status}");
    assert_eq!(status["tools"], 9, "{status}");
    assert!(status["calls"].as_u64().unwrap() >= 4, "{status}");

    // Unmounting takes the items away.
    let (s, _) = admin(
        &cli,
        "DELETE",
        "/admin/entities/acme/catalog/mcp-servers/legacy",
        None,
    )
    .await;
    assert_eq!(s, 204);
    let tools = names(
        &mcp(&cli, "acme", "tools/list", json!({})).await,
        "tools",
        "name",
    );
    assert!(
        !tools.iter().any(|t| t.starts_with("legacy_")) && tools.contains(&"hs_add".to_string())
    );
}

#[tokio::test]
async fn progress_is_relayed_on_the_answer_stream() {
    let up = upstream(None).await;
    let cli = proxy();
    mount(
        &cli,
        "acme",
        json!({"name": "hs", "url": format!("http://{up}/u/mcp")}),
    )
    .await;
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
        "name": "hs_count", "arguments": {"n": 3, "delay_ms": 10},
        "_meta": {"progressToken": "p-1",
                  "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                  "io.modelcontextprotocol/clientCapabilities": {}}}});
    let resp = cli
        .post("/acme/mcp")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "hs_count")
        .content_type("application/json")
        .body(body.to_string())
        .send()
        .await;
    let raw = String::from_utf8(resp.0.into_body().into_bytes().await.unwrap().to_vec()).unwrap();
    let progress = raw.matches("notifications/progress").count();
    assert_eq!(progress, 3, "{raw}");
    assert!(
        raw.contains("\"p-1\"") && raw.contains("counted to 3"),
        "{raw}"
    );
}

#[tokio::test]
async fn a_down_upstream_fails_its_own_items_and_recovers() {
    let live = upstream(None).await;
    // A port with nothing behind it (yet).
    let spare = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let later = spare.local_addr().unwrap();
    drop(spare);
    let cli = proxy();
    mount(
        &cli,
        "acme",
        json!({"name": "live", "url": format!("http://{live}/u/mcp")}),
    )
    .await;
    mount(
        &cli,
        "acme",
        json!({"name": "late", "url": format!("http://{later}/u/mcp"), "timeout_ms": 2000}),
    )
    .await;

    let listed = mcp(&cli, "acme", "tools/list", json!({})).await;
    let tools = names(&listed, "tools", "name");
    assert!(tools.contains(&"live_add".to_string()), "{listed}");
    assert!(!tools.iter().any(|t| t.starts_with("late_")), "{tools:?}");
    let (_, status) = admin(
        &cli,
        "GET",
        "/admin/entities/acme/catalog/mcp-servers/late/status",
        None,
    )
    .await;
    assert_eq!(status["up"], false, "{status}");
    assert!(
        status["last_error"]
            .as_str()
            .unwrap()
            .contains("unreachable"),
        "{status}"
    );

    // It comes up: within the retry backoff its items appear, with no one's intervention.
    upstream(Some(later)).await;
    let started = Instant::now();
    loop {
        let tools = names(
            &mcp(&cli, "acme", "tools/list", json!({})).await,
            "tools",
            "name",
        );
        if tools.contains(&"late_add".to_string()) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "never recovered: {tools:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let got = mcp(
        &cli,
        "acme",
        "tools/call",
        json!({"name": "late_add", "arguments": {"a": 1, "b": 1}}),
    )
    .await;
    assert_eq!(got["result"]["structuredContent"]["sum"], 2.0, "{got}");
    let (_, status) = admin(
        &cli,
        "GET",
        "/admin/entities/acme/catalog/mcp-servers/late/status",
        None,
    )
    .await;
    assert_eq!(status["up"], true, "{status}");
    let metrics = cli
        .get("/metrics")
        .header("authorization", format!("Bearer {TOKEN}"))
        .send()
        .await
        .0
        .into_body()
        .into_string()
        .await
        .unwrap();
    assert!(
        metrics.contains("fastmcp_upstream_up{mount=\"late\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("fastmcp_upstream_calls_total{mount=\"late\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn mounts_are_validated_and_the_guard_applies() {
    let cli = proxy();
    const PATH: &str = "/admin/entities/acme/catalog/mcp-servers";

    assert_eq!(
        refused_field(&cli, PATH, json!({"name": "a_b", "url": "http://h/mcp"})).await,
        "name"
    );
    assert_eq!(
        refused_field(&cli, PATH, json!({"name": "a", "url": "ftp://h"})).await,
        "url"
    );
    assert_eq!(
        refused_field(
            &cli,
            PATH,
            json!({"name": "a", "url": "http://h/sse", "transport": "sse", "era": "2026-07-28"})
        )
        .await,
        "era"
    );
    assert_eq!(
        refused_field(&cli, PATH, json!({"name": "a", "url": "http://h/mcp", "headers": [{"name": "Mcp-Session-Id", "value": "x"}]})).await,
        "headers[0].name"
    );
    refused_field(
        &cli,
        PATH,
        json!({"name": "a", "url": "http://h/mcp", "transport": "carrier-pigeon"}),
    )
    .await;

    // The SSRF guard: a link-local upstream is refused before any connection.
    mount(
        &cli,
        "acme",
        json!({"name": "meta", "url": "http://169.254.169.254/mcp"}),
    )
    .await;
    let (_, status) = admin(
        &cli,
        "GET",
        "/admin/entities/acme/catalog/mcp-servers/meta/status",
        None,
    )
    .await;
    assert_eq!(status["up"], false);
    assert!(
        status["last_error"].as_str().unwrap().contains("refused"),
        "{status}"
    );
}
