//! The sessionless revision, 2026-07-28, served from the same catalog as the handshake era.
//!
//! Every request carries its own envelope in `params._meta`: protocol version, client
//! capabilities, logging level. There is no session. What the handshake era kept in one lives
//! elsewhere:
//! - input from the client (elicitation, sampling, roots) is a multi-round trip: the handler
//!   asks through [`Context::input`](crate::Context::input), the request ends with an
//!   `InputRequiredResult`, and the client retries with the answers and an opaque
//!   `requestState` (`request_state`), so the retry can land on any
//!   instance;
//! - change notifications go to `subscriptions/listen` streams ([`notify`](super::notify)).
//!
//! HTTP concerns (headers, status codes, SSE) stay in the transport.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::pipeline::{self, Call};
use super::request_state::State;
use super::McpServer;
use crate::auth::Principal;
use crate::context::{InputRound, Outlet, RequestScope};
use crate::error::{Error, Result};
use crate::ids::EntityId;
use crate::protocol::{
    codes, ErrorObject, LoggingLevel, Method, MethodResult, Reply, Request, Stamp, Stamped,
    MODERN_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS,
};

/// `_meta` key of the request's protocol version (required).
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// `_meta` key of the request's client capabilities (required).
pub const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
/// `_meta` key of the client's name and version (optional).
pub const META_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
/// `_meta` key of the minimum level of `notifications/message` for this request (optional;
/// absent means no log notifications at all).
pub const META_LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
/// `_meta` key under which results name the server.
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";
/// `_meta` key tying listen-stream notifications to their `subscriptions/listen` request.
pub const META_SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";

/// Every revision this server speaks, newest first (`server/discover`, and -32022's `supported`).
pub fn all_supported_versions() -> Vec<&'static str> {
    std::iter::once(MODERN_PROTOCOL_VERSION)
        .chain(SUPPORTED_PROTOCOL_VERSIONS.iter().copied())
        .collect()
}

/// Whether `version` is served statelessly.
pub fn is_modern_version(version: &str) -> bool {
    version == MODERN_PROTOCOL_VERSION
}

/// The per-request envelope of a 2026-07-28 request.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    /// `io.modelcontextprotocol/protocolVersion`, as sent (it may not even be a string).
    pub protocol_version: Value,
    /// `io.modelcontextprotocol/clientCapabilities`.
    pub client_capabilities: Value,
    /// `io.modelcontextprotocol/clientInfo`, when sent.
    pub client_info: Option<Value>,
    /// `io.modelcontextprotocol/logLevel`, when sent and valid.
    pub log_level: Option<LoggingLevel>,
}

/// Reads the envelope: `_meta` with the protocol version and client capabilities, else -32602.
pub fn parse_meta(params: Option<&Value>) -> std::result::Result<RequestMeta, ErrorObject> {
    let Some(meta) = params
        .and_then(|p| p.get("_meta"))
        .and_then(Value::as_object)
    else {
        return Err(ErrorObject::new(
            codes::INVALID_PARAMS,
            format!(
                "params._meta must be an object carrying {META_PROTOCOL_VERSION:?} and {META_CLIENT_CAPABILITIES:?}"
            ),
        ));
    };
    let missing: Vec<&str> = [META_PROTOCOL_VERSION, META_CLIENT_CAPABILITIES]
        .into_iter()
        .filter(|k| !meta.contains_key(*k))
        .collect();
    if !missing.is_empty() {
        return Err(ErrorObject::new(
            codes::INVALID_PARAMS,
            format!("params._meta is missing {}", missing.join(", ")),
        ));
    }
    let capabilities = meta
        .get(META_CLIENT_CAPABILITIES)
        .cloned()
        .unwrap_or_default();
    if !capabilities.is_object() {
        return Err(ErrorObject::new(
            codes::INVALID_PARAMS,
            format!("params._meta.{META_CLIENT_CAPABILITIES} must be an object"),
        ));
    }
    Ok(RequestMeta {
        protocol_version: meta.get(META_PROTOCOL_VERSION).cloned().unwrap_or_default(),
        client_capabilities: capabilities,
        client_info: meta.get(META_CLIENT_INFO).cloned(),
        log_level: meta
            .get(META_LOG_LEVEL)
            .and_then(|l| serde_json::from_value(l.clone()).ok()),
    })
}

