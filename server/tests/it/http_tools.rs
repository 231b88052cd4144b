//! Stored HTTP tools, in process, against a real HTTP service on loopback (allowed explicitly):
//! arguments into the path, query, headers and body; structured output; upstream errors,
//! timeouts and oversized answers as error results; secrets never shown; and the SSRF guard
//! refusing loopback by address and by name when the allow-list does not name it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use fastmcp_core::storage::Stores;
use fastmcp_core::McpServer;
use fastmcp_server::outbound::{AllowList, HttpOutbound};
use fastmcp_server::{routes, AppState};
use fastmcp_storage_memory::MemoryStore;

use super::catalog::{call as admin, mcp, serve_on, TOKEN};
use poem::test::TestClient;
use poem::web::{Json, Path, Query};
use poem::{handler, EndpointExt, Request, Route};
use serde_json::{json, Value};

#[handler]
fn forecast(Path(city): Path<String>, Query(q): Query<Value>, req: &Request) -> Json<Value> {
    Json(json!({
        "city": city,
        "days": q.get("days").and_then(Value::as_str).unwrap_or(""),
        "auth": req.header("authorization").unwrap_or(""),
        "x_city": req.header("x-city").unwrap_or(""),
    }))
}

#[handler]
fn echo(Json(body): Json<Value>) -> Json<Value> {
    Json(json!({"got": body}))
}

#[handler]
fn missing() -> poem::Response {
    poem::Response::builder()
        .status(poem::http::StatusCode::NOT_FOUND)
        .body("no such forecast")
}

#[handler]
async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_secs(5)).await;
    "late"
}

#[handler]
fn big() -> String {
    "x".repeat(300_000)
}

#[handler]
fn redirect() -> poem::Response {
    poem::Response::builder()
        .status(poem::http::StatusCode::FOUND)
        .header("location", "http://169.254.169.254/latest/meta-data/")
        .finish()
}

/// The upstream service, on a free loopback port.
async fn upstream() -> SocketAddr {
    let app = Route::new()
        .at("/forecast/:city", poem::get(forecast))
        .at("/echo", poem::post(echo))
        .at("/missing", poem::get(missing))
        .at("/slow", poem::get(slow))
        .at("/big", poem::get(big))
        .at("/redirect", poem::get(redirect))
        .boxed();
    serve_on(app, None).await
}

