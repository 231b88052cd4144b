//! The stored catalog's items: prompts, resources and resource templates defined as data
//! (through the admin API) instead of code, per entity or for every entity.
//!
//! An item is validated once, when it is written ([`CatalogItem::validate`]), so that what a
//! store holds always renders; the stored provider
//! ([`StoredCatalog`](crate::provider::StoredCatalog)) turns items into ordinary registry
//! items. This module is data only: it knows nothing of the registry.
//!
//! Placeholders in prompt messages and template contents are `{name}`; `{{` and `}}` are
//! literal braces.

pub(crate) mod http;
pub mod openapi;
mod upstream;

use http::is_header_name;
pub use http::{
    HeaderSpec, HttpRequestSpec, HttpToolSpec, Outbound, OutboundError, OutboundRequest,
    OutboundResponse, QueryParamSpec, MAX_RESPONSE_BYTES, MAX_TIMEOUT_MS,
};
pub use upstream::{
    McpServerSpec, SessionMode, UpstreamEra, UpstreamTransport, DEFAULT_UPSTREAM_TIMEOUT_MS,
    MAX_UPSTREAM_TIMEOUT_MS,
};

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::ids::EntityId;
use crate::protocol::{PromptMessage, Role};

/// Whose catalog an item belongs to: one entity's, or every entity's (`*`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CatalogScope {
    /// Items every entity sees (after its own, which win a name clash).
    Global,
    /// One entity's items.
    Entity(EntityId),
}

impl CatalogScope {
    /// `*` for the global scope, else the entity id (no entity id can be `*`).
    pub fn as_str(&self) -> &str {
        match self {
            CatalogScope::Global => "*",
            CatalogScope::Entity(e) => e.as_str(),
        }
    }

    /// Reads `*` or an entity id.
    pub fn parse(raw: &str) -> Result<Self> {
        if raw == "*" {
            Ok(CatalogScope::Global)
        } else {
            EntityId::parse(raw).map(CatalogScope::Entity)
        }
    }
}

impl fmt::Display for CatalogScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kinds of stored item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CatalogKind {
    /// A tool (an HTTP tool), keyed by name.
    Tool,
    /// A prompt, keyed by name.
    Prompt,
    /// A resource, keyed by URI.
    Resource,
    /// A resource template, keyed by URI template.
    ResourceTemplate,
    /// An upstream MCP server mounted into the scope, keyed by its name.
    McpServer,
}

impl CatalogKind {
    /// The kind's name in storage keys and the admin API.
    pub fn as_str(self) -> &'static str {
        match self {
            CatalogKind::Tool => "tool",
            CatalogKind::Prompt => "prompt",
            CatalogKind::Resource => "resource",
            CatalogKind::ResourceTemplate => "resource_template",
            CatalogKind::McpServer => "mcp_server",
        }
    }

    /// Reads [`as_str`](Self::as_str)'s output.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "tool" => Some(CatalogKind::Tool),
            "prompt" => Some(CatalogKind::Prompt),
            "resource" => Some(CatalogKind::Resource),
            "resource_template" => Some(CatalogKind::ResourceTemplate),
            "mcp_server" => Some(CatalogKind::McpServer),
            _ => None,
        }
    }
}

/// One stored item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
// Items are read once per catalog change and held in one slice per scope: the bytes a small
// variant wastes matter less than a box on every HTTP tool.
#[allow(clippy::large_enum_variant)]
pub enum CatalogItem {
    /// A tool that makes one HTTP request.
    HttpTool(HttpToolSpec),
    /// A prompt template.
    Prompt(PromptSpec),
    /// A resource with fixed contents.
    Resource(ResourceSpec),
    /// A family of resources whose contents render from the URI's variables.
    ResourceTemplate(TemplateSpec),
    /// An upstream MCP server whose items the scope offers.
    McpServer(McpServerSpec),
}

/// A stored prompt: arguments, and messages with `{argument}` placeholders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptSpec {
    /// Unique name within the scope.
    pub name: String,
    /// Display title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// What it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its arguments, in order.
    #[serde(default)]
    pub arguments: Vec<ArgumentSpec>,
    /// The messages it renders to.
    pub messages: Vec<MessageSpec>,
}

