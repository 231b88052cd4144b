//! Results and responses, typed until the edge writes them: a handler's `CallToolResult` goes
//! to the wire in one serialisation, with no stop in a `serde_json::Value` on the way.

use std::ops::Range;
use std::sync::Arc;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::Value;

use super::jsonrpc::{ErrorObject, RequestId};
use super::types::{CallToolResult, GetPromptResult, ResourceContents};

/// What a method returns.
#[derive(Debug, Clone)]
pub enum MethodResult {
    /// `{}` (`ping`, `resources/subscribe`, `logging/setLevel`, …).
    Empty,
    /// `tools/call`.
    Tool(CallToolResult),
    /// `prompts/get`.
    Prompt(GetPromptResult),
    /// `resources/read`: `{contents}`.
    Read(Vec<ResourceContents>),
    /// `completion/complete`: `{completion: {values, total, hasMore}}`.
    Completion {
        /// The suggestions shown.
        values: Vec<String>,
        /// How many there were in all.
        total: usize,
    },
    /// One page of a listing.
    List(ListPage),
    /// A result built as JSON (`initialize`, `server/discover`, an `InputRequiredResult`).
    Json(Value),
}

impl MethodResult {
    /// Whether this is a tool's `isError` result (a failure the model sees).
    pub fn is_tool_error(&self) -> bool {
        matches!(self, MethodResult::Tool(r) if r.is_error == Some(true))
    }

    /// As JSON, for callers that inspect a result rather than send it.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

impl Serialize for MethodResult {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            MethodResult::Empty => s.serialize_map(Some(0))?.end(),
            MethodResult::Tool(r) => r.serialize(s),
            MethodResult::Prompt(r) => r.serialize(s),
            MethodResult::Read(contents) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("contents", contents)?;
                m.end()
            }
            MethodResult::Completion { values, total } => {
                #[derive(Serialize)]
                #[serde(rename_all = "camelCase")]
                struct Completion<'a> {
                    values: &'a [String],
                    total: usize,
                    has_more: bool,
                }
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry(
                    "completion",
                    &Completion {
                        values,
                        total: *total,
                        has_more: *total > values.len(),
                    },
                )?;
                m.end()
            }
            MethodResult::List(page) => page.serialize(s),
            MethodResult::Json(v) => v.serialize(s),
        }
    }
}

/// One page of a listing (`tools/list`, …): items the catalog rendered once at build time,
/// shared, not copied, until they are written.
#[derive(Debug, Clone)]
pub struct ListPage {
    key: &'static str,
    items: Arc<[Value]>,
    shown: Shown,
    next_cursor: Option<String>,
}

#[derive(Debug, Clone)]
enum Shown {
    /// Consecutive items (no visibility rules).
    Range(Range<usize>),
    /// The items at these indices (the entity sees only some).
    Picked(Vec<usize>),
}

impl ListPage {
    /// `items[range]` under `key` (`tools`, `resources`, …).
    pub fn range(
        key: &'static str,
        items: Arc<[Value]>,
        range: Range<usize>,
        next_cursor: Option<String>,
    ) -> Self {
        Self {
            key,
            items,
            shown: Shown::Range(range),
            next_cursor,
        }
    }

    /// The items at `picked` (indices into `items`) under `key`.
    pub fn picked(
        key: &'static str,
        items: Arc<[Value]>,
        picked: Vec<usize>,
        next_cursor: Option<String>,
    ) -> Self {
        Self {
            key,
            items,
            shown: Shown::Picked(picked),
            next_cursor,
        }
    }
}

impl Serialize for ListPage {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Items<'a>(&'a ListPage);
        impl Serialize for Items<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let page = self.0;
                match &page.shown {
                    Shown::Range(r) => s.collect_seq(page.items.get(r.clone()).unwrap_or(&[])),
                    Shown::Picked(ix) => {
                        s.collect_seq(ix.iter().filter_map(|&i| page.items.get(i)))
                    }
                }
            }
        }
        let mut m = s.serialize_map(Some(1 + usize::from(self.next_cursor.is_some())))?;
        m.serialize_entry(self.key, &Items(self))?;
        if let Some(c) = &self.next_cursor {
            m.serialize_entry("nextCursor", c)?;
        }
        m.end()
    }
}

