//! The stored catalog as a provider, through the in-process client in both eras: items per
//! entity and global, rendering, completion, first-wins merging with code, middleware, a
//! change seen by another instance, and no store read per request in the steady state.

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use fastmcp_core::catalog::{CatalogItem, CatalogKind, CatalogScope};
use fastmcp_core::middleware::{McpCall, Middleware, Next};
use fastmcp_core::protocol::{MethodResult, PromptMessage};
use fastmcp_core::provider::StoredCatalog;
use fastmcp_core::storage::{CatalogSnapshot, CatalogStore, PutMode, StoreResult};
use fastmcp_core::{EntityId, McpServer, McpServerBuilder, Prompt};
use fastmcp_storage_memory::MemoryStore;
use fastmcp_testing::{Era, TestClient};
use serde_json::{json, Value};

const ERAS: [Era; 2] = [Era::Handshake, Era::Modern];

fn item(v: Value) -> CatalogItem {
    serde_json::from_value(v).unwrap()
}

fn entity(e: &str) -> CatalogScope {
    CatalogScope::Entity(EntityId::parse(e).unwrap())
}

async fn put(store: &dyn CatalogStore, scope: &CatalogScope, v: Value) {
    let i = item(v);
    i.validate(&Default::default()).unwrap();
    store
        .put_catalog_item(scope, &i, PutMode::Upsert, 100)
        .await
        .unwrap();
}

#[derive(serde::Deserialize, fastmcp_core::schemars::JsonSchema)]
struct NoArgs {}

/// A code prompt named `hello`, and the stored catalog after it.
fn server(catalog: &StoredCatalog) -> McpServerBuilder {
    McpServer::builder("providers", "1")
        .with(|r| {
            r.prompt(
                Prompt::new("hello")
                    .description("from code")
                    .handler(|_: NoArgs, _ctx| async {
                        Ok(vec![PromptMessage::user("code wins")])
                    }),
            );
        })
        .provider(Arc::new(catalog.clone()))
}

async fn seeded() -> (Arc<dyn CatalogStore>, StoredCatalog) {
    let store: Arc<dyn CatalogStore> = Arc::new(MemoryStore::default());
    put(
        store.as_ref(),
        &entity("acme"),
        json!({
            "kind": "prompt", "name": "review", "description": "Review code",
            "arguments": [
                {"name": "code", "required": true, "description": "What to review"},
                {"name": "focus", "suggestions": ["speed", "safety", "style"]}
            ],
            "messages": [
                {"role": "user", "text": "Review {code} for {focus}."},
                {"role": "assistant", "text": "Reviewing {{carefully}}."}
            ]
        }),
    )
    .await;
    put(
        store.as_ref(),
        &entity("acme"),
        json!({"kind": "resource", "uri": "notes://readme", "name": "readme",
               "mime_type": "text/markdown", "text": "# acme"}),
    )
    .await;
    put(
        store.as_ref(),
        &entity("acme"),
        json!({"kind": "resource_template", "uri_template": "notes://{id}/v/{rev}", "name": "note",
               "mime_type": "application/json", "text": "{{\"id\": \"{id}\", \"rev\": {rev}}}",
               "completions": {"id": ["n1", "n2", "x9"]}}),
    )
    .await;
    put(
        store.as_ref(),
        &CatalogScope::Global,
        json!({"kind": "prompt", "name": "greeting", "messages": [{"role": "user", "text": "global"}]}),
    )
    .await;
    // The entity's own `greeting` wins over the global one; code's `hello` over the stored one.
    put(
        store.as_ref(),
        &entity("acme"),
        json!({"kind": "prompt", "name": "greeting", "messages": [{"role": "user", "text": "acme's own"}]}),
    )
    .await;
    put(
        store.as_ref(),
        &CatalogScope::Global,
        json!({"kind": "prompt", "name": "hello", "messages": [{"role": "user", "text": "stored"}]}),
    )
    .await;
    let catalog = StoredCatalog::new(Arc::clone(&store), Duration::from_millis(50));
    (store, catalog)
}

fn names(items: &[Value], key: &str) -> Vec<String> {
    items
        .iter()
        .filter_map(|i| i[key].as_str().map(str::to_string))
        .collect()
}

