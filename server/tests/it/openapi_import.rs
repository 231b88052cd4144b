//! OpenAPI imports, in process but over real loopback HTTP (allowed explicitly): the server's
//! own `/openapi.json` imported by URL and its admin API called as tools; an inline YAML
//! document of a small service with path, query, header and body parameters, an error status,
//! and operations that cannot be imported reported and skipped; re-import, secrets, delete.

use std::net::SocketAddr;
use std::sync::Arc;

use fastmcp_core::storage::Stores;
use fastmcp_core::McpServer;
use fastmcp_server::outbound::{AllowList, HttpOutbound};
use fastmcp_server::{routes, AppState};
use fastmcp_storage_memory::MemoryStore;
use poem::test::TestClient;
use poem::web::{Json, Path, Query};
use poem::{handler, EndpointExt, Request, Route};
use serde_json::{json, Value};

use super::catalog::{call as admin, mcp, refused_field, serve_on, TOKEN};

/// The app, served on a free loopback port too (so it can fetch and call itself).
async fn app(allow: &[&str]) -> (TestClient<impl poem::Endpoint>, SocketAddr) {
    let builder = McpServer::builder("t", "1").with(fastmcp_server::demo::register);
    let allow = AllowList::parse(&allow.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    let state: Arc<AppState> = AppState::builder(builder, Stores::of(MemoryStore::default()))
        .admin_token(TOKEN)
        .outbound(Arc::new(HttpOutbound::new(allow).unwrap()))
        .build();
    let addr = serve_on(routes(Arc::clone(&state)), None).await;
    (TestClient::new(routes(state)), addr)
}

#[handler]
fn get_item(Path(id): Path<u32>, Query(q): Query<Value>, req: &Request) -> poem::Response {
    if id == 404 {
        return poem::Response::builder()
            .status(poem::http::StatusCode::NOT_FOUND)
            .content_type("application/json")
            .body(r#"{"detail":"no item 404"}"#);
    }
    Json(json!({
        "id": id,
        "query": q,
        "trace": req.header("x-trace").unwrap_or(""),
        "key": req.header("x-api-key").unwrap_or(""),
    }))
    .into_response()
}

#[handler]
fn create_item(Json(body): Json<Value>, req: &Request) -> Json<Value> {
    Json(json!({"created": body, "key": req.header("x-api-key").unwrap_or("")}))
}

use poem::IntoResponse;

async fn service() -> SocketAddr {
    let app = Route::new()
        .at("/api/items/:id", poem::get(get_item))
        .at("/api/items", poem::post(create_item))
        .boxed();
    serve_on(app, None).await
}

const SHOP: &str = r##"
openapi: 3.0.3
info: {title: Shop, version: "1"}
paths:
  /items/{id}:
    get:
      operationId: getItem
      summary: Get one item
      tags: [items]
      parameters:
        - {name: id, in: path, required: true, schema: {type: integer}}
        - {name: fields, in: query, schema: {type: array, items: {type: string}}}
        - {name: verbose, in: query, schema: {type: boolean, nullable: true}}
        - {name: X-Trace, in: header, schema: {type: string}}
  /items:
    post:
      operationId: createItem
      summary: Create an item
      tags: [items]
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: "#/components/schemas/NewItem"}
  /items/{id}/picture:
    put:
      operationId: putPicture
      parameters: [{name: id, in: path, required: true, schema: {type: integer}}]
      requestBody: {content: {image/png: {}}}
  /admin/reset:
    post:
      operationId: reset
      tags: [admin]
components:
  schemas:
    NewItem:
      type: object
      required: [name]
      properties:
        name: {type: string, minLength: 1}
        price: {type: number, minimum: 0, exclusiveMinimum: true}
"##;

fn text(answer: &Value) -> String {
    answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn a_yaml_document_becomes_tools_with_parameters_bodies_and_errors() {
    let (cli, _) = app(&["127.0.0.1"]).await;
    let svc = service().await;
    let import = json!({
        "name": "shop",
        "document": SHOP,
        "base_url": format!("http://{svc}/api"),
        "headers": [{"name": "X-Api-Key", "value": "k-s3cret", "secret": true}],
        "routes": [{"tags": ["admin"], "action": "exclude"}],
        "name_prefix": "shop_",
    });
    let (s, report) = admin(
        &cli,
        "POST",
        "/admin/entities/acme/catalog/openapi",
        Some(import.clone()),
    )
    .await;
    assert_eq!(s, 200, "{report}");
    assert_eq!(report["tools"], json!(["shop_createItem", "shop_getItem"]));
    let skipped = report["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{report}");
    assert_eq!(skipped[0]["operation_id"], "putPicture");
    assert!(skipped[0]["reason"].as_str().unwrap().contains("image/png"));

    // Listed through MCP with the schema the document gives, 3.0's dialect rewritten.
    let listed = mcp(&cli, "acme", "tools/list", json!({})).await;
    let tools = listed["result"]["tools"].as_array().unwrap();
    let get = tools.iter().find(|t| t["name"] == "shop_getItem").unwrap();
    assert_eq!(get["description"], "Get one item");
    assert_eq!(
        get["inputSchema"]["properties"]["verbose"]["type"],
        json!(["boolean", "null"])
    );
    assert_eq!(get["annotations"]["readOnlyHint"], true);
    let create = tools
        .iter()
        .find(|t| t["name"] == "shop_createItem")
        .unwrap();
    assert_eq!(create["inputSchema"]["required"], json!(["name"]));
    assert_eq!(
        create["inputSchema"]["properties"]["price"]["exclusiveMinimum"],
        0
    );
    // Another entity sees none of them.
    let other = mcp(&cli, "globex", "tools/list", json!({})).await;
    assert!(!other.to_string().contains("shop_getItem"));

    // Path, exploded array query, header, and the shared secret header.
    let got = mcp(
        &cli,
        "acme",
        "tools/call",
        json!({"name": "shop_getItem", "arguments": {"id": 7, "fields": ["a", "b c"], "X-Trace": "t-1"}}),
    )
    .await;
    let body: Value = serde_json::from_str(&text(&got)).unwrap();
    assert_eq!(body["id"], 7);
    assert_eq!(body["query"]["fields"], json!("b c"), "{body}");
    assert_eq!(body["trace"], "t-1");
    assert_eq!(body["key"], "k-s3cret");
    // An absent optional header and query are left out.
    let got = mcp(
        &cli,
        "acme",
        "tools/call",
        json!({"name": "shop_getItem", "arguments": {"id": 8}}),
    )
    .await;
    let body: Value = serde_json::from_str(&text(&got)).unwrap();
    assert_eq!(body["query"], json!({}));
    assert_eq!(body["trace"], "");
    // An error status is an error result quoting the answer.
    let got = mcp(
        &cli,
        "acme",
        "tools/call",
        json!({"name": "shop_getItem", "arguments": {"id": 404}}),
    )
    .await;
    assert_eq!(got["result"]["isError"], true);
    assert!(
        text(&got).contains("404") && text(&got).contains("no item 404"),
        "{got}"
    );
    // Arguments are checked against the schema before any request.
    let got = mcp(
        &cli,
        "acme",
        "tools/call",
        json!({"name": "shop_getItem", "arguments": {"id": "x"}}),
    )
    .await;
    assert_eq!(got["error"]["code"], -32602, "{got}");
    // The body is assembled from the flattened properties; absent optional ones left out.
    let got = mcp(
        &cli,
        "acme",
        "tools/call",
        json!({"name": "shop_createItem", "arguments": {"name": "pen"}}),
    )
    .await;
    let body: Value = serde_json::from_str(&text(&got)).unwrap();
    assert_eq!(body["created"], json!({"name": "pen"}));
    let got = mcp(
        &cli,
        "acme",
        "tools/call",
        json!({"name": "shop_createItem", "arguments": {"name": "pen", "price": 0}}),
    )
    .await;
    assert_eq!(
        got["error"]["code"], -32602,
        "exclusiveMinimum holds: {got}"
    );

    // The admin API shows the tools with their source and the secret blanked.
    let (s, shown) = admin(
        &cli,
        "GET",
        "/admin/entities/acme/catalog/tools/shop_getItem",
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(shown["source"], "openapi:shop");
    assert!(!shown.to_string().contains("k-s3cret"), "{shown}");
    let (_, imports) = admin(&cli, "GET", "/admin/entities/acme/catalog/openapi", None).await;
    assert_eq!(imports[0]["name"], "shop");

    // A re-import with fewer operations removes the rest; a secret sent as null is kept.
    let mut again = import.clone();
    again["headers"][0]["value"] = Value::Null;
    again["routes"] = json!([{"methods": ["get"], "action": "include"}, {"action": "exclude"}]);
    let (s, report) = admin(
        &cli,
        "POST",
        "/admin/entities/acme/catalog/openapi",
        Some(again),
    )
    .await;
    assert_eq!(s, 200, "{report}");
    assert_eq!(report["tools"], json!(["shop_getItem"]));
    assert_eq!(report["removed"], json!(["shop_createItem"]));
    let got = mcp(
        &cli,
        "acme",
        "tools/call",
        json!({"name": "shop_getItem", "arguments": {"id": 9}}),
    )
    .await;
    let body: Value = serde_json::from_str(&text(&got)).unwrap();
    assert_eq!(body["key"], "k-s3cret");

    // A hand-written tool of the same name is not overwritten: the operation is skipped.
    let (s, _) = admin(
        &cli,
        "POST",
        "/admin/entities/globex/catalog/tools",
        Some(
            json!({"name": "shop_getItem", "input_schema": {"type": "object"},
                    "request": {"url": format!("http://{svc}/api/items/1")}}),
        ),
    )
    .await;
    assert_eq!(s, 201);
    let mut into_globex = import.clone();
    into_globex["headers"][0]["value"] = json!("other");
    let (s, report) = admin(
        &cli,
        "POST",
        "/admin/entities/globex/catalog/openapi",
        Some(into_globex),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(report["tools"], json!(["shop_createItem"]));
    assert!(
        report["skipped"].to_string().contains("another source"),
        "{report}"
    );

    // Delete removes the import's tools only.
    let (s, _) = admin(
        &cli,
        "DELETE",
        "/admin/entities/globex/catalog/openapi/shop",
        None,
    )
    .await;
    assert_eq!(s, 204);
    let (s, _) = admin(
        &cli,
        "DELETE",
        "/admin/entities/globex/catalog/openapi/shop",
        None,
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = admin(
        &cli,
        "GET",
        "/admin/entities/globex/catalog/tools/shop_getItem",
        None,
    )
    .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn unusable_documents_are_422_naming_the_field() {
    let (cli, addr) = app(&["127.0.0.1"]).await;
    const PATH: &str = "/admin/entities/acme/catalog/openapi";

    assert_eq!(
        refused_field(
            &cli,
            PATH,
            json!({"name": "x", "document": {"swagger": "2.0"}})
        )
        .await,
        "document.swagger"
    );
    assert_eq!(
        refused_field(&cli, PATH, json!({"name": "x"})).await,
        "document"
    );
    assert_eq!(
        refused_field(
            &cli,
            PATH,
            json!({"name": "x", "document": "{ not: [ yaml"})
        )
        .await,
        "document"
    );
    assert_eq!(
        refused_field(
            &cli,
            PATH,
            json!({"name": "x", "document": {"openapi": "3.1.0", "paths": {}}})
        )
        .await,
        "base_url"
    );
    assert_eq!(
        refused_field(&cli, PATH, json!({"name": "x y", "document": {"openapi": "3.1.0", "paths": {}}, "base_url": "http://h"})).await,
        "name"
    );
    assert_eq!(
        refused_field(
            &cli,
            PATH,
            json!({"name": "x", "url": format!("http://{addr}/nope.json")})
        )
        .await,
        "url"
    );
    assert_eq!(
        refused_field(&cli, PATH, json!({"name": "x", "document": {"openapi": "3.1.0", "paths": {}}, "base_url": "http://h",
                          "routes": [{"action": "maybe"}]})).await,
        "routes[0].action"
    );
    // Nothing was stored.
    let (_, tools) = admin(&cli, "GET", "/admin/entities/acme/catalog/tools", None).await;
    assert_eq!(tools, json!([]));

    // Without loopback in the allow-list, fetching from loopback is refused.
    let (strict, addr) = app(&[]).await;
    let (s, b) = admin(
        &strict,
        "POST",
        "/admin/entities/acme/catalog/openapi",
        Some(json!({"name": "x", "url": format!("http://{addr}/openapi.json")})),
    )
    .await;
    assert_eq!(s, 422);
    assert!(b["message"].as_str().unwrap().contains("refused"), "{b}");
}

#[tokio::test]
async fn the_servers_own_document_imports_and_its_admin_api_answers_as_tools() {
    let (cli, addr) = app(&["127.0.0.1"]).await;
    // A live session for `acme`, to be listed through the imported tool.
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let resp = cli
        .post("/acme/mcp")
        .header("accept", "application/json, text/event-stream")
        .content_type("application/json")
        .body(init.to_string())
        .send()
        .await;
    let session = resp
        .0
        .headers()
        .get("mcp-session-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();

    let (s, report) = admin(
        &cli,
        "POST",
        "/admin/entities/ops/catalog/openapi",
        Some(json!({
            "name": "self",
            "url": format!("http://{addr}/openapi.json"),
            "headers": [{"name": "Authorization", "value": format!("Bearer {TOKEN}"), "secret": true}],
            "routes": [{"tags": ["Sessions", "Tools"], "action": "include"}, {"action": "exclude"}],
        })),
    )
    .await;
    assert_eq!(s, 200, "{report}");
    assert_eq!(report["skipped"], json!([]), "{report}");
    let names: Vec<&str> = report["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        names.contains(&"get_sessions") && names.contains(&"delete_sessions_id"),
        "{names:?}"
    );

    let got = mcp(
        &cli,
        "ops",
        "tools/call",
        json!({"name": "get_sessions", "arguments": {"entity_id": "acme"}}),
    )
    .await;
    assert_ne!(got["result"]["isError"], true, "{got}");
    let page: Value = serde_json::from_str(&text(&got)).unwrap();
    assert_eq!(page["sessions"][0]["id"], session, "{page}");
    // The admin API's own validation error comes back as an error result.
    let got = mcp(
        &cli,
        "ops",
        "tools/call",
        json!({"name": "get_sessions", "arguments": {"entity_id": "no/such"}}),
    )
    .await;
    assert_eq!(got["result"]["isError"], true, "{got}");
}
