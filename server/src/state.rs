//! The application state every handler shares, and the one builder that assembles it: the CLI
//! and the tests build the app the same way, so a new piece of state has one default and one
//! place where it is wired.

use std::sync::Arc;
use std::time::Instant;

use fastmcp_core::catalog::CatalogCaps;
use fastmcp_core::engine::CallObserver;
use fastmcp_core::provider::StoredCatalog;
use fastmcp_core::storage::Stores;
use fastmcp_core::{Authenticator, McpServer, McpServerBuilder, NoAuth};

use crate::auth::AuthMetadata;
use crate::config::HttpConfig;
use crate::limits::Limits;
use crate::metrics::Metrics;

/// Everything a request handler needs.
pub struct AppState {
    /// The protocol engine (registry + stores).
    pub mcp: McpServer,
    /// HTTP-level settings.
    pub http: HttpConfig,
    /// This process's id (distinguishes instances sharing a store).
    pub instance_id: String,
    /// Store kind (`memory`, `redis`, `postgres`).
    pub store_kind: String,
    /// Start time, for uptime.
    pub started: Instant,
    /// Bearer token of the admin API.
    pub admin_token: String,
    /// Who may call the MCP endpoints.
    pub auth: Arc<dyn Authenticator>,
    /// What the protected-resource metadata advertises.
    pub auth_meta: AuthMetadata,
    /// Where API keys live (the admin API mints and revokes them).
    pub api_keys: Arc<dyn fastmcp_core::ApiKeyStore>,
    /// This instance's metrics (`GET /metrics`).
    pub metrics: Arc<Metrics>,
    /// Per-entity limits, enforced through the shared store.
    pub limits: Limits,
    /// Requests that failed authentication, per source address (this instance).
    pub unauthenticated: crate::limits::SourceBudget,
    /// Open SSE streams on this instance, capped in total and per entity.
    pub streams: Arc<crate::limits::StreamSlots>,
    /// Cancelled when the process starts to drain (SIGTERM): `/ready` answers 503, and streams
    /// that a client can resume elsewhere end now.
    pub draining: tokio_util::sync::CancellationToken,
    /// Calls that run in tasks of their own (answered on a stream, or the legacy transport's),
    /// which a draining process waits for, within its grace period, before it exits.
    pub calls: tokio_util::task::TaskTracker,
    /// HTTP requests being handled (until their handler returns; a stream's body is the
    /// business of the task that feeds it).
    pub requests: tokio_util::task::TaskTracker,
    /// The stored catalog (items defined through the admin API) and its settings.
    pub catalog: CatalogSettings,
}

/// The stored catalog of this app: the provider serving it, its caps, and how often an
/// instance looks for changes made elsewhere.
#[derive(Clone)]
pub struct CatalogSettings {
    /// The provider (its store, and this instance's cache).
    pub provider: StoredCatalog,
    /// Size and count caps of stored items.
    pub caps: CatalogCaps,
    /// How often this instance checks the store for changes.
    pub refresh: std::time::Duration,
    /// The upstream MCP servers mounted through the catalog (`None`: federation is off).
    #[cfg(feature = "federation")]
    pub federation: Option<fastmcp_upstream::Federation>,
}

impl CatalogSettings {
    /// Whether mounted upstream MCP servers are served.
    pub fn federates(&self) -> bool {
        #[cfg(feature = "federation")]
        return self.federation.is_some();
        #[cfg(not(feature = "federation"))]
        false
    }
}

impl AppState {
    /// Whether the process is draining.
    pub fn is_draining(&self) -> bool {
        self.draining.is_cancelled()
    }
}

impl AppState {
    /// Starts assembling the app for the catalog in `server` on `stores` (every role: the engine
    /// gets sessions, queue, logs, keys and entity configurations; the edge gets API keys and
    /// limit counters). Defaults: no authentication, no limits, a random instance id, an admin
    /// token that must be set for the admin API to be usable.
    pub fn builder(server: McpServerBuilder, stores: Stores) -> AppBuilder {
        AppBuilder {
            server,
            limits: Limits::off(Arc::clone(&stores.limits)),
            stores,
            http: HttpConfig::default(),
            instance_id: uuid::Uuid::new_v4().simple().to_string()[..12].to_string(),
            store_kind: "memory".into(),
            admin_token: String::new(),
            auth: Arc::new(NoAuth::new()),
            auth_meta: AuthMetadata::default(),
            metrics_max_entities: 100,
            catalog_caps: CatalogCaps::default(),
            catalog_refresh: fastmcp_core::provider::DEFAULT_REFRESH,
            outbound: None,
            #[cfg(feature = "federation")]
            network: None,
        }
    }
}

/// Assembles an [`AppState`]; see [`AppState::builder`].
pub struct AppBuilder {
    server: McpServerBuilder,
    stores: Stores,
    http: HttpConfig,
    instance_id: String,
    store_kind: String,
    admin_token: String,
    auth: Arc<dyn Authenticator>,
    auth_meta: AuthMetadata,
    limits: Limits,
    metrics_max_entities: usize,
    catalog_caps: CatalogCaps,
    catalog_refresh: std::time::Duration,
    outbound: Option<Arc<dyn fastmcp_core::catalog::Outbound>>,
    #[cfg(feature = "federation")]
    network: Option<Arc<dyn fastmcp_upstream::Network>>,
}

impl AppBuilder {
    /// Serves upstream MCP servers mounted through the catalog, reached through `network`
    /// (the server's HTTP client and SSRF guard).
    #[cfg(feature = "federation")]
    pub fn federation(mut self, network: Arc<dyn fastmcp_upstream::Network>) -> Self {
        self.network = Some(network);
        self
    }

