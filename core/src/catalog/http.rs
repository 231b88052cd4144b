//! HTTP tools: a stored tool whose call is one HTTP request, its URL, headers and body filled
//! from the (schema-validated) arguments. The request itself goes through an [`Outbound`]
//! the server supplies, which owns the network policy (the SSRF guard, redirects, TLS).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{check_common, check_len, check_name, invalid, pieces, CatalogCaps, Invalid, Piece};
use crate::error::{Error, Result};
use crate::protocol::{CallToolResult, Content, ToolAnnotations};

/// Longest wait for an upstream answer an HTTP tool may ask for.
pub const MAX_TIMEOUT_MS: u64 = 60_000;
/// Largest upstream answer an HTTP tool may ask to read.
pub const MAX_RESPONSE_BYTES: u64 = 10 * 1024 * 1024;
const DEFAULT_TIMEOUT_MS: u64 = 10_000;
const DEFAULT_RESPONSE_BYTES: u64 = 1024 * 1024;
/// Bytes of an upstream error body quoted in the tool's error result.
const ERROR_SNIPPET: usize = 1024;

/// A tool defined as data that calls an HTTP endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpToolSpec {
    /// Unique name within the scope.
    pub name: String,
    /// Display title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// What it does (shown to the model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments (`type: object`); checked when stored, and every call's
    /// arguments are checked against it.
    pub input_schema: Value,
    /// JSON Schema of a JSON answer, which then becomes `structuredContent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
    /// Behaviour hints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<ToolAnnotations>,
    /// Scopes a caller's principal must hold to call it (403 `insufficient_scope` otherwise),
    /// as for a code tool's `scopes`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// The request a call makes.
    pub request: HttpRequestSpec,
    /// What created the tool, when it was not written by hand: `openapi:NAME` for the tools
    /// of an OpenAPI import, which a re-import of `NAME` replaces and its delete removes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// The request of an HTTP tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpRequestSpec {
    /// `GET`, `POST`, `PUT`, `PATCH` or `DELETE`.
    #[serde(default = "default_method")]
    pub method: String,
    /// `http(s)://host/path?query` with `{argument}` placeholders in the path and query (never
    /// in the scheme or host); values are percent-encoded.
    pub url: String,
    /// Headers; values may hold placeholders unless secret. A header whose value is exactly
    /// `"{argument}"` is left out when the call does not give the argument.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<HeaderSpec>,
    /// Query parameters taken from arguments, appended to the URL's own query: left out when
    /// the argument is absent, repeated for each element of an array (unless not `explode`d).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query: Vec<QueryParamSpec>,
    /// A JSON body: a string that is exactly `"{argument}"` becomes the argument's JSON value
    /// (an object's key so filled is left out when the argument is absent, and so is the whole
    /// body when it is one such string), other strings have their placeholders filled in as
    /// text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// Milliseconds to wait for the answer (default 10 000, at most 60 000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Largest answer read, in bytes (default 1 MiB, at most 10 MiB); a larger one is an error
    /// result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_response_bytes: Option<u64>,
}

fn default_method() -> String {
    "GET".into()
}

/// A header of an HTTP tool's request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeaderSpec {
    /// Its name.
    pub name: String,
    /// Its value. A secret value is write-only: the admin API never returns it (`null`), and
    /// nothing logs it.
    #[serde(default)]
    pub value: Option<String>,
    /// Whether the value is a credential.
    #[serde(default)]
    pub secret: bool,
}

/// A query parameter of an HTTP tool's request, filled from one argument.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryParamSpec {
    /// The parameter's name in the query.
    pub name: String,
    /// The argument (a property of `input_schema`) whose value it carries.
    pub argument: String,
    /// For an array: one `name=value` per element (`true`, the default) or one
    /// comma-separated value.
    #[serde(default = "yes")]
    pub explode: bool,
}

fn yes() -> bool {
    true
}

/// One outbound request, filled in.
#[derive(Debug, Clone)]
pub struct OutboundRequest {
    /// The method.
    pub method: String,
    /// The URL, placeholders filled and encoded.
    pub url: String,
    /// Headers, in order.
    pub headers: Vec<(String, String)>,
    /// A JSON body, if any.
    pub body: Option<Vec<u8>>,
    /// How long to wait for the whole answer.
    pub timeout: Duration,
    /// The most bytes of answer to read.
    pub max_response_bytes: u64,
}

