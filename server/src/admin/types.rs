//! Request and response bodies of the admin API, kept apart from the core types so the REST
//! contract can evolve on its own.

use fastmcp_core::{LogRecord, SessionRecord};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, Tags};
use serde::Serialize;
use serde_json::json;
use serde_json::Value;

/// Groups of operations in the docs.
#[derive(Tags)]
pub(crate) enum ApiTags {
    /// The tools registered on this server, and calling them for an entity.
    Tools,
    /// Static resources and resource templates.
    Resources,
    /// Prompts and argument completion.
    Prompts,
    /// Live MCP sessions of an entity.
    Sessions,
    /// Log records kept by the store (ctx logs, progress, errors).
    Logs,
    /// Server identity and logging defaults.
    Server,
    /// API keys that authenticate clients of the MCP endpoints (`--auth api-key`).
    ApiKeys,
    /// Per-entity configuration: which tools, resources and prompts an entity sees, and its
    /// own limits.
    Entities,
    /// Prompts, resources and resource templates defined as data, per entity or for every
    /// entity (`*`), served by every instance.
    Catalog,
}

/// Which items of one kind an entity sees.
#[derive(Object, Clone, Default)]
pub(crate) struct VisibilityView {
    /// When set, only these names are visible.
    #[oai(skip_serializing_if_is_none)]
    pub(crate) allow: Option<Vec<String>>,
    /// These names are hidden.
    #[oai(default)]
    pub(crate) hide: Vec<String>,
}

/// An entity's own limits, overriding the server's flags. Absent: the server's value; 0: no
/// limit for this entity.
#[derive(Object, Clone, Copy, Default)]
pub(crate) struct EntityLimitsView {
    /// Requests per second to the MCP endpoints (`--rate-limit-rps`).
    #[oai(skip_serializing_if_is_none)]
    pub(crate) requests_per_second: Option<u64>,
    /// Tool calls running at once (`--max-concurrent-calls`).
    #[oai(skip_serializing_if_is_none)]
    pub(crate) concurrent_calls: Option<u64>,
    /// Live sessions (`--max-sessions-per-entity`).
    #[oai(skip_serializing_if_is_none)]
    pub(crate) max_sessions: Option<u64>,
}

/// An entity's configuration. Hidden items are absent from list results and answer like
/// unknown ones; every instance applies a change (visibility and limits) within 5 seconds.
#[derive(Object, Clone, Default)]
pub(crate) struct EntityConfigView {
    /// Tools by name.
    #[oai(default)]
    pub(crate) tools: VisibilityView,
    /// Resources by URI, templates by URI template.
    #[oai(default)]
    pub(crate) resources: VisibilityView,
    /// Prompts by name.
    #[oai(default)]
    pub(crate) prompts: VisibilityView,
    /// Limits overriding the server's.
    #[oai(default)]
    pub(crate) limits: EntityLimitsView,
    /// Names of tools and prompts as this entity sees them (visibility rules use these names).
    #[oai(default)]
    pub(crate) transforms: TransformsView,
}

/// A prefix on every tool and prompt name, and renames (a renamed item takes no prefix).
#[derive(Object, Clone, Default)]
pub(crate) struct TransformsView {
    /// Prepended to every tool and prompt name (`acme_`).
    #[oai(skip_serializing_if_is_none)]
    pub(crate) prefix: Option<String>,
    /// Tools renamed: registered name → the name the entity sees.
    #[oai(default)]
    pub(crate) tool_renames: std::collections::BTreeMap<String, String>,
    /// Prompts renamed likewise.
    #[oai(default)]
    pub(crate) prompt_renames: std::collections::BTreeMap<String, String>,
}

impl From<VisibilityView> for fastmcp_core::Visibility {
    fn from(v: VisibilityView) -> Self {
        Self {
            allow: v.allow,
            hide: v.hide,
        }
    }
}

impl From<fastmcp_core::Visibility> for VisibilityView {
    fn from(v: fastmcp_core::Visibility) -> Self {
        Self {
            allow: v.allow,
            hide: v.hide,
        }
    }
}