/// A prompt argument.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArgumentSpec {
    /// Its name, as placeholders use it.
    pub name: String,
    /// What it means.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether `prompts/get` must give it (else it renders empty).
    #[serde(default)]
    pub required: bool,
    /// Values offered by `completion/complete`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suggestions: Vec<String>,
}

/// One message of a stored prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageSpec {
    /// `user` or `assistant`.
    pub role: Role,
    /// Text with `{argument}` placeholders.
    pub text: String,
}

/// A stored resource: text or base64 bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceSpec {
    /// Its URI (`scheme:…`), unique within the scope.
    pub uri: String,
    /// Its name.
    pub name: String,
    /// Display title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// What it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// MIME type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Text contents (exactly one of `text` and `blob`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Base64 contents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob: Option<String>,
}

/// A stored resource template: contents rendered from the URI's `{variables}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateSpec {
    /// RFC 6570 level 1 template (`notes://{id}`), unique within the scope.
    pub uri_template: String,
    /// Its name.
    pub name: String,
    /// Display title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// What it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// MIME type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Contents, with `{variable}` placeholders.
    pub text: String,
    /// Values offered by `completion/complete`, per variable.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub completions: BTreeMap<String, Vec<String>>,
}

/// Size and count caps on stored items (what a client makes us keep).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogCaps {
    /// Items one scope (an entity, or `*`) may hold.
    pub max_items: usize,
    /// Bytes of a name, title or URI.
    pub max_name_bytes: usize,
    /// Bytes of a description.
    pub max_description_bytes: usize,
    /// Bytes of one item's contents (a resource's text or blob, a template's text, all of a
    /// prompt's messages).
    pub max_content_bytes: usize,
    /// Arguments of a prompt, messages of a prompt, suggestions of one argument or variable.
    pub max_list_len: usize,
}

impl Default for CatalogCaps {
    fn default() -> Self {
        Self {
            max_items: 1000,
            max_name_bytes: 256,
            max_description_bytes: 8 * 1024,
            max_content_bytes: 256 * 1024,
            max_list_len: 100,
        }
    }
}

/// Why an item was refused: the offending field (a JSON path such as `messages[1].text`) and
/// what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}`: {message}")]
pub struct Invalid {
    /// The field, as a path into the item.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> Invalid {
    Invalid {
        field: field.into(),
        message: message.into(),
    }
}

impl From<Invalid> for Error {
    fn from(e: Invalid) -> Self {
        Error::invalid_params(e.to_string())
    }
}

/// A piece of a text with placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    Text(String),
    Var(String),
}

/// Whether `name` may name an argument, a variable or a prompt: `[A-Za-z0-9_.-]`, 1-128 bytes.
fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Splits `text` at its `{placeholders}` (`{{` and `}}` are literal braces).
pub(crate) fn pieces(text: &str) -> std::result::Result<Vec<Piece>, String> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '{' if chars.peek().map(|p| p.1) == Some('{') => {
                chars.next();
                lit.push('{');
            }
            '}' if chars.peek().map(|p| p.1) == Some('}') => {
                chars.next();
                lit.push('}');
            }
            '{' => {
                let rest = &text[i + 1..];
                let Some(end) = rest.find('}') else {
                    return Err(format!(
                        "unclosed `{{` at byte {i} (write `{{{{` for a brace)"
                    ));
                };
                let name = &rest[..end];
                if !is_name(name) {
                    return Err(format!(
                        "`{{{name}}}` is not a placeholder: use `{{name}}` with letters, digits, \
                         `_`, `.` or `-` (and `{{{{` for a brace)"
                    ));
                }
                if !lit.is_empty() {
                    out.push(Piece::Text(std::mem::take(&mut lit)));
                }
                out.push(Piece::Var(name.to_string()));
                for _ in 0..=end {
                    chars.next();
                }
            }
            '}' => {
                return Err(format!(
                    "unmatched `}}` at byte {i} (write `}}}}` for a brace)"
                ))
            }
            c => lit.push(c),
        }
    }
    if !lit.is_empty() {
        out.push(Piece::Text(lit));
    }
    Ok(out)
}

