//! The engine: one per process, shared by every transport, serving both protocol eras from one
//! catalog.
//!
//! A message flows transport → admission (the server's edge) → an era's envelope → the
//! `pipeline` → [`methods`](crate::methods) and the registry → the stores:
//! - `handshake`: 2024-11-05 … 2025-11-25, where the envelope is a session record (what
//!   `initialize` negotiated, the logging level, subscriptions);
//! - [`stateless`]: 2026-07-28, where every request carries its envelope in `_meta`, and a
//!   request that needs client input ends in a signed `request_state`;
//! - the `pipeline` both share: cancellation (`cancel`), panic capture, visibility, routing,
//!   and keeping failures in the log store;
//! - the [`notify`]er: a catalog change reaches the clients of both eras on every instance.
//!
//! Nothing here knows about HTTP, so tests drive the engine directly.

mod builder;
mod cancel;
mod handshake;
pub mod notify;
mod pipeline;
mod request_state;
mod shared;
pub mod stateless;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio_util::sync::CancellationToken;

pub use crate::methods::CallObserver;
pub use builder::McpServerBuilder;
pub use handshake::{unsupported_version_error, ResponseMessage};

use crate::context::{Context, Outlet, RequestScope};
use crate::error::{Error, Result};
use crate::ids::{EntityId, SessionId};
use crate::protocol::LoggingLevel;
use crate::registry::Registry;
use crate::storage::{EntityConfig, LogStore, MessageQueue, SessionStore};
use shared::Shared;

/// Tunables of the engine.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Idle time after which a session expires.
    pub session_ttl: Duration,
    /// How long `ctx.sample` / `ctx.elicit` / `ctx.list_roots` wait for the client.
    pub client_request_timeout: Duration,
    /// Items per page of `tools/list`, `resources/list`, `prompts/list` …
    pub page_size: usize,
    /// Logging threshold of sessions that never called `logging/setLevel`, at start-up (the
    /// admin API changes it at run time: [`McpServer::set_default_log_level`]).
    pub default_log_level: LoggingLevel,
    /// Ids of the `requestState` signing keys: the first signs, all of them verify (rotation:
    /// put a new id first and keep the old one until states signed with it have expired).
    pub request_state_keys: Vec<String>,
    /// How long a `requestState` stays valid.
    pub request_state_ttl: Duration,
    /// How long an instance trusts an entity configuration it read before re-reading it.
    pub entity_config_ttl: Duration,
    /// How long a request runs before this instance also listens in the shared queue for a
    /// `notifications/cancelled` that reached another instance. Shorter requests can only be
    /// cancelled on the instance running them; the delay keeps quick calls off the store.
    pub remote_cancel_after: Duration,
    /// What sessions and the log store may keep of what clients send.
    pub retention: crate::retention::RetentionCaps,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(3600),
            client_request_timeout: Duration::from_secs(60),
            page_size: 100,
            default_log_level: LoggingLevel::Info,
            request_state_keys: vec!["k1".into()],
            request_state_ttl: Duration::from_secs(600),
            entity_config_ttl: Duration::from_secs(5),
            remote_cancel_after: Duration::from_secs(1),
            retention: crate::retention::RetentionCaps::default(),
        }
    }
}

/// Name, version and instructions announced in `initialize` and `server/discover`.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// Server name.
    pub name: String,
    /// Server version.
    pub version: String,
    /// Optional usage instructions for the model.
    pub instructions: Option<String>,
}

/// The protocol engine: one per process, shared by every transport. Cheap to clone.
#[derive(Clone)]
pub struct McpServer {
    pub(crate) shared: Arc<Shared>,
}

impl McpServer {
    /// Starts a server named `name` at `version`.
    pub fn builder(name: impl Into<String>, version: impl Into<String>) -> McpServerBuilder {
        McpServerBuilder::new(name.into(), version.into())
    }

