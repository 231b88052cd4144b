//! Per-entity limits at the MCP edge, enforced through the shared [`LimitStore`] so they hold
//! across every instance: requests per second (fixed one-second windows, counted after
//! authentication: requests without valid credentials have their own per-source budget,
//! [`SourceBudget`], so they cannot spend a tenant's), tool calls running at once
//! (leased slots, released when the call ends; a killed instance's slots expire) and live
//! sessions. The flags set every entity's limits; an entity's stored configuration
//! ([`EntityLimits`]) overrides them, read through the dispatcher's per-instance cache.

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;

use fastmcp_core::protocol::{ErrorObject, RequestId};
use fastmcp_core::{EntityId, EntityLimits, LimitStore, McpServer};
use poem::http::StatusCode;
use poem::Response;
use serde_json::json;

use crate::metrics::Metrics;
use crate::response::{rpc_error, store_error};

/// JSON-RPC code of a refused request (implementation-defined server error range).
pub use fastmcp_core::protocol::codes::RATE_LIMITED;

/// The limits in force and where their counters live.
pub struct Limits {
    /// Shared counters.
    pub store: Arc<dyn LimitStore>,
    /// Requests per second per entity (0: none).
    pub rps: u64,
    /// Concurrent tool calls per entity (0: none).
    pub concurrent_calls: u64,
    /// Longest a call slot is held if its instance dies mid-call.
    pub call_lease: Duration,
    /// Live sessions per entity (0: none). A soft cap: two initializes racing on different
    /// instances may both pass when one slot is left.
    pub max_sessions: u64,
}

impl Limits {
    /// No limits.
    pub fn off(store: Arc<dyn LimitStore>) -> Self {
        Self {
            store,
            rps: 0,
            concurrent_calls: 0,
            call_lease: Duration::from_secs(600),
            max_sessions: 0,
        }
    }

    /// The entity's own limits, if its configuration sets any.
    async fn overrides(mcp: &McpServer, entity: &EntityId) -> Result<EntityLimits, Denied> {
        let cfg = mcp
            .entity_config(entity)
            .await
            .map_err(|e| Denied::Response(store_error(e)))?;
        Ok(cfg.map(|c| c.limits).unwrap_or_default())
    }

    /// Counts the request against the entity's rate; 429 with `Retry-After` beyond it.
    pub(crate) async fn check_rate(
        &self,
        mcp: &McpServer,
        metrics: &Metrics,
        entity: &EntityId,
    ) -> Result<(), Denied> {
        let rps = Self::overrides(mcp, entity)
            .await?
            .requests_per_second
            .unwrap_or(self.rps);
        if rps == 0 {
            return Ok(());
        }
        let (count, left) = self
            .store
            .hit(&format!("rps:{entity}"), Duration::from_secs(1))
            .await
            .map_err(|e| Denied::Response(store_error(e)))?;
        if count <= rps {
            return Ok(());
        }
        metrics.rate_limited(entity, "rate");
        Err(Denied::Limit(Refusal {
            message: format!("entity `{entity}` is over its limit of {rps} requests per second"),
            retry_after: left,
        }))
    }

    /// Takes one of the entity's concurrent-call slots for a `tools/call`; 429 when all are
    /// taken. The slot is given back when the returned guard is dropped.
    pub(crate) async fn take_call_slot(
        &self,
        mcp: &McpServer,
        metrics: &Metrics,
        entity: &EntityId,
    ) -> Result<Option<CallSlot>, Denied> {
        let cap = Self::overrides(mcp, entity)
            .await?
            .concurrent_calls
            .unwrap_or(self.concurrent_calls);
        if cap == 0 {
            return Ok(None);
        }
        let key = format!("calls:{entity}");
        match self.store.acquire(&key, cap, self.call_lease).await {
            Ok(Some(slot)) => Ok(Some(CallSlot {
                store: Arc::clone(&self.store),
                key,
                slot: Some(slot),
            })),
            Ok(None) => {
                metrics.rate_limited(entity, "concurrency");
                Err(Denied::Limit(Refusal {
                    message: format!("entity `{entity}` already has {cap} tool calls running"),
                    retry_after: Duration::from_secs(1),
                }))
            }
            Err(e) => Err(Denied::Response(store_error(e))),
        }
    }

    /// Refuses a new session when the entity already has `max_sessions` live ones (counted in
    /// the shared store, so across instances).
    pub(crate) async fn check_sessions(
        &self,
        mcp: &McpServer,
        metrics: &Metrics,
        entity: &EntityId,
        id: Option<&RequestId>,
    ) -> Result<(), Response> {
        let max = Self::overrides(mcp, entity)
            .await
            .map_err(|d| d.into_response(id))?
            .max_sessions
            .unwrap_or(self.max_sessions);
        if max == 0 {
            return Ok(());
        }
        let cap = usize::try_from(max).unwrap_or(usize::MAX);
        let page = mcp
            .sessions()
            .list(entity, None, cap)
            .await
            .map_err(store_error)?;
        if page.sessions.len() < cap {
            return Ok(());
        }
        metrics.rate_limited(entity, "sessions");
        let refusal = Refusal {
            message: format!("entity `{entity}` already has {cap} live sessions; end one first"),
            retry_after: Duration::from_secs(60),
        };
        Err(refusal.response(id))
    }
}

