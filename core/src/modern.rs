//! The sessionless revision, 2026-07-28, served from the same registry as the handshake era.
//!
//! Every request carries its own protocol version and client capabilities in `params._meta`;
//! there is no session. What the handshake era kept in a session lives elsewhere:
//! - input from the client (elicitation, sampling, roots) is a multi-round trip: the handler
//!   asks through [`Context::input`](crate::Context::input), the request ends with an
//!   `InputRequiredResult`, and the client retries with the answers and an opaque `requestState`
//!   that this module signs (HMAC-SHA256 under a key shared through the [`KeyStore`], derived per
//!   server name and entity), so the retry can land on any instance;
//! - change notifications go to `subscriptions/listen` streams through an entity-wide stream of
//!   the [`MessageQueue`](crate::MessageQueue), so a change on one instance reaches listeners on all.
//!
//! HTTP concerns (headers, status codes, SSE) stay in the transport.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Map, Value};
use sha2::Sha256;
use tokio_util::sync::CancellationToken;

use crate::context::{Context, InputRound, Outlet, RequestScope};
use crate::dispatch::McpServer;
use crate::error::{Error, Result};
use crate::ids::{EntityId, SessionId};
use crate::protocol::{
    codes, ErrorObject, LoggingLevel, Method, Request, MODERN_PROTOCOL_VERSION,
    SUPPORTED_PROTOCOL_VERSIONS,
};
use crate::store::{now_ms, KeyStore, StreamKey};

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

/// A catalog change or a resource update, for [`McpServer::notify`]: it reaches the entity's
/// `subscriptions/listen` streams and its handshake-era sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `notifications/tools/list_changed`.
    Tools,
    /// `notifications/prompts/list_changed`.
    Prompts,
    /// `notifications/resources/list_changed`.
    Resources,
    /// `notifications/resources/updated` for one URI.
    ResourceUpdated(String),
}

impl Change {
    pub(crate) fn to_event(&self) -> Value {
        match self {
            Change::Tools => json!({ "change": "tools" }),
            Change::Prompts => json!({ "change": "prompts" }),
            Change::Resources => json!({ "change": "resources" }),
            Change::ResourceUpdated(uri) => json!({ "change": "resource", "uri": uri }),
        }
    }

    fn from_event(v: &Value) -> Option<Self> {
        Some(match v.get("change")?.as_str()? {
            "tools" => Change::Tools,
            "prompts" => Change::Prompts,
            "resources" => Change::Resources,
            "resource" => Change::ResourceUpdated(v.get("uri")?.as_str()?.to_string()),
            _ => return None,
        })
    }
}

/// The entity-wide stream that carries [`Change`]s between instances. Its pseudo-session is the
/// nil UUID, which no real (v4) session id can be.
pub fn changes_stream() -> StreamKey {
    StreamKey::new(SessionId::entity_wide(), "changes")
}

/// What a `subscriptions/listen` stream asked for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListenFilter {
    tools: bool,
    prompts: bool,
    resources: bool,
    resource_uris: Vec<String>,
}

impl ListenFilter {
    /// Reads `params.notifications`; unknown keys are ignored (and not acknowledged).
    pub fn parse(params: Option<&Value>) -> Result<Self> {
        let n = params
            .and_then(|p| p.get("notifications"))
            .cloned()
            .unwrap_or_else(|| json!({}));
        if !n.is_object() {
            return Err(Error::invalid_params("`notifications` must be an object"));
        }
        let flag = |k: &str| n.get(k).and_then(Value::as_bool).unwrap_or(false);
        let resource_uris = match n.get("resourceSubscriptions") {
            None | Some(Value::Null) => vec![],
            Some(Value::Array(a)) => a
                .iter()
                .map(|u| {
                    u.as_str().map(str::to_string).ok_or_else(|| {
                        Error::invalid_params("`resourceSubscriptions` must be strings")
                    })
                })
                .collect::<Result<_>>()?,
            Some(_) => {
                return Err(Error::invalid_params(
                    "`resourceSubscriptions` must be an array",
                ))
            }
        };
        Ok(Self {
            tools: flag("toolsListChanged"),
            prompts: flag("promptsListChanged"),
            resources: flag("resourcesListChanged"),
            resource_uris,
        })
    }

