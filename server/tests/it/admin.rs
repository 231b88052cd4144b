//! The admin REST API in process: every endpoint, its errors, auth, and the OpenAPI snapshot.

use std::sync::Arc;

use fastmcp_core::storage::Stores;
use fastmcp_core::McpServer;
use fastmcp_server::{routes, AppState};
use fastmcp_storage_memory::MemoryStore;
use poem::test::{TestClient, TestResponse};
use serde_json::{json, Value};

const TOKEN: &str = "admin-secret";

fn state() -> Arc<AppState> {
    let builder = McpServer::builder("t", "1").with(fastmcp_server::demo::register);
    AppState::builder(builder, Stores::of(MemoryStore::default()))
        .instance_id("i1")
        .admin_token(TOKEN)
        .build()
}

async fn body(resp: TestResponse) -> (u16, Value) {
    let status = resp.0.status().as_u16();
    let bytes = resp.0.into_body().into_bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn get(cli: &TestClient<impl poem::Endpoint>, path: &str) -> (u16, Value) {
    body(
        cli.get(path)
            .header("authorization", format!("Bearer {TOKEN}"))
            .send()
            .await,
    )
    .await
}

async fn post(cli: &TestClient<impl poem::Endpoint>, path: &str, json: Value) -> (u16, Value) {
    let req = cli
        .post(path)
        .header("authorization", format!("Bearer {TOKEN}"));
    body(
        req.content_type("application/json")
            .body(json.to_string())
            .send()
            .await,
    )
    .await
}

#[tokio::test]
async fn every_route_needs_the_token() {
    let cli = TestClient::new(routes(state()));
    for path in [
        "/admin/tools",
        "/admin/server",
        "/admin/sessions?entity_id=a",
        "/admin/entities/a/logs",
    ] {
        let (status, b) = body(cli.get(path).send().await).await;
        assert_eq!(status, 401, "{path}");
        assert_eq!(b["code"], "unauthorized");
        let (status, _) = body(
            cli.get(path)
                .header("authorization", "Bearer wrong")
                .send()
                .await,
        )
        .await;
        assert_eq!(status, 401, "{path}");
    }
    let resp = cli.get("/admin/tools").send().await;
    assert!(resp.0.headers().get("www-authenticate").is_some());
}

#[tokio::test]
async fn catalog_routes() {
    let cli = TestClient::new(routes(state()));
    let (s, tools) = get(&cli, "/admin/tools").await;
    assert_eq!(s, 200);
    let names: Vec<&str> = tools
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "echo",
            "add",
            "whoami",
            "count",
            "fail",
            "remember",
            "recall",
            "greet",
            "announce_change"
        ]
    );
    let (s, add) = get(&cli, "/admin/tools/add").await;
    assert_eq!(s, 200);
    assert_eq!(add["outputSchema"]["properties"]["sum"]["type"], "number");
    assert_eq!(get(&cli, "/admin/tools/nope").await.0, 404);
    let (_, res) = get(&cli, "/admin/resources").await;
    assert_eq!(res[0]["uri"], "demo://readme");
    let (_, tpl) = get(&cli, "/admin/resource-templates").await;
    assert_eq!(tpl[0]["uriTemplate"], "demo://profile/{name}");
    let (_, prompts) = get(&cli, "/admin/prompts").await;
    let args = prompts[0]["arguments"].as_array().unwrap();
    assert!(args
        .iter()
        .any(|a| a["name"] == "text" && a["required"] == true));
    let (s, server) = get(&cli, "/admin/server").await;
    assert_eq!(s, 200);
    assert_eq!(server["store"], "memory");
    assert_eq!(server["protocol_versions"][0], "2025-11-25");
}

