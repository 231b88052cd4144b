//! [`McpServerBuilder`]: the catalog, the settings and the stores an engine is built from.

use std::sync::atomic::AtomicU8;
use std::sync::Arc;

use super::cancel::Running;
use super::request_state::StateKeys;
use super::shared::Shared;
use super::{McpServer, ServerConfig, ServerInfo};
use crate::methods::CallObserver;
use crate::registry::RegistryBuilder;
use crate::storage::{EntityConfigStore, KeyStore, LogStore, MessageQueue, SessionStore};

/// Assembles an [`McpServer`].
pub struct McpServerBuilder {
    info: ServerInfo,
    registry: RegistryBuilder,
    config: ServerConfig,
    logs: Option<Arc<dyn LogStore>>,
    keys: Option<Arc<dyn KeyStore>>,
    observer: Option<Arc<dyn CallObserver>>,
    middleware: Vec<Arc<dyn crate::middleware::Middleware>>,
    entity_configs: Option<Arc<dyn EntityConfigStore>>,
    providers: Vec<Arc<dyn crate::provider::Provider>>,
}

impl McpServerBuilder {
    pub(super) fn new(name: String, version: String) -> Self {
        Self {
            info: ServerInfo {
                name,
                version,
                instructions: None,
            },
            registry: RegistryBuilder::new(),
            config: ServerConfig::default(),
            logs: None,
            keys: None,
            observer: None,
            middleware: Vec::new(),
            entity_configs: None,
            providers: Vec::new(),
        }
    }

    /// Usage instructions sent in `initialize`.
    pub fn instructions(mut self, text: impl Into<String>) -> Self {
        self.info.instructions = Some(text.into());
        self
    }

    /// Engine tunables.
    pub fn config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// The catalog under construction.
    pub fn registry(&mut self) -> &mut RegistryBuilder {
        &mut self.registry
    }

    /// Registers tools, resources and prompts with a closure (handy for reusable catalogs).
    pub fn with(mut self, f: impl FnOnce(&mut RegistryBuilder)) -> Self {
        f(&mut self.registry);
        self
    }

    /// Keeps every `ctx` log, progress and error event in `logs` (read by the admin API).
    pub fn logs(mut self, logs: Arc<dyn LogStore>) -> Self {
        self.logs = Some(logs);
        self
    }

    /// Where the `requestState` signing keys live. Give every instance the same shared store
    /// (the server's store does this); without one each process makes its own key, and a
    /// multi-round request must come back to the same process.
    pub fn keys(mut self, keys: Arc<dyn KeyStore>) -> Self {
        self.keys = Some(keys);
        self
    }

    /// Per-entity configuration (visibility of tools, resources and prompts) from `store`.
    pub fn entity_configs(mut self, store: Arc<dyn EntityConfigStore>) -> Self {
        self.entity_configs = Some(store);
        self
    }

    /// Adds a layer around every call of a tool, resource, prompt or completion (see
    /// [`crate::middleware`]). Layers run in the order added: the first is the outermost.
    pub fn middleware(mut self, layer: impl crate::middleware::Middleware) -> Self {
        self.middleware.push(Arc::new(layer));
        self
    }

    /// Adds a source of items after the code registry and the providers added before
    /// (earlier ones win a name clash; see [`crate::provider`]).
    pub fn provider(mut self, provider: Arc<dyn crate::provider::Provider>) -> Self {
        self.providers.push(provider);
        self
    }

    /// Reports every tool call to `observer` (the server's metrics).
    pub fn observer(mut self, observer: Arc<dyn CallObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Freezes the catalog and binds the stores. Session and stream calls run in spans
    /// (`store.*`, see [`crate::storage::traced`]) that cost nothing unless traced.
    pub fn build(self, sessions: Arc<dyn SessionStore>, queue: Arc<dyn MessageQueue>) -> McpServer {
        let sessions: Arc<dyn SessionStore> = Arc::new(crate::storage::traced::Traced(sessions));
        let queue: Arc<dyn MessageQueue> = Arc::new(crate::storage::traced::Traced(queue));
        McpServer {
            shared: Arc::new(Shared {
                info: self.info,
                providers: crate::provider::Providers::new(self.registry.build(), self.providers),
                sessions,
                queue,
                logs: self.logs,
                states: StateKeys::new(self.keys, self.config.request_state_keys.clone()),
                observer: self.observer,
                middleware: self.middleware,
                entity_configs: self.entity_configs,
                config_cache: dashmap::DashMap::new(),
                default_log_level: AtomicU8::new(self.config.default_log_level.rank()),
                config: self.config,
                running: Arc::new(Running::default()),
            }),
        }
    }
}