/// -32022 for a version this server does not serve on the stateless path, listing all it does.
pub fn unsupported_modern_version(requested: &str) -> ErrorObject {
    ErrorObject::new(
        codes::UNSUPPORTED_PROTOCOL_VERSION,
        format!("Unsupported protocol version: {requested}"),
    )
    .with_data(json!({ "requested": requested, "supported": all_supported_versions() }))
}

/// Where the body names what `Mcp-Name` must repeat, for the methods that have one (the
/// method table's `name_param`).
pub fn name_param(method: &str) -> Option<&'static str> {
    Method::parse(method).and_then(|m| m.info().name_param)
}

/// A 2026-07-28 response: the JSON-RPC message and the HTTP status the revision gives it.
#[derive(Debug, Clone)]
pub struct ModernResponse {
    /// The JSON-RPC response.
    pub message: Reply,
    /// 200, or 400/404 for the errors the revision puts in the HTTP status.
    pub status: u16,
}

/// The HTTP status 2026-07-28 gives a JSON-RPC error code.
pub fn status_for_code(code: i64) -> u16 {
    match code {
        codes::METHOD_NOT_FOUND => 404,
        codes::HEADER_MISMATCH
        | codes::UNSUPPORTED_PROTOCOL_VERSION
        | codes::MISSING_CLIENT_CAPABILITY
        | codes::PARSE_ERROR
        | codes::INVALID_REQUEST => 400,
        _ => 200,
    }
}

impl McpServer {
    /// The `server/discover` result.
    pub fn discover(&self) -> Value {
        let info = &self.shared.info;
        let mut result = json!({
            "supportedVersions": all_supported_versions(),
            "capabilities": self.modern_capabilities(),
            "serverInfo": { "name": info.name, "version": info.version },
            "_meta": { META_SERVER_INFO: { "name": info.name, "version": info.version } },
        });
        if let Some(i) = &info.instructions {
            result["instructions"] = json!(i);
        }
        result
    }

    /// Capabilities at 2026-07-28: no logging/setLevel and no resources/subscribe RPCs; their
    /// replacements (`_meta` log level, `subscriptions/listen`) are implied.
    pub fn modern_capabilities(&self) -> Value {
        json!({
            "tools": { "listChanged": true },
            "resources": { "subscribe": true, "listChanged": true },
            "prompts": { "listChanged": true },
            "completions": {},
        })
    }

    /// Serves one 2026-07-28 request whose envelope the transport has checked (version, headers).
    /// `subscriptions/listen` is the transport's (it is a stream); anything else not in this
    /// revision is -32601.
    pub async fn handle_modern(
        &self,
        entity: &EntityId,
        request: Request,
        meta: &RequestMeta,
        outlet: Arc<dyn Outlet>,
        principal: Option<Arc<Principal>>,
    ) -> ModernResponse {
        let id = request.id.clone();
        // `subscriptions/listen` is the transport's (a stream); anything else not in this
        // revision is as unknown as a method nobody defined.
        let method = Method::parse(&request.method)
            .filter(|m| m.in_modern_era() && *m != Method::SubscriptionsListen);
        let outcome = match method {
            None => Err(Error::Rpc(ErrorObject::method_not_found(&request.method))),
            Some(Method::ServerDiscover) => Ok(MethodResult::Json(self.discover())),
            Some(m) => {
                self.serve_modern(entity, m, request, meta, outlet, principal)
                    .await
            }
        };
        pipeline::finish(self, entity, None, &id, request_name(method), &outcome).await;
        match outcome {
            Ok(result) => {
                // An `InputRequiredResult` says what it is; every other result is complete,
                // with the caching hint of its row in the method table.
                let asks =
                    matches!(&result, MethodResult::Json(v) if v.get("resultType").is_some());
                let hint = method.and_then(|m| m.info().cache);
                let stamp = (!asks).then(|| Stamp {
                    result_type: "complete",
                    ttl_ms: hint.map(|h| h.ttl_ms),
                    cache_scope: hint.map(|h| if h.public { "public" } else { "private" }),
                });
                ModernResponse {
                    message: Reply::result(id, Stamped { result, stamp }),
                    status: 200,
                }
            }
            Err(e) => {
                let err = match e {
                    // 2026-07-28 (SEP-2164): an unknown resource is invalid params, naming the URI.
                    Error::ResourceNotFound(uri) => ErrorObject::new(
                        codes::INVALID_PARAMS,
                        format!("Resource not found: {uri}"),
                    )
                    .with_data(json!({ "uri": uri })),
                    e => e.to_error_object(),
                };
                ModernResponse {
                    status: status_for_code(err.code),
                    message: Reply::error(id, err),
                }
            }
        }
    }

