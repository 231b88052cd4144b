//! OpenAPI import: each operation of an OpenAPI 3.0 or 3.1 document becomes an HTTP tool.
//!
//! The conversion is pure (a document in, tool definitions out); fetching the document and
//! storing the tools are the caller's. What a tool gets from its operation:
//! - its name from the `operationId` (or the method and path), made a valid tool name;
//! - its description from the summary (else the description);
//! - its input schema from the path, query and header parameters and the JSON request body,
//!   every local `$ref` resolved and OpenAPI 3.0's `nullable` and boolean
//!   `exclusiveMinimum`/`exclusiveMaximum` rewritten as JSON Schema;
//! - behaviour hints from the method (`GET` reads, `DELETE` destroys, `PUT` is idempotent).
//!
//! An operation this cannot express faithfully is **skipped with its reason**, and the rest
//! are imported: a request body that is not JSON, a required cookie parameter, a
//! `deepObject` query parameter, an external or recursive `$ref`, a parameter described by
//! `content` instead of `schema`, or a tool the catalog's caps refuse.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{
    invalid, is_name, CatalogCaps, HeaderSpec, HttpRequestSpec, HttpToolSpec, Invalid,
    QueryParamSpec,
};
use crate::protocol::ToolAnnotations;

/// Deepest nesting of `$ref`s and schemas followed before an operation is skipped.
const MAX_DEPTH: usize = 64;
/// Schema nodes one operation may expand to: `$ref`s are inlined, and a document whose
/// references fan out (each naming the next twice) would otherwise grow exponentially.
const MAX_NODES: usize = 50_000;
/// Methods an operation may have, in the order a path item is read.
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// What to include, the request settings every tool shares, and the tools' names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImportOptions {
    /// The import's name: its tools carry the source `openapi:NAME`.
    pub name: String,
    /// Where the API is (`https://api.example.com/v1`); default: the document's first
    /// `servers` entry, resolved against `document_url` when relative.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Where the document was read from, to resolve a relative server URL.
    #[serde(default)]
    pub document_url: Option<String>,
    /// Headers every request carries (credentials: mark them `secret`).
    #[serde(default)]
    pub headers: Vec<HeaderSpec>,
    /// Which operations become tools: the first route map matching an operation decides;
    /// operations no map matches are included.
    #[serde(default)]
    pub routes: Vec<RouteMap>,
    /// Put before every tool name (`github_`).
    #[serde(default)]
    pub name_prefix: Option<String>,
    /// Every request's timeout, in milliseconds.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Every request's answer cap, in bytes.
    #[serde(default)]
    pub max_response_bytes: Option<u64>,
}

/// A rule choosing operations by method, path and tag. Every criterion given must match; a
/// map with none matches every operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteMap {
    /// Methods (any of), case-insensitive.
    #[serde(default)]
    pub methods: Vec<String>,
    /// A path pattern as written in the document (`/pets/{petId}`), where `*` matches any
    /// run of characters (`/admin/*`).
    #[serde(default)]
    pub path: Option<String>,
    /// Tags (any of).
    #[serde(default)]
    pub tags: Vec<String>,
    /// What happens to a matching operation.
    pub action: RouteAction,
}

/// What a route map does with the operations it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteAction {
    /// Becomes a tool.
    Include,
    /// Is left out (not reported as skipped).
    Exclude,
}

/// The outcome of an import.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Imported {
    /// One tool per imported operation, each valid under the caps given.
    pub tools: Vec<HttpToolSpec>,
    /// Operations that could not become tools, and why.
    pub skipped: Vec<SkippedOperation>,
}

/// An operation left out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedOperation {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path as written in the document.
    pub path: String,
    /// Its `operationId`, if any.
    pub operation_id: Option<String>,
    /// Why it was skipped.
    pub reason: String,
}

/// The source tag of the tools of the import `name`.
pub fn source_tag(name: &str) -> String {
    format!("openapi:{name}")
}