impl From<EntityConfigView> for fastmcp_core::EntityConfig {
    fn from(c: EntityConfigView) -> Self {
        let l = c.limits;
        Self {
            tools: c.tools.into(),
            resources: c.resources.into(),
            prompts: c.prompts.into(),
            limits: fastmcp_core::EntityLimits {
                requests_per_second: l.requests_per_second,
                concurrent_calls: l.concurrent_calls,
                max_sessions: l.max_sessions,
            },
            transforms: fastmcp_core::storage::Transforms {
                prefix: c.transforms.prefix,
                tool_renames: c.transforms.tool_renames,
                prompt_renames: c.transforms.prompt_renames,
            },
        }
    }
}

impl From<fastmcp_core::EntityConfig> for EntityConfigView {
    fn from(c: fastmcp_core::EntityConfig) -> Self {
        let l = c.limits;
        Self {
            tools: c.tools.into(),
            resources: c.resources.into(),
            prompts: c.prompts.into(),
            limits: EntityLimitsView {
                requests_per_second: l.requests_per_second,
                concurrent_calls: l.concurrent_calls,
                max_sessions: l.max_sessions,
            },
            transforms: TransformsView {
                prefix: c.transforms.prefix,
                tool_renames: c.transforms.tool_renames,
                prompt_renames: c.transforms.prompt_renames,
            },
        }
    }
}

/// A key to mint.
#[derive(Object)]
pub(crate) struct ApiKeyRequest {
    /// The entity the key may act for.
    #[oai(validator(min_length = 1, max_length = 128))]
    pub(crate) entity_id: String,
    /// A label for operators.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub(crate) name: String,
    /// Scopes granted to the key.
    #[oai(default)]
    pub(crate) scopes: Vec<String>,
}

/// A key as listed: never the key itself.
#[derive(Object)]
pub(crate) struct ApiKeyView {
    /// Public identifier (the `fmk_{id}_…` part).
    pub(crate) id: String,
    /// The entity the key acts for.
    pub(crate) entity_id: String,
    /// Label.
    pub(crate) name: String,
    /// Granted scopes.
    pub(crate) scopes: Vec<String>,
    /// Creation time, ms since the Unix epoch.
    pub(crate) created_at_ms: u64,
}

impl From<fastmcp_core::ApiKeyRecord> for ApiKeyView {
    fn from(k: fastmcp_core::ApiKeyRecord) -> Self {
        Self {
            id: k.id,
            entity_id: k.entity.to_string(),
            name: k.name,
            scopes: k.scopes,
            created_at_ms: k.created_at_ms,
        }
    }
}

/// A freshly minted key: `key` is shown this once and stored nowhere.
#[derive(Object)]
pub(crate) struct ApiKeyCreated {
    /// Send as `Authorization: Bearer <key>` (or `X-API-Key`).
    pub(crate) key: String,
    /// What is stored.
    pub(crate) api_key: ApiKeyView,
}

/// The one error shape of the admin API.
#[derive(Debug, Object, Serialize)]
pub(crate) struct ErrorBody {
    /// Stable machine-readable code (`unauthorized`, `not_found`, `invalid_argument`, …).
    pub(crate) code: String,
    /// What went wrong.
    pub(crate) message: String,
    /// The offending field, when one is to blame.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) field: Option<String>,
}

/// Error responses of admin operations.
#[derive(Debug, ApiResponse)]
pub(crate) enum ApiError {
    /// Malformed input.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No such tool, resource, prompt, session or entity.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// Well-formed input that the operation rejects (e.g. tool arguments failing the schema).
    #[oai(status = 422)]
    Unprocessable(Json<ErrorBody>),
    /// A concurrent update won the race (e.g. two writers to one session); retry.
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// The session store is unreachable; retry later.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
    /// A server fault (a handler panicked, a backend failed).
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}

impl ApiError {
    pub(crate) fn new(
        kind: fn(Json<ErrorBody>) -> Self,
        code: &str,
        message: impl Into<String>,
    ) -> Self {
        kind(Json(ErrorBody {
            code: code.into(),
            message: message.into(),
            field: None,
        }))
    }