    /// HTTP-level settings (body limit, origins, keep-alive).
    pub fn http(mut self, http: HttpConfig) -> Self {
        self.http = http;
        self
    }

    /// This instance's id.
    pub fn instance_id(mut self, id: impl Into<String>) -> Self {
        self.instance_id = id.into();
        self
    }

    /// The store kind shown by `GET /` and the admin API.
    pub fn store_kind(mut self, kind: impl Into<String>) -> Self {
        self.store_kind = kind.into();
        self
    }

    /// The admin API's bearer token.
    pub fn admin_token(mut self, token: impl Into<String>) -> Self {
        self.admin_token = token.into();
        self
    }

    /// Who may call the MCP endpoints.
    pub fn auth(mut self, auth: Arc<dyn Authenticator>) -> Self {
        self.auth = auth;
        self
    }

    /// What the protected-resource metadata advertises.
    pub fn auth_meta(mut self, meta: AuthMetadata) -> Self {
        self.auth_meta = meta;
        self
    }

    /// Adjusts the per-entity limits (all off by default).
    pub fn limits(mut self, f: impl FnOnce(&mut Limits)) -> Self {
        f(&mut self.limits);
        self
    }

    /// Caps of the stored catalog, and how often to look for changes made elsewhere.
    pub fn catalog(mut self, caps: CatalogCaps, refresh: std::time::Duration) -> Self {
        self.catalog_caps = caps;
        self.catalog_refresh = refresh;
        self
    }

    /// Where stored HTTP tools send their requests (the server's network policy); without it,
    /// the admin API refuses HTTP tools.
    pub fn outbound(mut self, outbound: Arc<dyn fastmcp_core::catalog::Outbound>) -> Self {
        self.outbound = Some(outbound);
        self
    }

    /// Entities labelled by name in `/metrics`.
    pub fn metrics_max_entities(mut self, n: usize) -> Self {
        self.metrics_max_entities = n;
        self
    }

    /// Wires the engine to the stores and the metrics, and freezes the state.
    pub fn build(self) -> Arc<AppState> {
        let metrics = Arc::new(Metrics::new(self.metrics_max_entities));
        let s = &self.stores;
        let timed = Arc::clone(&metrics);
        // Needs the runtime: the provider's refresher is a task.
        let stored = StoredCatalog::with_outbound(
            Arc::clone(&s.catalog),
            self.catalog_refresh,
            self.outbound.clone(),
        );
        let server = self.server.provider(Arc::new(stored.clone()));
        #[cfg(feature = "federation")]
        let federation = self.network.clone().map(|net| {
            fastmcp_upstream::Federation::new(stored.clone(), net, Arc::clone(&s.sessions))
        });
        #[cfg(feature = "federation")]
        let server = match &federation {
            Some(f) => server.provider(Arc::new(f.clone())),
            None => server,
        };
        let mcp = server
            .observer(Arc::clone(&metrics) as Arc<dyn CallObserver>)
            // Added last, so innermost: the time of the handler, whatever the app's own layers
            // (a cache hit, a timeout) did around it.
            .middleware(fastmcp_core::middleware::Timing::new(
                move |call, took, _| timed.handler(call.ctx.entity_id(), call.method.name(), took),
            ))
            .logs(Arc::clone(&s.logs))
            .keys(Arc::clone(&s.keys))
            .entity_configs(Arc::clone(&s.entity_configs))
            .build(Arc::clone(&s.sessions), Arc::clone(&s.queue));
        // An upstream's list change becomes its users' own `list_changed`.
        #[cfg(feature = "federation")]
        if let Some(mut rx) = federation.as_ref().and_then(|f| f.take_announcements()) {
            let mcp = mcp.clone();
            tokio::spawn(async move {
                while let Some((entity, change)) = rx.recv().await {
                    if let Err(e) = mcp.notify(&entity, change).await {
                        tracing::warn!(error = %e.report(), %entity, "cannot announce an upstream's change");
                    }
                }
            });
        }
        Arc::new(AppState {
            mcp,
            instance_id: self.instance_id,
            store_kind: self.store_kind,
            started: Instant::now(),
            admin_token: self.admin_token,
            auth: self.auth,
            auth_meta: self.auth_meta,
            api_keys: Arc::clone(&self.stores.api_keys),
            metrics: Arc::clone(&metrics),
            limits: self.limits,
            unauthenticated: crate::limits::SourceBudget::new(self.http.unauthenticated_rps),
            streams: Arc::new(crate::limits::StreamSlots::new(
                self.http.max_streams,
                self.http.max_streams_per_entity,
                metrics,
            )),
            draining: tokio_util::sync::CancellationToken::new(),
            calls: tokio_util::task::TaskTracker::new(),
            requests: tokio_util::task::TaskTracker::new(),
            http: self.http,
            catalog: CatalogSettings {
                provider: stored,
                caps: self.catalog_caps,
                refresh: self.catalog_refresh,
                #[cfg(feature = "federation")]
                federation,
            },
        })
    }
}

/// Ends a session everywhere: the record, its streams (their subscribers end) and replies.
/// `true` when the record was there to delete (it may already have been, by a concurrent
/// end on any instance).
pub(crate) async fn end_session(
    state: &AppState,
    entity: &fastmcp_core::EntityId,
    id: &fastmcp_core::SessionId,
) -> fastmcp_core::Result<bool> {
    let mcp = &state.mcp;
    mcp.cancel_session(id);
    // Its upstream sessions held here end now (other instances' within their sweep).
    #[cfg(feature = "federation")]
    if let Some(f) = &state.catalog.federation {
        f.end_session(entity, id).await;
    }
    let existed = mcp.sessions().delete(entity, id).await?;
    mcp.queue().delete_session(entity, id).await?;
    Ok(existed)
}
