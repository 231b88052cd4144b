//! Upstream MCP servers mounted into a scope: their tools, prompts, resources and templates
//! appear in the scope's lists, and calls are forwarded. This is the mount's definition (data);
//! the client and the provider that serve it live in `fastmcp-upstream`.

use serde::{Deserialize, Serialize};

use super::{check_len, invalid, is_header_name, CatalogCaps, HeaderSpec, Invalid};

/// Longest wait for one upstream answer a mount may ask for.
pub const MAX_UPSTREAM_TIMEOUT_MS: u64 = 300_000;
/// The wait for one upstream answer when the mount does not say.
pub const DEFAULT_UPSTREAM_TIMEOUT_MS: u64 = 30_000;

/// A remote MCP server mounted into a scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McpServerSpec {
    /// The mount's name, unique within the scope; it is also the namespace: the upstream's
    /// tool `search` is listed as `NAME_search` (and prompts likewise). Resource URIs are kept.
    pub name: String,
    /// The upstream's endpoint: its Streamable HTTP endpoint (`…/mcp`), or for `sse` its SSE
    /// endpoint (`…/sse`).
    pub url: String,
    /// How to reach it.
    #[serde(default)]
    pub transport: UpstreamTransport,
    /// Which protocol era to speak: `handshake` (the default: `initialize`, then a session;
    /// the newest version both sides know is chosen) or `2026-07-28` (sessionless; only over
    /// Streamable HTTP).
    #[serde(default)]
    pub era: UpstreamEra,
    /// Headers sent with every request (credentials: mark them `secret`; the admin API never
    /// returns a secret value).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<HeaderSpec>,
    /// Milliseconds to wait for one answer (default 30 000, at most 300 000). A call that
    /// takes longer is an error for that call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Upstream sessions: one per downstream session (`per_client`, the default for a
    /// handshake-era upstream, whose session state — log level, subscriptions, elicitation —
    /// belongs to one client), or one per mount and instance shared by every client
    /// (`shared`, for stateless upstreams).
    #[serde(default)]
    pub sessions: SessionMode,
}

/// How an upstream is reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamTransport {
    /// Streamable HTTP (one endpoint; JSON or SSE answers).
    #[default]
    StreamableHttp,
    /// The legacy HTTP+SSE transport (an SSE stream, and POSTs to the endpoint it names).
    Sse,
}

/// The protocol era spoken to an upstream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum UpstreamEra {
    /// `initialize`, then a session (2024-11-05 … 2025-11-25).
    #[default]
    #[serde(rename = "handshake")]
    Handshake,
    /// Sessionless requests, each carrying its protocol version and capabilities.
    #[serde(rename = "2026-07-28")]
    Sessionless,
}

/// Whose upstream session a call uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionMode {
    /// One upstream session per downstream session, ended with it.
    #[default]
    PerClient,
    /// One upstream session per mount and instance.
    Shared,
}

impl McpServerSpec {
    /// The namespace prefix of the upstream's tool and prompt names.
    pub fn prefix(&self) -> String {
        format!("{}_", self.name)
    }