    pub(crate) fn with_field(self, field: Option<String>) -> Self {
        match self {
            ApiError::Unprocessable(Json(mut b)) => {
                b.field = field;
                ApiError::Unprocessable(Json(b))
            }
            other => other,
        }
    }
}

/// A tool as registered.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub(crate) struct ToolView {
    /// Unique name.
    pub(crate) name: String,
    /// Display title.
    #[oai(skip_serializing_if_is_none)]
    pub(crate) title: Option<String>,
    /// What it does.
    #[oai(skip_serializing_if_is_none)]
    pub(crate) description: Option<String>,
    /// JSON Schema of the arguments.
    pub(crate) input_schema: Value,
    /// JSON Schema of `structuredContent`, if the tool has one.
    #[oai(skip_serializing_if_is_none)]
    pub(crate) output_schema: Option<Value>,
    /// Behaviour hints.
    #[oai(skip_serializing_if_is_none)]
    pub(crate) annotations: Option<Value>,
}

/// Arguments of an admin tool call.
#[derive(Object)]
#[oai(example)]
pub(crate) struct CallToolRequest {
    /// The entity the call runs for (its handlers see this `ctx.entity_id()`).
    #[oai(validator(min_length = 1, max_length = 128))]
    pub(crate) entity_id: String,
    /// The tool's arguments (an object; omitted means `{}`).
    #[oai(skip_serializing_if_is_none)]
    pub(crate) arguments: Option<Value>,
}

/// A tool result, as MCP's `CallToolResult`.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub(crate) struct ToolResultView {
    /// Content items (text, image, audio, resource, resource_link).
    pub(crate) content: Vec<Value>,
    /// Structured result, if the tool declares an output schema.
    #[oai(skip_serializing_if_is_none)]
    pub(crate) structured_content: Option<Value>,
    /// Whether the tool reported a failure (the content says what).
    pub(crate) is_error: bool,
}

/// A static resource.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub(crate) struct ResourceView {
    /// Its URI.
    pub(crate) uri: String,
    /// Its name.
    pub(crate) name: String,
    /// Display title.
    #[oai(skip_serializing_if_is_none)]
    pub(crate) title: Option<String>,
    /// What it is.
    #[oai(skip_serializing_if_is_none)]
    pub(crate) description: Option<String>,
    /// MIME type.
    #[oai(skip_serializing_if_is_none)]
    pub(crate) mime_type: Option<String>,
}

/// A resource template.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub(crate) struct ResourceTemplateView {
    /// RFC 6570 template.
    pub(crate) uri_template: String,
    /// Its name.
    pub(crate) name: String,
    /// What it is.
    #[oai(skip_serializing_if_is_none)]
    pub(crate) description: Option<String>,
    /// MIME type.
    #[oai(skip_serializing_if_is_none)]
    pub(crate) mime_type: Option<String>,
}

/// The contents of a resource.
#[derive(Object)]
pub(crate) struct ResourceContentsView {
    /// Items with `uri`, `mimeType` and `text` or `blob` (base64).
    pub(crate) contents: Vec<Value>,
}

/// A prompt argument.
#[derive(Object)]
pub(crate) struct PromptArgumentView {
    /// Its name (also the query parameter to pass it as).
    pub(crate) name: String,
    /// What it means.
    #[oai(skip_serializing_if_is_none)]
    pub(crate) description: Option<String>,
    /// Whether it must be given.
    pub(crate) required: bool,
}

/// A prompt.
#[derive(Object)]
pub(crate) struct PromptView {
    /// Unique name.
    pub(crate) name: String,
    /// Display title.
    #[oai(skip_serializing_if_is_none)]
    pub(crate) title: Option<String>,
    /// What it is for.
    #[oai(skip_serializing_if_is_none)]
    pub(crate) description: Option<String>,
    /// Its arguments.
    pub(crate) arguments: Vec<PromptArgumentView>,
}