    /// Server identity.
    pub fn info(&self) -> &ServerInfo {
        &self.shared.info
    }

    /// The code catalog: what was registered with the builder (every entity's first
    /// provider).
    pub fn registry(&self) -> &Registry {
        self.shared.providers.code()
    }

    /// Everything `entity`, as `principal`, is offered: the code catalog and every provider's
    /// items, merged (before the entity's visibility rules).
    pub async fn catalog(
        &self,
        entity: &EntityId,
        principal: Option<&crate::auth::Principal>,
    ) -> Result<Arc<Registry>> {
        self.shared.catalog(entity, principal).await
    }

    /// The session store.
    pub fn sessions(&self) -> &Arc<dyn SessionStore> {
        &self.shared.sessions
    }

    /// The message queue.
    pub fn queue(&self) -> &Arc<dyn MessageQueue> {
        &self.shared.queue
    }

    /// Tunables, as built (the default logging level in force is
    /// [`default_log_level`](Self::default_log_level)).
    pub fn config(&self) -> &ServerConfig {
        &self.shared.config
    }

    /// The log store, if one is configured.
    pub fn logs(&self) -> Option<&Arc<dyn LogStore>> {
        self.shared.logs.as_ref()
    }

    /// The logging threshold of sessions that have not set their own.
    pub fn default_log_level(&self) -> LoggingLevel {
        self.shared.default_log_level()
    }

    /// Changes the logging threshold of sessions that have not set their own (this instance).
    pub fn set_default_log_level(&self, level: LoggingLevel) {
        self.shared.set_default_log_level(level);
    }

    /// Sets one session's logging level, as `logging/setLevel` would; it takes effect on the
    /// session's next messages, on every instance. `Err(NotFound)` if the session is gone.
    pub async fn set_session_log_level(
        &self,
        entity: &EntityId,
        id: &SessionId,
        level: LoggingLevel,
    ) -> Result<()> {
        self.shared
            .update_session(entity, id, &mut |r| r.logging_level = Some(level))
            .await
            .map(|_| ())
    }

    /// Cancels every request of `session` running on this instance (the session ended).
    pub fn cancel_session(&self, session: &SessionId) {
        self.shared.running.cancel_session(session);
    }

    /// The entity configuration in force for `entity` (cached per instance for
    /// `entity_config_ttl`); `None` when none is set or no store is configured.
    pub async fn entity_config(&self, entity: &EntityId) -> Result<Option<Arc<EntityConfig>>> {
        self.shared.entity_config(entity).await
    }

    /// Replaces (or clears) `entity`'s configuration; this instance sees it at once, others
    /// within `entity_config_ttl`. `Err(InvalidParams)` without a configuration store.
    pub async fn set_entity_config(
        &self,
        entity: &EntityId,
        config: Option<EntityConfig>,
    ) -> Result<()> {
        let store =
            self.shared.entity_configs.as_ref().ok_or_else(|| {
                Error::invalid_params("this server keeps no entity configuration")
            })?;
        store.set_entity_config(entity, config.as_ref()).await?;
        self.shared.config_cache.remove(entity);
        Ok(())
    }

    /// A context for work outside any request (e.g. an admin call) on behalf of `entity`.
    pub fn detached_context(&self, entity: EntityId, outlet: Arc<dyn Outlet>) -> Context {
        self.context(RequestScope {
            entity,
            session_id: None,
            request_id: None,
            progress_token: None,
            log_threshold: Some(self.shared.default_log_level()),
            client_capabilities: Arc::new(json!({})),
            outlet,
            cancel: CancellationToken::new(),
            input: None,
            principal: None,
        })
    }

    /// A handler's context for `scope`, backed by this engine.
    pub(crate) fn context(&self, scope: RequestScope) -> Context {
        Context {
            services: Arc::clone(&self.shared) as Arc<dyn crate::context::Services>,
            scope: Arc::new(scope),
        }
    }
}
