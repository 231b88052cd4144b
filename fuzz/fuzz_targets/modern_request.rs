//! A 2026-07-28 request through the engine, as the stateless transport hands it over: the
//! envelope (`_meta`: protocol version, client info, capabilities, log level), `requestState`
//! and `inputResponses`, and every method's params, against a small catalog with a tool, a
//! resource, a URI template and a prompt. Any input must give a result or a JSON-RPC error.
#![no_main]

use std::sync::{Arc, LazyLock};

use fastmcp_core::engine::stateless::parse_meta;
use fastmcp_core::protocol::Message;
use fastmcp_core::protocol::PromptMessage;
use fastmcp_core::storage::Stores;
use fastmcp_core::{
    Context, EntityId, McpServer, NullOutlet, Prompt, Resource, ResourceTemplate, Tool,
};
use fastmcp_storage_memory::MemoryStore;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Text {
    text: String,
}

struct Fixture {
    rt: tokio::runtime::Runtime,
    mcp: McpServer,
    entity: EntityId,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let stores = Stores::of(MemoryStore::default());
    let mcp = McpServer::builder("fuzz", "1")
        .with(|r| {
            r.tool(Tool::new("echo").handler(|a: Text, _ctx: Context| async move { Ok(a.text) }));
            r.resource(
                Resource::new("fuzz://readme", "readme")
                    .handler(|_ctx: Context| async move { Ok("hello".to_string()) }),
            );
            r.resource_template(
                ResourceTemplate::new("fuzz://item/{id}/{part}", "item")
                    .handler(|params, _ctx: Context| async move { Ok(format!("{params:?}")) }),
            );
            r.prompt(
                Prompt::new("say").handler(|a: Text, _ctx: Context| async move {
                    Ok(vec![PromptMessage::user(a.text)])
                }),
            );
        })
        .keys(Arc::clone(&stores.keys))
        .build(Arc::clone(&stores.sessions), Arc::clone(&stores.queue));
    Fixture {
        rt,
        mcp,
        entity: EntityId::parse("fuzz").expect("an entity id"),
    }
});

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Ok(Message::Request(request)) = Message::from_value(value) else {
        return;
    };
    let Ok(meta) = parse_meta(request.params.as_ref()) else {
        return;
    };
    let f = &*FIXTURE;
    let outlet = Arc::new(NullOutlet);
    let reply =
        f.rt.block_on(f.mcp.handle_modern(&f.entity, request, &meta, outlet, None));
    serde_json::to_string(&reply.message).expect("a reply serialises");
});
