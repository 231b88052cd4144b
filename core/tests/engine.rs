//! The engine driven directly, in both protocol eras, on the memory store: no HTTP.
//! Each test here pins a defect the two-era split once had (issue 13).

#![allow(clippy::unwrap_used, missing_docs, unreachable_pub)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use fastmcp_core::engine::notify::ListenFilter;
use fastmcp_core::engine::stateless::{parse_meta, RequestMeta};
use fastmcp_core::protocol::{LoggingLevel, Message, Request};
use fastmcp_core::{
    Context, EntityId, Error, ItemKind, LogKind, LogStore, McpServer, NoArgs, Outlet, Prompt,
    Result, SessionRecord, SessionTransport, StreamKey, Tool,
};
use fastmcp_storage_memory::MemoryStore;
use serde_json::{json, Value};

#[derive(Default)]
struct Collect(Mutex<Vec<Value>>);

#[async_trait]
impl Outlet for Collect {
    async fn send(&self, message: Value) -> Result<()> {
        self.0.lock().unwrap().push(message);
        Ok(())
    }
}

impl Collect {
    fn methods(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|m| m["method"].as_str().map(str::to_string))
            .collect()
    }
}

#[derive(serde::Deserialize, fastmcp_core::schemars::JsonSchema)]
struct Topic {
    #[allow(dead_code)]
    topic: String,
}

fn server(store: &MemoryStore) -> McpServer {
    McpServer::builder("engine", "1")
        .with(|r| {
            r.tool(
                Tool::new("change")
                    .description("announces a new tool list")
                    .handler(|_: NoArgs, ctx: Context| async move {
                        ctx.notify_tools_changed().await?;
                        Ok("announced")
                    }),
            );
            r.tool(Tool::new("chatty").description("logs at info").handler(
                |_: NoArgs, ctx: Context| async move {
                    ctx.info("hello").await?;
                    Ok("done")
                },
            ));
            r.tool(Tool::new("broken").description("fails").handler(
                |_: NoArgs, _ctx: Context| async move { Err::<String, _>(Error::tool("it broke")) },
            ));
            r.prompt(Prompt::new("brief").description("a prompt").handler(
                |a: Topic, _ctx: Context| async move {
                    Ok(vec![fastmcp_core::protocol::PromptMessage::user(a.topic)])
                },
            ));
        })
        .logs(Arc::new(store.clone()))
        .build(Arc::new(store.clone()), Arc::new(store.clone()))
}

fn acme() -> EntityId {
    EntityId::parse("acme").unwrap()
}

async fn session(s: &McpServer, transport: SessionTransport, initialize: bool) -> SessionRecord {
    let mut rec = SessionRecord::new(acme());
    rec.transport = transport;
    if initialize {
        s.initialize(
            &mut rec,
            Some(&json!({"protocolVersion": "2025-11-25", "capabilities": {}})),
        )
        .unwrap();
    }
    s.sessions()
        .create(rec, Duration::from_secs(60))
        .await
        .unwrap()
}

fn req(id: i64, method: &str, params: Value) -> Request {
    match Message::from_value(
        json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}),
    )
    .unwrap()
    {
        Message::Request(r) => r,
        other => panic!("{other:?}"),
    }
}