fn text(prompt: &Value, i: usize) -> String {
    prompt["messages"][i]["content"]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn stored_items_are_served_per_entity_in_both_eras() {
    let (_store, catalog) = seeded().await;
    for era in ERAS {
        let acme = TestClient::builder(server(&catalog))
            .era(era)
            .entity("acme")
            .connect()
            .await
            .unwrap();
        let prompts = acme.list_prompts().await.unwrap();
        assert_eq!(
            names(&prompts, "name"),
            ["hello", "review", "greeting"],
            "{era:?}"
        );
        let review = prompts.iter().find(|p| p["name"] == "review").unwrap();
        assert_eq!(review["arguments"][0]["required"], true);
        assert_eq!(review["arguments"][0]["description"], "What to review");

        let r = acme
            .get_prompt("review", json!({"code": "f()", "focus": "speed"}))
            .await
            .unwrap();
        assert_eq!(text(&r, 0), "Review f() for speed.");
        assert_eq!(text(&r, 1), "Reviewing {carefully}.");
        assert_eq!(r["messages"][1]["role"], "assistant");
        assert_eq!(r["description"], "Review code");
        let e = acme
            .get_prompt("review", json!({"focus": "x"}))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some(-32602), "{era:?}");
        assert!(e.to_string().contains("`code`"), "{e}");

        let hello = acme.get_prompt("hello", json!({})).await.unwrap();
        assert_eq!(text(&hello, 0), "code wins", "code comes first");
        let greeting = acme.get_prompt("greeting", json!({})).await.unwrap();
        assert_eq!(
            text(&greeting, 0),
            "acme's own",
            "the entity's item beats the global one"
        );

        let resources = acme.list_resources().await.unwrap();
        assert_eq!(names(&resources, "uri"), ["notes://readme"]);
        let body = acme.read_resource("notes://readme").await.unwrap();
        assert_eq!(body[0]["text"], "# acme");
        assert_eq!(body[0]["mimeType"], "text/markdown");
        let templates = acme.list_resource_templates().await.unwrap();
        assert_eq!(names(&templates, "uriTemplate"), ["notes://{id}/v/{rev}"]);
        let body = acme.read_resource("notes://n1/v/3").await.unwrap();
        assert_eq!(body[0]["text"], "{\"id\": \"n1\", \"rev\": 3}");

        let complete = acme
            .complete(
                json!({"type": "ref/prompt", "name": "review"}),
                "focus",
                "s",
            )
            .await
            .unwrap();
        assert_eq!(complete, ["speed", "safety", "style"]);
        let complete = acme
            .complete(
                json!({"type": "ref/resource", "uri": "notes://{id}/v/{rev}"}),
                "id",
                "n",
            )
            .await
            .unwrap();
        assert_eq!(complete, ["n1", "n2"]);

        // Another entity sees the global items only.
        let other = TestClient::builder(server(&catalog))
            .era(era)
            .entity("other")
            .connect()
            .await
            .unwrap();
        assert_eq!(
            names(&other.list_prompts().await.unwrap(), "name"),
            ["hello", "greeting"]
        );
        assert_eq!(
            text(&other.get_prompt("greeting", json!({})).await.unwrap(), 0),
            "global"
        );
        assert!(other
            .get_prompt("review", json!({"code": "x"}))
            .await
            .is_err());
        assert!(other.read_resource("notes://readme").await.is_err());
        assert!(other.read_resource("notes://n1/v/3").await.is_err());
        assert!(other.list_resources().await.unwrap().is_empty());
    }
}

/// Records the method and name of every call it sees.
struct Recorder(Arc<Mutex<Vec<String>>>);

#[async_trait]
impl Middleware for Recorder {
    async fn handle(&self, call: McpCall, next: Next<'_>) -> fastmcp_core::Result<MethodResult> {
        self.0
            .lock()
            .unwrap()
            .push(format!("{} {}", call.method.name(), call.name));
        next.run(call).await
    }
}

#[tokio::test]
async fn middleware_wraps_stored_items_like_code_ones() {
    let (_store, catalog) = seeded().await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    for era in ERAS {
        let c = TestClient::builder(server(&catalog).middleware(Recorder(Arc::clone(&seen))))
            .era(era)
            .entity("acme")
            .connect()
            .await
            .unwrap();
        c.get_prompt("review", json!({"code": "x"})).await.unwrap();
        c.read_resource("notes://n2/v/1").await.unwrap();
        c.complete(json!({"type": "ref/prompt", "name": "review"}), "focus", "")
            .await
            .unwrap();
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen.iter()
            .filter(|s| s.as_str() == "prompts/get review")
            .count(),
        2,
        "{seen:?}"
    );
    assert!(
        seen.contains(&"resources/read notes://n2/v/1".to_string()),
        "{seen:?}"
    );
    assert!(
        seen.contains(&"completion/complete review".to_string()),
        "{seen:?}"
    );
}

