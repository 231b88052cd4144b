//! Header fields and ids as a client writes them: the Base64 sentinel of `Mcp-Name` and
//! `Mcp-Param-*`, `Last-Event-ID`, `Mcp-Session-Id`, entity ids from the path, method and
//! logging-level names, and URI templates against URIs (the input's first line is the
//! template, the rest the URI). None may panic; what parses must be canonical.
#![no_main]

use fastmcp_core::protocol::http_fields::{decode_header_value, parse_last_event_id};
use fastmcp_core::protocol::{LoggingLevel, Method};
use fastmcp_core::registry::UriTemplate;
use fastmcp_core::{EntityId, SessionId};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = decode_header_value(text);
    if let Some((stream, _event)) = parse_last_event_id(text) {
        assert!(!stream.contains('/'));
    }
    if let Some(id) = SessionId::parse(text) {
        // One spelling per session: only the canonical form parses.
        assert_eq!(id.to_string(), text);
    }
    if let Ok(entity) = EntityId::parse(text) {
        assert_eq!(entity.as_str(), text);
        assert!(!entity.as_str().chars().all(|c| c == '.'));
    }
    let _ = Method::parse(text);
    let _ = LoggingLevel::parse(text);
    if let Some((template, uri)) = text.split_once('\n') {
        let _ = UriTemplate::parse(template).matches(uri);
    }
});