/// A rendered prompt.
#[derive(Object)]
pub(crate) struct RenderedPromptView {
    /// Description of the rendered prompt.
    #[oai(skip_serializing_if_is_none)]
    pub(crate) description: Option<String>,
    /// Messages with `role` and `content`.
    pub(crate) messages: Vec<Value>,
}

/// What to complete (the semantics of MCP `completion/complete`).
#[derive(Object)]
#[oai(rename_all = "camelCase", example)]
pub(crate) struct CompleteRequest {
    /// `ref/prompt` or `ref/resource`.
    #[oai(validator(pattern = "^ref/(prompt|resource)$"))]
    pub(crate) ref_type: String,
    /// The prompt name, or the resource template (`demo://profile/{name}`).
    pub(crate) name: String,
    /// The argument or template variable being completed.
    pub(crate) argument: String,
    /// What was typed so far.
    #[oai(default)]
    pub(crate) value: String,
    /// The entity the completion runs for.
    #[oai(validator(min_length = 1, max_length = 128))]
    pub(crate) entity_id: String,
}

/// Completion suggestions.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub(crate) struct CompleteResponse {
    /// Suggested values (at most 100).
    pub(crate) values: Vec<String>,
    /// How many matched in all.
    pub(crate) total: u64,
    /// Whether more than `values` matched.
    pub(crate) has_more: bool,
}

/// A logging level change.
#[derive(Object)]
#[oai(example)]
pub(crate) struct LoggingLevelRequest {
    /// debug, info, notice, warning, error, critical, alert or emergency.
    #[oai(validator(pattern = "^(debug|info|notice|warning|error|critical|alert|emergency)$"))]
    pub(crate) level: String,
    /// With `entity_id`: change only this session's level.
    #[oai(skip_serializing_if_is_none)]
    pub(crate) session_id: Option<String>,
    /// The session's entity (required with `session_id`).
    #[oai(skip_serializing_if_is_none)]
    pub(crate) entity_id: Option<String>,
}

/// The level now in force.
#[derive(Object)]
pub(crate) struct LoggingLevelResponse {
    /// The level.
    pub(crate) level: String,
    /// `server` (default of sessions without their own level) or `session`.
    pub(crate) scope: String,
}

/// A live MCP session.
#[derive(Object)]
pub(crate) struct SessionView {
    /// Session id.
    pub(crate) id: String,
    /// Its tenant.
    pub(crate) entity_id: String,
    /// Negotiated protocol revision (absent before `initialize`).
    #[oai(skip_serializing_if_is_none)]
    pub(crate) protocol_version: Option<String>,
    /// `clientInfo` from `initialize`.
    pub(crate) client_info: Value,
    /// Client capabilities.
    pub(crate) client_capabilities: Value,
    /// The session's own logging level, if set.
    #[oai(skip_serializing_if_is_none)]
    pub(crate) logging_level: Option<String>,
    /// Subscribed resource URIs.
    pub(crate) subscriptions: Vec<String>,
    /// Application state kept by handlers.
    pub(crate) state: Value,
    /// Creation time (ms since the Unix epoch).
    pub(crate) created_at_ms: u64,
    /// Optimistic-concurrency version.
    pub(crate) version: u64,
}

impl From<SessionRecord> for SessionView {
    fn from(r: SessionRecord) -> Self {
        Self {
            id: r.id.to_string(),
            entity_id: r.entity.to_string(),
            protocol_version: r.protocol_version,
            client_info: (*r.client_info).clone(),
            client_capabilities: (*r.client_capabilities).clone(),
            logging_level: r.logging_level.map(|l| l.as_str().to_string()),
            subscriptions: r.subscriptions.into_iter().collect(),
            state: Value::Object(std::sync::Arc::unwrap_or_clone(r.state)),
            created_at_ms: r.created_at_ms,
            version: r.version,
        }
    }
}

/// One page of sessions.
#[derive(Object)]
pub(crate) struct SessionPageView {
    /// Sessions in id order.
    pub(crate) sessions: Vec<SessionView>,
    /// Pass as `cursor` for the next page; absent at the end.
    #[oai(skip_serializing_if_is_none)]
    pub(crate) next_cursor: Option<String>,
}

