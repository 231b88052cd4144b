//! What the HTTP transports read from header fields, parsed here so that the parsing is one
//! piece of code, tested and fuzzed without a server (`fuzz/`).

use base64::Engine as _;

/// `Mcp-Name` / `Mcp-Param-*` values (2026-07-28) may be Base64 behind a sentinel
/// (`=?base64?…?=`) for characters a header cannot carry; decoding is strict (padding,
/// alphabet, UTF-8). `None`: a sentinel around something that does not decode.
pub fn decode_header_value(raw: &str) -> Option<String> {
    let raw = raw.trim();
    match raw
        .strip_prefix("=?base64?")
        .and_then(|r| r.strip_suffix("?="))
    {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok()),
        None => Some(raw.to_string()),
    }
}

/// Whether `name` is one of the stream names this server makes: `get` (the standalone
/// stream), `sse` (legacy), or `post-` and 32 hex digits (a POST's stream).
pub fn is_stream_name(name: &str) -> bool {
    name == "get"
        || name == "sse"
        || name
            .strip_prefix("post-")
            .is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A `Last-Event-ID` this server issued, `{stream}/{event}`: the stream's name and the event
/// id after which to resume (empty: from the start). `None` for anything else.
pub fn parse_last_event_id(raw: &str) -> Option<(&str, &str)> {
    raw.rsplit_once('/').filter(|(n, _)| is_stream_name(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_decode_only_behind_the_sentinel() {
        assert_eq!(
            decode_header_value("=?base64?SGVsbG8=?=").as_deref(),
            Some("Hello")
        );
        assert_eq!(decode_header_value("=?base64?SGVsbG8?="), None);
        assert_eq!(decode_header_value("=?base64?SGVs!!!bG8=?="), None);
        assert_eq!(decode_header_value("SGVsbG8=").as_deref(), Some("SGVsbG8="));
        assert_eq!(
            decode_header_value("=?base64?SGVsbG8=").as_deref(),
            Some("=?base64?SGVsbG8=")
        );
        assert_eq!(decode_header_value("  name  ").as_deref(), Some("name"));
    }

    #[test]
    fn only_our_stream_names_are_resumable() {
        assert!(is_stream_name("get"));
        assert!(is_stream_name("sse"));
        assert!(is_stream_name(&format!("post-{}", "a1".repeat(16))));
        for bad in [
            "",
            "post-",
            "post-xyz",
            "../get",
            "get/1",
            "post-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert!(!is_stream_name(bad), "{bad}");
        }
        assert_eq!(parse_last_event_id("get/17"), Some(("get", "17")));
        assert_eq!(parse_last_event_id("sse/"), Some(("sse", "")));
        assert_eq!(parse_last_event_id("x/get/1"), None);
        assert_eq!(parse_last_event_id("get"), None);
    }
}