/// Converts `document` (an OpenAPI 3.0 or 3.1 document as JSON) into HTTP tools.
///
/// Fails (naming the field) only for what makes the whole document unusable: not an OpenAPI
/// 3.x document, no base URL, an invalid name or shared header. Anything wrong with one
/// operation skips that operation.
pub fn import(
    document: &Value,
    options: &ImportOptions,
    caps: &CatalogCaps,
) -> Result<Imported, Invalid> {
    if !is_name(&options.name) || options.name.len() > 64 {
        return Err(invalid(
            "name",
            "must be 1-64 characters of letters, digits, `_`, `.` and `-`",
        ));
    }
    if let Some(p) = &options.name_prefix {
        if p.len() > 64
            || !p
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        {
            return Err(invalid(
                "name_prefix",
                "must be at most 64 letters, digits, `_`, `.` and `-`",
            ));
        }
    }
    let Some(root) = document.as_object() else {
        return Err(invalid("document", "must be a JSON object"));
    };
    let version = match root.get("openapi").and_then(Value::as_str) {
        Some(v) if v.starts_with("3.0") => Dialect::V30,
        Some(v) if v.starts_with("3.1") => Dialect::V31,
        Some(v) => {
            return Err(invalid(
                "document.openapi",
                format!("version `{v}` is not supported: OpenAPI 3.0 and 3.1 are"),
            ))
        }
        None if root.contains_key("swagger") => {
            return Err(invalid(
                "document.swagger",
                "Swagger 2.0 is not supported: convert the document to OpenAPI 3",
            ))
        }
        None => return Err(invalid("document.openapi", "is missing")),
    };
    let base = base_url(root, options)?;
    for (i, r) in options.routes.iter().enumerate() {
        if let Some(m) = r.methods.iter().find(|m| {
            !METHODS
                .iter()
                .any(|known| known.eq_ignore_ascii_case(m.as_str()))
        }) {
            return Err(invalid(
                format!("routes[{i}].methods"),
                format!("`{m}` is not one of GET, POST, PUT, PATCH, DELETE"),
            ));
        }
    }
    let paths = root
        .get("paths")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut out = Imported::default();
    let mut names = BTreeSet::new();
    for (path, item) in &paths {
        let ctx = Ctx {
            doc: document,
            dialect: version,
            budget: std::cell::Cell::new(MAX_NODES),
        };
        let item = match ctx.deref(item, &mut Vec::new()) {
            Ok(i) => i,
            Err(reason) => {
                out.skipped.push(SkippedOperation {
                    method: "*".into(),
                    path: path.clone(),
                    operation_id: None,
                    reason,
                });
                continue;
            }
        };
        for method in METHODS {
            let Some(op) = item.get(method).filter(|o| o.is_object()) else {
                continue;
            };
            let method_up = method.to_ascii_uppercase();
            let operation_id = op
                .get("operationId")
                .and_then(Value::as_str)
                .map(str::to_string);
            let tags: Vec<&str> = op
                .get("tags")
                .and_then(Value::as_array)
                .map(|t| t.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if !included(&options.routes, &method_up, path, &tags) {
                continue;
            }
            let skip = |reason: String| SkippedOperation {
                method: method_up.clone(),
                path: path.clone(),
                operation_id: operation_id.clone(),
                reason,
            };
            let name = unique_name(
                &tool_name(options, operation_id.as_deref(), method, path),
                &mut names,
            );
            let tool = ctx
                .operation(&item, op, method, path, &base, options)
                .and_then(|mut spec| {
                    spec.name = name;
                    spec.validate(caps).map_err(|e| e.to_string())?;
                    Ok(spec)
                });
            match tool {
                Ok(t) => out.tools.push(t),
                Err(reason) => out.skipped.push(skip(reason)),
            }
        }
    }
    Ok(out)
}

/// Whether the route maps let an operation in.
fn included(routes: &[RouteMap], method: &str, path: &str, tags: &[&str]) -> bool {
    for r in routes {
        let method_ok =
            r.methods.is_empty() || r.methods.iter().any(|m| m.eq_ignore_ascii_case(method));
        let path_ok = r.path.as_deref().is_none_or(|p| glob(p, path));
        let tag_ok = r.tags.is_empty() || r.tags.iter().any(|t| tags.contains(&t.as_str()));
        if method_ok && path_ok && tag_ok {
            return r.action == RouteAction::Include;
        }
    }
    true
}

/// `*` matches any run of characters; everything else matches itself.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return pattern == text;
    };
    if parts.len() == 1 {
        return pattern == text;
    }
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    for m in middle {
        match rest.find(m) {
            Some(i) => rest = &rest[i + m.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// The API's base URL, without a trailing `/`.
fn base_url(root: &Map<String, Value>, options: &ImportOptions) -> Result<String, Invalid> {
    let (field, raw) = match &options.base_url {
        Some(b) => ("base_url", b.clone()),
        None => {
            let server = root
                .get("servers")
                .and_then(Value::as_array)
                .and_then(|s| s.first());
            // No server means `/` (OpenAPI 3), which only a document URL can resolve.
            let url = server
                .and_then(|s| s.get("url"))
                .and_then(Value::as_str)
                .unwrap_or("/");
            if server.is_none() && options.document_url.is_none() {
                return Err(invalid(
                    "base_url",
                    "is required: the document names no server and was not fetched by URL",
                ));
            }
            // Server variables take their defaults.
            let mut url = url.to_string();
            if let Some(vars) = server
                .and_then(|s| s.get("variables"))
                .and_then(Value::as_object)
            {
                for (k, v) in vars {
                    if let Some(d) = v.get("default").and_then(Value::as_str) {
                        url = url.replace(&format!("{{{k}}}"), d);
                    }
                }
            }
            ("document.servers[0].url", url)
        }
    };
    let absolute = if raw.starts_with("http://") || raw.starts_with("https://") {
        raw
    } else {
        let Some(doc) = options.document_url.as_deref() else {
            return Err(invalid(
                field,
                format!("`{raw}` is relative and there is no document URL to resolve it against: give `base_url`"),
            ));
        };
        join(doc, &raw)
            .ok_or_else(|| invalid(field, format!("cannot resolve `{raw}` against `{doc}`")))?
    };
    let trimmed = absolute.trim_end_matches('/').to_string();
    let authority = trimmed
        .split_once("://")
        .map(|(_, r)| r.split(['/', '?', '#']).next().unwrap_or_default())
        .unwrap_or_default();
    if authority.is_empty()
        || trimmed.contains(['{', '}', '?', '#'])
        || trimmed.contains(char::is_whitespace)
    {
        return Err(invalid(
            field,
            format!("`{trimmed}` is not a usable base URL (absolute, no query, no placeholders)"),
        ));
    }
    Ok(trimmed)
}

/// `reference` resolved against the absolute URL `base` (enough of RFC 3986 for server URLs).
fn join(base: &str, reference: &str) -> Option<String> {
    let (scheme, rest) = base.split_once("://")?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let origin = format!("{scheme}://{}", &rest[..authority_end]);
    if let Some(r) = reference.strip_prefix("//") {
        return Some(format!("{scheme}://{r}"));
    }
    if reference.starts_with('/') {
        return Some(format!("{origin}{reference}"));
    }
    let path = rest[authority_end..].split(['?', '#']).next().unwrap_or("");
    let dir = path.rfind('/').map_or("", |i| &path[..i]);
    let joined = format!("{dir}/{reference}");
    // `.` and `..` segments.
    let mut segs: Vec<&str> = Vec::new();
    for s in joined.split('/') {
        match s {
            "." | "" => {}
            ".." => {
                segs.pop();
            }
            s => segs.push(s),
        }
    }
    Some(format!("{origin}/{}", segs.join("/")))
}

/// A tool name for an operation: its `operationId`, else `method_path`, made valid.
fn tool_name(
    options: &ImportOptions,
    operation_id: Option<&str>,
    method: &str,
    path: &str,
) -> String {
    let raw = match operation_id {
        Some(id) if !id.trim().is_empty() => id.to_string(),
        _ => format!("{method}_{path}"),
    };
    let mut name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    while name.contains("__") {
        name = name.replace("__", "_");
    }
    let name = name.trim_matches('_');
    let prefix = options.name_prefix.as_deref().unwrap_or("");
    let mut full = format!("{prefix}{name}");
    full.truncate(120);
    if full.is_empty() {
        full = "operation".into();
    }
    full
}

/// `name`, or `name_2`, `name_3`… when taken.
fn unique_name(name: &str, taken: &mut BTreeSet<String>) -> String {
    let mut candidate = name.to_string();
    let mut n = 2;
    while taken.contains(&candidate) {
        candidate = format!("{name}_{n}");
        n += 1;
    }
    taken.insert(candidate.clone());
    candidate
}

/// An argument name for a parameter: its name when it is a valid placeholder name, else
/// with the other characters replaced by `_`.
fn argument_name(raw: &str) -> String {
    if is_name(raw) {
        return raw.to_string();
    }
    let mut s: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    if s.is_empty() {
        s.push('_');
    }
    s
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    V30,
    V31,
}

/// A parameter's place in the request.
enum Place {
    Path,
    Query { explode: bool },
    Header,
}

struct Ctx<'a> {
    doc: &'a Value,
    dialect: Dialect,
    /// Schema nodes the current operation may still produce.
    budget: std::cell::Cell<usize>,
}

impl Ctx<'_> {
    /// Follows `value`'s `$ref` (if any) to what it names, its other keys laid over it.
    fn deref(&self, value: &Value, stack: &mut Vec<String>) -> Result<Value, String> {
        let Some(r) = value.get("$ref").and_then(Value::as_str) else {
            return Ok(value.clone());
        };
        let target = self.lookup(r, stack)?;
        let resolved = self.deref(&target, stack);
        stack.pop();
        let mut resolved = resolved?;
        if let (Some(obj), Some(over)) = (resolved.as_object_mut(), value.as_object()) {
            for (k, v) in over.iter().filter(|(k, _)| *k != "$ref") {
                obj.insert(k.clone(), v.clone());
            }
        }
        Ok(resolved)
    }

    /// The value a local `$ref` names, pushing it on the stack (the caller pops).
    fn lookup(&self, r: &str, stack: &mut Vec<String>) -> Result<Value, String> {
        let Some(pointer) = r.strip_prefix('#') else {
            return Err(format!("the external reference `{r}` is not supported"));
        };
        if stack.iter().any(|s| s == r) {
            return Err(format!("the reference `{r}` is recursive"));
        }
        if stack.len() >= MAX_DEPTH {
            return Err(format!("references nest deeper than {MAX_DEPTH}"));
        }
        let pointer = percent_encoding::percent_decode_str(pointer)
            .decode_utf8()
            .map_err(|_| format!("the reference `{r}` is not UTF-8"))?;
        let target = self
            .doc
            .pointer(&pointer)
            .ok_or_else(|| format!("the reference `{r}` names nothing in the document"))?;
        stack.push(r.to_string());
        Ok(target.clone())
    }

    /// A schema with every `$ref` inlined and OpenAPI 3.0's dialect rewritten.
    fn schema(
        &self,
        value: &Value,
        stack: &mut Vec<String>,
        depth: usize,
    ) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err(format!("a schema nests deeper than {MAX_DEPTH}"));
        }
        let left = self.budget.get();
        if left == 0 {
            return Err(format!(
                "the schemas expand to more than {MAX_NODES} nodes once references are inlined"
            ));
        }
        self.budget.set(left - 1);
        match value {
            Value::Object(o) => {
                if let Some(r) = o.get("$ref").and_then(Value::as_str) {
                    let target = self.lookup(r, stack)?;
                    let inlined = self.schema(&target, stack, depth + 1);
                    stack.pop();
                    let mut inlined = inlined?;
                    if let Some(obj) = inlined.as_object_mut() {
                        for (k, v) in o.iter().filter(|(k, _)| *k != "$ref") {
                            obj.insert(k.clone(), self.schema(v, stack, depth + 1)?);
                        }
                    }
                    return Ok(inlined);
                }
                let mut out = Map::new();
                for (k, v) in o {
                    // Keywords whose values are not schemas, copied as they are.
                    let literal = matches!(
                        k.as_str(),
                        "enum"
                            | "const"
                            | "example"
                            | "examples"
                            | "default"
                            | "required"
                            | "discriminator"
                            | "xml"
                            | "externalDocs"
                    );
                    out.insert(
                        k.clone(),
                        if literal {
                            v.clone()
                        } else {
                            self.schema(v, stack, depth + 1)?
                        },
                    );
                }
                if self.dialect == Dialect::V30 {
                    rewrite_30(&mut out);
                }
                Ok(Value::Object(out))
            }
            Value::Array(a) => a
                .iter()
                .map(|v| self.schema(v, stack, depth + 1))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            other => Ok(other.clone()),
        }
    }

    /// One operation as a tool (named by the caller).
    fn operation(
        &self,
        item: &Value,
        op: &Value,
        method: &str,
        path: &str,
        base: &str,
        options: &ImportOptions,
    ) -> Result<HttpToolSpec, String> {
        self.budget.set(MAX_NODES);
        // Path-level parameters, overridden by the operation's of the same name and place.
        let mut params: Vec<Value> = Vec::new();
        for list in [item.get("parameters"), op.get("parameters")] {
            for p in list.and_then(Value::as_array).into_iter().flatten() {
                let p = self.deref(p, &mut Vec::new())?;
                let key = (p.get("name").cloned(), p.get("in").cloned());
                params.retain(|q| (q.get("name").cloned(), q.get("in").cloned()) != key);
                params.push(p);
            }
        }
        let mut properties = Map::new();
        let mut required = Vec::new();
        let mut args_taken = BTreeSet::new();
        let mut by_path: BTreeMap<String, String> = BTreeMap::new();
        let mut query = Vec::new();
        let mut headers = Vec::new();
        for p in &params {
            let name = p
                .get("name")
                .and_then(Value::as_str)
                .ok_or("a parameter has no `name`")?;
            let place_raw = p.get("in").and_then(Value::as_str).unwrap_or("");
            let is_required =
                place_raw == "path" || p.get("required").and_then(Value::as_bool).unwrap_or(false);
            let place = match place_raw {
                "path" => Place::Path,
                "query" => {
                    let style = p.get("style").and_then(Value::as_str).unwrap_or("form");
                    if style != "form" {
                        return Err(format!(
                            "the query parameter `{name}` has style `{style}`; only `form` is supported"
                        ));
                    }
                    Place::Query {
                        explode: p.get("explode").and_then(Value::as_bool).unwrap_or(true),
                    }
                }
                "header" => {
                    // OpenAPI ignores these as parameters (the request sets them), and a header
                    // the import sends on every call is not the model's to give.
                    if ["accept", "content-type", "authorization"]
                        .contains(&name.to_ascii_lowercase().as_str())
                        || options
                            .headers
                            .iter()
                            .any(|h| h.name.eq_ignore_ascii_case(name))
                    {
                        continue;
                    }
                    Place::Header
                }
                "cookie" if is_required => {
                    return Err(format!(
                        "the required cookie parameter `{name}` is not supported"
                    ))
                }
                "cookie" => continue,
                other => {
                    return Err(format!(
                        "the parameter `{name}` is in `{other}`, which is not a place"
                    ))
                }
            };
            if p.get("content").is_some() && p.get("schema").is_none() {
                return Err(format!(
                    "the parameter `{name}` is described by `content`, which is not supported"
                ));
            }
            let mut schema = match p.get("schema") {
                Some(s) => self.schema(s, &mut Vec::new(), 0)?,
                None => json!({}),
            };
            if matches!(place, Place::Query { .. })
                && schema.get("type").and_then(Value::as_str) == Some("object")
            {
                return Err(format!(
                    "the query parameter `{name}` is an object, which is not supported"
                ));
            }
            if let (Some(obj), Some(d)) = (
                schema.as_object_mut(),
                p.get("description").and_then(Value::as_str),
            ) {
                obj.entry("description").or_insert_with(|| json!(d));
            }
            let mut arg = argument_name(name);
            if args_taken.contains(&arg) {
                arg = unique_name(&format!("{arg}_{place_raw}"), &mut args_taken.clone());
            }
            args_taken.insert(arg.clone());
            properties.insert(arg.clone(), schema);
            if is_required {
                required.push(json!(arg));
            }
            match place {
                Place::Path => {
                    by_path.insert(name.to_string(), arg);
                }
                Place::Query { explode } => query.push(QueryParamSpec {
                    name: name.to_string(),
                    argument: arg,
                    explode,
                }),
                Place::Header => headers.push(HeaderSpec {
                    name: name.to_string(),
                    value: Some(format!("{{{arg}}}")),
                    secret: false,
                }),
            }
        }
        let url = format!("{}{}", escape(base), self.path_template(path, &by_path)?);
        let body = self.body(op, &mut properties, &mut required, &mut args_taken)?;
        let mut all_headers = options.headers.clone();
        all_headers.extend(headers);
        let mut input = json!({"type": "object", "properties": properties});
        if !required.is_empty() {
            input["required"] = Value::Array(required);
        }
        let text = |k: &str| {
            op.get(k)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        let description = text("summary").or_else(|| text("description")).map(|d| {
            let mut d = d.to_string();
            if d.len() > 4096 {
                let mut cut = 4096;
                while !d.is_char_boundary(cut) {
                    cut -= 1;
                }
                d.truncate(cut);
            }
            d
        });
        let annotations = ToolAnnotations {
            read_only_hint: (method == "get").then_some(true),
            destructive_hint: (method == "delete").then_some(true),
            idempotent_hint: matches!(method, "get" | "put" | "delete").then_some(true),
            open_world_hint: Some(true),
            ..Default::default()
        };
        Ok(HttpToolSpec {
            name: String::new(),
            title: None,
            description,
            input_schema: input,
            output_schema: None,
            annotations: Some(annotations),
            scopes: Vec::new(),
            request: HttpRequestSpec {
                method: method.to_ascii_uppercase(),
                url,
                headers: all_headers,
                query,
                body,
                timeout_ms: options.timeout_ms,
                max_response_bytes: options.max_response_bytes,
            },
            source: Some(source_tag(&options.name)),
        })
    }

    /// The path with its `{parameters}` as placeholders of their arguments.
    fn path_template(
        &self,
        path: &str,
        by_path: &BTreeMap<String, String>,
    ) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = path;
        while let Some(start) = rest.find('{') {
            out.push_str(&escape(&rest[..start]));
            let Some(end) = rest[start..].find('}') else {
                return Err(format!("the path `{path}` has an unclosed `{{`"));
            };
            let name = &rest[start + 1..start + end];
            let arg = by_path
                .get(name)
                .ok_or_else(|| format!("the path parameter `{name}` is not declared"))?;
            out.push('{');
            out.push_str(arg);
            out.push('}');
            rest = &rest[start + end + 1..];
        }
        out.push_str(&escape(rest));
        if out.contains(char::is_whitespace) {
            return Err(format!("the path `{path}` contains whitespace"));
        }
        Ok(out)
    }

    /// The request body's template; its schema joins the arguments: flattened when it is an
    /// object whose properties clash with no parameter, else as one `body` argument.
    fn body(
        &self,
        op: &Value,
        properties: &mut Map<String, Value>,
        required: &mut Vec<Value>,
        taken: &mut BTreeSet<String>,
    ) -> Result<Option<Value>, String> {
        let Some(rb) = op.get("requestBody") else {
            return Ok(None);
        };
        let rb = self.deref(rb, &mut Vec::new())?;
        let body_required = rb.get("required").and_then(Value::as_bool).unwrap_or(false);
        let content = rb.get("content").and_then(Value::as_object);
        let json_media = content.and_then(|c| {
            c.iter().find(|(mt, _)| {
                let mt = mt
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                mt == "application/json" || mt.ends_with("+json")
            })
        });
        let Some((_, media)) = json_media else {
            let types: Vec<&str> = content
                .map(|c| c.keys().map(String::as_str).collect())
                .unwrap_or_default();
            return Err(format!(
                "the request body's media types ({}) are not supported: only JSON is",
                types.join(", ")
            ));
        };
        let schema = match media.get("schema") {
            Some(s) => self.schema(s, &mut Vec::new(), 0)?,
            None => json!({}),
        };
        let props = schema
            .get("properties")
            .and_then(Value::as_object)
            .filter(|p| !p.is_empty());
        let flat = schema.get("type").and_then(Value::as_str) == Some("object")
            && ["allOf", "anyOf", "oneOf", "not", "if"]
                .iter()
                .all(|k| schema.get(k).is_none())
            && props.is_some_and(|p| p.keys().all(|k| is_name(k) && !taken.contains(k)));
        if let (true, Some(props)) = (flat, props) {
            let mut template = Map::new();
            for (k, v) in props {
                properties.insert(k.clone(), v.clone());
                taken.insert(k.clone());
                template.insert(k.clone(), json!(format!("{{{k}}}")));
            }
            if body_required {
                if let Some(r) = schema.get("required").and_then(Value::as_array) {
                    required.extend(
                        r.iter()
                            .filter(|n| n.as_str().is_some_and(|n| props.contains_key(n)))
                            .cloned(),
                    );
                }
            }
            return Ok(Some(Value::Object(template)));
        }
        let arg = unique_name("body", &mut taken.clone());
        taken.insert(arg.clone());
        let mut schema = schema;
        if let (Some(obj), Some(d)) = (
            schema.as_object_mut(),
            rb.get("description").and_then(Value::as_str),
        ) {
            obj.entry("description").or_insert_with(|| json!(d));
        }
        properties.insert(arg.clone(), schema);
        if body_required {
            required.push(json!(arg));
        }
        Ok(Some(json!(format!("{{{arg}}}"))))
    }
}

