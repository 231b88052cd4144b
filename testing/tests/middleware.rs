//! Middleware (`fastmcp_core::middleware`) through the in-process client, in both eras: order,
//! changing the call and the result, short-circuits, and the four shipped layers.

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use fastmcp_core::middleware::{
    McpCall, Middleware, Next, Outcome, RedactedLog, ResultCache, Timing, ToolTimeout,
};
use fastmcp_core::protocol::{CallToolResult, Content, Method, MethodResult, PromptMessage};
use fastmcp_core::schemars;
use fastmcp_core::storage::{EntityConfig, Visibility};
use fastmcp_core::EntityId;
use fastmcp_core::{Completer, Context, McpServer, McpServerBuilder, Prompt, Resource, Tool};
use fastmcp_testing::{Era, TestClient};
use serde_json::{json, Value};

const ERAS: [Era; 2] = [Era::Handshake, Era::Modern];

#[derive(serde::Deserialize, fastmcp_core::schemars::JsonSchema)]
struct PromptArgs {
    /// Anything.
    #[allow(dead_code)]
    x: Option<String>,
}

/// Echo (text back), a counted tool, a slow tool, a resource and a prompt.
fn server(runs: Arc<AtomicUsize>) -> McpServerBuilder {
    McpServer::builder("mw", "1").with(move |r| {
        r.tool(
            Tool::new("echo").handler(|a: Value, _ctx: Context| async move {
                Ok(a["text"].as_str().unwrap_or_default().to_string())
            }),
        );
        let counted = Arc::clone(&runs);
        r.tool(
            Tool::new("counted").handler(move |a: Value, _ctx: Context| {
                let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
                async move { Ok(format!("{} (run {n})", a["x"])) }
            }),
        );
        r.tool(
            Tool::new("slow").handler(|_: Value, _ctx: Context| async move {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok("done")
            }),
        );
        r.resource(
            Resource::new("mw://r", "r")
                .handler(|_ctx: Context| async move { Ok("resource text") }),
        );
        r.prompt(
            Prompt::new("p")
                .complete("x", Completer::from_values(["one", "two"]))
                .handler(|_: PromptArgs, _ctx: Context| async move {
                    Ok(vec![PromptMessage::user("prompt text")])
                }),
        );
    })
}

/// Records every call it sees, and appends its mark to echo's text on the way in and to the
/// result on the way out.
struct Mark {
    mark: &'static str,
    seen: Arc<Mutex<Vec<String>>>,
}

#[async_trait]
impl Middleware for Mark {
    async fn handle(
        &self,
        mut call: McpCall,
        next: Next<'_>,
    ) -> fastmcp_core::Result<MethodResult> {
        self.seen.lock().unwrap().push(format!(
            "{} {} {}",
            self.mark,
            call.method.name(),
            call.name
        ));
        if call.name == "echo" {
            let text = format!(
                "{}{}",
                call.arguments["text"].as_str().unwrap_or_default(),
                self.mark
            );
            call.arguments = json!({ "text": text });
        }
        let mut result = next.run(call).await?;
        if let MethodResult::Tool(r) = &mut result {
            if let Some(Content::Text { text, .. }) = r.content.first_mut() {
                text.push_str(&format!("<{}", self.mark));
            }
        }
        Ok(result)
    }
}

/// Answers `echo` with "blocked" without calling the handler when the text says so.
struct Block;

#[async_trait]
impl Middleware for Block {
    async fn handle(&self, call: McpCall, next: Next<'_>) -> fastmcp_core::Result<MethodResult> {
        if call.method == Method::ToolsCall && call.arguments["text"] == "forbidden" {
            return Ok(MethodResult::Tool(CallToolResult::text("blocked")));
        }
        next.run(call).await
    }
}

#[tokio::test]
async fn layers_run_in_order_change_the_call_and_the_result_and_short_circuit() {
    for era in ERAS {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let build = || {
            server(Arc::default())
                .middleware(Mark {
                    mark: "A",
                    seen: Arc::clone(&seen),
                })
                .middleware(Block)
                .middleware(Mark {
                    mark: "B",
                    seen: Arc::clone(&seen),
                })
        };
        let c = TestClient::builder(build())
            .era(era)
            .connect()
            .await
            .unwrap();
        // In: A then B append to the text; out: B then A append to the result.
        let r = c.call_tool("echo", json!({"text": "x"})).await.unwrap();
        assert_eq!(r.text(), "xAB<B<A", "{era:?}");
        // Block sits between A and B: A saw it, B never did, nor did the handler.
        seen.lock().unwrap().clear();
        let r = c
            .call_tool("echo", json!({"text": "forbidden"}))
            .await
            .unwrap();
        // A appended its mark on the way in, so Block saw "forbiddenA" and let it pass.
        assert_eq!(r.text(), "forbiddenAB<B<A", "{era:?}");
        let c2 = TestClient::builder(server(Arc::default()).middleware(Block).middleware(Mark {
            mark: "B",
            seen: Arc::clone(&seen),
        }))
        .era(era)
        .connect()
        .await
        .unwrap();
        seen.lock().unwrap().clear();
        let r = c2
            .call_tool("echo", json!({"text": "forbidden"}))
            .await
            .unwrap();
        assert_eq!(r.text(), "blocked", "{era:?}");
        assert!(seen.lock().unwrap().is_empty(), "{era:?}");
    }
}