#[tokio::test]
async fn calling_tools_reading_resources_rendering_prompts() {
    let cli = TestClient::new(routes(state()));
    let (s, r) = post(
        &cli,
        "/admin/tools/add/call",
        json!({"entity_id": "acme", "arguments": {"a": 2, "b": 3}}),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["structuredContent"]["sum"], 5.0);
    assert_eq!(r["isError"], false);
    let (s, r) = post(
        &cli,
        "/admin/tools/whoami/call",
        json!({"entity_id": "acme"}),
    )
    .await;
    assert_eq!(
        (s, &r["structuredContent"]["entity_id"]),
        (200, &json!("acme"))
    );
    let (s, r) = post(
        &cli,
        "/admin/tools/fail/call",
        json!({"entity_id": "acme", "arguments": {"message": "boom"}}),
    )
    .await;
    assert_eq!(
        (s, &r["isError"], &r["content"][0]["text"]),
        (200, &json!(true), &json!("boom"))
    );
    let (s, r) = post(
        &cli,
        "/admin/tools/add/call",
        json!({"entity_id": "acme", "arguments": {"a": 2, "b": "x"}}),
    )
    .await;
    assert_eq!(
        (s, r["code"].as_str(), r["field"].as_str()),
        (422, Some("invalid_argument"), Some("b")),
        "{r}"
    );
    // A tool that asks the client for input has nobody to ask here: 422, not a server error.
    let (s, r) = post(
        &cli,
        "/admin/tools/greet/call",
        json!({"entity_id": "acme"}),
    )
    .await;
    assert_eq!(
        (s, r["code"].as_str()),
        (422, Some("needs_client_input")),
        "{r}"
    );
    let (s, r) = post(
        &cli,
        "/admin/tools/add/call",
        json!({"entity_id": "acme", "arguments": {"a": 2}}),
    )
    .await;
    assert_eq!((s, r["field"].as_str()), (422, Some("b")), "{r}");
    let (s, r) = post(
        &cli,
        "/admin/tools/echo/call",
        json!({"entity_id": "no way"}),
    )
    .await;
    assert_eq!((s, r["field"].as_str()), (422, Some("entity_id")), "{r}");
    let (s, _) = post(&cli, "/admin/tools/nope/call", json!({"entity_id": "acme"})).await;
    assert_eq!(s, 404);
    let (s, r) = post(
        &cli,
        "/admin/tools/echo/call",
        json!({"entity_id": "acme", "arguments": [1]}),
    )
    .await;
    assert_eq!(s, 422, "{r}");
    let (s, r) = body(
        cli.post("/admin/tools/echo/call")
            .header("authorization", format!("Bearer {TOKEN}"))
            .content_type("application/json")
            .body("{not json")
            .send()
            .await,
    )
    .await;
    assert_eq!((s, r["code"].as_str()), (400, Some("bad_request")), "{r}");

    let (s, r) = get(
        &cli,
        "/admin/resources/read?entity_id=acme&uri=demo://profile/bob",
    )
    .await;
    assert_eq!(s, 200);
    let text: Value = serde_json::from_str(r["contents"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(text, json!({"name": "bob", "entity_id": "acme"}));
    assert_eq!(
        get(&cli, "/admin/resources/read?entity_id=acme&uri=nope://x")
            .await
            .0,
        404
    );

    let (s, r) = get(
        &cli,
        "/admin/prompts/summarize?entity_id=acme&text=hi&style=detailed",
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        r["messages"][0]["content"]["text"],
        "Summarize the following text in a detailed style:\n\nhi"
    );
    let (s, r) = get(&cli, "/admin/prompts/summarize?entity_id=acme").await;
    assert_eq!((s, r["field"].as_str()), (422, Some("text")), "{r}");
    assert_eq!(get(&cli, "/admin/prompts/nope?entity_id=acme").await.0, 404);
    // The same unknown prompt through completion: the same answer (it was 422), by kind.
    let (s, r) = post(
        &cli,
        "/admin/complete",
        json!({"entityId": "acme", "refType": "ref/prompt", "name": "nope", "argument": "style", "value": ""}),
    )
    .await;
    assert_eq!((s, r["code"].as_str()), (404, Some("not_found")), "{r}");
    assert_eq!(r["message"], "Unknown prompt: nope");

    let (s, r) = post(&cli, "/admin/complete", json!({"refType": "ref/resource", "name": "demo://profile/{name}", "argument": "name", "value": "c", "entityId": "acme"})).await;
    assert_eq!((s, &r["values"]), (200, &json!(["carol"])), "{r}");
    let (s, _) = post(
        &cli,
        "/admin/complete",
        json!({"refType": "ref/other", "name": "x", "argument": "y", "entityId": "acme"}),
    )
    .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn sessions_logs_and_levels() {
    let st = state();
    let cli = TestClient::new(routes(Arc::clone(&st)));
    // A session opened over MCP.
    let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}});
    let resp = cli
        .post("/acme/mcp")
        .header("accept", "application/json, text/event-stream")
        .content_type("application/json")
        .body(init.to_string())
        .send()
        .await;
    let sid = resp
        .0
        .headers()
        .get("mcp-session-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let mcp_call = |id: i64, name: &str, args: Value| json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":name,"arguments":args,"_meta":{"progressToken":"p"}}});
    let send = |body: Value| {
        cli.post("/acme/mcp")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", sid.clone())
            .content_type("application/json")
            .body(body.to_string())
            .send()
    };
    let r = send(mcp_call(2, "count", json!({"n": 2, "delay_ms": 0}))).await;
    let text = r.0.into_body().into_string().await.unwrap();
    assert!(
        text.contains("step 2 of 2"),
        "info logs are sent at the default level: {text}"
    );

    let (s, page) = get(&cli, "/admin/sessions?entity_id=acme").await;
    assert_eq!(s, 200);
    assert_eq!(page["sessions"][0]["id"], sid);
    assert_eq!(page["sessions"][0]["client_info"]["name"], "t");
    let (s, one) = get(&cli, &format!("/admin/sessions/{sid}?entity_id=acme")).await;
    assert_eq!((s, &one["protocol_version"]), (200, &json!("2025-11-25")));
    assert_eq!(
        get(&cli, &format!("/admin/sessions/{sid}?entity_id=other"))
            .await
            .0,
        404,
        "entity-scoped"
    );

    let (s, logs) = get(&cli, &format!("/admin/sessions/{sid}/logs?entity_id=acme")).await;
    assert_eq!(s, 200);
    let messages: Vec<&str> = logs
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert!(
        messages.contains(&"step 2 of 2") && messages.contains(&"progress 2 of 2"),
        "{messages:?}"
    );
    let (_, by_entity) = get(&cli, "/admin/entities/acme/logs?limit=1").await;
    assert_eq!(by_entity.as_array().unwrap().len(), 1);
    assert_eq!(get(&cli, "/admin/entities/other/logs").await.1, json!([]));

    // The session's level, set through the admin API, governs its next messages.
    let (s, r) = post(
        &cli,
        "/admin/logging-level",
        json!({"level": "warning", "session_id": sid, "entity_id": "acme"}),
    )
    .await;
    assert_eq!((s, &r["scope"]), (200, &json!("session")), "{r}");
    let r = send(mcp_call(3, "count", json!({"n": 2, "delay_ms": 0}))).await;
    let text = r.0.into_body().into_string().await.unwrap();
    assert!(
        !text.contains("step 1 of 2"),
        "no info logs at warning: {text}"
    );
    let (s, r) = post(&cli, "/admin/logging-level", json!({"level": "debug"})).await;
    assert_eq!((s, &r["scope"]), (200, &json!("server")));
    assert_eq!(st.mcp.default_log_level().as_str(), "debug");
    let (s, _) = post(&cli, "/admin/logging-level", json!({"level": "loud"})).await;
    assert_eq!(s, 400);
    let (s, r) = post(
        &cli,
        "/admin/logging-level",
        json!({"level": "info", "session_id": sid}),
    )
    .await;
    assert_eq!((s, r["field"].as_str()), (422, Some("entity_id")));

    // Deleting ends it: an open standalone stream closes, later requests get 404.
    let stream = cli
        .get("/acme/mcp")
        .header("accept", "text/event-stream")
        .header("mcp-session-id", sid.clone())
        .send()
        .await;
    assert_eq!(stream.0.status().as_u16(), 200);
    let (s, _) = body(
        cli.delete(format!("/admin/sessions/{sid}?entity_id=acme"))
            .header("authorization", format!("Bearer {TOKEN}"))
            .send()
            .await,
    )
    .await;
    assert_eq!(s, 200);
    let rest = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stream.0.into_body().into_string(),
    )
    .await
    .expect("the open stream ends when its session is deleted");
    assert!(rest.is_ok());
    assert_eq!(
        send(json!({"jsonrpc":"2.0","id":9,"method":"ping"}))
            .await
            .0
            .status()
            .as_u16(),
        404
    );
    assert_eq!(
        body(
            cli.delete(format!("/admin/sessions/{sid}?entity_id=acme"))
                .header("authorization", format!("Bearer {TOKEN}"))
                .send()
                .await
        )
        .await
        .0,
        404
    );
}

