//! What every request of one server shares: the catalog, the stores, the settings, and the
//! per-instance caches. The [`Context`](crate::Context) of a request sees it only through the
//! narrow [`Services`] contract.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{json, Value};

use super::cancel::Running;
use super::notify;
use super::request_state::StateKeys;
use super::{ServerConfig, ServerInfo};
use crate::context::{Context, Services};
use crate::error::{Error, Result};
use crate::ids::{EntityId, SessionId};
use crate::methods::CallObserver;
use crate::protocol::{Change, LoggingLevel, MethodResult, RequestId, ResourceContents};
use crate::provider::Providers;
use crate::registry::Registry;
use crate::storage::{
    now_ms, EntityConfig, EntityConfigStore, LogKind, LogRecord, LogStore, MessageQueue,
    SessionRecord, SessionStore, StoreError,
};

pub(crate) struct Shared {
    pub(crate) info: ServerInfo,
    /// The code registry, then the other providers' items.
    pub(crate) providers: Providers,
    pub(crate) sessions: Arc<dyn SessionStore>,
    pub(crate) queue: Arc<dyn MessageQueue>,
    pub(crate) logs: Option<Arc<dyn LogStore>>,
    /// The settings as built. `default_log_level` here is only the starting value: the level
    /// in force is [`Shared::default_log_level`], which the admin API changes at run time.
    pub(crate) config: ServerConfig,
    /// Signs and checks 2026-07-28 `requestState`.
    pub(crate) states: StateKeys,
    pub(crate) observer: Option<Arc<dyn CallObserver>>,
    /// Layers around every call, outermost first.
    pub(crate) middleware: Vec<Arc<dyn crate::middleware::Middleware>>,
    pub(crate) entity_configs: Option<Arc<dyn EntityConfigStore>>,
    /// Entity configurations read recently, with when.
    pub(crate) config_cache:
        dashmap::DashMap<EntityId, (Option<Arc<EntityConfig>>, std::time::Instant)>,
    /// Threshold of sessions without their own level; changeable at run time (admin API).
    pub(crate) default_log_level: AtomicU8,
    /// Requests running on this instance, for `notifications/cancelled`.
    pub(crate) running: Arc<Running>,
}

/// Entity configurations a process keeps at most before it forgets them all (a hostile
/// stream of entity ids must not grow the cache without bound).
const CONFIG_CACHE_CAP: usize = 100_000;

impl Shared {
    pub(crate) fn default_log_level(&self) -> LoggingLevel {
        LoggingLevel::from_rank(self.default_log_level.load(Ordering::Relaxed))
    }

    pub(crate) fn set_default_log_level(&self, level: LoggingLevel) {
        self.default_log_level
            .store(level.rank(), Ordering::Relaxed);
    }

    /// Keeps a failed request (a JSON-RPC error, or an `isError` result) in the log store, in
    /// either era: what the admin logs routes show for the entity and session.
    pub(crate) async fn record_failure(
        &self,
        entity: &EntityId,
        session: Option<SessionId>,
        id: &RequestId,
        outcome: &Result<MethodResult>,
    ) {
        if self.logs.is_none() {
            return;
        }
        let (message, data) = match outcome {
            Ok(r) if r.is_tool_error() => (
                format!("request {id} returned an error result"),
                json!({ "request_id": id, "result": r }),
            ),
            Ok(_) => return,
            // Not a failure: the request goes on in its next round.
            Err(Error::InputRequired) => return,
            Err(e) => (
                format!("request {id} failed: {e}"),
                json!({ "request_id": id, "error": e.to_error_object() }),
            ),
        };
        self.record(
            entity,
            session,
            LogKind::Error,
            LoggingLevel::Error,
            message,
            data,
        )
        .await;
    }

    /// Load-modify-save with compare-and-swap, retried a few times on conflict.
    pub(crate) async fn update_session(
        &self,
        entity: &EntityId,
        id: &SessionId,
        f: &mut (dyn for<'r> FnMut(&'r mut SessionRecord) + Send),
    ) -> Result<SessionRecord> {
        for _ in 0..8 {
            let Some(mut rec) = self.sessions.load(entity, id).await? else {
                return Err(Error::NotFound("session".into()));
            };
            f(&mut rec);
            match self.sessions.save(&rec, self.config.session_ttl).await {
                Ok(v) => {
                    rec.version = v;
                    return Ok(rec);
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict(
            "session updated concurrently too often".into(),
        ))
    }

    /// What `entity`, as `principal`, is offered: the code registry and every provider's items.
    pub(crate) async fn catalog(
        &self,
        entity: &EntityId,
        principal: Option<&crate::auth::Principal>,
    ) -> Result<Arc<Registry>> {
        let config = self.entity_config(entity).await?;
        let transforms = config.as_deref().map(|c| &c.transforms);
        self.providers.catalog(entity, principal, transforms).await
    }

    /// The entity configuration in force for `entity` (cached per instance for
    /// `entity_config_ttl`); `None` when none is set or no store is configured.
    pub(crate) async fn entity_config(
        &self,
        entity: &EntityId,
    ) -> Result<Option<Arc<EntityConfig>>> {
        let Some(store) = &self.entity_configs else {
            return Ok(None);
        };
        if let Some(hit) = self.config_cache.get(entity) {
            if hit.1.elapsed() < self.config.entity_config_ttl {
                return Ok(hit.0.clone());
            }
        }
        let cfg = store.entity_config(entity).await?.map(Arc::new);
        if self.config_cache.len() > CONFIG_CACHE_CAP {
            self.config_cache.clear();
        }
        self.config_cache
            .insert(entity.clone(), (cfg.clone(), std::time::Instant::now()));
        Ok(cfg)
    }
}

#[async_trait]
impl Services for Shared {
    async fn record(
        &self,
        entity: &EntityId,
        session: Option<SessionId>,
        kind: LogKind,
        level: LoggingLevel,
        message: String,
        data: Value,
    ) {
        let Some(logs) = &self.logs else { return };
        let (mut message, mut data) = (message, data);
        self.config
            .retention
            .cut_log_record(&mut message, &mut data);
        let rec = LogRecord {
            entity: entity.clone(),
            session,
            kind,
            level,
            message,
            data,
            created_at_ms: now_ms(),
        };
        if let Err(e) = logs.append(&rec).await {
            tracing::warn!(error = %e.report(), "cannot keep a log record");
        }
    }

    async fn read_resource(&self, uri: &str, ctx: Context) -> Result<Vec<ResourceContents>> {
        let catalog = self.catalog(ctx.entity_id(), ctx.principal()).await?;
        catalog.read_resource(uri, ctx).await
    }

    async fn load_session(
        &self,
        entity: &EntityId,
        id: &SessionId,
    ) -> Result<Option<SessionRecord>> {
        Ok(self.sessions.load(entity, id).await?)
    }

    async fn update_session(
        &self,
        entity: &EntityId,
        id: &SessionId,
        f: &mut (dyn for<'r> FnMut(&'r mut SessionRecord) + Send),
    ) -> Result<SessionRecord> {
        Shared::update_session(self, entity, id, f).await
    }

    async fn client_reply(
        &self,
        entity: &EntityId,
        session: &SessionId,
        key: &str,
    ) -> Result<Option<Value>> {
        Ok(self
            .queue
            .take_reply(entity, session, key, self.config.client_request_timeout)
            .await?)
    }

    async fn notify(&self, entity: &EntityId, change: &Change) -> Result<usize> {
        notify::publish(self, entity, change).await
    }

    fn retention(&self) -> &crate::retention::RetentionCaps {
        &self.config.retention
    }
}