fn app(allow: &[&str]) -> TestClient<impl poem::Endpoint> {
    let builder = McpServer::builder("t", "1").with(fastmcp_server::demo::register);
    let allow = AllowList::parse(&allow.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    let state: Arc<AppState> = AppState::builder(builder, Stores::of(MemoryStore::default()))
        .admin_token(TOKEN)
        .outbound(Arc::new(HttpOutbound::new(allow).unwrap()))
        .build();
    TestClient::new(routes(state))
}

/// `tools/call` of `tool` as `entity`, in the 2026-07-28 era.
async fn call(
    cli: &TestClient<impl poem::Endpoint>,
    entity: &str,
    tool: &str,
    args: Value,
) -> Value {
    mcp(
        cli,
        entity,
        "tools/call",
        json!({"name": tool, "arguments": args}),
    )
    .await
}

fn tool(name: &str, method: &str, url: String) -> Value {
    json!({
        "name": name,
        "description": "Weather for a city",
        "input_schema": {"type": "object", "properties": {
            "city": {"type": "string", "minLength": 1}, "days": {"type": "integer", "minimum": 1, "maximum": 14}
        }, "required": ["city"]},
        "request": {"method": method, "url": url,
                    "headers": [{"name": "Authorization", "value": "Bearer top-s3cret", "secret": true},
                                {"name": "X-City", "value": "{city}"}],
                    "timeout_ms": 1000, "max_response_bytes": 100000}
    })
}

fn text(result: &Value) -> String {
    result["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn http_tools_call_a_real_service_with_their_arguments() {
    let up = upstream().await;
    let cli = app(&["127.0.0.1"]);
    let mut weather = tool(
        "weather",
        "GET",
        format!("http://{up}/forecast/{{city}}?days={{days}}"),
    );
    weather["output_schema"] = json!({"type": "object", "properties": {"city": {"type": "string"}},
                                      "required": ["city"]});
    let (s, b) = admin(
        &cli,
        "POST",
        "/admin/entities/acme/catalog/tools",
        Some(weather.clone()),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(
        b["request"]["headers"][0]["value"],
        Value::Null,
        "a secret is never returned"
    );
    assert!(!b.to_string().contains("top-s3cret"));

    let r = call(
        &cli,
        "acme",
        "weather",
        json!({"city": "São Paulo", "days": 3}),
    )
    .await;
    let structured = &r["result"]["structuredContent"];
    assert_eq!(structured["city"], "São Paulo", "{r}");
    assert_eq!(structured["days"], "3");
    assert_eq!(
        structured["auth"], "Bearer top-s3cret",
        "the secret reaches the upstream"
    );
    assert!(r["result"]["isError"].is_null());

    // The tool is listed for its entity with its schemas; another entity does not see it.
    let listed = admin(
        &cli,
        "GET",
        "/admin/entities/acme/catalog/tools/weather",
        None,
    )
    .await
    .1;
    assert_eq!(listed["request"]["headers"][0]["value"], Value::Null);
    let other = call(&cli, "other", "weather", json!({"city": "x"})).await;
    assert!(other["error"].is_object(), "{other}");

    // Arguments are checked against the schema before any request.
    let bad = call(&cli, "acme", "weather", json!({"city": "Oslo", "days": 99})).await;
    assert_eq!(bad["error"]["code"], -32602, "{bad}");
    assert!(
        bad["error"]["message"].as_str().unwrap().contains("/days"),
        "{bad}"
    );
    let bad = call(&cli, "acme", "weather", json!({})).await;
    assert_eq!(bad["error"]["code"], -32602, "{bad}");

    // A body from the arguments.
    let mut post = tool("post", "POST", format!("http://{up}/echo"));
    post["request"]["body"] = json!({"where": "{city}", "n": "{days}", "text": "in {city}"});
    let (s, b) = admin(
        &cli,
        "POST",
        "/admin/entities/acme/catalog/tools",
        Some(post),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let r = call(&cli, "acme", "post", json!({"city": "Oslo", "days": 2})).await;
    let got: Value = serde_json::from_str(&text(&r)).unwrap();
    assert_eq!(
        got["got"],
        json!({"where": "Oslo", "n": 2, "text": "in Oslo"})
    );

    // Replacing without the secret keeps it.
    let mut replaced = weather.clone();
    replaced["request"]["headers"][0]["value"] = Value::Null;
    replaced["description"] = json!("Weather, again");
    let (s, b) = admin(
        &cli,
        "PUT",
        "/admin/entities/acme/catalog/tools/weather",
        Some(replaced),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let r = call(&cli, "acme", "weather", json!({"city": "Rome"})).await;
    assert_eq!(
        r["result"]["structuredContent"]["auth"], "Bearer top-s3cret",
        "{r}"
    );
}

#[tokio::test]
async fn upstream_failures_are_error_results_naming_them() {
    let up = upstream().await;
    let cli = app(&["127.0.0.0/8"]);
    for (name, path) in [
        ("missing", "missing"),
        ("slow", "slow"),
        ("big", "big"),
        ("redirect", "redirect"),
    ] {
        let t = tool(name, "GET", format!("http://{up}/{path}"));
        let (s, b) = admin(&cli, "POST", "/admin/entities/acme/catalog/tools", Some(t)).await;
        assert_eq!(s, 201, "{b}");
    }
    let r = call(&cli, "acme", "missing", json!({"city": "x"})).await;
    assert_eq!(r["result"]["isError"], true, "{r}");
    assert_eq!(text(&r), "HTTP 404 Not Found: no such forecast");
    let r = call(&cli, "acme", "slow", json!({"city": "x"})).await;
    assert_eq!(r["result"]["isError"], true, "{r}");
    assert!(text(&r).contains("no answer within 1000 ms"), "{r}");
    let r = call(&cli, "acme", "big", json!({"city": "x"})).await;
    assert!(text(&r).contains("larger than 100000 bytes"), "{r}");
    let r = call(&cli, "acme", "redirect", json!({"city": "x"})).await;
    assert!(text(&r).contains("redirects are not followed"), "{r}");
}

#[tokio::test]
async fn the_guard_refuses_loopback_by_address_and_by_name() {
    let up = upstream().await;
    let cli = app(&[]);
    for (name, url) in [
        ("by_ip", format!("http://{up}/forecast/x")),
        (
            "by_name",
            format!("http://localhost:{}/forecast/x", up.port()),
        ),
        ("v6", format!("http://[::1]:{}/forecast/x", up.port())),
    ] {
        let (s, b) = admin(
            &cli,
            "POST",
            "/admin/entities/acme/catalog/tools",
            Some(tool(name, "GET", url)),
        )
        .await;
        assert_eq!(s, 201, "{b}");
        let r = call(&cli, "acme", name, json!({"city": "x"})).await;
        assert_eq!(r["result"]["isError"], true, "{name}: {r}");
        let t = text(&r);
        assert!(
            t.contains("destination refused") && t.contains("loopback"),
            "{name}: {t}"
        );
    }
}

#[tokio::test]
async fn bad_http_tools_are_refused_with_the_field() {
    let cli = app(&[]);
    let base = "http://127.0.0.1:9";
    let cases = [
        (
            json!({"type": "array"}),
            format!("{base}/x"),
            "input_schema",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": 5}}}),
            format!("{base}/x"),
            "input_schema",
        ),
        (
            json!({"type": "object", "properties": {"city": {"type": "string"}}}),
            format!("{base}/{{nope}}"),
            "request.url",
        ),
        (
            json!({"type": "object", "properties": {"city": {"type": "string"}}}),
            "http://{city}/x".to_string(),
            "request.url",
        ),
    ];
    for (schema, url, field) in cases {
        let mut t = tool("t", "GET", url);
        t["input_schema"] = schema;
        t["request"]["headers"] = json!([]);
        let (s, b) = admin(&cli, "POST", "/admin/entities/acme/catalog/tools", Some(t)).await;
        assert_eq!((s, b["field"].as_str()), (422, Some(field)), "{b}");
    }
    let mut t = tool("t", "GET", format!("{base}/x"));
    t["request"]["headers"][0]["value"] = Value::Null;
    let (s, b) = admin(&cli, "POST", "/admin/entities/acme/catalog/tools", Some(t)).await;
    assert_eq!(
        (s, b["field"].as_str()),
        (422, Some("request.headers[0].value")),
        "{b}"
    );
    // A code tool's name is taken.
    let (s, _) = admin(
        &cli,
        "POST",
        "/admin/entities/acme/catalog/tools",
        Some(tool("echo", "GET", format!("{base}/x"))),
    )
    .await;
    assert_eq!(s, 409);
}