/// An upstream answer.
#[derive(Debug, Clone)]
pub struct OutboundResponse {
    /// The HTTP status.
    pub status: u16,
    /// Its reason phrase, if known.
    pub reason: String,
    /// The `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The body (at most the request's `max_response_bytes`).
    pub body: Vec<u8>,
}

/// Why no answer came back.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OutboundError {
    /// The network policy refused the destination (the SSRF guard).
    #[error("destination refused: {0}")]
    Refused(String),
    /// No answer within the timeout.
    #[error("no answer within {0} ms")]
    Timeout(u64),
    /// The answer was larger than allowed.
    #[error("the answer is larger than {0} bytes")]
    TooLarge(u64),
    /// Anything else (connection refused, TLS, a malformed answer, a redirect).
    #[error("{0}")]
    Failed(String),
}

/// Sends HTTP tools' requests: the server's network policy lives behind it.
///
/// Contract: an implementation refuses destinations its policy forbids **before** connecting
/// (including every address a host name resolves to, and any redirect), enforces the timeout
/// and the answer cap while reading, and never logs header values.
#[async_trait]
pub trait Outbound: Send + Sync + 'static {
    /// Sends `request`.
    async fn send(
        &self,
        request: OutboundRequest,
    ) -> std::result::Result<OutboundResponse, OutboundError>;
}

/// Whether a method name is one HTTP tools may use.
fn method_ok(m: &str) -> bool {
    matches!(m, "GET" | "POST" | "PUT" | "PATCH" | "DELETE")
}

/// The properties an input schema declares.
fn properties(schema: &Value) -> BTreeSet<String> {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

fn check_schema(
    field: &str,
    schema: &Value,
    must_be_object: bool,
) -> std::result::Result<(), Invalid> {
    if !schema.is_object() {
        return Err(invalid(field, "must be a JSON Schema object"));
    }
    if must_be_object && schema.get("type").and_then(Value::as_str) != Some("object") {
        return Err(invalid(
            field,
            "must have `\"type\": \"object\"` (MCP tool arguments are an object)",
        ));
    }
    if let Err(e) = jsonschema::meta::validate(schema) {
        return Err(invalid(
            field,
            format!("is not a valid JSON Schema: {e} at `{}`", e.instance_path()),
        ));
    }
    jsonschema::validator_for(schema)
        .map(|_| ())
        .map_err(|e| invalid(field, format!("cannot be used: {e}")))
}

fn check_placeholders(
    field: &str,
    text: &str,
    known: &BTreeSet<String>,
) -> std::result::Result<Vec<Piece>, Invalid> {
    let ps = pieces(text).map_err(|e| invalid(field, e))?;
    for p in &ps {
        if let Piece::Var(v) = p {
            if !known.contains(v) {
                return Err(invalid(
                    field,
                    format!("the placeholder `{{{v}}}` names no property of `input_schema`"),
                ));
            }
        }
    }
    Ok(ps)
}

fn check_body(
    field: &str,
    body: &Value,
    known: &BTreeSet<String>,
) -> std::result::Result<(), Invalid> {
    match body {
        Value::String(s) => check_placeholders(field, s, known).map(|_| ()),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| check_body(&format!("{field}[{i}]"), v, known)),
        Value::Object(o) => o
            .iter()
            .try_for_each(|(k, v)| check_body(&format!("{field}.{k}"), v, known)),
        _ => Ok(()),
    }
}

