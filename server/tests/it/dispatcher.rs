//! The core dispatcher driven directly, without HTTP: error codes, panics, cancellation,
//! pagination, logging thresholds and session state.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use fastmcp_core::protocol::{Message, Request, RequestId};
use fastmcp_core::schemars::{self, JsonSchema};
use fastmcp_core::{
    Context, EntityId, McpServer, NoArgs, Outlet, Result, ServerConfig, SessionRecord, Tool,
};
use fastmcp_storage_memory::MemoryStore;
use serde::Deserialize;
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

#[derive(Deserialize, JsonSchema)]
struct Level {
    warn: bool,
}

fn server(page_size: usize) -> McpServer {
    let cfg = ServerConfig {
        page_size,
        ..Default::default()
    };
    server_on(MemoryStore::default(), cfg)
}

/// A dispatcher on `store`: several on one store stand for instances sharing it.
fn server_on(store: MemoryStore, cfg: ServerConfig) -> McpServer {
    let mut b = McpServer::builder("t", "1").config(cfg);
    let r = b.registry();
    r.tool(Tool::new("boom").description("panics").handler(
        |_: NoArgs, _ctx: Context| async move {
            if true {
                panic!("kaboom");
            }
            Ok("never")
        },
    ));
    r.tool(
        Tool::new("slow")
            .description("sleeps")
            .handler(|_: NoArgs, ctx: Context| async move {
                ctx.sleep(Duration::from_secs(30)).await?;
                Ok("woke")
            }),
    );
    r.tool(
        Tool::new("log")
            .description("logs")
            .handler(|a: Level, ctx: Context| async move {
                ctx.info("an info").await?;
                if a.warn {
                    ctx.warning("a warning").await?;
                }
                Ok("logged")
            }),
    );
    for i in 0..3 {
        r.tool(
            Tool::new(format!("t{i}"))
                .description("filler")
                .handler(|_: NoArgs, _ctx: Context| async move { Ok("x") }),
        );
    }
    b.build(Arc::new(store.clone()), Arc::new(store))
}

async fn session(s: &McpServer) -> SessionRecord {
    let mut rec = SessionRecord::new(EntityId::parse("acme").unwrap());
    s.initialize(
        &mut rec,
        Some(&json!({"protocolVersion": "2025-11-25", "capabilities": {}})),
    )
    .unwrap();
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

async fn call(s: &McpServer, rec: &SessionRecord, id: i64, method: &str, params: Value) -> Value {
    s.handle_request(rec, req(id, method, params), Arc::new(Collect::default()))
        .await
        .to_value()
}

#[tokio::test]
async fn a_panicking_handler_fails_only_its_own_request() {
    let s = server(100);
    let rec = session(&s).await;
    let r = call(&s, &rec, 1, "tools/call", json!({"name": "boom"})).await;
    assert_eq!(r["error"]["code"], -32603, "{r}");
    let r = call(&s, &rec, 2, "tools/call", json!({"name": "t0"})).await;
    assert_eq!(r["result"]["content"][0]["text"], "x");
}

#[tokio::test]
async fn cancellation_stops_the_running_handler() {
    let s = server(100);
    let rec = session(&s).await;
    let (s2, rec2) = (s.clone(), rec.clone());
    let task =
        tokio::spawn(
            async move { call(&s2, &rec2, 7, "tools/call", json!({"name": "slow"})).await },
        );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let cancel = Message::from_value(
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
        "params": {"requestId": 7, "reason": "test"}}),
    )
    .unwrap();
    let Message::Notification(n) = cancel else {
        panic!()
    };
    s.handle_notification(&rec, n).await.unwrap();
    let r = tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .expect("cancelled promptly")
        .unwrap();
    assert_eq!(r["error"]["code"], -32800, "{r}");
}

fn cancelled(id: Value) -> fastmcp_core::protocol::Notification {
    let msg = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                     "params": {"requestId": id, "reason": "test"}});
    match Message::from_value(msg).unwrap() {
        Message::Notification(n) => n,
        other => panic!("{other:?}"),
    }
}