/// Fails when the OpenAPI document changes without the snapshot; `UPDATE_SNAPSHOTS=1` rewrites it.
#[test]
fn openapi_document_matches_the_snapshot() {
    let spec = fastmcp_server::admin::service(state()).spec();
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/openapi.json");
    if std::env::var("UPDATE_SNAPSHOTS").is_ok() {
        std::fs::write(&path, &spec).unwrap();
    }
    let expected =
        std::fs::read_to_string(&path).expect("snapshot exists (run with UPDATE_SNAPSHOTS=1)");
    let (a, b): (Value, Value) = (
        serde_json::from_str(&spec).unwrap(),
        serde_json::from_str(&expected).unwrap(),
    );
    assert!(
        a == b,
        "the OpenAPI document changed: review it and rerun with UPDATE_SNAPSHOTS=1"
    );
}

/// A body over the server's body limit is refused before it is read whole: 413, in the one
/// JSON error shape.
#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let builder = McpServer::builder("t", "1").with(fastmcp_server::demo::register);
    let http = fastmcp_server::config::HttpConfig {
        body_limit: 1024,
        ..Default::default()
    };
    let state = AppState::builder(builder, Stores::of(MemoryStore::default()))
        .admin_token(TOKEN)
        .http(http)
        .build();
    let cli = TestClient::new(routes(state));
    let big = json!({ "entity_id": "acme", "name": "x".repeat(4096) });
    let (status, err) = post(&cli, "/admin/api-keys", big).await;
    assert_eq!(status, 413, "{err}");
    assert_eq!(err["code"], "too_large", "{err}");
    let small = json!({ "entity_id": "acme", "name": "fits" });
    let (status, _) = post(&cli, "/admin/api-keys", small).await;
    assert!(status < 400, "{status}");
}
