//! JSON-RPC messages and batches as a client sends them: any bytes, parsed as the transports
//! do (JSON, then each message of a batch classified), must give a message or a -32600 error,
//! never a panic; a request that parses must parse the same when written back.
#![no_main]

use fastmcp_core::protocol::{jsonrpc, Message};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let items = match value {
        Value::Array(items) => items,
        one => vec![one],
    };
    for item in items {
        match Message::from_value(item) {
            Ok(Message::Request(r)) => {
                let again =
                    jsonrpc::request(&r.id, &r.method, r.params.clone().unwrap_or(Value::Null));
                match Message::from_value(again) {
                    Ok(Message::Request(back)) => {
                        assert_eq!((back.id, back.method), (r.id, r.method));
                    }
                    // `params: null` is refused where absent params are not: only when absent.
                    Err(e) => assert!(r.params.is_none(), "{:?}", e.error),
                    Ok(_) => panic!("a request read back as another kind"),
                }
            }
            Ok(_) => {}
            Err(invalid) => assert_eq!(invalid.error.code, -32600),
        }
    }
});