/// One log record.
#[derive(Object)]
pub(crate) struct LogView {
    /// Tenant.
    pub(crate) entity_id: String,
    /// Session, if any.
    #[oai(skip_serializing_if_is_none)]
    pub(crate) session_id: Option<String>,
    /// `log`, `progress` or `error`.
    pub(crate) kind: String,
    /// Severity.
    pub(crate) level: String,
    /// Text.
    pub(crate) message: String,
    /// Structured payload.
    pub(crate) data: Value,
    /// When (ms since the Unix epoch).
    pub(crate) created_at_ms: u64,
}

impl From<LogRecord> for LogView {
    fn from(r: LogRecord) -> Self {
        Self {
            entity_id: r.entity.to_string(),
            session_id: r.session.map(|s| s.to_string()),
            kind: r.kind.as_str().into(),
            level: r.level.as_str().into(),
            message: r.message,
            data: r.data,
            created_at_ms: r.created_at_ms,
        }
    }
}

/// Server identity.
#[derive(Object)]
pub(crate) struct ServerView {
    /// Server name.
    pub(crate) name: String,
    /// Server version.
    pub(crate) version: String,
    /// Protocol revisions served.
    pub(crate) protocol_versions: Vec<String>,
    /// Store kind: memory, redis or postgres.
    pub(crate) store: String,
    /// This process's id among instances sharing the store.
    pub(crate) instance_id: String,
    /// Seconds since start.
    pub(crate) uptime_seconds: u64,
    /// Logging level of sessions without their own.
    pub(crate) default_logging_level: String,
}

impl Example for CallToolRequest {
    fn example() -> Self {
        Self {
            entity_id: "acme".into(),
            arguments: Some(json!({ "a": 2, "b": 3 })),
        }
    }
}

impl Example for CompleteRequest {
    fn example() -> Self {
        Self {
            ref_type: "ref/prompt".into(),
            name: "summarize".into(),
            argument: "style".into(),
            value: "b".into(),
            entity_id: "acme".into(),
        }
    }
}

impl Example for LoggingLevelRequest {
    fn example() -> Self {
        Self {
            level: "warning".into(),
            session_id: None,
            entity_id: None,
        }
    }
}

/// The outcome of a revocation.
#[derive(Object)]
pub(crate) struct ApiKeyRevoked {
    /// The key id.
    pub(crate) id: String,
    /// Always true (an unknown id is a 404).
    pub(crate) revoked: bool,
}

/// Who speaks a stored prompt message.
#[derive(poem_openapi::Enum, Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub(crate) enum MessageRoleView {
    /// The user.
    User,
    /// The assistant.
    Assistant,
}

/// An argument of a stored prompt.
#[derive(Object, Clone, Debug, Serialize, serde::Deserialize)]
pub(crate) struct PromptArgumentDef {
    /// Its name, as `{name}` placeholders use it (letters, digits, `_`, `.`, `-`).
    pub(crate) name: String,
    /// What it means.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    /// Whether `prompts/get` must give it (`-32602` naming it otherwise).
    #[oai(default)]
    #[serde(default)]
    pub(crate) required: bool,
    /// Values `completion/complete` offers for it.
    #[oai(default)]
    #[serde(default)]
    pub(crate) suggestions: Vec<String>,
}

/// A message of a stored prompt.
#[derive(Object, Clone, Debug, Serialize, serde::Deserialize)]
pub(crate) struct PromptMessageDef {
    /// `user` or `assistant`.
    pub(crate) role: MessageRoleView,
    /// Text with `{argument}` placeholders (`{{` and `}}` for braces).
    pub(crate) text: String,
}

/// A prompt defined as data.
#[derive(Object, Clone, Debug, Serialize, serde::Deserialize)]
#[oai(example)]
pub(crate) struct PromptDef {
    /// Unique name in its scope.
    pub(crate) name: String,
    /// Display title.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) title: Option<String>,
    /// What it is for.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    /// Its arguments.
    #[oai(default)]
    #[serde(default)]
    pub(crate) arguments: Vec<PromptArgumentDef>,
    /// The messages it renders to.
    pub(crate) messages: Vec<PromptMessageDef>,
}

