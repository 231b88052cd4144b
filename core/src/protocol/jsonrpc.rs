//! JSON-RPC 2.0 framing as MCP uses it: ids, requests, notifications, responses, error objects.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Prefix of the ids of server-to-client requests.
const SERVER_REQUEST_PREFIX: &str = "srv-";

/// Error codes used on the wire.
pub mod codes {
    /// Invalid JSON was received.
    pub const PARSE_ERROR: i64 = -32700;
    /// The JSON sent is not a valid request object.
    pub const INVALID_REQUEST: i64 = -32600;
    /// The method does not exist or is not available.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Invalid method parameters.
    pub const INVALID_PARAMS: i64 = -32602;
    /// Internal JSON-RPC error.
    pub const INTERNAL_ERROR: i64 = -32603;
    /// MCP: the requested resource does not exist.
    pub const RESOURCE_NOT_FOUND: i64 = -32002;
    /// MCP 2026-07-28: routing headers do not match the body.
    pub const HEADER_MISMATCH: i64 = -32020;
    /// MCP 2026-07-28: the operation needs a client capability the request did not declare;
    /// `data.requiredCapabilities` names it.
    pub const MISSING_CLIENT_CAPABILITY: i64 = -32021;
    /// MCP 2026-07-28: the protocol version is not supported; `data` lists the supported ones.
    pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;
    /// The request was cancelled (LSP's code, used by several MCP SDKs).
    pub const REQUEST_CANCELLED: i64 = -32800;
    /// FastMCP-MT: a per-entity limit refused the request; `data.retryAfterSeconds` says when
    /// to try again (HTTP 429 where the status is the answer).
    pub const RATE_LIMITED: i64 = -32029;
}

/// A JSON-RPC request id: an integer or a string (floats and null are rejected).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RequestId {
    /// A numeric id.
    Int(i64),
    /// A string id.
    Str(String),
}

impl RequestId {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Number(n) => n.as_i64().map(RequestId::Int),
            Value::String(s) => Some(RequestId::Str(s.clone())),
            _ => None,
        }
    }

    /// A stable textual key (`i:42` / `s:abc`) so numeric and string ids never collide.
    pub fn key(&self) -> String {
        match self {
            RequestId::Int(i) => format!("i:{i}"),
            RequestId::Str(s) => format!("s:{s}"),
        }
    }

    /// A fresh id for a server-to-client request (`srv-…`): only ids of this form can have a
    /// waiter, so answers to anything else are dropped on arrival.
    pub fn server_minted() -> Self {
        RequestId::Str(format!(
            "{SERVER_REQUEST_PREFIX}{}",
            uuid::Uuid::new_v4().simple()
        ))
    }

    /// Whether this id is one [`server_minted`](Self::server_minted) makes.
    pub fn is_server_minted(&self) -> bool {
        matches!(self, RequestId::Str(s) if s.starts_with(SERVER_REQUEST_PREFIX))
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestId::Int(i) => write!(f, "{i}"),
            RequestId::Str(s) => f.write_str(s),
        }
    }
}

/// The `error` member of a JSON-RPC error response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorObject {
    /// The error code (see [`codes`]).
    pub code: i64,
    /// A short description.
    pub message: String,
    /// Structured details.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl ErrorObject {
    /// An error without data.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// Attaches `data`.
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    /// -32601 for `method`.
    pub fn method_not_found(method: &str) -> Self {
        Self::new(
            codes::METHOD_NOT_FOUND,
            format!("Method not found: {method}"),
        )
    }

    /// -32602 with a message.
    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(codes::INVALID_PARAMS, message)
    }

    /// -32600 with a message.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(codes::INVALID_REQUEST, message)
    }
}

/// A request (has an id and expects a response).
#[derive(Debug, Clone)]
pub struct Request {
    /// The id to answer with.
    pub id: RequestId,
    /// The method name.
    pub method: String,
    /// The params (an object, or absent).
    pub params: Option<Value>,
}

impl Request {
    /// `params._meta`, if any.
    pub fn meta(&self) -> Option<&Map<String, Value>> {
        self.params.as_ref()?.get("_meta")?.as_object()
    }

    /// `params._meta.progressToken`, if any.
    pub fn progress_token(&self) -> Option<Value> {
        self.meta()?.get("progressToken").cloned()
    }
}

/// A notification (no id, no response).
#[derive(Debug, Clone)]
pub struct Notification {
    /// The method name.
    pub method: String,
    /// The params.
    pub params: Option<Value>,
}

/// A response to a request the server sent to the client.
#[derive(Debug, Clone)]
pub struct Response {
    /// The id of the server's request.
    pub id: RequestId,
    /// The result, or the client's error.
    pub outcome: Result<Value, ErrorObject>,
}

/// Any JSON-RPC message received from a client.
#[derive(Debug, Clone)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A notification.
    Notification(Notification),
    /// A response to a server-to-client request.
    Response(Response),
}

/// Why a JSON value is not a JSON-RPC message: the error to answer with, and the id if one was readable.
#[derive(Debug, Clone)]
pub struct InvalidMessage {
    /// The request's id, when it could be read.
    pub id: Option<RequestId>,
    /// The -32600 error.
    pub error: ErrorObject,
}