    /// One round of a method that the pipeline serves: the answers this round carries come in
    /// (earlier rounds from the signed `requestState`, this one's from `inputResponses`), and a
    /// handler's unanswered questions go out in an `InputRequiredResult` with the next state.
    async fn serve_modern(
        &self,
        entity: &EntityId,
        method: Method,
        mut request: Request,
        meta: &RequestMeta,
        outlet: Arc<dyn Outlet>,
        principal: Option<Arc<Principal>>,
    ) -> Result<MethodResult> {
        let info = method.info();
        let may_ask = info.may_ask;
        let target = info
            .name_param
            .and_then(|k| request.params.as_ref()?.get(k)?.as_str())
            .unwrap_or_default()
            .to_string();
        let states = &self.shared.states;
        let server_name = &self.shared.info.name;
        let (round, mut answers) = match request.params.as_ref().and_then(|p| p.get("requestState"))
        {
            Some(Value::String(token)) if may_ask => {
                let s = states
                    .open(server_name, entity, info.name, &target, token)
                    .await?;
                (s.round, s.answers)
            }
            Some(Value::Null) | None => (0, Map::new()),
            Some(_) if may_ask => {
                return Err(Error::invalid_params("`requestState` must be a string"))
            }
            Some(_) => (0, Map::new()),
        };
        if may_ask {
            match request
                .params
                .as_ref()
                .and_then(|p| p.get("inputResponses"))
            {
                Some(Value::Object(given)) => {
                    for (k, v) in given {
                        answers.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
                None | Some(Value::Null) => {}
                Some(_) => return Err(Error::invalid_params("`inputResponses` must be an object")),
            }
        }
        if let Some(p) = request.params.as_mut().and_then(Value::as_object_mut) {
            p.remove("inputResponses");
            p.remove("requestState");
        }
        let input = may_ask.then(|| Arc::new(InputRound::new(answers)));
        let scope = RequestScope {
            entity: entity.clone(),
            session_id: None,
            request_id: Some(request.id.clone()),
            progress_token: request.progress_token(),
            log_threshold: meta.log_level,
            client_capabilities: Arc::new(meta.client_capabilities.clone()),
            outlet,
            cancel: Default::default(),
            input: input.clone(),
            principal,
        };
        let call = Call {
            method,
            params: request.params,
            scope,
        };
        match (pipeline::run(self, call).await, input) {
            (Err(Error::InputRequired), Some(round_input)) => {
                let (pending, used) = round_input.take();
                let state = State {
                    round: round + 1,
                    answers: used,
                };
                let ttl_ms = u64::try_from(self.shared.config.request_state_ttl.as_millis())
                    .unwrap_or(u64::MAX);
                let token = states
                    .seal(server_name, entity, info.name, &target, &state, ttl_ms)
                    .await?;
                Ok(MethodResult::Json(json!({
                    "resultType": "input_required",
                    "inputRequests": pending,
                    "requestState": token,
                })))
            }
            (other, _) => other,
        }
    }
}

/// The method as named in logs: the table's name, or `unknown` for anything else (a client
/// must not fill the log with names of its choosing).
fn request_name(method: Option<Method>) -> &'static str {
    method.map_or("unknown", Method::name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_is_required() {
        assert!(parse_meta(None).is_err());
        assert!(parse_meta(Some(&json!({"_meta": {}}))).is_err());
        let ok = parse_meta(Some(&json!({"_meta": {
            META_PROTOCOL_VERSION: "2026-07-28", META_CLIENT_CAPABILITIES: {}
        }})))
        .unwrap();
        assert_eq!(ok.protocol_version, json!("2026-07-28"));
        assert!(ok.log_level.is_none());
    }
}
