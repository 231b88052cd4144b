//! Authentication at the MCP edge: API keys and JWTs, 401/403 with RFC 9728 challenges, the
//! metadata documents, and sessions bound to the principal that opened them.

use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "auth-jwt")]
use base64::Engine as _;
use fastmcp_core::storage::Stores;
use fastmcp_core::{Authenticator, Context, McpServer, NoArgs, Tool};
use fastmcp_server::auth::{ApiKeyAuth, AuthMetadata};
#[cfg(feature = "auth-jwt")]
use fastmcp_server::auth::{JwtAuth, JwtConfig};
use fastmcp_server::{routes, AppState};
use fastmcp_storage_memory::MemoryStore;
#[cfg(feature = "auth-jwt")]
use hmac::{Hmac, KeyInit, Mac};
use poem::test::TestClient;
use serde_json::{json, Value};
#[cfg(feature = "auth-jwt")]
use sha2::Sha256;

const ADMIN: &str = "admin-token";
const ACCEPT: &str = "application/json, text/event-stream";
#[cfg(feature = "auth-jwt")]
const SECRET: &[u8] = b"0123456789abcdef0123";

fn app(
    auth: impl FnOnce(&MemoryStore) -> Arc<dyn Authenticator>,
) -> TestClient<impl poem::Endpoint> {
    let store = MemoryStore::default();
    let builder = McpServer::builder("t", "1")
        .with(fastmcp_server::demo::register)
        .with(|r| {
            r.tool(
                Tool::new("principal")
                    .description("Who is calling, and whether they may administer")
                    .scopes(["admin"])
                    .handler(|_: NoArgs, ctx: Context| async move {
                        Ok(ctx
                            .principal()
                            .map(|p| p.subject.clone())
                            .unwrap_or_default())
                    }),
            );
        });
    let auth = auth(&store);
    let state = AppState::builder(builder, Stores::of(store))
        .instance_id("t")
        .admin_token(ADMIN)
        .auth(auth)
        .auth_meta(AuthMetadata {
            authorization_servers: vec!["https://auth.example.com".into()],
            scopes: vec!["tools:call".into()],
            public_url: None,
        })
        .build();
    TestClient::new(routes(state))
}

fn api_key_app() -> TestClient<impl poem::Endpoint> {
    // No verification cache: a revocation is seen by the next request.
    app(|s| Arc::new(ApiKeyAuth::new(Arc::new(s.clone()), Duration::ZERO)))
}

async fn mint(cli: &TestClient<impl poem::Endpoint>, entity: &str) -> (String, String) {
    let resp = cli
        .post("/admin/api-keys")
        .header("authorization", format!("Bearer {ADMIN}"))
        .content_type("application/json")
        .body(json!({"entity_id": entity, "name": "test", "scopes": ["tools:call"]}).to_string())
        .send()
        .await;
    resp.assert_status_is_ok();
    let v: Value = serde_json::from_slice(&resp.0.into_body().into_bytes().await.unwrap()).unwrap();
    (
        v["key"].as_str().unwrap().to_string(),
        v["api_key"]["id"].as_str().unwrap().to_string(),
    )
}

struct Reply {
    status: u16,
    challenge: Option<String>,
    session: Option<String>,
    body: Value,
}

async fn send(
    cli: &TestClient<impl poem::Endpoint>,
    method: &str,
    path: &str,
    token: Option<&str>,
    sid: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let mut r = match method {
        "GET" => cli.get(path),
        "DELETE" => cli.delete(path),
        _ => cli.post(path),
    }
    .header("accept", ACCEPT)
    .content_type("application/json");
    if let Some(t) = token {
        r = r.header("authorization", format!("Bearer {t}"));
    }
    if let Some(s) = sid {
        r = r.header("mcp-session-id", s);
    }
    if method == "GET" {
        r = r.header("accept", "text/event-stream");
    }
    let resp = match body {
        Some(b) => r.body(b.to_string()).send().await,
        None => r.send().await,
    };
    let header = |n: &str| {
        resp.0
            .headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (challenge, session) = (header("www-authenticate"), header("mcp-session-id"));
    let status = resp.0.status().as_u16();
    // Streams stay open: read a body only for non-streaming answers.
    let body = if method == "GET" && status == 200 {
        Value::Null
    } else {
        let bytes = resp.0.into_body().into_bytes().await.unwrap_or_default();
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    };
    Reply {
        status,
        challenge,
        session,
        body,
    }
}

fn init_body() -> Value {
    json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})
}

