//! The stored catalog through the admin API, in process: create, replace, read, list and
//! delete per entity and global; every error with its status and field; the per-scope cap;
//! visibility over stored items; and what an MCP client of the entity (and of another) sees.

use std::sync::Arc;

use fastmcp_core::storage::Stores;
use fastmcp_core::McpServer;
use fastmcp_server::{routes, AppState};
use fastmcp_storage_memory::MemoryStore;
use poem::test::TestClient;
use serde_json::{json, Value};

pub(crate) const TOKEN: &str = "catalog-token";

/// Serves `app` in the background on `addr`, a free loopback port when `None`; its address.
/// For the services tests make outbound requests to (HTTP tools, OpenAPI documents, upstream
/// MCP servers).
pub(crate) async fn serve_on<E>(app: E, addr: Option<std::net::SocketAddr>) -> std::net::SocketAddr
where
    E: poem::IntoEndpoint + Send + 'static,
    E::Endpoint: 'static,
{
    let any = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let acceptor = fastmcp_server::connections::NoDelayAcceptor::bind(addr.unwrap_or(any))
        .await
        .unwrap();
    let addr = acceptor.local_addr().unwrap();
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    addr
}
const ACCEPT: &str = "application/json, text/event-stream";

fn app(max_items: usize) -> TestClient<impl poem::Endpoint> {
    let builder = McpServer::builder("t", "1").with(fastmcp_server::demo::register);
    let state: Arc<AppState> = AppState::builder(builder, Stores::of(MemoryStore::default()))
        .admin_token(TOKEN)
        .catalog(
            fastmcp_core::catalog::CatalogCaps {
                max_items,
                ..Default::default()
            },
            std::time::Duration::from_millis(50),
        )
        .build();
    TestClient::new(routes(state))
}