    /// The honoured subset, as echoed in the acknowledgement.
    pub fn acknowledged(&self) -> Value {
        let mut ack = Map::new();
        if self.tools {
            ack.insert("toolsListChanged".into(), json!(true));
        }
        if self.prompts {
            ack.insert("promptsListChanged".into(), json!(true));
        }
        if self.resources {
            ack.insert("resourcesListChanged".into(), json!(true));
        }
        if !self.resource_uris.is_empty() {
            ack.insert("resourceSubscriptions".into(), json!(self.resource_uris));
        }
        Value::Object(ack)
    }

    /// The notification a change event becomes on this stream, if the filter wants it.
    pub fn notification_for(&self, event: &Value, subscription_id: &Value) -> Option<Value> {
        let change = Change::from_event(event)?;
        let (method, mut params) = match change {
            Change::Tools if self.tools => ("notifications/tools/list_changed", json!({})),
            Change::Prompts if self.prompts => ("notifications/prompts/list_changed", json!({})),
            Change::Resources if self.resources => {
                ("notifications/resources/list_changed", json!({}))
            }
            Change::ResourceUpdated(uri) if self.resource_uris.contains(&uri) => {
                ("notifications/resources/updated", json!({ "uri": uri }))
            }
            _ => return None,
        };
        params["_meta"] = json!({ META_SUBSCRIPTION_ID: subscription_id });
        Some(json!({ "jsonrpc": "2.0", "method": method, "params": params }))
    }
}

/// The `notifications/subscriptions/acknowledged` frame that opens a listen stream.
pub fn listen_ack(filter: &ListenFilter, subscription_id: &Value) -> Value {
    json!({
        "jsonrpc": "2.0",
        "method": "notifications/subscriptions/acknowledged",
        "params": {
            "_meta": { META_SUBSCRIPTION_ID: subscription_id },
            "notifications": filter.acknowledged(),
        },
    })
}

type HmacSha256 = Hmac<Sha256>;

/// Signs and checks `requestState`. Master keys come from the [`KeyStore`] (created on first
/// use, so every instance sharing the store agrees) and are cached per process.
pub(crate) struct StateKeys {
    store: Option<Arc<dyn KeyStore>>,
    /// Key ids: the first signs, all verify.
    ids: Vec<String>,
    cache: Mutex<HashMap<String, Arc<Vec<u8>>>>,
}

/// What a `requestState` carries between rounds.
struct State {
    round: u64,
    answers: Map<String, Value>,
}

impl StateKeys {
    pub(crate) fn new(store: Option<Arc<dyn KeyStore>>, ids: Vec<String>) -> Self {
        let ids = if ids.is_empty() {
            vec!["k1".into()]
        } else {
            ids
        };
        Self {
            store,
            ids,
            cache: Mutex::new(HashMap::new()),
        }
    }

    async fn master(&self, kid: &str) -> Result<Arc<Vec<u8>>> {
        if let Some(k) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(kid)
        {
            return Ok(Arc::clone(k));
        }
        let proposed: [u8; 32] = rand::random();
        let key = match &self.store {
            Some(store) => {
                store
                    .get_or_create(&format!("request-state/{kid}"), &proposed)
                    .await?
            }
            None => proposed.to_vec(),
        };
        let key = Arc::new(key);
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        // Keep the first one cached if two tasks raced (both read the same stored key anyway).
        Ok(Arc::clone(cache.entry(kid.to_string()).or_insert(key)))
    }

    /// The MAC key of one (server, entity): a state minted for one tenant or server never
    /// verifies for another.
    async fn mac(&self, kid: &str, server: &str, entity: &EntityId) -> Result<HmacSha256> {
        let master = self.master(kid).await?;
        let mut derive = <HmacSha256 as KeyInit>::new_from_slice(&master)
            .map_err(|e| Error::Internal(format!("request-state key: {e}")))?;
        derive.update(b"fastmcp/request-state/v1\0");
        derive.update(server.as_bytes());
        derive.update(b"\0");
        derive.update(entity.as_str().as_bytes());
        let derived = derive.finalize().into_bytes();
        <HmacSha256 as KeyInit>::new_from_slice(&derived)
            .map_err(|e| Error::Internal(format!("request-state key: {e}")))
    }