/// Literal text in a template: braces doubled.
fn escape(text: &str) -> String {
    text.replace('{', "{{").replace('}', "}}")
}

/// OpenAPI 3.0's schema dialect as JSON Schema 2020-12.
fn rewrite_30(schema: &mut Map<String, Value>) {
    if schema.remove("nullable") == Some(Value::Bool(true)) {
        match schema.get("type").cloned() {
            Some(Value::String(t)) => {
                schema.insert("type".into(), json!([t, "null"]));
            }
            _ => {
                if let Some(Value::Array(e)) = schema.get_mut("enum") {
                    e.push(Value::Null);
                }
            }
        }
    }
    for (flag, bound) in [
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ] {
        match schema.get(flag) {
            Some(Value::Bool(true)) => {
                if let Some(b) = schema.remove(bound) {
                    schema.insert(flag.into(), b);
                } else {
                    schema.remove(flag);
                }
            }
            Some(Value::Bool(false)) => {
                schema.remove(flag);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> ImportOptions {
        ImportOptions {
            name: "pets".into(),
            ..Default::default()
        }
    }

    fn petstore() -> Value {
        json!({
            "openapi": "3.0.3",
            "info": {"title": "Pets", "version": "1"},
            "servers": [{"url": "https://{host}/v1", "variables": {"host": {"default": "pets.example"}}}],
            "paths": {
                "/pets": {
                    "get": {
                        "operationId": "listPets", "summary": "List pets", "tags": ["pets"],
                        "parameters": [
                            {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 100, "exclusiveMaximum": true}},
                            {"name": "tag", "in": "query", "explode": false, "schema": {"type": "array", "items": {"type": "string"}}},
                            {"name": "X-Trace-Id", "in": "header", "schema": {"type": "string"}},
                            {"name": "session", "in": "cookie", "schema": {"type": "string"}}
                        ]
                    },
                    "post": {
                        "operationId": "createPet", "tags": ["pets"],
                        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewPet"}}}}
                    }
                },
                "/pets/{petId}": {
                    "parameters": [{"$ref": "#/components/parameters/PetId"}],
                    "get": {"operationId": "getPet", "description": "One pet",
                            "parameters": [{"name": "x-api-key", "in": "header", "required": true, "schema": {"type": "string"}}]},
                    "delete": {"operationId": "deletePet", "tags": ["admin"]}
                },
                "/pets/{petId}/photo": {
                    "put": {"operationId": "uploadPhoto", "parameters": [{"$ref": "#/components/parameters/PetId"}],
                            "requestBody": {"content": {"image/png": {}}}}
                },
                "/trees": {
                    "post": {"operationId": "plantTree",
                             "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Tree"}}}}}
                },
                "/remote": {"get": {"operationId": "remote", "parameters": [{"$ref": "other.yaml#/P"}]}}
            },
            "components": {
                "parameters": {"PetId": {"name": "petId", "in": "path", "required": true, "schema": {"type": "integer"}}},
                "schemas": {
                    "NewPet": {"type": "object", "required": ["name"], "properties": {
                        "name": {"type": "string"}, "tag": {"type": "string", "nullable": true}}},
                    "Tree": {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#/components/schemas/Tree"}}}}
                }
            }
        })
    }

    fn tool<'a>(out: &'a Imported, name: &str) -> &'a HttpToolSpec {
        out.tools.iter().find(|t| t.name == name).unwrap()
    }

    #[test]
    fn operations_become_tools() {
        let mut o = options();
        o.headers = vec![HeaderSpec {
            name: "X-API-Key".into(),
            value: Some("k".into()),
            secret: true,
        }];
        let out = import(&petstore(), &o, &CatalogCaps::default()).unwrap();
        let names: Vec<&str> = out.tools.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["listPets", "createPet", "getPet", "deletePet"]);
        let list = tool(&out, "listPets");
        assert_eq!(list.request.url, "https://pets.example/v1/pets");
        assert_eq!(list.description.as_deref(), Some("List pets"));
        assert_eq!(list.source.as_deref(), Some("openapi:pets"));
        assert_eq!(
            list.input_schema["properties"]["limit"],
            json!({"type": "integer", "exclusiveMaximum": 100})
        );
        assert_eq!(list.request.query.len(), 2);
        assert!(!list.request.query[1].explode);
        // The shared header first, then the header parameter.
        assert_eq!(
            list.request.headers[1].value.as_deref(),
            Some("{X-Trace-Id}")
        );
        assert!(list.input_schema["properties"].get("session").is_none());
        assert_eq!(
            list.annotations.as_ref().unwrap().read_only_hint,
            Some(true)
        );

        let create = tool(&out, "createPet");
        assert_eq!(create.input_schema["required"], json!(["name"]));
        assert_eq!(
            create.input_schema["properties"]["tag"]["type"],
            json!(["string", "null"])
        );
        assert_eq!(
            create.request.body,
            Some(json!({"name": "{name}", "tag": "{tag}"}))
        );

        let get = tool(&out, "getPet");
        assert_eq!(get.request.url, "https://pets.example/v1/pets/{petId}");
        // The header parameter the import sends itself is not an argument.
        assert_eq!(get.input_schema["required"], json!(["petId"]));
        assert_eq!(get.request.headers.len(), 1);
        assert_eq!(get.request.headers[0].name, "X-API-Key");
        assert_eq!(get.description.as_deref(), Some("One pet"));

        let skipped: BTreeMap<&str, &str> = out
            .skipped
            .iter()
            .map(|s| (s.operation_id.as_deref().unwrap(), s.reason.as_str()))
            .collect();
        assert_eq!(skipped.len(), 3, "{skipped:?}");
        assert!(skipped["uploadPhoto"].contains("image/png"));
        assert!(skipped["plantTree"].contains("recursive"));
        assert!(skipped["remote"].contains("external"));
    }

    #[test]
    fn route_maps_choose_operations() {
        let mut o = options();
        o.routes = vec![
            RouteMap {
                methods: vec!["delete".into()],
                path: None,
                tags: vec![],
                action: RouteAction::Exclude,
            },
            RouteMap {
                methods: vec![],
                path: Some("/pets/*".into()),
                tags: vec![],
                action: RouteAction::Include,
            },
            RouteMap {
                methods: vec![],
                path: None,
                tags: vec!["pets".into()],
                action: RouteAction::Include,
            },
            RouteMap {
                methods: vec![],
                path: None,
                tags: vec![],
                action: RouteAction::Exclude,
            },
        ];
        o.name_prefix = Some("pets_".into());
        let out = import(&petstore(), &o, &CatalogCaps::default()).unwrap();
        let names: Vec<&str> = out.tools.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["pets_listPets", "pets_createPet", "pets_getPet"]);
        // Excluded operations are not reported; only the included one that cannot be.
        assert_eq!(out.skipped.len(), 1);
        assert!(glob("/a/*/c", "/a/b/x/c") && !glob("/a/*/c", "/a/b/d") && glob("*", ""));
    }

    #[test]
    fn whole_document_problems_name_the_field() {
        let caps = CatalogCaps::default();
        let err = |doc: Value, o: &ImportOptions| import(&doc, o, &caps).unwrap_err().field;
        assert_eq!(
            err(json!({"swagger": "2.0"}), &options()),
            "document.swagger"
        );
        assert_eq!(
            err(json!({"openapi": "4.0"}), &options()),
            "document.openapi"
        );
        assert_eq!(err(json!([]), &options()), "document");
        let mut doc = petstore();
        doc["servers"] = json!([{"url": "/api"}]);
        assert_eq!(err(doc.clone(), &options()), "document.servers[0].url");
        let mut o = options();
        o.document_url = Some("http://127.0.0.1:8000/docs/openapi.json".into());
        let out = import(&doc, &o, &caps).unwrap();
        assert_eq!(out.tools[0].request.url, "http://127.0.0.1:8000/api/pets");
        o.name = "no spaces".into();
        assert_eq!(err(doc, &o), "name");
        assert_eq!(
            join("http://h:1/a/b/doc.json", "../v2/"),
            Some("http://h:1/a/v2".into())
        );
    }

    #[test]
    fn references_that_fan_out_are_refused_not_expanded() {
        // Each schema names the next twice: 2^18 leaves if inlined, within the depth cap.
        let mut schemas = serde_json::Map::new();
        for i in 0..18 {
            let next = json!({"$ref": format!("#/components/schemas/S{}", i + 1)});
            schemas.insert(
                format!("S{i}"),
                json!({"type": "object", "properties": {"a": next, "b": next}}),
            );
        }
        schemas.insert("S18".into(), json!({"type": "string"}));
        let doc = json!({
            "openapi": "3.1.0", "servers": [{"url": "http://h"}],
            "paths": {"/x": {"post": {"operationId": "bomb", "requestBody": {"content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/S0"}}}}}},
                      "/y": {"get": {"operationId": "fine"}}},
            "components": {"schemas": schemas}
        });
        let out = import(&doc, &options(), &CatalogCaps::default()).unwrap();
        assert_eq!(out.tools.len(), 1);
        assert!(out.skipped[0].reason.contains("nodes"), "{:?}", out.skipped);
    }

    #[test]
    fn unnamed_operations_and_clashing_names_get_names() {
        let doc = json!({
            "openapi": "3.1.0", "servers": [{"url": "http://h"}],
            "paths": {
                "/a/{id}": {"get": {"parameters": [{"name": "id", "in": "path", "schema": {"type": "string"}},
                                                    {"name": "id", "in": "query", "schema": {"type": "string"}}]}},
                "/b": {"get": {"operationId": "x y"}, "post": {"operationId": "x y",
                    "parameters": [{"name": "name", "in": "query", "schema": {"type": "string"}}],
                    "requestBody": {"content": {"application/json": {"schema": {"type": "object", "properties": {"name": {"type": "string"}}}}}}}}
            }
        });
        let out = import(&doc, &options(), &CatalogCaps::default()).unwrap();
        let names: Vec<&str> = out.tools.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["get_a_id", "x_y", "x_y_2"], "{:?}", out.skipped);
        let a = &out.tools[0];
        assert_eq!(a.request.url, "http://h/a/{id}");
        assert_eq!(a.request.query[0].argument, "id_query");
        // A body property clashing with a parameter makes the body one argument.
        let post = &out.tools[2];
        assert_eq!(post.request.body, Some(json!("{body}")));
    }
}
