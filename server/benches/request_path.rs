//! The request path without HTTP: bytes → JSON-RPC message → dispatch → response bytes, for
//! the demo catalog on the memory store, in both protocol eras. A regression in the engine
//! shows here without any load generator or peer server (`cargo bench -p fastmcp-server`).
//!
//! Each benchmark runs one request at a time on a current-thread runtime, so the figures are
//! the engine's own cost per request (no scheduling across threads, no sockets).

use std::sync::Arc;
use std::time::Duration;

use fastmcp_core::engine::stateless::parse_meta;
use fastmcp_core::protocol::{Message, Request};
use fastmcp_core::{EntityId, McpServer, NullOutlet, SessionRecord};
use fastmcp_storage_memory::MemoryStore;
use serde_json::{json, Value};

fn main() {
    divan::main();
}

struct Bench {
    rt: tokio::runtime::Runtime,
    server: McpServer,
    session: SessionRecord,
    entity: EntityId,
}

fn setup() -> Bench {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let store = MemoryStore::default();
    let server = McpServer::builder("bench", "1")
        .with(fastmcp_server::demo::register)
        .build(Arc::new(store.clone()), Arc::new(store));
    let entity = EntityId::parse("bench").expect("a valid entity id");
    let session = rt.block_on(async {
        let mut rec = SessionRecord::new(entity.clone());
        server
            .initialize(
                &mut rec,
                Some(&json!({"protocolVersion": "2025-11-25", "capabilities": {}})),
            )
            .expect("initialize");
        server
            .sessions()
            .create(rec, Duration::from_secs(600))
            .await
            .expect("a session")
    });
    Bench {
        rt,
        server,
        session,
        entity,
    }
}

fn parse(body: &[u8]) -> Request {
    let value: Value = serde_json::from_slice(body).expect("JSON");
    match Message::from_value(value) {
        Ok(Message::Request(r)) => r,
        other => panic!("not a request: {other:?}"),
    }
}

const ECHO: &[u8] = br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"xxxxxxxxxxxxxxxx"}}}"#;
const LIST: &[u8] = br#"{"jsonrpc":"2.0","id":8,"method":"tools/list","params":{}}"#;
const MODERN_ECHO: &[u8] = br#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"echo","arguments":{"text":"xxxxxxxxxxxxxxxx"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;

fn handshake(b: &Bench, body: &[u8]) -> Vec<u8> {
    let request = parse(body);
    let response = b.rt.block_on(b.server.handle_request(
        &b.session,
        request,
        Arc::new(NullOutlet),
    ));
    serde_json::to_vec(&response).expect("serialise")
}

fn modern(b: &Bench, body: &[u8]) -> Vec<u8> {
    let request = parse(body);
    let meta = parse_meta(request.params.as_ref()).expect("a _meta envelope");
    let response = b.rt.block_on(b.server.handle_modern(
        &b.entity,
        request,
        &meta,
        Arc::new(NullOutlet),
        None,
    ));
    serde_json::to_vec(&response.message).expect("serialise")
}

/// Parsing alone: what every request pays before dispatch.
#[divan::bench]
fn parse_tools_call(bencher: divan::Bencher) {
    bencher.bench(|| parse(divan::black_box(ECHO)));
}

/// `tools/call echo` in a handshake-era session.
#[divan::bench]
fn handshake_tools_call_echo(bencher: divan::Bencher) {
    let b = setup();
    assert!(String::from_utf8_lossy(&handshake(&b, ECHO)).contains("xxxxxxxxxxxxxxxx"));
    bencher.bench_local(|| handshake(&b, divan::black_box(ECHO)));
}

/// `tools/list` of the demo catalog (serialising every schema).
#[divan::bench]
fn handshake_tools_list(bencher: divan::Bencher) {
    let b = setup();
    assert!(String::from_utf8_lossy(&handshake(&b, LIST)).contains("\"echo\""));
    bencher.bench_local(|| handshake(&b, divan::black_box(LIST)));
}

/// `tools/call echo` at 2026-07-28 (no session; the `_meta` envelope read per request).
#[divan::bench]
fn modern_tools_call_echo(bencher: divan::Bencher) {
    let b = setup();
    assert!(String::from_utf8_lossy(&modern(&b, MODERN_ECHO)).contains("xxxxxxxxxxxxxxxx"));
    bencher.bench_local(|| modern(&b, divan::black_box(MODERN_ECHO)));
}