    pub(super) fn validate(&self, caps: &CatalogCaps) -> Result<(), Invalid> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !name_ok {
            return Err(invalid(
                "name",
                "must be 1-64 letters, digits and `-` (it prefixes the upstream's names with `_`)",
            ));
        }
        check_len("url", &self.url, 4096)?;
        let Some((scheme, rest)) = self.url.split_once("://") else {
            return Err(invalid(
                "url",
                "must be an absolute http:// or https:// URL",
            ));
        };
        if scheme != "http" && scheme != "https" {
            return Err(invalid(
                "url",
                "must be an absolute http:// or https:// URL",
            ));
        }
        if rest
            .split(['/', '?', '#'])
            .next()
            .unwrap_or_default()
            .is_empty()
        {
            return Err(invalid("url", "has no host"));
        }
        if self
            .url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(invalid("url", "must not contain whitespace"));
        }
        if self.era == UpstreamEra::Sessionless && self.transport == UpstreamTransport::Sse {
            return Err(invalid(
                "era",
                "2026-07-28 is spoken over Streamable HTTP only, not the legacy SSE transport",
            ));
        }
        if self.headers.len() > caps.max_list_len {
            return Err(invalid(
                "headers",
                format!("at most {} headers", caps.max_list_len),
            ));
        }
        for (i, h) in self.headers.iter().enumerate() {
            if !is_header_name(&h.name) {
                return Err(invalid(
                    format!("headers[{i}].name"),
                    "is not a header name",
                ));
            }
            let reserved = [
                "mcp-session-id",
                "mcp-protocol-version",
                "content-type",
                "accept",
                "host",
            ];
            if reserved.iter().any(|r| h.name.eq_ignore_ascii_case(r)) {
                return Err(invalid(
                    format!("headers[{i}].name"),
                    "is set by the MCP client itself",
                ));
            }
            let Some(v) = &h.value else {
                return Err(invalid(format!("headers[{i}].value"), "is required"));
            };
            check_len(&format!("headers[{i}].value"), v, 8192)?;
            if v.chars().any(char::is_control) {
                return Err(invalid(
                    format!("headers[{i}].value"),
                    "must not contain control characters",
                ));
            }
        }
        if self
            .timeout_ms
            .is_some_and(|t| t == 0 || t > MAX_UPSTREAM_TIMEOUT_MS)
        {
            return Err(invalid(
                "timeout_ms",
                format!("must be 1-{MAX_UPSTREAM_TIMEOUT_MS}"),
            ));
        }
        Ok(())
    }

    /// A copy whose secret header values are blanked: what the admin API may return.
    pub fn redacted(&self) -> Self {
        let mut out = self.clone();
        for h in out.headers.iter_mut().filter(|h| h.secret) {
            h.value = None;
        }
        out
    }

    /// Fills in secret header values left `null` from `previous`, by header name.
    pub fn keep_secrets_from(&mut self, previous: &McpServerSpec) {
        for h in self
            .headers
            .iter_mut()
            .filter(|h| h.secret && h.value.is_none())
        {
            if let Some(old) = previous
                .headers
                .iter()
                .find(|o| o.secret && o.name.eq_ignore_ascii_case(&h.name))
            {
                h.value.clone_from(&old.value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mounts_validate_and_name_the_field() {
        let caps = CatalogCaps::default();
        let spec: McpServerSpec = serde_json::from_value(json!({
            "name": "docs", "url": "http://127.0.0.1:9/mcp",
            "headers": [{"name": "Authorization", "value": "Bearer x", "secret": true}]
        }))
        .unwrap();
        spec.validate(&caps).unwrap();
        assert_eq!(spec.transport, UpstreamTransport::StreamableHttp);
        assert_eq!(spec.sessions, SessionMode::PerClient);
        let field = |f: fn(&mut McpServerSpec)| {
            let mut s = spec.clone();
            f(&mut s);
            s.validate(&caps).unwrap_err().field
        };
        assert_eq!(field(|s| s.name = "a_b".into()), "name");
        assert_eq!(field(|s| s.url = "ftp://x".into()), "url");
        assert_eq!(field(|s| s.url = "http:///x".into()), "url");
        assert_eq!(
            field(|s| {
                s.era = UpstreamEra::Sessionless;
                s.transport = UpstreamTransport::Sse;
            }),
            "era"
        );
        assert_eq!(
            field(|s| s.headers[0].name = "Mcp-Session-Id".into()),
            "headers[0].name"
        );
        assert_eq!(field(|s| s.timeout_ms = Some(0)), "timeout_ms");
        let shown = spec.redacted();
        assert_eq!(shown.headers[0].value, None);
        let mut back = shown.clone();
        back.keep_secrets_from(&spec);
        assert_eq!(back, spec);
        let era: UpstreamEra = serde_json::from_value(json!("2026-07-28")).unwrap();
        assert_eq!(era, UpstreamEra::Sessionless);
    }
}