pub(crate) fn render(pieces: &[Piece], value: impl Fn(&str) -> String) -> String {
    let mut s = String::new();
    for p in pieces {
        match p {
            Piece::Text(t) => s.push_str(t),
            Piece::Var(v) => s.push_str(&value(v)),
        }
    }
    s
}

/// The variables of a URI template, checked the way the runtime matcher reads them.
fn template_variables(template: &str) -> std::result::Result<Vec<String>, String> {
    let mut vars = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            return Err("unclosed `{`".into());
        };
        let var = &rest[open + 1..open + close];
        if !is_name(var) || var.contains('.') || var.contains('-') {
            return Err(format!(
                "`{{{var}}}` is not a simple variable: use `{{name}}` with letters, digits and `_`"
            ));
        }
        if vars.iter().any(|v| v == var) {
            return Err(format!("the variable `{var}` appears twice"));
        }
        if rest[open + close + 1..].starts_with('{') {
            return Err(format!(
                "`{{{var}}}` is followed directly by another variable: put a literal between them"
            ));
        }
        vars.push(var.to_string());
        rest = &rest[open + close + 1..];
    }
    if rest.contains('}') {
        return Err("unmatched `}`".into());
    }
    Ok(vars)
}

/// Checks a URI's shape: `scheme:rest`, no whitespace or control characters.
fn check_uri(field: &str, uri: &str, caps: &CatalogCaps) -> std::result::Result<(), Invalid> {
    check_len(field, uri, caps.max_name_bytes.max(2048))?;
    let scheme_ok = uri.split_once(':').is_some_and(|(s, _)| {
        !s.is_empty()
            && s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    });
    if !scheme_ok {
        return Err(invalid(field, "must start with a scheme (`notes://…`)"));
    }
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(
            field,
            "must not contain whitespace or control characters",
        ));
    }
    Ok(())
}

fn check_len(field: &str, value: &str, max: usize) -> std::result::Result<(), Invalid> {
    if value.len() > max {
        return Err(invalid(
            field,
            format!("is {} bytes; at most {max} are allowed", value.len()),
        ));
    }
    Ok(())
}

fn check_name(field: &str, value: &str) -> std::result::Result<(), Invalid> {
    if !is_name(value) {
        return Err(invalid(
            field,
            "must be 1-128 characters of letters, digits, `_`, `.` and `-`",
        ));
    }
    Ok(())
}

fn check_label(field: &str, value: &str, caps: &CatalogCaps) -> std::result::Result<(), Invalid> {
    if value.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    check_len(field, value, caps.max_name_bytes)
}

fn check_common(
    title: Option<&str>,
    description: Option<&str>,
    mime_type: Option<&str>,
    caps: &CatalogCaps,
) -> std::result::Result<(), Invalid> {
    if let Some(t) = title {
        check_len("title", t, caps.max_name_bytes)?;
    }
    if let Some(d) = description {
        check_len("description", d, caps.max_description_bytes)?;
    }
    if let Some(m) = mime_type {
        check_len("mime_type", m, 255)?;
        let ok = m.split_once('/').is_some_and(|(a, b)| {
            !a.is_empty() && !b.is_empty() && !m.chars().any(|c| c.is_whitespace() && c != ' ')
        });
        if !ok {
            return Err(invalid(
                "mime_type",
                "must be a MIME type such as `text/plain`",
            ));
        }
    }
    Ok(())
}

fn check_suggestions(
    field: &str,
    values: &[String],
    caps: &CatalogCaps,
) -> std::result::Result<(), Invalid> {
    if values.len() > caps.max_list_len {
        return Err(invalid(
            field,
            format!(
                "has {} values; at most {} are allowed",
                values.len(),
                caps.max_list_len
            ),
        ));
    }
    for (i, v) in values.iter().enumerate() {
        check_len(&format!("{field}[{i}]"), v, caps.max_name_bytes)?;
    }
    Ok(())
}