fn call(id: i64, tool: &str, args: Value) -> Value {
    json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":tool,"arguments":args}})
}

async fn open_session(cli: &TestClient<impl poem::Endpoint>, entity: &str, token: &str) -> String {
    let r = send(
        cli,
        "POST",
        &format!("/{entity}/mcp"),
        Some(token),
        None,
        Some(init_body()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.session.expect("session id")
}

#[tokio::test]
async fn api_keys_authenticate_and_are_scoped_to_their_entity() {
    let cli = api_key_app();
    let (key, id) = mint(&cli, "acme").await;
    // No credentials: 401 pointing at the entity's metadata.
    let r = send(&cli, "POST", "/acme/mcp", None, None, Some(init_body())).await;
    assert_eq!(r.status, 401);
    let challenge = r.challenge.unwrap();
    assert!(
        challenge.contains(
            "resource_metadata=\"http://localhost/.well-known/oauth-protected-resource/acme/mcp\""
        ) || challenge.contains("/.well-known/oauth-protected-resource/acme/mcp"),
        "{challenge}"
    );
    // A wrong key: 401 invalid_token; the body never echoes it.
    let r = send(
        &cli,
        "POST",
        "/acme/mcp",
        Some("fmk_nope_nope"),
        None,
        Some(init_body()),
    )
    .await;
    assert_eq!(r.status, 401);
    assert!(r.challenge.unwrap().contains("invalid_token"));
    assert!(!r.body.to_string().contains("fmk_nope_nope"));
    // The right key works on its entity, and is forbidden on another.
    let sid = open_session(&cli, "acme", &key).await;
    let r = send(
        &cli,
        "POST",
        "/acme/mcp",
        Some(&key),
        Some(&sid),
        Some(call(2, "echo", json!({"text": "hi"}))),
    )
    .await;
    assert_eq!(r.body["result"]["content"][0]["text"], "hi");
    let r = send(
        &cli,
        "POST",
        "/globex/mcp",
        Some(&key),
        None,
        Some(init_body()),
    )
    .await;
    assert_eq!(r.status, 403);
    assert!(r.challenge.unwrap().contains("insufficient_scope"));
    // Listed without the secret; revoked keys stop working at once (cache TTL 0 here).
    let list = cli
        .get("/admin/api-keys?entity_id=acme")
        .header("authorization", format!("Bearer {ADMIN}"))
        .send()
        .await;
    let listed: Value =
        serde_json::from_slice(&list.0.into_body().into_bytes().await.unwrap()).unwrap();
    assert_eq!(listed[0]["id"], json!(id));
    assert!(!listed.to_string().contains(&key));
    let revoke = cli
        .delete(format!("/admin/api-keys/{id}?entity_id=acme"))
        .header("authorization", format!("Bearer {ADMIN}"))
        .send()
        .await;
    revoke.assert_status_is_ok();
    let r = send(
        &cli,
        "POST",
        "/acme/mcp",
        Some(&key),
        Some(&sid),
        Some(call(3, "echo", json!({"text": "x"}))),
    )
    .await;
    assert_eq!(r.status, 401);
    let again = cli
        .delete(format!("/admin/api-keys/{id}?entity_id=acme"))
        .header("authorization", format!("Bearer {ADMIN}"))
        .send()
        .await;
    again.assert_status(poem::http::StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn protected_resource_metadata_is_served_per_entity() {
    let cli = api_key_app();
    for path in [
        "/.well-known/oauth-protected-resource/acme/mcp",
        "/acme/mcp/.well-known/oauth-protected-resource",
    ] {
        let resp = cli.get(path).header("host", "mcp.example.com").send().await;
        resp.assert_status_is_ok();
        let doc: Value =
            serde_json::from_slice(&resp.0.into_body().into_bytes().await.unwrap()).unwrap();
        assert_eq!(doc["resource"], "http://mcp.example.com/acme/mcp", "{path}");
        assert_eq!(
            doc["authorization_servers"],
            json!(["https://auth.example.com"])
        );
        assert_eq!(doc["scopes_supported"], json!(["tools:call"]));
    }
    let bad = cli
        .get("/.well-known/oauth-protected-resource/a%20b/mcp")
        .send()
        .await;
    bad.assert_status(poem::http::StatusCode::BAD_REQUEST);
}

/// Principal B holds principal A's session id (same entity): every endpoint answers as if the
/// session did not exist, in random order and with random ids mixed in, and A's session is
/// untouched afterwards.
#[tokio::test]
async fn a_session_is_unusable_by_another_principal_on_every_endpoint() {
    let cli = api_key_app();
    let (key_a, _) = mint(&cli, "acme").await;
    let (key_b, _) = mint(&cli, "acme").await;
    let sid = open_session(&cli, "acme", &key_a).await;
    let remember = call(2, "remember", json!({"key": "k", "value": "a"}));
    assert_eq!(
        send(
            &cli,
            "POST",
            "/acme/mcp",
            Some(&key_a),
            Some(&sid),
            Some(remember)
        )
        .await
        .status,
        200
    );
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..60 {
        let target = if next() % 4 == 0 {
            uuid::Uuid::new_v4().to_string()
        } else {
            sid.clone()
        };
        let r = match next() % 5 {
            0 => {
                send(
                    &cli,
                    "POST",
                    "/acme/mcp",
                    Some(&key_b),
                    Some(&target),
                    Some(call(round, "recall", json!({"key": "k"}))),
                )
                .await
            }
            1 => {
                send(
                    &cli,
                    "POST",
                    "/acme/mcp",
                    Some(&key_b),
                    Some(&target),
                    Some(call(round, "remember", json!({"key": "k", "value": "b"}))),
                )
                .await
            }
            2 => send(&cli, "GET", "/acme/mcp", Some(&key_b), Some(&target), None).await,
            3 => {
                send(
                    &cli,
                    "DELETE",
                    "/acme/mcp",
                    Some(&key_b),
                    Some(&target),
                    None,
                )
                .await
            }
            _ => {
                send(
                    &cli,
                    "POST",
                    &format!("/acme/messages?session_id={target}"),
                    Some(&key_b),
                    None,
                    Some(call(round, "recall", json!({"key": "k"}))),
                )
                .await
            }
        };
        assert_eq!(r.status, 404, "round {round}: {}", r.body);
    }
    let r = send(
        &cli,
        "POST",
        "/acme/mcp",
        Some(&key_a),
        Some(&sid),
        Some(call(99, "recall", json!({"key": "k"}))),
    )
    .await;
    assert_eq!(r.body["result"]["content"][0]["text"], "a", "{}", r.body);
}

#[cfg(feature = "auth-jwt")]
fn jwt(claims: Value) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let body = format!(
        "{}.{}",
        b64.encode(json!({"alg": "HS256", "typ": "JWT"}).to_string()),
        b64.encode(claims.to_string())
    );
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(SECRET).unwrap();
    mac.update(body.as_bytes());
    format!("{body}.{}", b64.encode(mac.finalize().into_bytes()))
}

#[cfg(feature = "auth-jwt")]
#[tokio::test]
async fn jwt_bearer_tokens_carry_their_entities() {
    let cli = app(|_| {
        Arc::new(JwtAuth::new(JwtConfig {
            audience: Some("fastmcp".into()),
            leeway: Duration::ZERO,
            ..JwtConfig::hs256(SECRET.to_vec())
        }))
    });
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let good = jwt(json!({"sub": "ada", "aud": "fastmcp", "exp": now + 60, "entities": ["acme"]}));
    let sid = open_session(&cli, "acme", &good).await;
    let r = send(
        &cli,
        "POST",
        "/acme/mcp",
        Some(&good),
        Some(&sid),
        Some(call(2, "whoami", json!({}))),
    )
    .await;
    assert_eq!(r.body["result"]["structuredContent"]["entity_id"], "acme");
    assert_eq!(
        send(
            &cli,
            "POST",
            "/globex/mcp",
            Some(&good),
            None,
            Some(init_body())
        )
        .await
        .status,
        403
    );
    for bad in [
        jwt(json!({"sub": "ada", "aud": "fastmcp", "exp": now - 1, "entities": ["acme"]})),
        jwt(json!({"sub": "ada", "aud": "other", "exp": now + 60, "entities": ["acme"]})),
    ] {
        let r = send(
            &cli,
            "POST",
            "/acme/mcp",
            Some(&bad),
            None,
            Some(init_body()),
        )
        .await;
        assert_eq!(r.status, 401);
        assert!(r.challenge.unwrap().contains("invalid_token"));
    }
    // Another subject with a valid token for the same entity cannot use ada's session.
    let eve = jwt(json!({"sub": "eve", "aud": "fastmcp", "exp": now + 60, "entities": ["acme"]}));
    let r = send(
        &cli,
        "POST",
        "/acme/mcp",
        Some(&eve),
        Some(&sid),
        Some(call(3, "whoami", json!({}))),
    )
    .await;
    assert_eq!(r.status, 404);
    // At 2026-07-28 every request is checked on its own.
    let modern = json!({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"echo","arguments":{"text":"m"},
        "_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}});
    for (token, status) in [(None, 401), (Some(good.as_str()), 200)] {
        let mut r = cli
            .post("/acme/mcp")
            .header("accept", ACCEPT)
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", "echo")
            .content_type("application/json");
        if let Some(t) = token {
            r = r.header("authorization", format!("Bearer {t}"));
        }
        let resp = r.body(modern.to_string()).send().await;
        assert_eq!(resp.0.status().as_u16(), status);
    }
}

/// Verified credentials are cached per instance: a revoked key keeps working until the cache
/// entry expires (the documented bound), then fails; a cached JWT still expires on time.
struct AuthHeader(String);

impl fastmcp_core::RequestHeaders for AuthHeader {
    fn header(&self, name: &str) -> Option<&str> {
        (name == "authorization").then_some(self.0.as_str())
    }
}

#[tokio::test]
async fn the_api_key_cache_honours_revocation() {
    let store = MemoryStore::default();
    let keys: Arc<dyn fastmcp_core::ApiKeyStore> = Arc::new(store.clone());
    let auth = ApiKeyAuth::new(Arc::clone(&keys), Duration::from_millis(300));
    let acme = fastmcp_core::EntityId::parse("acme").unwrap();
    let minted = ApiKeyAuth::mint(keys.as_ref(), &acme, "k", vec![])
        .await
        .unwrap();
    let h = AuthHeader(format!("Bearer {}", minted.key));
    assert!(auth.authenticate(&h, &acme).await.is_ok());
    assert!(keys.revoke_key(&acme, &minted.record.id).await.unwrap());
    assert!(auth.authenticate(&h, &acme).await.is_ok(), "still cached");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        auth.authenticate(&h, &acme).await.is_err(),
        "revocation reached this instance"
    );
}

#[cfg(feature = "auth-jwt")]
#[tokio::test]
async fn the_jwt_cache_honours_expiry() {
    let acme = fastmcp_core::EntityId::parse("acme").unwrap();
    let jwt_auth = JwtAuth::new(JwtConfig {
        leeway: Duration::ZERO,
        ..JwtConfig::hs256(SECRET.to_vec())
    });
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let short = AuthHeader(format!(
        "Bearer {}",
        jwt(json!({"sub": "s", "exp": now + 1, "entities": ["acme"]}))
    ));
    assert!(jwt_auth.authenticate(&short, &acme).await.is_ok());
    assert!(jwt_auth.authenticate(&short, &acme).await.is_ok(), "cached");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(
        jwt_auth.authenticate(&short, &acme).await.is_err(),
        "a cached token still expires"
    );
}

/// A tool with required scopes: 403 `insufficient_scope` naming them for a principal without,
/// the call (with `ctx.principal()`) for one with, in both eras.
#[tokio::test]
async fn tool_scopes_are_enforced_and_the_principal_reaches_the_handler() {
    let cli = api_key_app();
    let (plain, _) = mint(&cli, "acme").await;
    let resp = cli
        .post("/admin/api-keys")
        .header("authorization", format!("Bearer {ADMIN}"))
        .content_type("application/json")
        .body(json!({"entity_id": "acme", "name": "ops", "scopes": ["admin"]}).to_string())
        .send()
        .await;
    let v: Value = serde_json::from_slice(&resp.0.into_body().into_bytes().await.unwrap()).unwrap();
    let (admin_key, admin_id) = (
        v["key"].as_str().unwrap().to_string(),
        v["api_key"]["id"].as_str().unwrap().to_string(),
    );
    let sid = open_session(&cli, "acme", &plain).await;
    let r = send(
        &cli,
        "POST",
        "/acme/mcp",
        Some(&plain),
        Some(&sid),
        Some(call(2, "principal", json!({}))),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let challenge = r.challenge.unwrap();
    assert!(
        challenge.contains("insufficient_scope") && challenge.contains("scope=\"admin\""),
        "{challenge}"
    );
    let sid = open_session(&cli, "acme", &admin_key).await;
    let r = send(
        &cli,
        "POST",
        "/acme/mcp",
        Some(&admin_key),
        Some(&sid),
        Some(call(3, "principal", json!({}))),
    )
    .await;
    assert_eq!(
        r.body["result"]["content"][0]["text"],
        json!(format!("key:acme/{admin_id}"))
    );
    let modern = json!({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"principal","arguments":{},
        "_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}});
    for (key, status) in [(&plain, 403), (&admin_key, 200)] {
        let resp = cli
            .post("/acme/mcp")
            .header("accept", ACCEPT)
            .header("authorization", format!("Bearer {key}"))
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", "principal")
            .content_type("application/json")
            .body(modern.to_string())
            .send()
            .await;
        assert_eq!(resp.0.status().as_u16(), status);
    }
}

/// A flood of requests without valid credentials once spent the entity's rate (it was counted
/// before authentication), so the tenant's own keys got 429. Now such requests have their own
/// budget per source address (20 per second by default, then 429 before any key lookup), and
/// the entity's budget is for its callers only.
#[tokio::test]
async fn an_unauthenticated_flood_does_not_spend_the_tenants_budget() {
    let store = MemoryStore::default();
    let builder = McpServer::builder("t", "1").with(fastmcp_server::demo::register);
    let state = AppState::builder(builder, Stores::of(store.clone()))
        .http(fastmcp_server::HttpConfig {
            client_ip_header: Some("x-forwarded-for".into()),
            ..Default::default()
        })
        .instance_id("t")
        .admin_token(ADMIN)
        .auth(Arc::new(ApiKeyAuth::new(Arc::new(store), Duration::ZERO)))
        .limits(|l| l.rps = 5)
        .build();
    let cli = TestClient::new(routes(state));
    let (key, _) = mint(&cli, "acme").await;
    let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}});
    let from = |ip: &str, token: Option<&str>| {
        let mut r = cli
            .post("/acme/mcp")
            .header("accept", ACCEPT)
            .header("x-forwarded-for", format!("10.9.9.9, {ip}"))
            .content_type("application/json")
            .body(init.to_string());
        if let Some(t) = token {
            r = r.header("authorization", format!("Bearer {t}"));
        }
        r.send()
    };
    let mut refused = 0;
    for i in 0..60 {
        let token = (i % 2 == 0).then_some("not-a-key");
        let r = from("203.0.113.9", token).await;
        match r.0.status().as_u16() {
            401 => {}
            429 => {
                refused += 1;
                let body = r.0.into_body().into_string().await.unwrap();
                assert!(body.contains("without valid credentials"), "{body}");
            }
            s => panic!("unexpected {s}"),
        }
    }
    // Whatever second boundary fell in the loop, at least 20 of 60 were over the budget.
    assert!(refused >= 20, "{refused}");
    // The tenant's key, from another address: its budget is whole.
    for _ in 0..3 {
        from("198.51.100.7", Some(&key)).await.assert_status_is_ok();
    }
}