fn modern_meta() -> RequestMeta {
    parse_meta(Some(&json!({"_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    }})))
    .unwrap()
}

async fn stream_methods(s: &McpServer, stream: &StreamKey) -> Vec<String> {
    s.queue()
        .replay_after(&acme(), stream, None)
        .await
        .unwrap()
        .iter()
        .filter_map(|e| e.message["method"].as_str().map(str::to_string))
        .collect()
}

/// `ctx.notify_tools_changed()` reaches handshake sessions on either transport (their
/// standalone stream), and the entity's listen streams; not a session that never initialized.
#[tokio::test]
async fn list_changes_reach_handshake_sessions_and_listen_streams() {
    let store = MemoryStore::default();
    let s = server(&store);
    let streamable = session(&s, SessionTransport::StreamableHttp, true).await;
    let legacy = session(&s, SessionTransport::LegacySse, true).await;
    let fresh = session(&s, SessionTransport::LegacySse, false).await;
    let r = s
        .handle_request(
            &streamable,
            req(1, "tools/call", json!({"name": "change"})),
            Arc::new(Collect::default()),
        )
        .await
        .to_value();
    assert_eq!(r["result"]["content"][0]["text"], "announced", "{r}");

    let changed = vec!["notifications/tools/list_changed".to_string()];
    assert_eq!(
        stream_methods(&s, &StreamKey::new(streamable.id, "get")).await,
        changed
    );
    assert_eq!(
        stream_methods(&s, &StreamKey::new(legacy.id, "sse")).await,
        changed
    );
    assert!(stream_methods(&s, &StreamKey::new(fresh.id, "sse"))
        .await
        .is_empty());

    // The listen side: the change is on the entity's changes stream, and a listen filter that
    // asked for tool changes turns it into the notification.
    let events = s
        .queue()
        .replay_after(
            &acme(),
            &fastmcp_core::engine::notify::changes_stream(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    let filter =
        ListenFilter::parse(Some(&json!({"notifications": {"toolsListChanged": true}}))).unwrap();
    let n = filter
        .notification_for(&events[0].message, &json!(1))
        .unwrap();
    assert_eq!(n["method"], "notifications/tools/list_changed");
}

/// A resource update reaches the subscribed handshake sessions and the listen streams that
/// asked for the URI: one notifier for both eras.
#[tokio::test]
async fn resource_updates_reach_subscribers_in_both_eras() {
    let store = MemoryStore::default();
    let s = server(&store);
    let subscribed = session(&s, SessionTransport::StreamableHttp, true).await;
    let other = session(&s, SessionTransport::StreamableHttp, true).await;
    let mut rec = s
        .sessions()
        .load(&acme(), &subscribed.id)
        .await
        .unwrap()
        .unwrap();
    rec.subscriptions.insert("x://doc".into());
    s.sessions()
        .save(&rec, Duration::from_secs(60))
        .await
        .unwrap();

    assert_eq!(
        s.notify_resource_updated(&acme(), "x://doc").await.unwrap(),
        1
    );
    assert_eq!(
        stream_methods(&s, &StreamKey::new(subscribed.id, "get")).await,
        vec!["notifications/resources/updated".to_string()]
    );
    assert!(stream_methods(&s, &StreamKey::new(other.id, "get"))
        .await
        .is_empty());
    let events = s
        .queue()
        .replay_after(
            &acme(),
            &fastmcp_core::engine::notify::changes_stream(),
            None,
        )
        .await
        .unwrap();
    let wants = ListenFilter::parse(Some(
        &json!({"notifications": {"resourceSubscriptions": ["x://doc"]}}),
    ))
    .unwrap();
    let n = wants
        .notification_for(&events[0].message, &json!("s"))
        .unwrap();
    assert_eq!(n["params"]["uri"], "x://doc");
}

/// The run-time default logging level (what `POST /admin/logging-level` without a session
/// sets) is the one sessions without their own level follow.
#[tokio::test]
async fn the_run_time_default_log_level_reaches_sessions() {
    let store = MemoryStore::default();
    let s = server(&store);
    let rec = session(&s, SessionTransport::StreamableHttp, true).await;
    let chatty = || req(1, "tools/call", json!({"name": "chatty"}));

    let out = Arc::new(Collect::default());
    s.handle_request(&rec, chatty(), out.clone()).await;
    assert_eq!(out.methods(), vec!["notifications/message".to_string()]);

    s.set_default_log_level(LoggingLevel::Warning);
    let out = Arc::new(Collect::default());
    s.handle_request(&rec, chatty(), out.clone()).await;
    assert!(out.methods().is_empty(), "info passed a warning threshold");
}

/// Failures reach the log store in both eras: a JSON-RPC error and an `isError` result.
#[tokio::test]
async fn failures_are_logged_in_both_eras() {
    let store = MemoryStore::default();
    let s = server(&store);
    let rec = session(&s, SessionTransport::StreamableHttp, true).await;
    s.handle_request(
        &rec,
        req(1, "tools/call", json!({"name": "nope"})),
        Arc::new(Collect::default()),
    )
    .await;
    let meta = modern_meta();
    let r = s
        .handle_modern(
            &acme(),
            req(2, "tools/call", json!({"name": "broken"})),
            &meta,
            Arc::new(Collect::default()),
            None,
        )
        .await;
    let m = r.message.to_value();
    assert_eq!(m["result"]["isError"], true, "{m}");
    let r = s
        .handle_modern(
            &acme(),
            req(3, "tools/call", json!({"name": "nope"})),
            &meta,
            Arc::new(Collect::default()),
            None,
        )
        .await;
    let m = r.message.to_value();
    assert_eq!(m["error"]["code"], -32602, "{m}");

    let logs = LogStore::recent(&store, &acme(), None, 10).await.unwrap();
    let errors: Vec<&str> = logs
        .iter()
        .filter(|l| l.kind == LogKind::Error)
        .map(|l| l.message.as_str())
        .collect();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(
        errors
            .iter()
            .any(|m| m.contains("request 2 returned an error result")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|m| m.contains("request 3 failed: Unknown tool: nope")),
        "{errors:?}"
    );
    // The modern ones carry no session.
    assert_eq!(logs.iter().filter(|l| l.session.is_none()).count(), 2);
}

/// An unknown tool, prompt or completion target is one typed error, whatever the method:
/// -32602 on the wire, 404 at an HTTP edge, never told apart by its message.
#[tokio::test]
async fn unknown_items_are_one_typed_error() {
    let store = MemoryStore::default();
    let s = server(&store);
    let rec = session(&s, SessionTransport::StreamableHttp, true).await;
    let out = || Arc::new(Collect::default()) as Arc<dyn Outlet>;
    let cases = [
        ("tools/call", json!({"name": "nope"}), ItemKind::Tool),
        ("prompts/get", json!({"name": "nope"}), ItemKind::Prompt),
        (
            "completion/complete",
            json!({"ref": {"type": "ref/prompt", "name": "nope"}, "argument": {"name": "a", "value": ""}}),
            ItemKind::Prompt,
        ),
        (
            "completion/complete",
            json!({"ref": {"type": "ref/resource", "uri": "nope://{x}"}, "argument": {"name": "x", "value": ""}}),
            ItemKind::ResourceTemplate,
        ),
    ];
    for (i, (method, params, kind)) in cases.into_iter().enumerate() {
        let e = s
            .serve_request(&rec, req(i as i64, method, params), out(), None)
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::UnknownItem { kind: k, name } if *k == kind && name.starts_with("nope")),
            "{method}: {e:?}"
        );
        assert_eq!(e.http_status(), 404);
        assert_eq!(e.to_error_object().code, -32602);
    }
}

/// One definition of "retryable", carried the same way on the wire and at HTTP edges.
#[test]
fn retryable_has_one_definition() {
    let retryable = [
        Error::Conflict("x".into()),
        Error::Unavailable {
            message: "x".into(),
            source: None,
        },
        Error::Timeout("x".into()),
    ];
    for e in retryable {
        assert!(e.is_retryable(), "{e:?}");
        assert_eq!(
            e.to_error_object().data.unwrap()["retryable"],
            true,
            "{e:?}"
        );
        assert!([409, 503, 504].contains(&e.http_status()), "{e:?}");
    }
    for e in [
        Error::invalid_params("x"),
        Error::Internal("x".into()),
        Error::NotFound("x".into()),
    ] {
        assert!(!e.is_retryable(), "{e:?}");
        assert!(e.to_error_object().data.is_none(), "{e:?}");
    }
}