impl Example for PromptDef {
    fn example() -> Self {
        serde_json::from_value(json!({
            "name": "code_review",
            "description": "Review a change",
            "arguments": [
                {"name": "diff", "required": true, "description": "The change"},
                {"name": "focus", "suggestions": ["security", "performance"]}
            ],
            "messages": [{"role": "user", "text": "Review this change, focusing on {focus}:\n\n{diff}"}]
        }))
        .unwrap_or_else(|_| PromptDef {
            name: "code_review".into(),
            title: None,
            description: None,
            arguments: vec![],
            messages: vec![],
        })
    }
}

/// A resource defined as data: text, or base64 bytes.
#[derive(Object, Clone, Debug, Serialize, serde::Deserialize)]
pub(crate) struct ResourceDef {
    /// Its URI (`scheme:…`), unique in its scope.
    pub(crate) uri: String,
    /// Its name.
    pub(crate) name: String,
    /// Display title.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) title: Option<String>,
    /// What it is.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    /// MIME type.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) mime_type: Option<String>,
    /// Text contents (give exactly one of `text` and `blob`).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) text: Option<String>,
    /// Base64 contents.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) blob: Option<String>,
}

/// A resource template defined as data: contents rendered from the URI's variables.
#[derive(Object, Clone, Debug, Serialize, serde::Deserialize)]
pub(crate) struct TemplateDef {
    /// An RFC 6570 level 1 template (`notes://{id}`), unique in its scope.
    pub(crate) uri_template: String,
    /// Its name.
    pub(crate) name: String,
    /// Display title.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) title: Option<String>,
    /// What it is.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    /// MIME type.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) mime_type: Option<String>,
    /// Contents with `{variable}` placeholders.
    pub(crate) text: String,
    /// Values `completion/complete` offers, per variable.
    #[oai(default)]
    #[serde(default)]
    pub(crate) completions: std::collections::BTreeMap<String, Vec<String>>,
}

/// One stored item, as listed.
#[derive(Object, Clone, Debug)]
pub(crate) struct CatalogItemView {
    /// `prompt`, `resource` or `resource_template`.
    pub(crate) kind: String,
    /// Its name (prompts), URI (resources) or URI template.
    pub(crate) key: String,
    /// The definition, as stored.
    pub(crate) definition: Value,
}

/// A scope's stored catalog.
#[derive(Object, Clone, Debug)]
pub(crate) struct CatalogView {
    /// The entity, or `*` for the items every entity sees.
    pub(crate) scope: String,
    /// Moves with every change of this scope.
    pub(crate) version: u64,
    /// The items, in creation order.
    pub(crate) items: Vec<CatalogItemView>,
}

/// A header of a stored HTTP tool's request.
#[derive(Object, Clone, Debug, Serialize, serde::Deserialize)]
pub(crate) struct HttpHeaderDef {
    /// Its name.
    pub(crate) name: String,
    /// Its value (`{argument}` placeholders allowed unless secret). A secret value is
    /// write-only: answers show `null`, and a replacement that sends `null` keeps the stored one.
    #[oai(default)]
    #[serde(default)]
    pub(crate) value: Option<String>,
    /// Whether the value is a credential.
    #[oai(default)]
    #[serde(default)]
    pub(crate) secret: bool,
}

/// The request a stored HTTP tool makes.
#[derive(Object, Clone, Debug, Serialize, serde::Deserialize)]
pub(crate) struct HttpRequestDef {
    /// `GET` (default), `POST`, `PUT`, `PATCH` or `DELETE`.
    #[oai(default = "default_get")]
    #[serde(default = "default_get")]
    pub(crate) method: String,
    /// `http(s)://host/path?query` with `{argument}` placeholders in the path and query.
    pub(crate) url: String,
    /// Request headers.
    #[oai(default)]
    #[serde(default)]
    pub(crate) headers: Vec<HttpHeaderDef>,
    /// Query parameters from arguments, appended to the URL's query when the argument is given.
    #[oai(default)]
    #[serde(default)]
    pub(crate) query: Vec<HttpQueryDef>,
    /// A JSON body template: `"{argument}"` alone becomes the argument's value (an object key so
    /// filled is left out when the argument is absent).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) body: Option<Value>,
    /// Milliseconds to wait (default 10000, at most 60000).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) timeout_ms: Option<u64>,
    /// Largest answer read, in bytes (default 1 MiB, at most 10 MiB).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_response_bytes: Option<u64>,
}