    #[allow(clippy::too_many_arguments)]
    async fn seal(
        &self,
        server: &str,
        entity: &EntityId,
        method: &str,
        target: &str,
        state: &State,
        ttl_ms: u64,
    ) -> Result<String> {
        let kid = &self.ids[0];
        let payload = json!({
            "m": method, "t": target, "r": state.round,
            "x": now_ms().saturating_add(ttl_ms), "a": state.answers,
        });
        let body = format!("{kid}.{}", B64.encode(payload.to_string()));
        let mut mac = self.mac(kid, server, entity).await?;
        mac.update(body.as_bytes());
        Ok(format!(
            "{body}.{}",
            B64.encode(mac.finalize().into_bytes())
        ))
    }

    async fn open(
        &self,
        server: &str,
        entity: &EntityId,
        method: &str,
        target: &str,
        token: &str,
    ) -> Result<State> {
        let bad = || Error::invalid_params("requestState integrity check failed");
        let (body, sig) = token.rsplit_once('.').ok_or_else(bad)?;
        let (kid, payload) = body.split_once('.').ok_or_else(bad)?;
        // Only configured key ids: a client must not make us create keys.
        if !self.ids.iter().any(|k| k == kid) {
            return Err(bad());
        }
        let sig = B64.decode(sig).map_err(|_| bad())?;
        let mut mac = self.mac(kid, server, entity).await?;
        mac.update(body.as_bytes());
        mac.verify_slice(&sig).map_err(|_| bad())?;
        let payload: Value = B64
            .decode(payload)
            .ok()
            .and_then(|raw| serde_json::from_slice(&raw).ok())
            .ok_or_else(bad)?;
        if payload.get("m").and_then(Value::as_str) != Some(method)
            || payload.get("t").and_then(Value::as_str) != Some(target)
        {
            return Err(Error::invalid_params(
                "requestState belongs to another request",
            ));
        }
        if payload.get("x").and_then(Value::as_u64).unwrap_or(0) < now_ms() {
            return Err(Error::invalid_params(
                "requestState has expired; start over",
            ));
        }
        Ok(State {
            round: payload.get("r").and_then(Value::as_u64).unwrap_or(0),
            answers: payload
                .get("a")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
        })
    }
}

/// A 2026-07-28 response: the JSON-RPC message and the HTTP status the revision gives it.
#[derive(Debug, Clone)]
pub struct ModernResponse {
    /// The JSON-RPC response.
    pub message: Value,
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

    /// Tells every client of `entity` that should hear of `change`, on any instance: the
    /// `subscriptions/listen` streams that asked for it (2026-07-28) and the handshake-era
    /// sessions (on their standalone stream; resource updates only to subscribers). Returns how
    /// many handshake sessions were notified.
    pub async fn notify(&self, entity: &EntityId, change: Change) -> Result<usize> {
        crate::notify::notify(&self.shared, entity, &change).await
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
        principal: Option<Arc<crate::auth::Principal>>,
    ) -> ModernResponse {
        let id = request.id.clone();
        let method = request.method.clone();
        let outcome = self
            .serve_modern(entity, request, meta, outlet, principal)
            .await;
        self.shared
            .record_failure(entity, None, &id, &outcome)
            .await;
        let outcome = match outcome {
            Ok(result) => Ok(result),
            // 2026-07-28 (SEP-2164): an unknown resource is invalid params, naming the URI.
            Err(Error::ResourceNotFound(uri)) => Err(ErrorObject::new(
                codes::INVALID_PARAMS,
                format!("Resource not found: {uri}"),
            )
            .with_data(json!({ "uri": uri }))),
            Err(e) => {
                if matches!(
                    e,
                    Error::Unavailable { .. } | Error::Backend { .. } | Error::Internal(_)
                ) {
                    tracing::warn!(error = %e, method, "request failed");
                }
                Err(e.to_error_object())
            }
        };
        match outcome {
            Ok(mut result) => {
                if let Some(obj) = result.as_object_mut() {
                    obj.entry("resultType").or_insert_with(|| json!("complete"));
                    if let Some(hint) = Method::parse(&method).and_then(|m| m.info().cache) {
                        obj.entry("ttlMs").or_insert(json!(hint.ttl_ms));
                        obj.entry("cacheScope").or_insert(json!(if hint.public {
                            "public"
                        } else {
                            "private"
                        }));
                    }
                }
                ModernResponse {
                    message: crate::protocol::jsonrpc::response(&id, result),
                    status: 200,
                }
            }
            Err(err) => ModernResponse {
                status: status_for_code(err.code),
                message: crate::protocol::jsonrpc::error_response(Some(&id), &err),
            },
        }
    }