#[tokio::test]
async fn every_kind_of_call_passes_through_and_hidden_or_unknown_items_never_do() {
    for era in ERAS {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let c = TestClient::builder(server(Arc::default()).middleware(Mark {
            mark: "M",
            seen: Arc::clone(&seen),
        }))
        .era(era)
        .connect()
        .await
        .unwrap();
        c.read_resource("mw://r").await.unwrap();
        c.get_prompt("p", json!({})).await.unwrap();
        c.complete(json!({"type": "ref/prompt", "name": "p"}), "x", "")
            .await
            .unwrap();
        assert!(c.call_tool("nope", json!({})).await.is_err());
        assert!(c.read_resource("mw://unknown").await.is_err());
        // Hidden from this entity: as unknown to the layers as to the client.
        let hidden = EntityConfig {
            tools: Visibility {
                allow: None,
                hide: vec!["echo".into()],
            },
            ..EntityConfig::default()
        };
        c.server()
            .set_entity_config(&EntityId::parse("test").unwrap(), Some(hidden))
            .await
            .unwrap();
        assert!(
            c.call_tool("echo", json!({"text": "x"})).await.is_err(),
            "{era:?}"
        );
        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            [
                "M resources/read mw://r",
                "M prompts/get p",
                "M completion/complete p"
            ],
            "{era:?}"
        );
    }
}

#[tokio::test]
async fn result_cache_answers_repeats_per_entity_and_arguments() {
    let cache = Arc::new(ResultCache::new(["counted"], Duration::from_secs(60)));
    for era in ERAS {
        let runs = Arc::new(AtomicUsize::new(0));
        let client = |entity: &'static str| {
            TestClient::builder(server(Arc::clone(&runs)).middleware(Arc::clone(&cache)))
                .era(era)
                .entity(entity)
                .connect()
        };
        let acme = client(if era == Era::Modern { "acme-m" } else { "acme" })
            .await
            .unwrap();
        let first = acme.call_tool("counted", json!({"x": 1})).await.unwrap();
        let again = acme.call_tool("counted", json!({"x": 1})).await.unwrap();
        assert_eq!(first.text(), again.text(), "{era:?}");
        assert_eq!(runs.load(Ordering::SeqCst), 1, "{era:?}");
        acme.call_tool("counted", json!({"x": 2})).await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 2, "{era:?}");
        // Another entity's identical call is its own.
        let other = client(if era == Era::Modern {
            "other-m"
        } else {
            "other"
        })
        .await
        .unwrap();
        let theirs = other.call_tool("counted", json!({"x": 1})).await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 3, "{era:?}");
        assert!(theirs.text().ends_with("(run 3)"), "{}", theirs.text());
        // Tools not named are never cached.
        acme.call_tool("echo", json!({"text": "a"})).await.unwrap();
    }
}

#[tokio::test]
async fn a_tool_past_its_timeout_ends_with_an_error_naming_the_limit() {
    for era in ERAS {
        let c = TestClient::builder(
            server(Arc::default())
                .middleware(ToolTimeout::new().tool("slow", Duration::from_millis(100))),
        )
        .era(era)
        .connect()
        .await
        .unwrap();
        let started = std::time::Instant::now();
        let err = c.call_tool("slow", json!({})).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2), "{era:?}");
        assert!(
            err.to_string().contains("limit is 100 ms"),
            "{era:?}: {err}"
        );
        // Other tools have no limit.
        assert_eq!(
            c.call_tool("echo", json!({"text": "ok"}))
                .await
                .unwrap()
                .text(),
            "ok"
        );
    }
}

#[tokio::test]
async fn timing_reports_every_call_with_its_outcome() {
    let seen: Arc<Mutex<Vec<(String, Outcome)>>> = Arc::default();
    let sink = Arc::clone(&seen);
    let c = TestClient::builder(server(Arc::default()).middleware(Timing::new(
        move |call: &McpCall, took: Duration, outcome| {
            assert!(took < Duration::from_secs(5));
            sink.lock().unwrap().push((call.name.clone(), outcome));
        },
    )))
    .connect()
    .await
    .unwrap();
    c.call_tool("echo", json!({"text": "t"})).await.unwrap();
    c.read_resource("mw://r").await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [
            ("echo".to_string(), Outcome::Ok),
            ("mw://r".to_string(), Outcome::Ok)
        ]
    );
}

#[test]
fn redaction_hides_sensitive_values_at_any_depth() {
    let r = RedactedLog::new(["password", "Token"]);
    let shown = r.redact(&json!({
        "user": "ada",
        "password": "hunter2",
        "nested": {"TOKEN": "abc", "list": [{"token": "def", "ok": 1}]}
    }));
    assert_eq!(
        shown,
        json!({
            "user": "ada",
            "password": "[redacted]",
            "nested": {"TOKEN": "[redacted]", "list": [{"token": "[redacted]", "ok": 1}]}
        })
    );
    assert!(!shown.to_string().contains("hunter2"));
}