/// An admin request with the token; the status and the JSON body.
pub(crate) async fn call(
    cli: &TestClient<impl poem::Endpoint>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let r = match method {
        "POST" => cli.post(path),
        "PUT" => cli.put(path),
        "DELETE" => cli.delete(path),
        _ => cli.get(path),
    }
    .header("authorization", format!("Bearer {TOKEN}"));
    let resp = match body {
        Some(b) => {
            r.content_type("application/json")
                .body(b.to_string())
                .send()
                .await
        }
        None => r.send().await,
    };
    let status = resp.0.status().as_u16();
    let bytes = resp.0.into_body().into_bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// POSTs `body` to the admin `path`, which must refuse it with 422; the field it names.
pub(crate) async fn refused_field(
    cli: &TestClient<impl poem::Endpoint>,
    path: &str,
    body: Value,
) -> String {
    let (s, b) = call(cli, "POST", path, Some(body)).await;
    assert_eq!(s, 422, "{b}");
    b["field"].as_str().unwrap_or_default().to_string()
}

/// A 2026-07-28 request of `entity`; the JSON-RPC answer.
pub(crate) async fn mcp(
    cli: &TestClient<impl poem::Endpoint>,
    entity: &str,
    method: &str,
    params: Value,
) -> Value {
    let mut params = params;
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let mut req = cli
        .post(format!("/{entity}/mcp"))
        .header("accept", ACCEPT)
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method);
    if let Some(name) = params
        .get("name")
        .or(params.get("uri"))
        .and_then(Value::as_str)
    {
        req = req.header("mcp-name", name);
    }
    let resp = req
        .content_type("application/json")
        .body(body.to_string())
        .send()
        .await;
    let bytes = resp.0.into_body().into_bytes().await.unwrap();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

fn listed(answer: &Value, key: &str, field: &str) -> Vec<String> {
    answer["result"][key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i[field].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn review() -> Value {
    json!({
        "name": "review", "description": "Review a change",
        "arguments": [{"name": "diff", "required": true}, {"name": "focus", "suggestions": ["speed"]}],
        "messages": [{"role": "user", "text": "Review {diff} ({focus})"}]
    })
}

#[tokio::test]
async fn prompts_are_created_served_replaced_and_deleted() {
    let cli = app(100);
    let base = "/admin/entities/acme/catalog/prompts";
    let (s, b) = call(&cli, "POST", base, Some(review())).await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["name"], "review");

    // Served to the entity at once by the instance that stored it; not to another entity.
    let list = mcp(&cli, "acme", "prompts/list", json!({})).await;
    assert_eq!(listed(&list, "prompts", "name"), ["summarize", "review"]);
    let got = mcp(
        &cli,
        "acme",
        "prompts/get",
        json!({"name": "review", "arguments": {"diff": "+x"}}),
    )
    .await;
    assert_eq!(
        got["result"]["messages"][0]["content"]["text"],
        "Review +x ()"
    );
    let missing = mcp(
        &cli,
        "acme",
        "prompts/get",
        json!({"name": "review", "arguments": {}}),
    )
    .await;
    assert_eq!(missing["error"]["code"], -32602, "{missing}");
    assert!(missing["error"]["message"]
        .as_str()
        .unwrap()
        .contains("`diff`"));
    let other = mcp(&cli, "other", "prompts/list", json!({})).await;
    assert_eq!(listed(&other, "prompts", "name"), ["summarize"]);

    let (s, b) = call(&cli, "POST", base, Some(review())).await;
    assert_eq!((s, b["code"].as_str()), (409, Some("conflict")), "{b}");
    let (s, b) = call(&cli, "GET", &format!("{base}/review"), None).await;
    assert_eq!(s, 200);
    assert_eq!(b["arguments"][1]["suggestions"], json!(["speed"]));
    let (s, b) = call(&cli, "GET", base, None).await;
    assert_eq!((s, b.as_array().map(Vec::len)), (200, Some(1)));

    let mut replaced = review();
    replaced["messages"][0]["text"] = json!("Look at {diff}");
    let (s, _) = call(
        &cli,
        "PUT",
        &format!("{base}/review"),
        Some(replaced.clone()),
    )
    .await;
    assert_eq!(s, 200);
    let got = mcp(
        &cli,
        "acme",
        "prompts/get",
        json!({"name": "review", "arguments": {"diff": "y"}}),
    )
    .await;
    assert_eq!(got["result"]["messages"][0]["content"]["text"], "Look at y");
    let (s, b) = call(&cli, "PUT", &format!("{base}/other-name"), Some(replaced)).await;
    assert_eq!((s, b["field"].as_str()), (422, Some("name")), "{b}");

    let (s, _) = call(&cli, "DELETE", &format!("{base}/review"), None).await;
    assert_eq!(s, 204);
    let (s, b) = call(&cli, "DELETE", &format!("{base}/review"), None).await;
    assert_eq!((s, b["code"].as_str()), (404, Some("not_found")));
    let (s, _) = call(&cli, "GET", &format!("{base}/review"), None).await;
    assert_eq!(s, 404);
    let got = mcp(
        &cli,
        "acme",
        "prompts/get",
        json!({"name": "review", "arguments": {"diff": "y"}}),
    )
    .await;
    assert!(got["error"].is_object(), "deleted: {got}");
}

#[tokio::test]
async fn bad_definitions_are_422_naming_the_field_and_store_nothing() {
    let cli = app(100);
    let base = "/admin/entities/acme/catalog";
    let cases = [
        (
            "prompts",
            json!({"name": "p", "messages": [{"role": "user", "text": "hi {who}"}]}),
            "messages[0].text",
        ),
        (
            "prompts",
            json!({"name": "has space", "messages": [{"role": "user", "text": "x"}]}),
            "name",
        ),
        (
            "prompts",
            json!({"name": "p", "description": "x".repeat(1 << 20), "messages": [{"role": "user", "text": "x"}]}),
            "description",
        ),
        ("prompts", json!({"name": "p", "messages": []}), "messages"),
        (
            "resources",
            json!({"uri": "no-scheme", "name": "r", "text": "x"}),
            "uri",
        ),
        (
            "resources",
            json!({"uri": "notes://a", "name": "r"}),
            "text",
        ),
        (
            "resources",
            json!({"uri": "notes://a", "name": "r", "blob": "not base64!"}),
            "blob",
        ),
        (
            "resource-templates",
            json!({"uri_template": "notes://{id", "name": "t", "text": "x"}),
            "uri_template",
        ),
        (
            "resource-templates",
            json!({"uri_template": "notes://{id}", "name": "t", "text": "{other}"}),
            "text",
        ),
        (
            "resource-templates",
            json!({"uri_template": "notes://{id}", "name": "t", "text": "x", "completions": {"nope": ["a"]}}),
            "completions.nope",
        ),
    ];
    for (kind, body, field) in cases {
        let (s, b) = call(&cli, "POST", &format!("{base}/{kind}"), Some(body)).await;
        assert_eq!(s, 422, "{kind} {field}: {b}");
        assert_eq!(b["field"], field, "{b}");
        assert_eq!(b["code"], "invalid_argument");
    }
    let (_, b) = call(&cli, "GET", base, None).await;
    assert_eq!(b["items"], json!([]), "nothing stored");
    assert_eq!(b["version"], 0);

    // A code-defined name cannot be shadowed.
    let (s, b) = call(
        &cli,
        "POST",
        &format!("{base}/prompts"),
        Some(json!({"name": "summarize", "messages": [{"role": "user", "text": "x"}]})),
    )
    .await;
    assert_eq!(s, 409, "{b}");
    assert!(b["message"].as_str().unwrap().contains("code-defined"));
    // A bad scope.
    let (s, b) = call(&cli, "GET", "/admin/entities/a%20b/catalog", None).await;
    assert_eq!((s, b["field"].as_str()), (422, Some("entity_id")), "{b}");
}

#[tokio::test]
async fn a_scope_holds_at_most_its_cap() {
    let cli = app(3);
    let base = "/admin/entities/acme/catalog/resources";
    for i in 0..3 {
        let (s, b) = call(
            &cli,
            "POST",
            base,
            Some(json!({"uri": format!("notes://{i}"), "name": "n", "text": "x"})),
        )
        .await;
        assert_eq!(s, 201, "{b}");
    }
    let (s, b) = call(
        &cli,
        "POST",
        base,
        Some(json!({"uri": "notes://3", "name": "n", "text": "x"})),
    )
    .await;
    assert_eq!(s, 422, "{b}");
    assert!(
        b["message"].as_str().unwrap().contains("holds 3 items"),
        "{b}"
    );
    // Replacing at the cap is fine; another entity has its own cap.
    let (s, _) = call(
        &cli,
        "PUT",
        &format!("{base}/item?uri=notes://0"),
        Some(json!({"uri": "notes://0", "name": "n", "text": "new"})),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = call(
        &cli,
        "POST",
        "/admin/entities/other/catalog/resources",
        Some(json!({"uri": "notes://3", "name": "n", "text": "x"})),
    )
    .await;
    assert_eq!(s, 201);
    let read = mcp(&cli, "acme", "resources/read", json!({"uri": "notes://0"})).await;
    assert_eq!(read["result"]["contents"][0]["text"], "new");
}

#[tokio::test]
async fn templates_and_global_items_with_visibility() {
    let cli = app(100);
    let (s, b) = call(
        &cli,
        "POST",
        "/admin/entities/*/catalog/resource-templates",
        Some(
            json!({"uri_template": "kb://{topic}", "name": "kb", "mime_type": "text/plain",
                    "text": "About {topic}", "completions": {"topic": ["rust", "redis"]}}),
        ),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let (s, _) = call(
        &cli,
        "POST",
        "/admin/entities/*/catalog/resources",
        Some(json!({"uri": "docs://index", "name": "index", "blob": "aGVsbG8="})),
    )
    .await;
    assert_eq!(s, 201);
    for entity in ["acme", "other"] {
        let read = mcp(&cli, entity, "resources/read", json!({"uri": "kb://rust"})).await;
        assert_eq!(
            read["result"]["contents"][0]["text"], "About rust",
            "{entity}: {read}"
        );
        let read = mcp(
            &cli,
            entity,
            "resources/read",
            json!({"uri": "docs://index"}),
        )
        .await;
        assert_eq!(read["result"]["contents"][0]["blob"], "aGVsbG8=");
        let done = mcp(
            &cli,
            entity,
            "completion/complete",
            json!({"ref": {"type": "ref/resource", "uri": "kb://{topic}"}, "argument": {"name": "topic", "value": "re"}}),
        )
        .await;
        assert_eq!(done["result"]["completion"]["values"], json!(["redis"]));
    }
    let (s, b) = call(
        &cli,
        "GET",
        "/admin/entities/*/catalog/resource-templates/item?uri_template=kb://%7Btopic%7D",
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["completions"]["topic"], json!(["rust", "redis"]));

    // The entity's visibility rules apply to stored items as to code ones.
    let (s, _) = call(
        &cli,
        "PUT",
        "/admin/entities/acme/config",
        Some(json!({"resources": {"hide": ["kb://{topic}"]}})),
    )
    .await;
    assert_eq!(s, 200);
    let list = mcp(&cli, "acme", "resources/templates/list", json!({})).await;
    assert!(
        !listed(&list, "resourceTemplates", "uriTemplate").contains(&"kb://{topic}".to_string()),
        "{list}"
    );
    let read = mcp(&cli, "acme", "resources/read", json!({"uri": "kb://rust"})).await;
    assert!(read["error"].is_object(), "hidden: {read}");
    let list = mcp(&cli, "other", "resources/templates/list", json!({})).await;
    assert!(listed(&list, "resourceTemplates", "uriTemplate").contains(&"kb://{topic}".to_string()));

    let (s, _) = call(
        &cli,
        "DELETE",
        "/admin/entities/*/catalog/resources/item?uri=docs://index",
        None,
    )
    .await;
    assert_eq!(s, 204);
    let read = mcp(
        &cli,
        "other",
        "resources/read",
        json!({"uri": "docs://index"}),
    )
    .await;
    assert!(read["error"].is_object(), "deleted globally: {read}");
}

#[tokio::test]
async fn transforms_rename_and_prefix_what_an_entity_sees() {
    let cli = app(100);
    let (s, _) = call(
        &cli,
        "POST",
        "/admin/entities/acme/catalog/prompts",
        Some(review()),
    )
    .await;
    assert_eq!(s, 201);
    let config = json!({
        "tools": {"hide": ["acme_fail"]},
        "transforms": {"prefix": "acme_", "tool_renames": {"echo": "say"}, "prompt_renames": {"review": "critique"}}
    });
    let (s, b) = call(&cli, "PUT", "/admin/entities/acme/config", Some(config)).await;
    assert_eq!(s, 200, "{b}");
    let (_, b) = call(&cli, "GET", "/admin/entities/acme/config", None).await;
    assert_eq!(b["transforms"]["prefix"], "acme_");

    let tools = listed(
        &mcp(&cli, "acme", "tools/list", json!({})).await,
        "tools",
        "name",
    );
    assert!(
        tools.contains(&"say".to_string()) && tools.contains(&"acme_add".to_string()),
        "{tools:?}"
    );
    assert!(!tools.contains(&"echo".to_string()) && !tools.contains(&"acme_echo".to_string()));
    assert!(
        !tools.contains(&"acme_fail".to_string()),
        "visibility uses the names the entity sees"
    );
    let r = mcp(
        &cli,
        "acme",
        "tools/call",
        json!({"name": "say", "arguments": {"text": "hi"}}),
    )
    .await;
    assert_eq!(r["result"]["content"][0]["text"], "hi", "{r}");
    let r = mcp(
        &cli,
        "acme",
        "tools/call",
        json!({"name": "acme_add", "arguments": {"a": 1, "b": 2}}),
    )
    .await;
    assert_eq!(r["result"]["structuredContent"]["sum"], 3.0, "{r}");
    let r = mcp(
        &cli,
        "acme",
        "tools/call",
        json!({"name": "echo", "arguments": {"text": "hi"}}),
    )
    .await;
    assert!(r["error"].is_object(), "the old name is gone: {r}");

    let prompts = listed(
        &mcp(&cli, "acme", "prompts/list", json!({})).await,
        "prompts",
        "name",
    );
    assert_eq!(prompts, ["acme_summarize", "critique"]);
    let r = mcp(
        &cli,
        "acme",
        "prompts/get",
        json!({"name": "critique", "arguments": {"diff": "d"}}),
    )
    .await;
    assert_eq!(
        r["result"]["messages"][0]["content"]["text"], "Review d ()",
        "{r}"
    );
    let done = mcp(
        &cli,
        "acme",
        "completion/complete",
        json!({"ref": {"type": "ref/prompt", "name": "critique"}, "argument": {"name": "focus", "value": "s"}}),
    )
    .await;
    assert_eq!(
        done["result"]["completion"]["values"],
        json!(["speed"]),
        "{done}"
    );

    // Another entity keeps the registered names.
    let tools = listed(
        &mcp(&cli, "other", "tools/list", json!({})).await,
        "tools",
        "name",
    );
    assert!(tools.contains(&"echo".to_string()) && tools.contains(&"fail".to_string()));

    let (s, b) = call(
        &cli,
        "PUT",
        "/admin/entities/acme/config",
        Some(json!({"transforms": {"prefix": "bad prefix"}})),
    )
    .await;
    assert_eq!(
        (s, b["field"].as_str()),
        (422, Some("transforms.prefix")),
        "{b}"
    );
}
