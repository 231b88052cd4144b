//! Where stored HTTP tools' requests go out, and the SSRF guard in front of them.
//!
//! A destination on a loopback, private, link-local (the cloud metadata address), shared or
//! otherwise special-purpose address is refused unless the operator's allow-list
//! (`--http-tools-allow`) names it. The check covers every address a host name resolves to
//! (one forbidden address refuses the name: a rebinding record set cannot mix them in), is
//! made again by the client's own resolver at connection time (so the address connected to is
//! one that was checked), and applies to IP literals, which no resolver sees. Redirects are not
//! followed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use async_trait::async_trait;
use fastmcp_core::catalog::{Outbound, OutboundError, OutboundRequest, OutboundResponse};

/// Addresses the operator allows despite the guard: IPs and CIDR ranges.
#[derive(Debug, Clone, Default)]
pub struct AllowList(Vec<(IpAddr, u8)>);

impl AllowList {
    /// Parses `127.0.0.1`, `10.0.0.0/8`, `::1`, `fd00::/8`.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        let mut out = Vec::new();
        for raw in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
            let (ip, bits) = match raw.split_once('/') {
                Some((ip, bits)) => (ip, Some(bits)),
                None => (raw, None),
            };
            let ip: IpAddr = ip
                .parse()
                .map_err(|_| format!("`{raw}` is not an IP address or CIDR range"))?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                Some(b) => b
                    .parse::<u8>()
                    .ok()
                    .filter(|b| *b <= max)
                    .ok_or_else(|| format!("`{raw}`: the prefix must be 0-{max}"))?,
                None => max,
            };
            out.push((ip, bits));
        }
        Ok(Self(out))
    }

    fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|(net, bits)| in_range(ip, *net, *bits))
    }

    /// Why `ip` is refused, or `None` when it may be reached.
    pub fn refuses(&self, ip: IpAddr) -> Option<&'static str> {
        let why = forbidden(ip)?;
        (!self.contains(ip)).then_some(why)
    }
}

fn in_range(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(bits))
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(bits))
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        // An IPv4-mapped IPv6 address is the IPv4 address.
        (IpAddr::V6(a), IpAddr::V4(_)) => a
            .to_ipv4_mapped()
            .is_some_and(|v4| in_range(IpAddr::V4(v4), net, bits)),
        _ => false,
    }
}

/// Why an address is off limits by default: everything that is not a public unicast address.
pub fn forbidden(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    let within =
        |net: [u8; 4], bits: u8| in_range(IpAddr::V4(ip), IpAddr::V4(Ipv4Addr::from(net)), bits);
    Some(match () {
        _ if ip.is_loopback() => "a loopback address",
        _ if ip.is_private() => "a private address",
        _ if ip.is_link_local() => "a link-local address (where cloud metadata lives)",
        _ if o[0] == 0 => "an address of this network (0.0.0.0/8)",
        _ if within([100, 64, 0, 0], 10) => "a shared (carrier-grade NAT) address",
        _ if within([192, 0, 0, 0], 24) => "an IETF protocol assignment",
        _ if within([198, 18, 0, 0], 15) => "a benchmarking address",
        _ if within([192, 0, 2, 0], 24)
            || within([198, 51, 100, 0], 24)
            || within([203, 0, 113, 0], 24) =>
        {
            "a documentation address"
        }
        _ if ip.is_multicast() => "a multicast address",
        _ if o[0] >= 240 => "a reserved or broadcast address",
        _ => return None,
    })
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    // Addresses that carry an IPv4 address are judged by it.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    let s = ip.segments();
    let embedded = |a: u16, b: u16| Ipv4Addr::new((a >> 8) as u8, a as u8, (b >> 8) as u8, b as u8);
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return forbidden_v4(embedded(s[6], s[7])); // NAT64
    }
    if s[0] == 0x2002 {
        return forbidden_v4(embedded(s[1], s[2])); // 6to4
    }
    Some(match () {
        _ if ip.is_unspecified() => "the unspecified address",
        _ if ip.is_loopback() => "a loopback address",
        _ if s[0] & 0xfe00 == 0xfc00 => "a unique local address",
        _ if s[0] & 0xffc0 == 0xfe80 => "a link-local address",
        _ if s[0] & 0xffc0 == 0xfec0 => "a site-local address",
        _ if ip.is_multicast() => "a multicast address",
        _ if s[0] == 0x2001 && s[1] == 0x0db8 => "a documentation address",
        // ::/96, the deprecated IPv4-compatible form, and the rest of ::/8.
        _ if s[0] == 0 => "a reserved address",
        _ => return None,
    })
}