#[tokio::test]
async fn a_change_reaches_another_instance_within_the_refresh() {
    let (store, a) = seeded().await;
    // Instance B: its own cache over the same store.
    let b = StoredCatalog::new(Arc::clone(&store), Duration::from_millis(250));
    let mut changes = fastmcp_core::provider::Provider::changes(&b).unwrap();
    let on_b = TestClient::builder(server(&b))
        .era(Era::Modern)
        .entity("acme")
        .connect()
        .await
        .unwrap();
    assert!(!names(&on_b.list_prompts().await.unwrap(), "name").contains(&"new".into()));

    // Written through instance A (which serves it at once).
    put(
        store.as_ref(),
        &entity("acme"),
        json!({"kind": "prompt", "name": "new", "messages": [{"role": "user", "text": "hi"}]}),
    )
    .await;
    a.invalidate(&entity("acme"));
    let on_a = TestClient::builder(server(&a))
        .era(Era::Modern)
        .entity("acme")
        .connect()
        .await
        .unwrap();
    assert!(names(&on_a.list_prompts().await.unwrap(), "name").contains(&"new".into()));

    let t0 = Instant::now();
    loop {
        if names(&on_b.list_prompts().await.unwrap(), "name").contains(&"new".into()) {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "never reached instance B"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = t0.elapsed();
    eprintln!("the change reached instance B after {took:?} (refresh 250 ms)");
    let change = tokio::time::timeout(Duration::from_secs(5), changes.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(change.entity, Some(EntityId::parse("acme").unwrap()));

    // A delete too.
    store
        .delete_catalog_item(&entity("acme"), CatalogKind::Prompt, "new")
        .await
        .unwrap()
        .unwrap();
    let t0 = Instant::now();
    while names(&on_b.list_prompts().await.unwrap(), "name").contains(&"new".into()) {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the delete never reached B"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(on_b.get_prompt("new", json!({})).await.is_err());
}

/// Counts the reads of a catalog store.
struct Counting {
    inner: MemoryStore,
    reads: AtomicUsize,
}

#[async_trait]
impl CatalogStore for Counting {
    async fn put_catalog_item(
        &self,
        scope: &CatalogScope,
        item: &CatalogItem,
        mode: PutMode,
        max: usize,
    ) -> StoreResult<u64> {
        self.inner.put_catalog_item(scope, item, mode, max).await
    }
    async fn delete_catalog_item(
        &self,
        scope: &CatalogScope,
        kind: CatalogKind,
        key: &str,
    ) -> StoreResult<Option<u64>> {
        self.inner.delete_catalog_item(scope, kind, key).await
    }
    async fn catalog(&self, scope: &CatalogScope) -> StoreResult<CatalogSnapshot> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.catalog(scope).await
    }
    async fn catalog_versions(&self, scopes: &[CatalogScope]) -> StoreResult<Vec<u64>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.catalog_versions(scopes).await
    }
    async fn catalog_epoch(&self) -> StoreResult<u64> {
        // The refresher's one small read per interval, not per request.
        self.inner.catalog_epoch().await
    }
}

#[tokio::test]
async fn no_store_read_per_request_in_the_steady_state() {
    let counting = Arc::new(Counting {
        inner: MemoryStore::default(),
        reads: AtomicUsize::new(0),
    });
    put(
        counting.as_ref(),
        &entity("acme"),
        json!({"kind": "prompt", "name": "p", "messages": [{"role": "user", "text": "x"}]}),
    )
    .await;
    let catalog = StoredCatalog::new(counting.clone(), Duration::from_millis(20));
    let c = TestClient::builder(server(&catalog))
        .era(Era::Modern)
        .entity("acme")
        .connect()
        .await
        .unwrap();
    c.list_prompts().await.unwrap();
    // Let the refresher settle on the current epoch.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = counting.reads.load(Ordering::SeqCst);
    for _ in 0..200 {
        c.list_prompts().await.unwrap();
        c.get_prompt("p", json!({})).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        counting.reads.load(Ordering::SeqCst),
        before,
        "400 requests and 5 refresh intervals without a change read nothing but the epoch"
    );
}

/// A stored tool's scopes are checked like a code tool's, before its handler: without the
/// scope the call is refused; with it, the handler runs (here it answers that this instance
/// has no outbound HTTP, which is what an app without `http-tools` says).
#[tokio::test]
async fn stored_tools_require_their_scopes_in_both_eras() {
    let store: Arc<dyn CatalogStore> = Arc::new(MemoryStore::default());
    put(
        store.as_ref(),
        &entity("acme"),
        json!({"kind": "http_tool", "name": "purge", "scopes": ["admin"],
               "input_schema": {"type": "object", "properties": {}},
               "request": {"method": "DELETE", "url": "https://cache.example.com/all"}}),
    )
    .await;
    let catalog = StoredCatalog::new(store, Duration::from_millis(50));
    for era in ERAS {
        let guest = TestClient::builder(server(&catalog))
            .era(era)
            .entity("acme")
            .principal(fastmcp_core::Principal {
                subject: "guest".into(),
                ..fastmcp_core::Principal::anonymous()
            })
            .connect()
            .await
            .unwrap();
        let e = guest.call_tool("purge", json!({})).await.unwrap_err();
        assert!(e.to_string().contains("scope"), "{era:?}: {e}");
        let admin = TestClient::builder(server(&catalog))
            .era(era)
            .entity("acme")
            .principal(fastmcp_core::Principal {
                subject: "root".into(),
                scopes: ["admin".to_string()].into(),
                ..fastmcp_core::Principal::anonymous()
            })
            .connect()
            .await
            .unwrap();
        let r = admin.call_tool("purge", json!({})).await.unwrap();
        assert!(r.is_error());
        assert!(r.text().contains("not enabled"), "{}", r.text());
    }
}