/// What 2026-07-28 adds to a complete result: `resultType`, and the caching hint of the
/// method's row in the table.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stamp {
    /// `complete`.
    pub result_type: &'static str,
    /// How long the client may reuse the result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl_ms: Option<u64>,
    /// `public` or `private`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_scope: Option<&'static str>,
}

/// A result with its era's additions, if any.
#[derive(Debug, Clone)]
pub struct Stamped {
    /// The method's result.
    pub result: MethodResult,
    /// 2026-07-28's `resultType` and caching hint; `None` in the handshake era.
    pub stamp: Option<Stamp>,
}

impl From<MethodResult> for Stamped {
    fn from(result: MethodResult) -> Self {
        Self {
            result,
            stamp: None,
        }
    }
}

impl Serialize for Stamped {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Merged<'a> {
            #[serde(flatten)]
            result: &'a MethodResult,
            #[serde(flatten)]
            stamp: &'a Stamp,
        }
        match &self.stamp {
            None => self.result.serialize(s),
            Some(stamp) => Merged {
                result: &self.result,
                stamp,
            }
            .serialize(s),
        }
    }
}

/// A JSON-RPC response, typed: the request's id and its result or error.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The id of the request answered.
    pub id: RequestId,
    /// The result, or the error.
    pub outcome: Result<Stamped, ErrorObject>,
}

impl Reply {
    /// A successful response.
    pub fn result(id: RequestId, result: impl Into<Stamped>) -> Self {
        Self {
            id,
            outcome: Ok(result.into()),
        }
    }

    /// An error response.
    pub fn error(id: RequestId, error: ErrorObject) -> Self {
        Self {
            id,
            outcome: Err(error),
        }
    }

    /// The error, if this response carries one.
    pub fn error_object(&self) -> Option<&ErrorObject> {
        self.outcome.as_ref().err()
    }

    /// As JSON, for transports that keep the response (an event stream) rather than write it.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// The response as it goes on the wire.
impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = serde_json::to_string(self).map_err(|_| std::fmt::Error)?;
        f.write_str(&text)
    }
}

impl Serialize for Reply {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("jsonrpc", "2.0")?;
        m.serialize_entry("id", &self.id)?;
        match &self.outcome {
            Ok(r) => m.serialize_entry("result", r)?,
            Err(e) => m.serialize_entry("error", e)?,
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Content;
    use serde_json::json;

    #[test]
    fn typed_replies_write_what_the_json_forms_wrote() {
        let tool = MethodResult::Tool(CallToolResult {
            content: vec![Content::text("hi")],
            structured_content: None,
            is_error: None,
        });
        let reply = Reply::result(RequestId::Int(7), tool.clone());
        assert_eq!(
            reply.to_value(),
            json!({"jsonrpc": "2.0", "id": 7, "result": {"content": [{"type": "text", "text": "hi"}]}})
        );
        let stamped = Stamped {
            result: tool,
            stamp: Some(Stamp {
                result_type: "complete",
                ttl_ms: Some(0),
                cache_scope: Some("private"),
            }),
        };
        assert_eq!(
            serde_json::to_value(&stamped).unwrap(),
            json!({"content": [{"type": "text", "text": "hi"}], "resultType": "complete", "ttlMs": 0, "cacheScope": "private"})
        );
        let items: Arc<[Value]> = vec![
            json!({"name": "a"}),
            json!({"name": "b"}),
            json!({"name": "c"}),
        ]
        .into();
        let page = MethodResult::List(ListPage::picked(
            "tools",
            Arc::clone(&items),
            vec![0, 2],
            Some("x".into()),
        ));
        assert_eq!(
            page.to_value(),
            json!({"tools": [{"name": "a"}, {"name": "c"}], "nextCursor": "x"})
        );
        let page = MethodResult::List(ListPage::range("tools", items, 1..3, None));
        assert_eq!(
            page.to_value(),
            json!({"tools": [{"name": "b"}, {"name": "c"}]})
        );
        assert_eq!(MethodResult::Empty.to_value(), json!({}));
        let done = MethodResult::Completion {
            values: vec!["x".into()],
            total: 101,
        };
        assert_eq!(
            done.to_value(),
            json!({"completion": {"values": ["x"], "total": 101, "hasMore": true}})
        );
        let err = Reply::error(
            RequestId::Str("r".into()),
            ErrorObject::method_not_found("nope"),
        );
        assert_eq!(err.to_value()["error"]["code"], json!(-32601));
    }
}