/// The addresses `host` stands for, every one checked: the first refused one is the error.
async fn checked(
    allow: &AllowList,
    host: &str,
    port: u16,
) -> Result<Vec<SocketAddr>, OutboundError> {
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = match literal.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| OutboundError::Failed(format!("cannot resolve `{host}`: {e}")))?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(OutboundError::Failed(format!(
            "`{host}` resolves to no address"
        )));
    }
    for a in &addrs {
        if let Some(why) = allow.refuses(a.ip()) {
            return Err(OutboundError::Refused(format!(
                "`{host}` is {} ({}), which HTTP tools may not reach unless --http-tools-allow names it",
                why,
                a.ip()
            )));
        }
    }
    Ok(addrs)
}

/// The client's resolver: the same check at connection time, so what it connects to was
/// checked (a name that changed its answer since cannot slip through).
struct Guarded(Arc<AllowList>);

impl reqwest::dns::Resolve for Guarded {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = Arc::clone(&self.0);
        Box::pin(async move {
            let addrs = checked(&allow, name.as_str(), 0)
                .await
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Sends HTTP tools' requests with reqwest, behind the guard.
pub struct HttpOutbound {
    client: reqwest::Client,
    allow: Arc<AllowList>,
}

impl HttpOutbound {
    /// A sender that reaches public addresses, and the ranges `allow` names.
    pub fn new(allow: AllowList) -> Result<Self, String> {
        let allow = Arc::new(allow);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(Guarded(Arc::clone(&allow))))
            .user_agent(concat!("fastmcp-mt/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self { client, allow })
    }
}

#[async_trait]
impl Outbound for HttpOutbound {
    async fn send(&self, r: OutboundRequest) -> Result<OutboundResponse, OutboundError> {
        let url = reqwest::Url::parse(&r.url)
            .map_err(|e| OutboundError::Failed(format!("not a URL: {e}")))?;
        let host = url
            .host_str()
            .ok_or_else(|| OutboundError::Failed("the URL has no host".into()))?;
        checked(&self.allow, host, url.port_or_known_default().unwrap_or(80)).await?;
        let method = reqwest::Method::from_bytes(r.method.as_bytes())
            .map_err(|_| OutboundError::Failed(format!("bad method {}", r.method)))?;
        let mut req = self.client.request(method, url);
        for (name, value) in &r.headers {
            // The value is never part of an error message: it may be a credential.
            let value = reqwest::header::HeaderValue::from_str(value).map_err(|_| {
                OutboundError::Failed(format!("the value of header `{name}` is not valid"))
            })?;
            req = req.header(name.as_str(), value);
        }
        if let Some(body) = r.body {
            req = req.header("content-type", "application/json").body(body);
        }
        let ms = u64::try_from(r.timeout.as_millis()).unwrap_or(u64::MAX);
        let exchange = async {
            let mut resp = req.send().await.map_err(|e| describe(&e))?;
            let status = resp.status();
            if status.is_redirection() {
                let to = resp
                    .headers()
                    .get("location")
                    .and_then(|l| l.to_str().ok())
                    .unwrap_or("?")
                    .to_string();
                return Err(OutboundError::Failed(format!(
                    "HTTP {} to {to}: redirects are not followed",
                    status.as_u16()
                )));
            }
            let content_type = resp
                .headers()
                .get("content-type")
                .and_then(|c| c.to_str().ok())
                .map(str::to_string);
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(|e| describe(&e))? {
                if (body.len() + chunk.len()) as u64 > r.max_response_bytes {
                    return Err(OutboundError::TooLarge(r.max_response_bytes));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(OutboundResponse {
                status: status.as_u16(),
                reason: status.canonical_reason().unwrap_or_default().to_string(),
                content_type,
                body,
            })
        };
        tokio::time::timeout(r.timeout, exchange)
            .await
            .map_err(|_| OutboundError::Timeout(ms))?
    }
}

/// A reqwest error as the tool reports it: the guard's refusal as such, else the cause.
fn describe(e: &reqwest::Error) -> OutboundError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(o) = s.downcast_ref::<OutboundError>() {
            return o.clone();
        }
        source = s.source();
    }
    if e.is_timeout() {
        return OutboundError::Failed("timed out".into());
    }
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    OutboundError::Failed(text)
}

#[cfg(feature = "federation")]
#[async_trait]
impl fastmcp_upstream::Network for HttpOutbound {
    fn client(&self) -> &reqwest::Client {
        &self.client
    }

    async fn check(&self, url: &reqwest::Url) -> Result<(), String> {
        let host = url.host_str().ok_or("the URL has no host")?;
        checked(&self.allow, host, url.port_or_known_default().unwrap_or(80))
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// No packet leaves: these only classify addresses.
    #[test]
    fn special_addresses_are_forbidden_and_public_ones_are_not() {
        for (addr, why) in [
            ("127.0.0.1", "loopback"),
            ("127.9.9.9", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("0.0.0.0", "this network"),
            ("100.64.0.1", "shared"),
            ("224.0.0.1", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fd00::1", "unique local"),
            ("fc00::1", "unique local"),
            ("fe80::1", "link-local"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::ffff:10.0.0.1", "private"),
            ("64:ff9b::a00:1", "private"),
            ("2002:7f00:1::", "loopback"),
            ("ff02::1", "multicast"),
        ] {
            let got = forbidden(ip(addr));
            assert!(got.is_some_and(|g| g.contains(why)), "{addr}: {got:?}");
        }
        for addr in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(forbidden(ip(addr)), None, "{addr}");
        }
    }

    #[test]
    fn the_allow_list_opens_exactly_what_it_names() {
        let allow = AllowList::parse(&["127.0.0.1".into(), "10.0.0.0/8".into(), "fd00::/8".into()])
            .unwrap();
        assert_eq!(allow.refuses(ip("127.0.0.1")), None);
        assert_eq!(allow.refuses(ip("::ffff:127.0.0.1")), None);
        assert!(allow.refuses(ip("127.0.0.2")).is_some());
        assert_eq!(allow.refuses(ip("10.200.1.1")), None);
        assert!(allow.refuses(ip("11.0.0.1")).is_none(), "public anyway");
        assert!(allow.refuses(ip("192.168.0.1")).is_some());
        assert_eq!(allow.refuses(ip("fd12::1")), None);
        assert!(allow.refuses(ip("::1")).is_some());
        assert!(AllowList::parse(&["10.0.0.0/33".into()]).is_err());
        assert!(AllowList::parse(&["example.com".into()]).is_err());
    }

    /// `localhost` resolves (locally, from /etc/hosts) to loopback: refused by name, with no
    /// connection attempted.
    #[tokio::test]
    async fn names_are_judged_by_what_they_resolve_to() {
        let none = AllowList::default();
        let e = checked(&none, "localhost", 80).await.unwrap_err();
        assert!(
            matches!(&e, OutboundError::Refused(m) if m.contains("loopback")),
            "{e}"
        );
        let e = checked(&none, "[::1]", 80).await.unwrap_err();
        assert!(matches!(e, OutboundError::Refused(_)));
        let e = checked(&none, "169.254.169.254", 80).await.unwrap_err();
        assert!(
            matches!(&e, OutboundError::Refused(m) if m.contains("metadata")),
            "{e}"
        );
        let allow = AllowList::parse(&["127.0.0.0/8".into(), "::1".into()]).unwrap();
        assert!(checked(&allow, "localhost", 80).await.is_ok());
    }
}