/// Whether `name` is an HTTP header name (an RFC 9110 token).
pub(super) fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl HttpToolSpec {
    pub(super) fn validate(&self, caps: &CatalogCaps) -> std::result::Result<(), Invalid> {
        check_name("name", &self.name)?;
        check_common(
            self.title.as_deref(),
            self.description.as_deref(),
            None,
            caps,
        )?;
        check_len(
            "input_schema",
            &self.input_schema.to_string(),
            caps.max_content_bytes,
        )?;
        check_schema("input_schema", &self.input_schema, true)?;
        if let Some(o) = &self.output_schema {
            check_len("output_schema", &o.to_string(), caps.max_content_bytes)?;
            check_schema("output_schema", o, true)?;
        }
        if self.scopes.len() > caps.max_list_len {
            return Err(invalid(
                "scopes",
                format!("at most {} scopes", caps.max_list_len),
            ));
        }
        for (i, s) in self.scopes.iter().enumerate() {
            let ok = !s.is_empty()
                && s.len() <= 128
                && s.bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\');
            if !ok {
                return Err(invalid(
                    format!("scopes[{i}]"),
                    "must be a scope token (visible ASCII, no quotes)",
                ));
            }
        }
        let known = properties(&self.input_schema);
        let r = &self.request;
        if !method_ok(&r.method) {
            return Err(invalid(
                "request.method",
                "must be GET, POST, PUT, PATCH or DELETE",
            ));
        }
        check_len("request.url", &r.url, 4096)?;
        let Some((scheme, rest)) = r.url.split_once("://") else {
            return Err(invalid(
                "request.url",
                "must be an absolute http:// or https:// URL",
            ));
        };
        if scheme != "http" && scheme != "https" {
            return Err(invalid(
                "request.url",
                "must be an absolute http:// or https:// URL",
            ));
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.is_empty() {
            return Err(invalid("request.url", "has no host"));
        }
        if authority.contains(['{', '}']) {
            return Err(invalid(
                "request.url",
                "the host cannot come from an argument: placeholders go in the path and query",
            ));
        }
        if r.url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("request.url", "must not contain whitespace"));
        }
        check_placeholders("request.url", &r.url, &known)?;
        if r.headers.len() > caps.max_list_len {
            return Err(invalid(
                "request.headers",
                format!("at most {} headers", caps.max_list_len),
            ));
        }
        for (i, h) in r.headers.iter().enumerate() {
            if !is_header_name(&h.name) {
                return Err(invalid(
                    format!("request.headers[{i}].name"),
                    "is not a header name",
                ));
            }
            let Some(v) = &h.value else {
                return Err(invalid(
                    format!("request.headers[{i}].value"),
                    "is required",
                ));
            };
            check_len(&format!("request.headers[{i}].value"), v, 8192)?;
            if v.chars().any(|c| c.is_control()) {
                return Err(invalid(
                    format!("request.headers[{i}].value"),
                    "must not contain control characters",
                ));
            }
            if !h.secret {
                check_placeholders(&format!("request.headers[{i}].value"), v, &known)?;
            }
        }
        if r.query.len() > caps.max_list_len {
            return Err(invalid(
                "request.query",
                format!("at most {} query parameters", caps.max_list_len),
            ));
        }
        for (i, q) in r.query.iter().enumerate() {
            if q.name.is_empty() || q.name.len() > 256 || q.name.chars().any(char::is_control) {
                return Err(invalid(
                    format!("request.query[{i}].name"),
                    "must be 1-256 bytes without control characters",
                ));
            }
            if !known.contains(&q.argument) {
                return Err(invalid(
                    format!("request.query[{i}].argument"),
                    format!("`{}` names no property of `input_schema`", q.argument),
                ));
            }
        }
        if let Some(b) = &r.body {
            check_len("request.body", &b.to_string(), caps.max_content_bytes)?;
            check_body("request.body", b, &known)?;
        }
        if r.timeout_ms.is_some_and(|t| t == 0 || t > MAX_TIMEOUT_MS) {
            return Err(invalid(
                "request.timeout_ms",
                format!("must be 1-{MAX_TIMEOUT_MS}"),
            ));
        }
        if r.max_response_bytes
            .is_some_and(|m| m == 0 || m > MAX_RESPONSE_BYTES)
        {
            return Err(invalid(
                "request.max_response_bytes",
                format!("must be 1-{MAX_RESPONSE_BYTES}"),
            ));
        }
        Ok(())
    }

    /// A copy whose secret header values are blanked: what the admin API may return.
    pub fn redacted(&self) -> Self {
        let mut out = self.clone();
        for h in out.request.headers.iter_mut().filter(|h| h.secret) {
            h.value = None;
        }
        out
    }

    /// Fills in secret header values left blank (`null`) from `previous`, by header name: a
    /// replacement need not repeat a credential it cannot read.
    pub fn keep_secrets_from(&mut self, previous: &HttpToolSpec) {
        for h in self
            .request
            .headers
            .iter_mut()
            .filter(|h| h.secret && h.value.is_none())
        {
            if let Some(old) = previous
                .request
                .headers
                .iter()
                .find(|o| o.secret && o.name.eq_ignore_ascii_case(&h.name))
            {
                h.value.clone_from(&old.value);
            }
        }
    }
}