    async fn serve_modern(
        &self,
        entity: &EntityId,
        mut request: Request,
        meta: &RequestMeta,
        outlet: Arc<dyn Outlet>,
        principal: Option<Arc<crate::auth::Principal>>,
    ) -> Result<Value> {
        let method = request.method.as_str();
        // `subscriptions/listen` is the transport's (a stream); anything else not in this
        // revision is as unknown as a method nobody defined.
        let known = Method::parse(method)
            .filter(|m| m.in_modern_era() && *m != Method::SubscriptionsListen);
        let Some(known) = known else {
            return Err(Error::Rpc(ErrorObject::method_not_found(method)));
        };
        if known == Method::ServerDiscover {
            return Ok(self.discover());
        }
        let may_ask = known.info().may_ask;
        let target = name_param(method)
            .and_then(|k| request.params.as_ref()?.get(k)?.as_str())
            .unwrap_or_default()
            .to_string();
        let method = method.to_string();
        // The round's answers: earlier rounds (signed) first, then this request's responses.
        let (round, mut answers) = match request.params.as_ref().and_then(|p| p.get("requestState"))
        {
            Some(Value::String(token)) if may_ask => {
                let s = self
                    .shared
                    .states
                    .open(&self.shared.info.name, entity, &method, &target, token)
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
        let ctx = Context {
            shared: Arc::clone(&self.shared),
            scope: Arc::new(RequestScope {
                entity: entity.clone(),
                session_id: None,
                request_id: Some(request.id.clone()),
                progress_token: request.progress_token(),
                log_threshold: meta.log_level,
                client_capabilities: Arc::new(meta.client_capabilities.clone()),
                outlet,
                cancel: CancellationToken::new(),
                input: input.clone(),
                principal,
            }),
        };
        let fut = std::panic::AssertUnwindSafe(self.route(request, ctx));
        let outcome = futures::FutureExt::catch_unwind(fut)
            .await
            .unwrap_or_else(|_| Err(Error::Internal("the handler panicked".into())));
        match (outcome, input) {
            (Err(Error::InputRequired), Some(round_input)) => {
                let pending = std::mem::take(
                    &mut *round_input
                        .pending
                        .lock()
                        .unwrap_or_else(|p| p.into_inner()),
                );
                let used = std::mem::take(
                    &mut *round_input.used.lock().unwrap_or_else(|p| p.into_inner()),
                );
                let state = State {
                    round: round + 1,
                    answers: used,
                };
                let token = self
                    .shared
                    .states
                    .seal(
                        &self.shared.info.name,
                        entity,
                        &method,
                        &target,
                        &state,
                        u64::try_from(self.shared.config.request_state_ttl.as_millis())
                            .unwrap_or(u64::MAX),
                    )
                    .await?;
                Ok(json!({
                    "resultType": "input_required",
                    "inputRequests": pending,
                    "requestState": token,
                }))
            }
            (Err(Error::InputRequired), None) => Err(Error::Internal(
                "a handler asked for client input where this method cannot carry it".into(),
            )),
            (other, _) => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> StateKeys {
        StateKeys::new(None, vec!["k2".into(), "k1".into()])
    }

    fn state() -> State {
        let mut answers = Map::new();
        answers.insert("user_name".into(), json!({"action": "accept"}));
        State { round: 1, answers }
    }

    #[tokio::test]
    async fn state_round_trips_and_rejects_tampering() {
        let k = keys();
        let e = EntityId::parse("acme").unwrap();
        let token = k
            .seal("srv", &e, "tools/call", "t", &state(), 60_000)
            .await
            .unwrap();
        let back = k.open("srv", &e, "tools/call", "t", &token).await.unwrap();
        assert_eq!(back.round, 1);
        assert_eq!(back.answers, state().answers);
        for bad in [
            format!("{token}-TAMPERED"),
            token.replacen("k2.", "k9.", 1),
            token.replacen("k2.", "k1.", 1),
            String::from("garbage"),
        ] {
            let err = k
                .open("srv", &e, "tools/call", "t", &bad)
                .await
                .err()
                .unwrap();
            assert_eq!(err.rpc_code(), codes::INVALID_PARAMS, "{bad}");
        }
        let other = EntityId::parse("other").unwrap();
        assert!(k
            .open("srv", &other, "tools/call", "t", &token)
            .await
            .is_err());
        assert!(k.open("srv2", &e, "tools/call", "t", &token).await.is_err());
        assert!(k.open("srv", &e, "prompts/get", "t", &token).await.is_err());
        assert!(k.open("srv", &e, "tools/call", "u", &token).await.is_err());
        let expired = k
            .seal("srv", &e, "tools/call", "t", &state(), 0)
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        assert!(k
            .open("srv", &e, "tools/call", "t", &expired)
            .await
            .is_err());
    }

    /// A `KeyStore` in a map, standing in for the shared backend.
    #[derive(Default)]
    struct MapKeys(Mutex<HashMap<String, Vec<u8>>>);

    #[async_trait::async_trait]
    impl KeyStore for MapKeys {
        async fn get_or_create(&self, name: &str, proposed: &[u8]) -> Result<Vec<u8>> {
            let mut m = self.0.lock().unwrap();
            Ok(m.entry(name.to_string())
                .or_insert_with(|| proposed.to_vec())
                .clone())
        }
    }

    #[tokio::test]
    async fn instances_sharing_a_key_store_agree_and_rotation_keeps_old_states() {
        let store: Arc<dyn KeyStore> = Arc::new(MapKeys::default());
        let e = EntityId::parse("acme").unwrap();
        let a = StateKeys::new(Some(Arc::clone(&store)), vec!["k1".into()]);
        let token = a
            .seal("srv", &e, "tools/call", "t", &state(), 60_000)
            .await
            .unwrap();
        // Another instance, same store: verifies.
        let b = StateKeys::new(Some(Arc::clone(&store)), vec!["k1".into()]);
        assert!(b.open("srv", &e, "tools/call", "t", &token).await.is_ok());
        // Rotated: signs with k2, still accepts k1 while it is listed, not after.
        let rotated = StateKeys::new(Some(Arc::clone(&store)), vec!["k2".into(), "k1".into()]);
        assert!(rotated
            .open("srv", &e, "tools/call", "t", &token)
            .await
            .is_ok());
        let fresh = rotated
            .seal("srv", &e, "tools/call", "t", &state(), 60_000)
            .await
            .unwrap();
        assert!(fresh.starts_with("k2."));
        let retired = StateKeys::new(Some(store), vec!["k2".into()]);
        assert!(retired
            .open("srv", &e, "tools/call", "t", &token)
            .await
            .is_err());
        assert!(retired
            .open("srv", &e, "tools/call", "t", &fresh)
            .await
            .is_ok());
        // A process without the shared store has its own key: the state is foreign to it.
        let alone = StateKeys::new(None, vec!["k1".into()]);
        assert!(alone
            .open("srv", &e, "tools/call", "t", &token)
            .await
            .is_err());
    }

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

    #[test]
    fn listen_filter_honours_only_what_was_asked() {
        let f = ListenFilter::parse(Some(&json!({"notifications": {
            "promptsListChanged": true, "resourceSubscriptions": ["a://b"], "other": 1
        }})))
        .unwrap();
        assert_eq!(
            f.acknowledged(),
            json!({"promptsListChanged": true, "resourceSubscriptions": ["a://b"]})
        );
        let sid = json!(7);
        assert!(f
            .notification_for(&Change::Tools.to_event(), &sid)
            .is_none());
        let n = f
            .notification_for(&Change::Prompts.to_event(), &sid)
            .unwrap();
        assert_eq!(n["params"]["_meta"][META_SUBSCRIPTION_ID], json!(7));
        assert!(f
            .notification_for(&Change::ResourceUpdated("a://c".into()).to_event(), &sid)
            .is_none());
    }
}
