//! The demo catalog through the in-process test client (`fastmcp-testing`), in both protocol
//! eras: what a tool author's own tests look like.

use fastmcp_core::{Context, McpServer, McpServerBuilder, Principal, Tool};
use fastmcp_testing::{Era, TestClient};
use serde_json::json;

fn demo() -> McpServerBuilder {
    McpServer::builder("demo", "1").with(fastmcp_server::demo::register)
}

const ERAS: [Era; 2] = [Era::Handshake, Era::Modern];

#[tokio::test]
async fn tools_answer_with_text_and_structured_content() {
    for era in ERAS {
        let c = TestClient::builder(demo())
            .era(era)
            .connect()
            .await
            .unwrap();
        let names = c.tool_names().await.unwrap();
        assert!(names.contains(&"add".to_string()), "{era:?}: {names:?}");
        let sum = c.call_tool("add", json!({"a": 2, "b": 3.5})).await.unwrap();
        assert_eq!(sum.text(), "5.5", "{era:?}");
        assert_eq!(sum.structured(), Some(&json!({"sum": 5.5})), "{era:?}");
        let failed = c
            .call_tool("fail", json!({"message": "nope"}))
            .await
            .unwrap();
        assert!(failed.is_error(), "{era:?}");
        assert_eq!(failed.text(), "nope");
        // Arguments that do not fit the schema are a protocol error naming the problem.
        let bad = c.call_tool("add", json!({"a": "two"})).await.unwrap_err();
        assert_eq!(bad.code(), Some(-32602), "{era:?}: {bad}");
    }
}

#[tokio::test]
async fn progress_and_logs_are_collected() {
    for era in ERAS {
        let c = TestClient::builder(demo())
            .era(era)
            .log_level("info")
            .connect()
            .await
            .unwrap();
        let r = c
            .call_tool_with_progress("count", json!({"n": 3, "delay_ms": 0}))
            .await
            .unwrap();
        assert_eq!(r.text(), "counted to 3");
        let arrived = c
            .wait_for_notifications(6, std::time::Duration::from_secs(2))
            .await;
        assert!(arrived, "{era:?}: {:?}", c.take_notifications());
        let notes = c.take_notifications();
        let progress: Vec<f64> = notes
            .iter()
            .filter_map(|n| n.pointer("/params/progress").and_then(|p| p.as_f64()))
            .collect();
        assert_eq!(progress, [1.0, 2.0, 3.0], "{era:?}: {notes:?}");
        let logs: Vec<&str> = notes
            .iter()
            .filter_map(|n| n.pointer("/params/data").and_then(|d| d.as_str()))
            .collect();
        assert_eq!(
            logs,
            ["step 1 of 3", "step 2 of 3", "step 3 of 3"],
            "{era:?}"
        );
    }
}

#[tokio::test]
async fn elicitation_is_answered_by_the_closure_in_both_eras() {
    for era in ERAS {
        let c = TestClient::builder(demo())
            .era(era)
            .on_elicit(|params| async move {
                assert_eq!(params["message"], "What is your name?");
                json!({"action": "accept", "content": {"name": "Ada"}})
            })
            .connect()
            .await
            .unwrap();
        let r = c.call_tool("greet", json!({})).await.unwrap();
        assert_eq!(r.text(), "Hello, Ada!", "{era:?}");
    }
    // Without the capability the tool is told so, instead of waiting.
    let c = TestClient::builder(demo()).connect().await.unwrap();
    let r = c.call_tool("greet", json!({})).await;
    let said = match r {
        Ok(r) => r.text(),
        Err(e) => e.to_string(),
    };
    assert!(said.contains("elicitation"), "{said}");
}

#[tokio::test]
async fn session_state_persists_between_calls_in_the_handshake_era() {
    let c = TestClient::builder(demo()).connect().await.unwrap();
    c.call_tool("remember", json!({"key": "k", "value": "v"}))
        .await
        .unwrap();
    let r = c.call_tool("recall", json!({"key": "k"})).await.unwrap();
    assert_eq!(r.text(), "v");
}

#[tokio::test]
async fn resources_prompts_and_completion() {
    for era in ERAS {
        let c = TestClient::builder(demo())
            .era(era)
            .entity("acme")
            .connect()
            .await
            .unwrap();
        let readme = c.read_resource("demo://readme").await.unwrap();
        let text = readme[0]["text"].as_str().unwrap();
        assert!(text.contains("acme"), "{era:?}: {text}");
        let card = c.read_resource("demo://profile/bob").await.unwrap();
        assert!(card[0]["text"].as_str().unwrap().contains("bob"), "{era:?}");
        let prompt = c
            .get_prompt(
                "summarize",
                json!({"text": "long text", "style": "detailed"}),
            )
            .await
            .unwrap();
        let said = prompt["messages"][0]["content"]["text"].as_str().unwrap();
        assert!(said.contains("long text"), "{era:?}: {said}");
        let values = c
            .complete(
                json!({"type": "ref/prompt", "name": "summarize"}),
                "style",
                "de",
            )
            .await
            .unwrap();
        assert_eq!(values, ["detailed"], "{era:?}");
        let names = c
            .complete(
                json!({"type": "ref/resource", "uri": "demo://profile/{name}"}),
                "name",
                "",
            )
            .await
            .unwrap();
        assert_eq!(names, ["alice", "bob", "carol"], "{era:?}");
        // -32002 in the handshake era; 2026-07-28 made it invalid params (SEP-2164).
        let missing = c.read_resource("demo://nothing").await.unwrap_err();
        let code = if era == Era::Modern { -32602 } else { -32002 };
        assert_eq!(missing.code(), Some(code), "{era:?}: {missing}");
    }
}

/// A tool that needs the `admin` scope, beside the demo.
fn guarded() -> McpServerBuilder {
    demo().with(|r| {
        r.tool(Tool::new("purge").scopes(["admin"]).handler(
            |_: serde_json::Value, ctx: Context| async move {
                Ok(format!(
                    "purged by {}",
                    ctx.principal().map_or("nobody", |p| &p.subject)
                ))
            },
        ));
    })
}

#[tokio::test]
async fn scopes_apply_to_the_principal_chosen() {
    for era in ERAS {
        let admin = Principal {
            subject: "root".into(),
            scopes: ["admin".to_string()].into(),
            ..Principal::anonymous()
        };
        let c = TestClient::builder(guarded())
            .era(era)
            .principal(admin)
            .connect()
            .await
            .unwrap();
        let r = c.call_tool("purge", json!({})).await.unwrap();
        assert_eq!(r.text(), "purged by root", "{era:?}");
        let c = TestClient::builder(guarded())
            .era(era)
            .principal(Principal {
                subject: "guest".into(),
                ..Principal::anonymous()
            })
            .connect()
            .await
            .unwrap();
        assert!(c.call_tool("purge", json!({})).await.is_err(), "{era:?}");
    }
}

#[tokio::test]
async fn the_entity_and_principal_are_the_ones_chosen() {
    for era in ERAS {
        let c = TestClient::builder(demo())
            .era(era)
            .entity("tenant-7")
            .principal(Principal {
                subject: "alice".into(),
                ..Principal::anonymous()
            })
            .connect()
            .await
            .unwrap();
        let me = c.call_tool("whoami", json!({})).await.unwrap();
        assert_eq!(me.structured().unwrap()["entity_id"], "tenant-7", "{era:?}");
    }
}