/// An HTTP tool ready to call: schemas compiled, templates parsed.
pub(crate) struct Plan {
    name: String,
    input: Option<jsonschema::Validator>,
    output: Option<jsonschema::Validator>,
    method: String,
    url: Vec<Piece>,
    headers: Vec<(String, Vec<Piece>)>,
    query: Vec<QueryParamSpec>,
    body: Option<Value>,
    timeout: Duration,
    max_response_bytes: u64,
    outbound: Option<Arc<dyn Outbound>>,
}

impl Plan {
    pub(crate) fn new(spec: &HttpToolSpec, outbound: Option<Arc<dyn Outbound>>) -> Self {
        let r = &spec.request;
        let text = |s: &str| pieces(s).unwrap_or_else(|_| vec![Piece::Text(s.to_string())]);
        Self {
            name: spec.name.clone(),
            input: jsonschema::validator_for(&spec.input_schema).ok(),
            output: spec
                .output_schema
                .as_ref()
                .and_then(|o| jsonschema::validator_for(o).ok()),
            method: r.method.clone(),
            url: text(&r.url),
            headers: r
                .headers
                .iter()
                .map(|h| {
                    let v = h.value.clone().unwrap_or_default();
                    // A secret is sent as written: it is not a template.
                    let ps = if h.secret {
                        vec![Piece::Text(v)]
                    } else {
                        text(&v)
                    };
                    (h.name.clone(), ps)
                })
                .collect(),
            query: r.query.clone(),
            body: r.body.clone(),
            timeout: Duration::from_millis(r.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS)),
            max_response_bytes: r.max_response_bytes.unwrap_or(DEFAULT_RESPONSE_BYTES),
            outbound,
        }
    }

    pub(crate) async fn call(&self, args: Value) -> Result<CallToolResult> {
        let args = if args.is_null() { json!({}) } else { args };
        let Some(input) = &self.input else {
            return Err(Error::Internal(format!(
                "tool `{}` has an unusable input schema",
                self.name
            )));
        };
        if let Err(e) = input.validate(&args) {
            let path = e.instance_path().to_string();
            let at = if path.is_empty() {
                String::new()
            } else {
                format!(" at `{path}`")
            };
            return Err(Error::Rpc(
                crate::protocol::ErrorObject::invalid_params(format!(
                    "invalid arguments for tool `{}`{at}: {e}",
                    self.name
                ))
                .with_data(json!({ "path": path })),
            ));
        }
        let Some(outbound) = &self.outbound else {
            return Ok(CallToolResult::error(
                "HTTP tools are not enabled on this server (built without `http-tools`)",
            ));
        };
        let mut url = super::render(&self.url, |v| encode(args.get(v)));
        append_query(&mut url, &self.query, &args);
        let headers = self
            .headers
            .iter()
            .filter(|(_, ps)| match ps.as_slice() {
                [Piece::Var(v)] => present(args.get(v)).is_some(),
                _ => true,
            })
            .map(|(n, ps)| (n.clone(), super::render(ps, |v| plain(args.get(v)))))
            .collect();
        let body = self
            .body
            .as_ref()
            .and_then(|b| fill(b, &args))
            .map(|b| serde_json::to_vec(&b))
            .transpose()
            .map_err(|e| Error::Internal(format!("cannot encode a request body: {e}")))?;
        let request = OutboundRequest {
            method: self.method.clone(),
            url,
            headers,
            body,
            timeout: self.timeout,
            max_response_bytes: self.max_response_bytes,
        };
        let response = match outbound.send(request).await {
            Ok(r) => r,
            Err(e) => return Ok(CallToolResult::error(format!("the request failed: {e}"))),
        };
        let text = String::from_utf8_lossy(&response.body).into_owned();
        if response.status >= 400 {
            let mut snippet: String = text.chars().take(ERROR_SNIPPET).collect();
            if snippet.len() < text.len() {
                snippet.push('…');
            }
            return Ok(CallToolResult::error(format!(
                "HTTP {} {}: {snippet}",
                response.status, response.reason
            )));
        }
        let json_answer = response
            .content_type
            .as_deref()
            .is_some_and(|c| c.contains("json"));
        if let (Some(output), true) = (&self.output, json_answer) {
            let value: Value = match serde_json::from_slice(&response.body) {
                Ok(v) => v,
                Err(e) => {
                    return Ok(CallToolResult::error(format!(
                        "the answer is not JSON: {e}"
                    )))
                }
            };
            if let Err(e) = output.validate(&value) {
                return Ok(CallToolResult::error(format!(
                    "the answer does not match the output schema at `{}`: {e}",
                    e.instance_path()
                )));
            }
            return Ok(CallToolResult {
                content: vec![Content::text(text)],
                structured_content: Some(value),
                is_error: None,
            });
        }
        Ok(CallToolResult::text(text))
    }
}

