//! Which requests may reach a tenant at all: the entity named by the path, and the `Origin`
//! and `Host` checks against DNS rebinding.

use fastmcp_core::protocol::codes;
use fastmcp_core::EntityId;
use poem::http::{header, HeaderMap, StatusCode};
use poem::{Request, Response};

use crate::config::HttpConfig;
use crate::response::error_status;

/// The entity from the `{entity}` path segment, or a 400 naming the rule.
///
/// One spelling per tenant: the segment as sent must be the id itself. A percent-encoded
/// segment (`/%61cme/mcp`) is refused rather than decoded, so a rule a proxy writes for
/// `/acme/` cannot be walked around by spelling the same tenant another way.
pub(crate) fn entity_from_path(req: &Request) -> Result<EntityId, Response> {
    // Every other segment of the MCP and metadata paths is a fixed word, so any `%` at all is a
    // respelling.
    if req.original_uri().path().contains('%') {
        return Err(error_status(
            StatusCode::BAD_REQUEST,
            codes::INVALID_REQUEST,
            "invalid entity id: percent-encoded characters are not accepted; send the id as is",
        ));
    }
    let raw = req.raw_path_param("entity").unwrap_or_default();
    EntityId::parse(raw).map_err(|e| {
        error_status(
            StatusCode::BAD_REQUEST,
            codes::INVALID_REQUEST,
            e.to_string(),
        )
    })
}

fn host_of_origin(origin: &str) -> Option<&str> {
    let rest = origin.split_once("://")?.1;
    Some(rest.split('/').next().unwrap_or(rest))
}

/// `localhost`, `127.x.x.x` or `[::1]`, with or without a port.
pub(crate) fn is_loopback_host(hostport: &str) -> bool {
    let host = if let Some(rest) = hostport.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        hostport.rsplit_once(':').map_or(hostport, |(h, p)| {
            if p.chars().all(|c| c.is_ascii_digit()) {
                h
            } else {
                hostport
            }
        })
    };
    host.eq_ignore_ascii_case("localhost")
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn host_allowed(cfg: &HttpConfig, hostport: &str) -> bool {
    let bare = hostport.rsplit_once(':').map_or(hostport, |(h, _)| h);
    cfg.allowed_hosts
        .iter()
        .any(|h| h == "*" || h.eq_ignore_ascii_case(hostport) || h.eq_ignore_ascii_case(bare))
}

/// DNS-rebinding protection: a foreign `Origin` is refused with 403; on a loopback bind the
/// `Host` must be a loopback name too (or explicitly allowed).
pub(crate) fn check_origin(cfg: &HttpConfig, headers: &HeaderMap) -> Result<(), Response> {
    let forbidden = |what: &str| {
        Err(error_status(
            StatusCode::FORBIDDEN,
            codes::INVALID_REQUEST,
            format!("forbidden: {what}"),
        ))
    };
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let ok = cfg
            .allowed_origins
            .iter()
            .any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
            || host_of_origin(origin).is_some_and(|h| {
                (cfg.loopback_only && is_loopback_host(h)) || host_allowed(cfg, h)
            });
        if !ok {
            return forbidden("origin not allowed");
        }
    }
    // On a loopback bind only loopback names (plus the allow-list) may reach us; elsewhere the
    // Host is checked once an allow-list is configured.
    if cfg.loopback_only || !cfg.allowed_hosts.is_empty() {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let loopback_ok = cfg.loopback_only && is_loopback_host(host);
        if !host.is_empty() && !loopback_ok && !host_allowed(cfg, host) {
            return forbidden("host not allowed");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "localhost:8000",
            "127.0.0.1",
            "127.0.0.1:3005",
            "[::1]:80",
            "[::1]",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "evil.example.com",
            "evil.example.com:80",
            "10.0.0.1:80",
            "localhost.evil.com",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }
}