fn default_get() -> String {
    "GET".into()
}

/// A tool defined as data that makes one HTTP request.
#[derive(Object, Clone, Debug, Serialize, serde::Deserialize)]
pub(crate) struct HttpToolDef {
    /// Unique name in its scope.
    pub(crate) name: String,
    /// Display title.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) title: Option<String>,
    /// What it does (shown to the model).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    /// JSON Schema of the arguments (`"type": "object"`), checked on every call.
    pub(crate) input_schema: Value,
    /// JSON Schema of a JSON answer, which then becomes `structuredContent`.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) output_schema: Option<Value>,
    /// Behaviour hints (`readOnlyHint`, `destructiveHint`, `idempotentHint`, `openWorldHint`).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) annotations: Option<Value>,
    /// Scopes a caller must hold to call it (403 `insufficient_scope` otherwise).
    #[oai(default)]
    #[serde(default)]
    pub(crate) scopes: Vec<String>,
    /// The request a call makes.
    pub(crate) request: HttpRequestDef,
    /// What created it: `openapi:NAME` for the tools of an OpenAPI import (a re-import of
    /// `NAME` replaces them, deleting the import removes them).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) source: Option<String>,
}

/// A query parameter of a stored HTTP tool's request.
#[derive(Object, Clone, Debug, Serialize, serde::Deserialize)]
pub(crate) struct HttpQueryDef {
    /// Its name in the query.
    pub(crate) name: String,
    /// The argument whose value it carries.
    pub(crate) argument: String,
    /// For an array: one parameter per element (default), or one comma-separated value.
    #[oai(default = "yes")]
    #[serde(default = "yes")]
    pub(crate) explode: bool,
}

fn yes() -> bool {
    true
}

/// An OpenAPI document to import as HTTP tools.
#[derive(Object, Clone, Debug, Serialize, serde::Deserialize)]
pub(crate) struct OpenApiImportDef {
    /// The import's name (its tools carry the source `openapi:NAME`); importing a name again
    /// replaces its tools.
    pub(crate) name: String,
    /// The document (OpenAPI 3.0 or 3.1): a JSON object, or JSON or YAML text. Exactly one of
    /// `document` and `url`.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) document: Option<Value>,
    /// Where to fetch the document (JSON or YAML), under the HTTP tools' network policy.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) url: Option<String>,
    /// Headers for fetching the document by `url` (secrets are not kept).
    #[oai(default)]
    #[serde(default)]
    pub(crate) url_headers: Vec<HttpHeaderDef>,
    /// The API's base URL; default: the document's first server, resolved against `url`.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) base_url: Option<String>,
    /// Headers every call sends (credentials: `"secret": true`; a re-import sending `null`
    /// keeps the stored value).
    #[oai(default)]
    #[serde(default)]
    pub(crate) headers: Vec<HttpHeaderDef>,
    /// Which operations become tools: the first map matching an operation decides; those no
    /// map matches are included.
    #[oai(default)]
    #[serde(default)]
    pub(crate) routes: Vec<RouteMapDef>,
    /// Put before every tool's name.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) name_prefix: Option<String>,
    /// Every call's timeout in milliseconds (default 10000, at most 60000).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) timeout_ms: Option<u64>,
    /// Every call's answer cap in bytes (default 1 MiB, at most 10 MiB).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_response_bytes: Option<u64>,
}