impl CatalogItem {
    /// The item's kind.
    pub fn kind(&self) -> CatalogKind {
        match self {
            CatalogItem::HttpTool(_) => CatalogKind::Tool,
            CatalogItem::Prompt(_) => CatalogKind::Prompt,
            CatalogItem::Resource(_) => CatalogKind::Resource,
            CatalogItem::ResourceTemplate(_) => CatalogKind::ResourceTemplate,
            CatalogItem::McpServer(_) => CatalogKind::McpServer,
        }
    }

    /// What names the item within its kind and scope: a prompt's name, a resource's URI, a
    /// template's URI template.
    pub fn key(&self) -> &str {
        match self {
            CatalogItem::HttpTool(t) => &t.name,
            CatalogItem::Prompt(p) => &p.name,
            CatalogItem::Resource(r) => &r.uri,
            CatalogItem::ResourceTemplate(t) => &t.uri_template,
            CatalogItem::McpServer(m) => &m.name,
        }
    }

    /// Checks everything that would make the item fail to render, and the caps. The error
    /// names the field.
    pub fn validate(&self, caps: &CatalogCaps) -> std::result::Result<(), Invalid> {
        match self {
            CatalogItem::HttpTool(t) => t.validate(caps),
            CatalogItem::Prompt(p) => p.validate(caps),
            CatalogItem::Resource(r) => r.validate(caps),
            CatalogItem::ResourceTemplate(t) => t.validate(caps),
            CatalogItem::McpServer(m) => m.validate(caps),
        }
    }
}

