//! The method table: every method a client may call, and the properties the engine and the
//! transports route by. Routing, the 2026-07-28 header checks and the caching hints read this
//! table and nothing else; adding a method means adding a row here and its handler.

/// A client-to-server request method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `initialize` (handshake era: opens the session).
    Initialize,
    /// `ping`.
    Ping,
    /// `logging/setLevel`.
    LoggingSetLevel,
    /// `tools/list`.
    ToolsList,
    /// `tools/call`.
    ToolsCall,
    /// `resources/list`.
    ResourcesList,
    /// `resources/templates/list`.
    ResourcesTemplatesList,
    /// `resources/read`.
    ResourcesRead,
    /// `resources/subscribe`.
    ResourcesSubscribe,
    /// `resources/unsubscribe`.
    ResourcesUnsubscribe,
    /// `prompts/list`.
    PromptsList,
    /// `prompts/get`.
    PromptsGet,
    /// `completion/complete`.
    CompletionComplete,
    /// `server/discover` (2026-07-28).
    ServerDiscover,
    /// `subscriptions/listen` (2026-07-28; a stream the transport holds).
    SubscriptionsListen,
}

/// Which eras serve a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eras {
    /// The handshake era only (2024-11-05 … 2025-11-25).
    Handshake,
    /// 2026-07-28 only.
    Modern,
    /// Both.
    Both,
}

/// How long and with whom a client may cache a result (2026-07-28 `ttlMs` / `cacheScope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheHint {
    /// `ttlMs`.
    pub ttl_ms: u64,
    /// `cacheScope: "public"` (depends only on the server's catalog) or `"private"`.
    pub public: bool,
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct MethodInfo {
    /// The method as it appears on the wire.
    pub name: &'static str,
    /// Which eras serve it.
    pub eras: Eras,
    /// Whether it needs an initialized session (handshake era).
    pub needs_session: bool,
    /// Whether its handler may ask the client for input (elicitation, sampling, roots); at
    /// 2026-07-28 such a method may answer `input_required`.
    pub may_ask: bool,
    /// The caching hint its result carries at 2026-07-28, if it is cacheable.
    pub cache: Option<CacheHint>,
    /// The params field that `Mcp-Name` must repeat at 2026-07-28.
    pub name_param: Option<&'static str>,
}

const PUBLIC: Option<CacheHint> = Some(CacheHint {
    ttl_ms: 60_000,
    public: true,
});
/// Reads may depend on the caller (entity, principal): private, and not to be reused.
const PRIVATE: Option<CacheHint> = Some(CacheHint {
    ttl_ms: 0,
    public: false,
});

const fn row(
    name: &'static str,
    eras: Eras,
    needs_session: bool,
    may_ask: bool,
    cache: Option<CacheHint>,
    name_param: Option<&'static str>,
) -> MethodInfo {
    MethodInfo {
        name,
        eras,
        needs_session,
        may_ask,
        cache,
        name_param,
    }
}

impl Method {
    /// Every method, in the table's order.
    pub const ALL: [Method; 15] = [
        Method::Initialize,
        Method::Ping,
        Method::LoggingSetLevel,
        Method::ToolsList,
        Method::ToolsCall,
        Method::ResourcesList,
        Method::ResourcesTemplatesList,
        Method::ResourcesRead,
        Method::ResourcesSubscribe,
        Method::ResourcesUnsubscribe,
        Method::PromptsList,
        Method::PromptsGet,
        Method::CompletionComplete,
        Method::ServerDiscover,
        Method::SubscriptionsListen,
    ];

    /// The method's row.
    pub const fn info(self) -> MethodInfo {
        use Eras::*;
        match self {
            Method::Initialize => row("initialize", Handshake, false, false, None, None),
            Method::Ping => row("ping", Handshake, false, false, None, None),
            Method::LoggingSetLevel => row("logging/setLevel", Handshake, true, false, None, None),
            Method::ToolsList => row("tools/list", Both, true, false, PUBLIC, None),
            Method::ToolsCall => row("tools/call", Both, true, true, None, Some("name")),
            Method::ResourcesList => row("resources/list", Both, true, false, PUBLIC, None),
            Method::ResourcesTemplatesList => {
                row("resources/templates/list", Both, true, false, PUBLIC, None)
            }
            Method::ResourcesRead => row("resources/read", Both, true, true, PRIVATE, Some("uri")),
            Method::ResourcesSubscribe => {
                row("resources/subscribe", Handshake, true, false, None, None)
            }
            Method::ResourcesUnsubscribe => {
                row("resources/unsubscribe", Handshake, true, false, None, None)
            }
            Method::PromptsList => row("prompts/list", Both, true, false, PUBLIC, None),
            Method::PromptsGet => row("prompts/get", Both, true, true, None, Some("name")),
            Method::CompletionComplete => row("completion/complete", Both, true, false, None, None),
            Method::ServerDiscover => row("server/discover", Modern, false, false, PUBLIC, None),
            Method::SubscriptionsListen => {
                row("subscriptions/listen", Modern, false, false, None, None)
            }
        }
    }

    /// The method named `name` on the wire, if this server knows it. (A `match`, not a search
    /// of the table: it runs on every request; a unit test keeps the two in step.)
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "initialize" => Method::Initialize,
            "ping" => Method::Ping,
            "logging/setLevel" => Method::LoggingSetLevel,
            "tools/list" => Method::ToolsList,
            "tools/call" => Method::ToolsCall,
            "resources/list" => Method::ResourcesList,
            "resources/templates/list" => Method::ResourcesTemplatesList,
            "resources/read" => Method::ResourcesRead,
            "resources/subscribe" => Method::ResourcesSubscribe,
            "resources/unsubscribe" => Method::ResourcesUnsubscribe,
            "prompts/list" => Method::PromptsList,
            "prompts/get" => Method::PromptsGet,
            "completion/complete" => Method::CompletionComplete,
            "server/discover" => Method::ServerDiscover,
            "subscriptions/listen" => Method::SubscriptionsListen,
            _ => return None,
        })
    }

    /// The wire name.
    pub const fn name(self) -> &'static str {
        self.info().name
    }

    /// Served in the handshake era.
    pub const fn in_handshake_era(self) -> bool {
        matches!(self.info().eras, Eras::Handshake | Eras::Both)
    }

    /// Served at 2026-07-28.
    pub const fn in_modern_era(self) -> bool {
        matches!(self.info().eras, Eras::Modern | Eras::Both)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for m in Method::ALL {
            assert_eq!(Method::parse(m.name()), Some(m));
        }
        let mut names: Vec<_> = Method::ALL.iter().map(|m| m.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Method::ALL.len());
        assert_eq!(Method::parse("tools/nope"), None);
    }

    #[test]
    fn the_2026_revision_drops_the_handshake_methods() {
        for name in [
            "initialize",
            "ping",
            "logging/setLevel",
            "resources/subscribe",
        ] {
            let m = Method::parse(name).unwrap();
            assert!(m.in_handshake_era() && !m.in_modern_era(), "{name}");
        }
        for name in ["server/discover", "subscriptions/listen"] {
            assert!(!Method::parse(name).unwrap().in_handshake_era(), "{name}");
        }
    }
}