/// An argument as text: strings as they are, other values as JSON, absent as empty.
fn plain(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// An argument percent-encoded for a URL path segment or query value.
fn encode(v: Option<&Value>) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(&plain(v), SET).to_string()
}

/// An argument that was given (`null` counts as not given).
fn present(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
}

/// Appends the query parameters whose arguments were given.
fn append_query(url: &mut String, query: &[QueryParamSpec], args: &Value) {
    let mut sep = if url.contains('?') { '&' } else { '?' };
    let mut push = |url: &mut String, name: &str, value: Option<&Value>| {
        url.push(sep);
        sep = '&';
        url.push_str(&encode(Some(&Value::String(name.to_string()))));
        url.push('=');
        url.push_str(&encode(value));
    };
    for q in query {
        match present(args.get(&q.argument)) {
            None => {}
            Some(Value::Array(items)) if q.explode => {
                for v in items {
                    push(url, &q.name, Some(v));
                }
            }
            Some(Value::Array(items)) => {
                let joined = items
                    .iter()
                    .map(|v| plain(Some(v)))
                    .collect::<Vec<_>>()
                    .join(",");
                push(url, &q.name, Some(&Value::String(joined)));
            }
            Some(v) => push(url, &q.name, Some(v)),
        }
    }
}

/// The body template with the arguments filled in; `None` when the template is one absent
/// argument. An object's key whose value is one absent argument is left out.
fn fill(template: &Value, args: &Value) -> Option<Value> {
    Some(match template {
        Value::String(s) => {
            let ps = pieces(s).unwrap_or_else(|_| vec![Piece::Text(s.clone())]);
            if let [Piece::Var(v)] = ps.as_slice() {
                return present(args.get(v)).cloned();
            }
            Value::String(super::render(&ps, |v| plain(args.get(v))))
        }
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|v| fill(v, args).unwrap_or(Value::Null))
                .collect(),
        ),
        Value::Object(o) => Value::Object(
            o.iter()
                .filter_map(|(k, v)| fill(v, args).map(|v| (k.clone(), v)))
                .collect(),
        ),
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> HttpToolSpec {
        serde_json::from_value(json!({
            "name": "weather",
            "input_schema": {"type": "object", "properties": {
                "city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}
            }, "required": ["city"]},
            "request": {
                "method": "POST",
                "url": "http://127.0.0.1:9/forecast/{city}?days={days}",
                "headers": [{"name": "Authorization", "value": "Bearer s3cret", "secret": true},
                            {"name": "X-City", "value": "{city}"}],
                "body": {"city": "{city}", "days": "{days}", "note": "for {city}"}
            }
        }))
        .unwrap()
    }

    #[test]
    fn specs_validate_and_name_the_field() {
        let caps = CatalogCaps::default();
        spec().validate(&caps).unwrap();
        let field = |f: fn(&mut HttpToolSpec)| {
            let mut s = spec();
            f(&mut s);
            s.validate(&caps).unwrap_err().field
        };
        assert_eq!(
            field(|s| s.input_schema = json!({"type": "array"})),
            "input_schema"
        );
        assert_eq!(
            field(|s| s.input_schema =
                json!({"type": "object", "properties": {"a": {"type": "nope"}}})),
            "input_schema"
        );
        assert_eq!(
            field(|s| s.request.url = "http://x/{nope}".into()),
            "request.url"
        );
        assert_eq!(
            field(|s| s.request.url = "http://{city}/x".into()),
            "request.url"
        );
        assert_eq!(field(|s| s.request.url = "ftp://x/".into()), "request.url");
        assert_eq!(
            field(|s| s.request.method = "TRACE".into()),
            "request.method"
        );
        assert_eq!(
            field(|s| s.request.headers[1].value = Some("{other}".into())),
            "request.headers[1].value"
        );
        assert_eq!(
            field(|s| s.request.headers[0].name = "bad name".into()),
            "request.headers[0].name"
        );
        assert_eq!(
            field(|s| s.request.body = Some(json!({"a": ["{zzz}"]}))),
            "request.body.a[0]"
        );
        assert_eq!(
            field(|s| s.request.timeout_ms = Some(600_000)),
            "request.timeout_ms"
        );
        // A secret may hold braces: it is not a template.
        let mut s = spec();
        s.request.headers[0].value = Some("{not-a-placeholder".into());
        s.validate(&caps).unwrap();
    }

    #[test]
    fn secrets_are_redacted_and_kept_on_replace() {
        let s = spec();
        let r = s.redacted();
        assert_eq!(r.request.headers[0].value, None);
        assert_eq!(r.request.headers[1].value.as_deref(), Some("{city}"));
        assert!(!serde_json::to_string(&r).unwrap().contains("s3cret"));
        let mut replacement = r.clone();
        replacement.keep_secrets_from(&s);
        assert_eq!(
            replacement.request.headers[0].value.as_deref(),
            Some("Bearer s3cret")
        );
    }

    #[test]
    fn arguments_fill_the_url_headers_and_body() {
        assert_eq!(
            encode(Some(&json!("São Paulo/x?y"))),
            "S%C3%A3o%20Paulo%2Fx%3Fy"
        );
        assert_eq!(encode(Some(&json!(3))), "3");
        assert_eq!(encode(None), "");
        let body = fill(
            &json!({"city": "{city}", "days": "{days}", "note": "for {city}", "n": 1}),
            &json!({"city": "Oslo", "days": 2}),
        );
        assert_eq!(
            body,
            Some(json!({"city": "Oslo", "days": 2, "note": "for Oslo", "n": 1}))
        );
        // Absent arguments leave their keys out, and a body that is one absent argument is
        // not sent.
        let body = fill(
            &json!({"city": "{city}", "days": "{days}", "list": ["{days}"]}),
            &json!({"city": "Oslo", "days": null}),
        );
        assert_eq!(body, Some(json!({"city": "Oslo", "list": [null]})));
        assert_eq!(fill(&json!("{body}"), &json!({})), None);
    }

    #[test]
    fn query_parameters_are_appended_when_given() {
        let q = |name: &str, argument: &str, explode| QueryParamSpec {
            name: name.into(),
            argument: argument.into(),
            explode,
        };
        let query = [
            q("tag", "tags", true),
            q("ids", "ids", false),
            q("page size", "size", true),
            q("absent", "nope", true),
        ];
        let mut url = "http://x/a?fixed=1".to_string();
        append_query(
            &mut url,
            &query,
            &json!({"tags": ["a b", "c"], "ids": [1, 2], "size": 10, "nope": null}),
        );
        assert_eq!(
            url,
            "http://x/a?fixed=1&tag=a%20b&tag=c&ids=1%2C2&page%20size=10"
        );
        let mut url = "http://x/a".to_string();
        append_query(&mut url, &query, &json!({}));
        assert_eq!(url, "http://x/a");
    }
}