/// A request refused by a per-entity limit. Answered with 429 and `Retry-After` when the
/// answer is the HTTP response, or as a JSON-RPC error on the stream that carries the answers
/// (the legacy transport, whose clients treat a failed POST as a broken connection).
#[derive(Debug)]
pub(crate) struct Refusal {
    message: String,
    retry_after: Duration,
}

impl Refusal {
    fn retry_secs(&self) -> u64 {
        self.retry_after.as_secs_f64().ceil().max(1.0) as u64
    }

    /// The JSON-RPC error: -32029 with `data.retryAfterSeconds`.
    pub(crate) fn error(&self) -> ErrorObject {
        ErrorObject::new(RATE_LIMITED, self.message.clone())
            .with_data(json!({ "retryAfterSeconds": self.retry_secs() }))
    }

    /// 429 with `Retry-After` and the JSON-RPC error as body.
    pub(crate) fn response(&self, id: Option<&RequestId>) -> Response {
        let mut resp = rpc_error(StatusCode::TOO_MANY_REQUESTS, id, self.error());
        if let Ok(v) = self.retry_secs().to_string().parse() {
            resp.headers_mut().insert("retry-after", v);
        }
        resp
    }
}

/// Why a request may not proceed: a limit, or another HTTP answer (store down, missing scope).
pub(crate) enum Denied {
    /// A per-entity limit.
    Limit(Refusal),
    /// Any other refusal, already an HTTP response.
    Response(Response),
}

impl Denied {
    /// The HTTP answer, for request `id` when known.
    pub(crate) fn into_response(self, id: Option<&RequestId>) -> Response {
        match self {
            Denied::Limit(r) => r.response(id),
            Denied::Response(r) => r,
        }
    }
}

/// A held concurrent-call slot; released (in the background) when dropped.
pub(crate) struct CallSlot {
    store: Arc<dyn LimitStore>,
    key: String,
    slot: Option<String>,
}

impl Drop for CallSlot {
    fn drop(&mut self) {
        let Some(slot) = self.slot.take() else { return };
        let (store, key) = (Arc::clone(&self.store), std::mem::take(&mut self.key));
        // A failed release only holds the slot until its lease expires.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = store.release(&key, &slot).await {
                    tracing::warn!(error = %e.report(), "cannot release a call slot; it expires with its lease");
                }
            });
        }
    }
}

/// Open SSE streams on this instance (GET `/mcp`, legacy `/sse`, `subscriptions/listen`), in
/// total and per entity. Per instance on purpose: what a stream costs is this process's
/// descriptors and memory. Streams that answer one POSTed call are not counted: the call's own
/// limits bound them, and they end with it.
pub struct StreamSlots {
    total_cap: usize,
    entity_cap: usize,
    total: AtomicUsize,
    per_entity: DashMap<EntityId, usize>,
    metrics: Arc<Metrics>,
}

/// One open stream's place; given back when dropped (with the stream's task).
pub(crate) struct StreamSlot {
    slots: Arc<StreamSlots>,
    entity: EntityId,
}

impl StreamSlots {
    /// At most `total_cap` streams on this instance and `entity_cap` per entity (`0`: no cap).
    pub fn new(total_cap: usize, entity_cap: usize, metrics: Arc<Metrics>) -> Self {
        Self {
            total_cap,
            entity_cap,
            total: AtomicUsize::new(0),
            per_entity: DashMap::new(),
            metrics,
        }
    }