/// A rule choosing operations of an OpenAPI document.
#[derive(Object, Clone, Debug, Serialize, serde::Deserialize)]
pub(crate) struct RouteMapDef {
    /// Methods (any of).
    #[oai(default)]
    #[serde(default)]
    pub(crate) methods: Vec<String>,
    /// A path as written in the document; `*` matches any run of characters.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) path: Option<String>,
    /// Tags (any of).
    #[oai(default)]
    #[serde(default)]
    pub(crate) tags: Vec<String>,
    /// `include` or `exclude`.
    pub(crate) action: String,
}

/// An operation that did not become a tool.
#[derive(Object, Clone, Debug, Serialize, serde::Deserialize)]
pub(crate) struct SkippedOperationView {
    /// Its method.
    pub(crate) method: String,
    /// Its path, as written in the document.
    pub(crate) path: String,
    /// Its `operationId`, if any.
    #[oai(skip_serializing_if_is_none)]
    pub(crate) operation_id: Option<String>,
    /// Why.
    pub(crate) reason: String,
}

/// What an OpenAPI import did.
#[derive(Object, Clone, Debug)]
pub(crate) struct OpenApiImportView {
    /// The import's name.
    pub(crate) name: String,
    /// The tools it holds now, by name.
    pub(crate) tools: Vec<String>,
    /// Tools of an earlier import of this name that are gone.
    pub(crate) removed: Vec<String>,
    /// Operations that did not become tools, and why.
    pub(crate) skipped: Vec<SkippedOperationView>,
}

/// An upstream MCP server mounted into a scope.
#[derive(Object, Clone, Debug, Serialize, serde::Deserialize)]
pub(crate) struct McpServerDef {
    /// The mount's name and namespace (letters, digits, `-`): the upstream's tool `search` is
    /// listed as `NAME_search`, and its prompts likewise; resource URIs are kept.
    pub(crate) name: String,
    /// The upstream's Streamable HTTP endpoint (`…/mcp`), or its SSE endpoint (`…/sse`) with
    /// `"transport": "sse"`.
    pub(crate) url: String,
    /// `streamable_http` (default) or `sse` (the legacy HTTP+SSE transport).
    #[oai(default = "default_transport")]
    #[serde(default = "default_transport")]
    pub(crate) transport: String,
    /// `handshake` (default: `initialize`, then a session) or `2026-07-28` (sessionless).
    #[oai(default = "default_era")]
    #[serde(default = "default_era")]
    pub(crate) era: String,
    /// Headers every request carries (credentials: `"secret": true`, never returned; a
    /// replacement sending `null` keeps the stored value).
    #[oai(default)]
    #[serde(default)]
    pub(crate) headers: Vec<HttpHeaderDef>,
    /// Milliseconds to wait for one answer (default 30000, at most 300000).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) timeout_ms: Option<u64>,
    /// `per_client` (default: one upstream session per downstream session, ended with it) or
    /// `shared` (one per mount and instance, for stateless upstreams).
    #[oai(default = "default_sessions")]
    #[serde(default = "default_sessions")]
    pub(crate) sessions: String,
}

fn default_transport() -> String {
    "streamable_http".into()
}

fn default_era() -> String {
    "handshake".into()
}

fn default_sessions() -> String {
    "per_client".into()
}

/// A mount's health, as this instance sees it.
#[derive(Object, Clone, Debug)]
pub(crate) struct McpServerStatusView {
    /// The mount's name.
    pub(crate) name: String,
    /// Its URL.
    pub(crate) url: String,
    /// Whether the last exchange that tells (a listing, a call's connection) worked.
    pub(crate) up: bool,
    /// The last failure, when down.
    #[oai(skip_serializing_if_is_none)]
    pub(crate) last_error: Option<String>,
    /// Seconds since its lists were fetched here.
    #[oai(skip_serializing_if_is_none)]
    pub(crate) listed_secs_ago: Option<u64>,
    /// Tools listed.
    pub(crate) tools: u64,
    /// Prompts listed.
    pub(crate) prompts: u64,
    /// Resources listed.
    pub(crate) resources: u64,
    /// Resource templates listed.
    pub(crate) resource_templates: u64,
    /// Calls forwarded by this instance.
    pub(crate) calls: u64,
    /// Calls that failed for the upstream's sake (unreachable, slow, broken).
    pub(crate) failures: u64,
}
