//! What a session and the log store may keep of what clients send or make us keep: sizes are
//! those of the JSON text, as every store keeps it.

use serde_json::Value;

use crate::error::{Error, Result};

/// Caps on retained client data (bytes of JSON text).
///
/// Each bounds what one request can make every instance keep, and so what later requests on
/// the same session pay to load: a session record is read on every request.
#[derive(Debug, Clone)]
pub struct RetentionCaps {
    /// One log record (message and data together). A longer record is kept cut down, with its
    /// original size, rather than refused: the failure it reports still happened.
    pub log_record_bytes: usize,
    /// One value of a session's state (`Context::set_state`); larger ones are refused with
    /// -32602.
    pub state_value_bytes: usize,
    /// All of a session's state; a `set_state` that would pass it is refused with -32602.
    pub state_bytes: usize,
    /// `clientInfo` and `capabilities` of `initialize`, together; beyond it the initialize
    /// is refused with -32602.
    pub client_info_bytes: usize,
}

impl Default for RetentionCaps {
    fn default() -> Self {
        Self {
            log_record_bytes: 16 * 1024,
            state_value_bytes: 64 * 1024,
            state_bytes: 256 * 1024,
            client_info_bytes: 16 * 1024,
        }
    }
}

/// Bytes of `v` as compact JSON text, counted without building the text.
pub fn json_len(v: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut n = Count(0);
    // Writing a `Value` to a counter cannot fail.
    let _ = serde_json::to_writer(&mut n, v);
    n.0
}

impl RetentionCaps {
    /// Refuses what `initialize` would keep beyond [`client_info_bytes`](Self::client_info_bytes).
    pub(crate) fn check_client_info(&self, info: &Value, capabilities: &Value) -> Result<()> {
        let n = json_len(info) + json_len(capabilities);
        if n > self.client_info_bytes {
            return Err(Error::invalid_params(format!(
                "initialize: clientInfo and capabilities take {n} bytes; the cap is {} bytes",
                self.client_info_bytes
            )));
        }
        Ok(())
    }

    /// Refuses a state value beyond [`state_value_bytes`](Self::state_value_bytes).
    pub(crate) fn check_state_value(&self, key: &str, value: &Value) -> Result<usize> {
        let n = key.len() + json_len(value);
        if n > self.state_value_bytes {
            return Err(Error::invalid_params(format!(
                "session state `{key}` takes {n} bytes; the cap per value is {} bytes",
                self.state_value_bytes
            )));
        }
        Ok(n)
    }

    /// Refuses a session state beyond [`state_bytes`](Self::state_bytes) in total.
    pub(crate) fn check_state(&self, state: &serde_json::Map<String, Value>) -> Result<()> {
        let n: usize = state.iter().map(|(k, v)| k.len() + json_len(v)).sum();
        if n > self.state_bytes {
            return Err(Error::invalid_params(format!(
                "the session's state would take {n} bytes; the cap is {} bytes (remove a value first)",
                self.state_bytes
            )));
        }
        Ok(())
    }

    /// Cuts a log record down to [`log_record_bytes`](Self::log_record_bytes): the message at a
    /// character boundary with a note, and data over what is left replaced by its size and a
    /// preview.
    pub(crate) fn cut_log_record(&self, message: &mut String, data: &mut Value) {
        let cap = self.log_record_bytes;
        if message.len() > cap / 2 {
            let total = message.len();
            let mut end = cap / 2;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push_str(&format!("… (cut: {total} bytes)"));
        }
        let room = cap.saturating_sub(message.len());
        let n = json_len(data);
        if n > room {
            let text = data.to_string();
            let mut end = (room / 2).min(text.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            *data = serde_json::json!({ "cut": true, "bytes": n, "preview": &text[..end] });
            if json_len(data) > room {
                // Escapes can grow a preview up to six-fold: keep the size alone.
                *data = serde_json::json!({ "cut": true, "bytes": n });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_len_counts_the_compact_text() {
        let v = json!({"a": [1, "é"], "b": null});
        assert_eq!(json_len(&v), v.to_string().len());
    }

    #[test]
    fn a_long_log_record_is_cut_to_the_cap_and_says_so() {
        let caps = RetentionCaps {
            log_record_bytes: 1000,
            ..RetentionCaps::default()
        };
        let mut message = "é".repeat(3_000);
        let mut data = json!({ "error": "x".repeat(5_000) });
        caps.cut_log_record(&mut message, &mut data);
        assert!(message.ends_with("… (cut: 6000 bytes)"), "{message}");
        assert!(
            message.len() + json_len(&data) <= 1000,
            "{} + {}",
            message.len(),
            json_len(&data)
        );
        assert_eq!(data["cut"], json!(true));
        assert_eq!(data["bytes"], json!(5_012));
        // Short records are kept as they are.
        let (mut m, mut d) = ("ok".to_string(), json!({"a": 1}));
        caps.cut_log_record(&mut m, &mut d);
        assert_eq!((m.as_str(), d), ("ok", json!({"a": 1})));
    }

    #[test]
    fn state_and_client_info_over_their_caps_are_refused_naming_the_cap() {
        let caps = RetentionCaps {
            state_value_bytes: 100,
            state_bytes: 150,
            client_info_bytes: 50,
            ..RetentionCaps::default()
        };
        let e = caps
            .check_state_value("k", &json!("x".repeat(200)))
            .unwrap_err();
        assert!(e.to_string().contains("cap per value is 100 bytes"), "{e}");
        let mut state = serde_json::Map::new();
        state.insert("a".into(), json!("x".repeat(80)));
        caps.check_state(&state).unwrap();
        state.insert("b".into(), json!("x".repeat(80)));
        let e = caps.check_state(&state).unwrap_err();
        assert!(e.to_string().contains("the cap is 150 bytes"), "{e}");
        let e = caps
            .check_client_info(&json!({"name": "x".repeat(60)}), &json!({}))
            .unwrap_err();
        assert!(e.to_string().contains("the cap is 50 bytes"), "{e}");
        assert_eq!(e.to_error_object().code, -32602);
    }
}