/// Two dispatchers on one store stand for two instances: a cancellation that reaches B stops
/// the handler running on A, and only the request it names.
#[tokio::test]
async fn a_cancellation_sent_to_another_instance_stops_the_handler() {
    let store = MemoryStore::default();
    let cfg = ServerConfig {
        remote_cancel_after: Duration::from_millis(200),
        ..Default::default()
    };
    let (a, b) = (server_on(store.clone(), cfg.clone()), server_on(store, cfg));
    let rec = session(&a).await;
    let run = |id: i64| {
        let (a, rec) = (a.clone(), rec.clone());
        tokio::spawn(async move { call(&a, &rec, id, "tools/call", json!({"name": "slow"})).await })
    };
    let (eight, ten) = (run(8), run(10));
    // Sent before A watches: the cancellation of 10 waits in the store until it does. Other
    // ids (and "8" as a string) cancel nothing.
    tokio::time::sleep(Duration::from_millis(50)).await;
    for id in [json!(10), json!(9), json!("8")] {
        b.handle_notification(&rec, cancelled(id)).await.unwrap();
    }
    let r = tokio::time::timeout(Duration::from_secs(2), ten)
        .await
        .expect("10 cancelled once A watched")
        .unwrap();
    assert_eq!(r["error"]["code"], -32800, "{r}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!eight.is_finished(), "8 cancelled by another request's id");
    b.handle_notification(&rec, cancelled(json!(8)))
        .await
        .unwrap();
    let r = tokio::time::timeout(Duration::from_secs(2), eight)
        .await
        .expect("8 cancelled promptly")
        .unwrap();
    assert_eq!(r["error"]["code"], -32800, "{r}");
}

#[tokio::test]
async fn error_codes_follow_json_rpc() {
    let s = server(100);
    let rec = session(&s).await;
    assert_eq!(
        call(&s, &rec, 1, "nope/nothing", json!({})).await["error"]["code"],
        -32601
    );
    let r = call(&s, &rec, 2, "tools/call", json!({"name": "missing"})).await;
    assert_eq!(r["error"]["code"], -32602);
    let r = call(
        &s,
        &rec,
        3,
        "tools/call",
        json!({"name": "log", "arguments": {"warn": "yes"}}),
    )
    .await;
    assert_eq!(r["error"]["code"], -32602);
    assert_eq!(r["error"]["data"]["path"], "warn", "{r}");
    let r = call(
        &s,
        &rec,
        4,
        "tools/call",
        json!({"name": "log", "arguments": []}),
    )
    .await;
    assert_eq!(r["error"]["code"], -32602);
    let r = call(
        &s,
        &rec,
        5,
        "initialize",
        json!({"protocolVersion": "2025-11-25"}),
    )
    .await;
    assert_eq!(r["error"]["code"], -32600);
    let r = call(&s, &rec, 6, "resources/read", json!({"uri": "nope://x"})).await;
    assert_eq!(r["error"]["code"], -32002);
    let r = call(&s, &rec, 7, "logging/setLevel", json!({"level": "loud"})).await;
    assert_eq!(r["error"]["code"], -32602);
    let r = call(&s, &rec, 8, "server/discover", json!({})).await;
    assert_eq!(r["error"]["code"], -32022);
    assert!(r["error"]["data"]["supported"]
        .as_array()
        .unwrap()
        .contains(&json!("2025-11-25")));

    let mut fresh = SessionRecord::new(EntityId::parse("acme").unwrap());
    fresh = s
        .sessions()
        .create(fresh, Duration::from_secs(60))
        .await
        .unwrap();
    let r = call(&s, &fresh, 9, "tools/list", json!({})).await;
    assert_eq!(r["error"]["code"], -32600, "not initialized: {r}");
    assert_eq!(
        call(&s, &fresh, 10, "ping", json!({})).await["result"],
        json!({})
    );
}

#[tokio::test]
async fn lists_paginate_with_opaque_cursors() {
    let s = server(2);
    let rec = session(&s).await;
    let mut names = Vec::new();
    let mut cursor = Value::Null;
    for id in 0..10 {
        let r = call(&s, &rec, id, "tools/list", json!({"cursor": cursor})).await;
        let page = r["result"]["tools"].as_array().unwrap();
        assert!(page.len() <= 2);
        names.extend(page.iter().map(|t| t["name"].as_str().unwrap().to_string()));
        cursor = r["result"]
            .get("nextCursor")
            .cloned()
            .unwrap_or(Value::Null);
        if cursor.is_null() {
            break;
        }
    }
    assert_eq!(names, ["boom", "slow", "log", "t0", "t1", "t2"]);
    let r = call(&s, &rec, 99, "tools/list", json!({"cursor": "garbage"})).await;
    assert_eq!(r["error"]["code"], -32602);
}

#[tokio::test]
async fn logging_honours_the_session_level() {
    let s = server(100);
    let rec = session(&s).await;
    let collect = Arc::new(Collect::default());
    s.handle_request(
        &rec,
        req(
            1,
            "tools/call",
            json!({"name": "log", "arguments": {"warn": true}}),
        ),
        collect.clone(),
    )
    .await;
    assert_eq!(
        collect.0.lock().unwrap().len(),
        2,
        "info and warning at the default level"
    );

    let r = call(&s, &rec, 2, "logging/setLevel", json!({"level": "warning"})).await;
    assert_eq!(r["result"], json!({}));
    let rec = s
        .sessions()
        .load(&rec.entity, &rec.id)
        .await
        .unwrap()
        .unwrap();
    let collect = Arc::new(Collect::default());
    s.handle_request(
        &rec,
        req(
            3,
            "tools/call",
            json!({"name": "log", "arguments": {"warn": true}}),
        ),
        collect.clone(),
    )
    .await;
    let got = collect.0.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["params"]["level"], "warning");
    assert_eq!(got[0]["method"], "notifications/message");
}