    /// Streams open on this instance.
    pub fn open(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    /// A place for one more stream of `entity`: 503 with `Retry-After` when the instance is
    /// full (a balancer or the client tries another), 429 when the entity has its share.
    // The refusal is the whole answer, returned at once (as in `edge`).
    #[allow(clippy::result_large_err)]
    pub(crate) fn admit(self: &Arc<Self>, entity: &EntityId) -> Result<StreamSlot, Response> {
        let cap = |n: usize| if n == 0 { usize::MAX } else { n };
        if self.total.fetch_add(1, Ordering::AcqRel) >= cap(self.total_cap) {
            self.total.fetch_sub(1, Ordering::AcqRel);
            self.metrics.rate_limited(entity, "streams_instance");
            let mut resp = rpc_error(
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                ErrorObject::new(
                    RATE_LIMITED,
                    format!(
                        "this instance already holds {} streams (--max-streams); retry, or on another instance",
                        self.total_cap
                    ),
                )
                .with_data(json!({ "retryAfterSeconds": 1 })),
            );
            resp.headers_mut()
                .insert("retry-after", poem::http::HeaderValue::from_static("1"));
            return Err(resp);
        }
        let mut n = self.per_entity.entry(entity.clone()).or_insert(0);
        if *n >= cap(self.entity_cap) {
            drop(n);
            self.total.fetch_sub(1, Ordering::AcqRel);
            self.metrics.rate_limited(entity, "streams");
            return Err(Refusal {
                message: format!(
                    "entity `{entity}` already has {} streams open on this instance (--max-streams-per-entity); close one first",
                    self.entity_cap
                ),
                retry_after: Duration::from_secs(1),
            }
            .response(None));
        }
        *n += 1;
        drop(n);
        self.metrics.stream(entity, 1);
        Ok(StreamSlot {
            slots: Arc::clone(self),
            entity: entity.clone(),
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let s = &self.slots;
        s.total.fetch_sub(1, Ordering::AcqRel);
        // Remove the entry at zero, so entities that come and go leave nothing behind.
        s.per_entity.remove_if_mut(&self.entity, |_, n| {
            *n = n.saturating_sub(1);
            *n == 0
        });
        s.metrics.stream(&self.entity, -1);
    }
}

/// Requests that failed authentication, counted per source address on this instance in
/// one-second windows. Per instance, in memory: it must answer before any store is asked, and
/// a flood spread over a fleet meets one budget per instance, which still bounds it.
pub struct SourceBudget {
    rps: u64,
    epoch: Instant,
    /// Source → (window second, requests in it).
    windows: DashMap<IpAddr, (u64, u64)>,
}

/// Sources a budget tracks before it forgets those not seen this second.
const MAX_SOURCES: usize = 100_000;

impl SourceBudget {
    /// At most `rps` failed authentications per source and second (`0`: no budget).
    pub fn new(rps: u64) -> Self {
        Self {
            rps,
            epoch: Instant::now(),
            windows: DashMap::new(),
        }
    }

    fn second(&self) -> u64 {
        self.epoch.elapsed().as_secs()
    }

    /// Whether `source` has spent this second's budget.
    pub(crate) fn is_over(&self, source: IpAddr) -> bool {
        self.rps > 0
            && self
                .windows
                .get(&source)
                .is_some_and(|w| w.0 == self.second() && w.1 >= self.rps)
    }

    /// Counts one failed authentication from `source`.
    pub(crate) fn hit(&self, source: IpAddr) {
        if self.rps == 0 {
            return;
        }
        let now = self.second();
        if self.windows.len() >= MAX_SOURCES {
            // Many sources at once (spoofing is impossible over TCP, but an IPv6 /64 is
            // large): keep only those of the current second.
            self.windows.retain(|_, w| w.0 == now);
        }
        let mut w = self.windows.entry(source).or_insert((now, 0));
        if w.0 != now {
            *w = (now, 0);
        }
        w.1 += 1;
    }

    pub(crate) fn refusal(&self) -> Refusal {
        Refusal {
            message: format!(
                "more than {} requests per second without valid credentials from this address",
                self.rps
            ),
            retry_after: Duration::from_secs(1),
        }
    }
}

/// The address a request comes from: the last address in `header` when one is configured (the
/// one the nearest proxy appended) and it parses, else the TCP peer. IPv6 addresses count by
/// their /64, which one client usually holds whole.
pub(crate) fn source_of(
    headers: &poem::http::HeaderMap,
    peer: Option<std::net::SocketAddr>,
    header: Option<&str>,
) -> IpAddr {
    let forwarded = header.and_then(|h| {
        let v = headers.get_all(h).iter().next_back()?.to_str().ok()?;
        v.rsplit(',').next()?.trim().parse::<IpAddr>().ok()
    });
    let ip = forwarded
        .or_else(|| peer.map(|a| a.ip()))
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(total: usize, per_entity: usize) -> Arc<StreamSlots> {
        Arc::new(StreamSlots::new(
            total,
            per_entity,
            Arc::new(Metrics::new(10)),
        ))
    }

    #[test]
    fn streams_are_capped_per_entity_and_per_instance_and_given_back() {
        let s = slots(3, 2);
        let (a, b) = (EntityId::parse("a").unwrap(), EntityId::parse("b").unwrap());
        let a1 = s.admit(&a).unwrap();
        let _a2 = s.admit(&a).unwrap();
        let third = s.admit(&a).err().expect("a third stream for a");
        assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
        let b1 = s.admit(&b).unwrap();
        let full = s.admit(&b).err().expect("a seventh stream");
        assert_eq!(full.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(full.headers()["retry-after"], "1");
        assert_eq!(s.open(), 3);
        drop(a1);
        assert_eq!(s.open(), 2);
        let _a3 = s.admit(&a).unwrap();
        drop(b1);
        assert!(
            s.per_entity.get(&b).is_none(),
            "an entity with no stream keeps no entry"
        );
    }
}