impl PromptSpec {
    fn validate(&self, caps: &CatalogCaps) -> std::result::Result<(), Invalid> {
        check_name("name", &self.name)?;
        check_common(
            self.title.as_deref(),
            self.description.as_deref(),
            None,
            caps,
        )?;
        if self.arguments.len() > caps.max_list_len {
            return Err(invalid(
                "arguments",
                format!(
                    "{} arguments; at most {}",
                    self.arguments.len(),
                    caps.max_list_len
                ),
            ));
        }
        for (i, a) in self.arguments.iter().enumerate() {
            check_name(&format!("arguments[{i}].name"), &a.name)?;
            if self.arguments[..i].iter().any(|b| b.name == a.name) {
                return Err(invalid(
                    format!("arguments[{i}].name"),
                    format!("`{}` is declared twice", a.name),
                ));
            }
            if let Some(d) = &a.description {
                check_len(
                    &format!("arguments[{i}].description"),
                    d,
                    caps.max_description_bytes,
                )?;
            }
            check_suggestions(&format!("arguments[{i}].suggestions"), &a.suggestions, caps)?;
        }
        if self.messages.is_empty() {
            return Err(invalid("messages", "at least one message is needed"));
        }
        if self.messages.len() > caps.max_list_len {
            return Err(invalid(
                "messages",
                format!(
                    "{} messages; at most {}",
                    self.messages.len(),
                    caps.max_list_len
                ),
            ));
        }
        let total: usize = self.messages.iter().map(|m| m.text.len()).sum();
        if total > caps.max_content_bytes {
            return Err(invalid(
                "messages",
                format!(
                    "{total} bytes of text; at most {} are allowed",
                    caps.max_content_bytes
                ),
            ));
        }
        for (i, m) in self.messages.iter().enumerate() {
            let field = format!("messages[{i}].text");
            let ps = pieces(&m.text).map_err(|e| invalid(&field, e))?;
            for p in &ps {
                if let Piece::Var(v) = p {
                    if !self.arguments.iter().any(|a| &a.name == v) {
                        return Err(invalid(
                            &field,
                            format!("the placeholder `{{{v}}}` names no argument"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

pub(crate) fn render_prompt(
    name: &str,
    required: &[String],
    messages: &[(Role, Vec<Piece>)],
    args: &Value,
) -> Result<Vec<PromptMessage>> {
    let args = match args {
        Value::Null => serde_json::Map::new(),
        Value::Object(m) => m.clone(),
        _ => return Err(Error::invalid_params("`arguments` must be an object")),
    };
    for (k, v) in &args {
        if !v.is_string() {
            return Err(Error::invalid_params(format!(
                "invalid arguments for prompt `{name}` at `{k}`: prompt arguments are strings"
            )));
        }
    }
    if let Some(missing) = required.iter().find(|r| !args.contains_key(r.as_str())) {
        return Err(Error::invalid_params(format!(
            "invalid arguments for prompt `{name}`: missing required argument `{missing}`"
        )));
    }
    Ok(messages
        .iter()
        .map(|(role, ps)| {
            let text = render(ps, |v| {
                args.get(v)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            });
            match role {
                Role::User => PromptMessage::user(text),
                Role::Assistant => PromptMessage::assistant(text),
            }
        })
        .collect())
}

impl ResourceSpec {
    fn validate(&self, caps: &CatalogCaps) -> std::result::Result<(), Invalid> {
        check_uri("uri", &self.uri, caps)?;
        if self.uri.contains('{') {
            return Err(invalid(
                "uri",
                "has a `{variable}`: store it as a resource template",
            ));
        }
        check_label("name", &self.name, caps)?;
        check_common(
            self.title.as_deref(),
            self.description.as_deref(),
            self.mime_type.as_deref(),
            caps,
        )?;
        match (&self.text, &self.blob) {
            (Some(t), None) => check_len("text", t, caps.max_content_bytes),
            (None, Some(b)) => {
                check_len("blob", b, caps.max_content_bytes)?;
                base64::engine::general_purpose::STANDARD
                    .decode(b)
                    .map(|_| ())
                    .map_err(|e| invalid("blob", format!("is not base64: {e}")))
            }
            _ => Err(invalid("text", "give exactly one of `text` and `blob`")),
        }
    }
}

impl TemplateSpec {
    fn validate(&self, caps: &CatalogCaps) -> std::result::Result<(), Invalid> {
        check_uri("uri_template", &self.uri_template, caps)?;
        let vars =
            template_variables(&self.uri_template).map_err(|e| invalid("uri_template", e))?;
        if vars.is_empty() {
            return Err(invalid(
                "uri_template",
                "has no `{variable}`: store it as a resource",
            ));
        }
        check_label("name", &self.name, caps)?;
        check_common(
            self.title.as_deref(),
            self.description.as_deref(),
            self.mime_type.as_deref(),
            caps,
        )?;
        check_len("text", &self.text, caps.max_content_bytes)?;
        let ps = pieces(&self.text).map_err(|e| invalid("text", e))?;
        for p in &ps {
            if let Piece::Var(v) = p {
                if !vars.contains(v) {
                    return Err(invalid(
                        "text",
                        format!("the placeholder `{{{v}}}` is not a variable of the URI template"),
                    ));
                }
            }
        }
        for (var, values) in &self.completions {
            if !vars.contains(var) {
                return Err(invalid(
                    format!("completions.{var}"),
                    "names no variable of the URI template",
                ));
            }
            check_suggestions(&format!("completions.{var}"), values, caps)?;
        }
        Ok(())
    }
}

/// Checks that `template` parses as a URI template the runtime matches the same way (used by
/// the admin API before it stores anything).
pub fn check_uri_template(template: &str) -> std::result::Result<Vec<String>, String> {
    template_variables(template)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    fn prompt() -> PromptSpec {
        serde_json::from_value(json!({
            "name": "review",
            "arguments": [
                {"name": "code", "required": true},
                {"name": "focus", "suggestions": ["speed", "safety"]}
            ],
            "messages": [
                {"role": "user", "text": "Review {code} for {focus}. Use {{braces}}."},
                {"role": "assistant", "text": "Sure."}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn placeholders_parse_with_escapes_and_refuse_the_malformed() {
        assert_eq!(
            pieces("a {x} {{b}}").unwrap(),
            vec![
                Piece::Text("a ".into()),
                Piece::Var("x".into()),
                Piece::Text(" {b}".into())
            ]
        );
        assert!(pieces("a {x").unwrap_err().contains("unclosed"));
        assert!(pieces("a } b").unwrap_err().contains("unmatched"));
        assert!(pieces("{not a name}")
            .unwrap_err()
            .contains("not a placeholder"));
        assert!(pieces("{}").is_err());
    }

    #[test]
    fn prompts_validate_and_name_the_field() {
        let caps = CatalogCaps::default();
        prompt().validate(&caps).unwrap();
        let mut p = prompt();
        p.messages[1].text = "about {topic}".into();
        let e = p.validate(&caps).unwrap_err();
        assert_eq!(e.field, "messages[1].text");
        assert!(e.message.contains("`{topic}` names no argument"), "{e}");
        let mut p = prompt();
        p.arguments.push(p.arguments[0].clone());
        assert_eq!(p.validate(&caps).unwrap_err().field, "arguments[2].name");
        let mut p = prompt();
        p.description = Some("x".repeat(1 << 20));
        let e = p.validate(&caps).unwrap_err();
        assert_eq!(e.field, "description");
        assert!(e.message.contains("1048576 bytes"), "{e}");
        let mut p = prompt();
        p.name = "has space".into();
        assert_eq!(p.validate(&caps).unwrap_err().field, "name");
    }

    #[test]
    fn prompts_render_and_require_their_arguments() {
        let p = prompt();
        let ms: Arc<[(Role, Vec<Piece>)]> = p
            .messages
            .iter()
            .map(|m| (m.role, pieces(&m.text).unwrap()))
            .collect();
        let out = render_prompt("review", &["code".into()], &ms, &json!({"code": "x()"})).unwrap();
        assert_eq!(
            serde_json::to_value(&out[0]).unwrap()["content"]["text"],
            "Review x() for . Use {braces}."
        );
        let e = render_prompt("review", &["code".into()], &ms, &json!({})).unwrap_err();
        assert_eq!(e.rpc_code(), -32602);
        assert!(
            e.to_string().contains("missing required argument `code`"),
            "{e}"
        );
        let e = render_prompt("review", &[], &ms, &json!({"code": 5})).unwrap_err();
        assert!(e.to_string().contains("`code`"), "{e}");
    }

    #[test]
    fn resources_and_templates_validate() {
        let caps = CatalogCaps::default();
        let r: ResourceSpec = serde_json::from_value(json!({
            "uri": "notes://a", "name": "a", "text": "hi"
        }))
        .unwrap();
        r.validate(&caps).unwrap();
        let mut bad = r.clone();
        bad.blob = Some("aGk=".into());
        assert_eq!(bad.validate(&caps).unwrap_err().field, "text");
        let mut bad = r.clone();
        bad.uri = "no scheme".into();
        assert_eq!(bad.validate(&caps).unwrap_err().field, "uri");
        let mut bad = r;
        bad.text = None;
        bad.blob = Some("***".into());
        assert!(bad.validate(&caps).unwrap_err().message.contains("base64"));

        let t: TemplateSpec = serde_json::from_value(json!({
            "uri_template": "notes://{id}/v/{rev}", "name": "note", "text": "{id}@{rev}",
            "completions": {"id": ["1", "2"]}
        }))
        .unwrap();
        t.validate(&caps).unwrap();
        let mut bad = t.clone();
        bad.text = "{other}".into();
        assert_eq!(bad.validate(&caps).unwrap_err().field, "text");
        let mut bad = t.clone();
        bad.uri_template = "notes://{id}{rev}".into();
        assert_eq!(bad.validate(&caps).unwrap_err().field, "uri_template");
        let mut bad = t.clone();
        bad.completions.insert("nope".into(), vec![]);
        assert_eq!(bad.validate(&caps).unwrap_err().field, "completions.nope");
        let mut bad = t;
        bad.uri_template = "notes://fixed".into();
        assert!(bad
            .validate(&caps)
            .unwrap_err()
            .message
            .contains("resource"));
    }

    #[test]
    fn items_round_trip_through_json_with_their_kind() {
        let item = CatalogItem::Prompt(prompt());
        let v = serde_json::to_value(&item).unwrap();
        assert_eq!(v["kind"], "prompt");
        assert_eq!(serde_json::from_value::<CatalogItem>(v).unwrap(), item);
        assert_eq!(item.key(), "review");
        assert_eq!(CatalogScope::parse("*").unwrap(), CatalogScope::Global);
        assert!(CatalogScope::parse("a b").is_err());
    }
}