impl Message {
    /// Classifies one JSON value (not a batch) as a JSON-RPC message.
    pub fn from_value(value: Value) -> Result<Self, InvalidMessage> {
        let Value::Object(mut obj) = value else {
            return Err(InvalidMessage {
                id: None,
                error: ErrorObject::invalid_request("a JSON-RPC message must be an object"),
            });
        };
        let raw_id = obj.remove("id");
        let id = match &raw_id {
            None => None,
            Some(v) => match RequestId::from_value(v) {
                Some(id) => Some(id),
                None => {
                    return Err(InvalidMessage {
                        id: None,
                        error: ErrorObject::invalid_request(
                            "\"id\" must be an integer or a string",
                        ),
                    })
                }
            },
        };
        let id_for_errors = id.clone();
        let bad = |msg: &str| InvalidMessage {
            id: id_for_errors.clone(),
            error: ErrorObject::invalid_request(msg),
        };
        if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return Err(bad("\"jsonrpc\" must be \"2.0\""));
        }
        if let Some(method) = obj.remove("method") {
            let Value::String(method) = method else {
                return Err(bad("\"method\" must be a string"));
            };
            let params = match obj.remove("params") {
                None | Some(Value::Null) => None,
                Some(p @ Value::Object(_)) => Some(p),
                Some(_) => return Err(bad("\"params\" must be an object")),
            };
            return Ok(match id {
                Some(id) => Message::Request(Request { id, method, params }),
                None => Message::Notification(Notification { method, params }),
            });
        }
        let Some(id) = id else {
            return Err(bad(
                "a message needs \"method\" or an \"id\" with \"result\"/\"error\"",
            ));
        };
        if let Some(result) = obj.remove("result") {
            return Ok(Message::Response(Response {
                id,
                outcome: Ok(result),
            }));
        }
        if let Some(err) = obj.remove("error") {
            let err: ErrorObject = serde_json::from_value(err)
                .map_err(|_| bad("\"error\" must have an integer code and a message"))?;
            return Ok(Message::Response(Response {
                id,
                outcome: Err(err),
            }));
        }
        Err(bad("a response needs \"result\" or \"error\""))
    }
}

/// Builds a success response (takes `result` by value: no copy of the payload).
pub fn response(id: &RequestId, result: Value) -> Value {
    let mut m = Map::with_capacity(3);
    m.insert("jsonrpc".into(), Value::String("2.0".into()));
    m.insert(
        "id".into(),
        match id {
            RequestId::Int(i) => Value::from(*i),
            RequestId::Str(s) => Value::String(s.clone()),
        },
    );
    m.insert("result".into(), result);
    Value::Object(m)
}

/// Serialises an error response (`id` null when the request's id was unreadable).
pub fn error_response(id: Option<&RequestId>, error: &ErrorObject) -> Value {
    serde_json::json!({ "jsonrpc": "2.0", "id": id, "error": error })
}

/// Serialises a notification.
pub fn notification(method: &str, params: Value) -> Value {
    serde_json::json!({ "jsonrpc": "2.0", "method": method, "params": params })
}

/// Serialises a request.
pub fn request(id: &RequestId, method: &str, params: Value) -> Value {
    serde_json::json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn classifies_messages() {
        let m = Message::from_value(json!({"jsonrpc":"2.0","id":1,"method":"ping"})).unwrap();
        assert!(matches!(
            m,
            Message::Request(Request {
                id: RequestId::Int(1),
                ..
            })
        ));
        let m = Message::from_value(json!({"jsonrpc":"2.0","method":"notifications/initialized"}))
            .unwrap();
        assert!(matches!(m, Message::Notification(_)));
        let m = Message::from_value(json!({"jsonrpc":"2.0","id":"s-1","result":{}})).unwrap();
        assert!(matches!(
            m,
            Message::Response(Response { outcome: Ok(_), .. })
        ));
        let m = Message::from_value(
            json!({"jsonrpc":"2.0","id":"s-1","error":{"code":-1,"message":"no"}}),
        )
        .unwrap();
        assert!(matches!(
            m,
            Message::Response(Response {
                outcome: Err(_),
                ..
            })
        ));
    }

    #[test]
    fn rejects_invalid_messages_with_32600() {
        for bad in [
            json!([]),
            json!({"id":1,"method":"ping"}),
            json!({"jsonrpc":"2.0","id":1.5,"method":"ping"}),
            json!({"jsonrpc":"2.0","id":1,"method":7}),
            json!({"jsonrpc":"2.0","id":1,"method":"x","params":[1]}),
            json!({"jsonrpc":"2.0","id":1}),
        ] {
            let err = Message::from_value(bad.clone()).unwrap_err();
            assert_eq!(err.error.code, codes::INVALID_REQUEST, "{bad}");
        }
    }

    #[test]
    fn golden_wire_format() {
        let id = RequestId::Int(3);
        assert_eq!(
            serde_json::to_string(&response(&id, json!({}))).unwrap(),
            r#"{"id":3,"jsonrpc":"2.0","result":{}}"#
        );
        let e = ErrorObject::method_not_found("nope");
        assert_eq!(
            serde_json::to_string(&error_response(None, &e)).unwrap(),
            r#"{"error":{"code":-32601,"message":"Method not found: nope"},"id":null,"jsonrpc":"2.0"}"#
        );
    }
}