#[tokio::test]
async fn server_requests_time_out_without_a_client_answer() {
    let store = MemoryStore::default();
    let mut b = McpServer::builder("t", "1").config(ServerConfig {
        client_request_timeout: Duration::from_millis(200),
        ..Default::default()
    });
    b.registry()
        .tool(Tool::new("ask").description("elicits").handler(
            |_: NoArgs, ctx: Context| async move {
                let r = ctx
                    .elicit("name?", json!({"type": "object", "properties": {}}))
                    .await?;
                Ok(r.action)
            },
        ));
    let s = b.build(Arc::new(store.clone()), Arc::new(store));
    let mut rec = SessionRecord::new(EntityId::parse("acme").unwrap());
    s.initialize(
        &mut rec,
        Some(&json!({"protocolVersion": "2025-11-25", "capabilities": {"elicitation": {}}})),
    )
    .unwrap();
    let rec = s
        .sessions()
        .create(rec, Duration::from_secs(60))
        .await
        .unwrap();

    // No answer: a clear internal error after the timeout.
    let collect = Arc::new(Collect::default());
    let r = s
        .handle_request(
            &rec,
            req(1, "tools/call", json!({"name": "ask"})),
            collect.clone(),
        )
        .await
        .to_value();
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("timed out"),
        "{r}"
    );
    let sent = collect.0.lock().unwrap().clone();
    assert_eq!(sent[0]["method"], "elicitation/create");

    // Answered (through the queue, as from another instance): the tool gets it.
    let (s2, rec2) = (s.clone(), rec.clone());
    let collect = Arc::new(Collect::default());
    let c2 = collect.clone();
    let task = tokio::spawn(async move {
        s2.handle_request(&rec2, req(2, "tools/call", json!({"name": "ask"})), c2)
            .await
    });
    let server_request = loop {
        if let Some(m) = collect.0.lock().unwrap().first().cloned() {
            break m;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let id: RequestId = serde_json::from_value(server_request["id"].clone()).unwrap();
    let answer =
        Message::from_value(json!({"jsonrpc": "2.0", "id": id, "result": {"action": "decline"}}))
            .unwrap();
    let Message::Response(answer) = answer else {
        panic!()
    };
    s.handle_response(&rec, answer).await.unwrap();
    let r = task.await.unwrap().to_value();
    assert_eq!(r["result"]["content"][0]["text"], "decline", "{r}");
}

#[tokio::test]
async fn resource_updates_reach_subscribed_sessions_only() {
    let store = MemoryStore::default();
    let s = McpServer::builder("t", "1")
        .with(fastmcp_server::demo::register)
        .build(Arc::new(store.clone()), Arc::new(store));
    let a = session(&s).await;
    let b = session(&s).await;
    let r = call(
        &s,
        &a,
        1,
        "resources/subscribe",
        json!({"uri": "demo://readme"}),
    )
    .await;
    assert_eq!(r["result"], json!({}), "{r}");
    let r = call(&s, &a, 2, "resources/subscribe", json!({"uri": "nope://x"})).await;
    assert_eq!(r["error"]["code"], -32002);
    let n = s
        .notify_resource_updated(&a.entity, "demo://readme")
        .await
        .unwrap();
    assert_eq!(n, 1);
    let get = |id| fastmcp_core::StreamKey::new(id, "get");
    let events = s
        .queue()
        .replay_after(&a.entity, &get(a.id), None)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].message["method"],
        "notifications/resources/updated"
    );
    assert_eq!(events[0].message["params"]["uri"], "demo://readme");
    assert!(s
        .queue()
        .replay_after(&b.entity, &get(b.id), None)
        .await
        .unwrap()
        .is_empty());
    let r = call(
        &s,
        &a,
        3,
        "resources/unsubscribe",
        json!({"uri": "demo://readme"}),
    )
    .await;
    assert_eq!(r["result"], json!({}));
    assert_eq!(
        s.notify_resource_updated(&a.entity, "demo://readme")
            .await
            .unwrap(),
        0
    );
}
