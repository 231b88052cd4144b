//! Per-entity limits at the MCP edge, enforced through the shared [`LimitStore`] so they hold
//! across every instance: requests per second (fixed one-second windows, counted before
//! authentication so unauthenticated floods are limited too) and tool calls running at once
//! (leased slots, released when the call ends; a killed instance's slots expire).

use std::sync::Arc;
use std::time::Duration;

use fastmcp_core::protocol::{ErrorObject, RequestId};
use fastmcp_core::{EntityId, LimitStore};
use poem::http::StatusCode;
use poem::Response;
use serde_json::json;

use crate::metrics::Metrics;
use crate::transport::http::{rpc_error, store_error};

/// JSON-RPC code of a refused request (implementation-defined server error range).
pub const RATE_LIMITED: i64 = -32029;

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

    /// Counts the request against the entity's rate; 429 with `Retry-After` beyond it.
    pub(crate) async fn check_rate(
        &self,
        metrics: &Metrics,
        entity: &EntityId,
    ) -> Result<(), Response> {
        if self.rps == 0 {
            return Ok(());
        }
        let (count, left) = self
            .store
            .hit(&format!("rps:{entity}"), Duration::from_secs(1))
            .await
            .map_err(|e| store_error(&e))?;
        if count <= self.rps {
            return Ok(());
        }
        metrics.rate_limited(entity, "rate");
        Err(too_many(
            None,
            format!(
                "entity `{entity}` is over its limit of {} requests per second",
                self.rps
            ),
            left,
        ))
    }

    /// Takes one of the entity's concurrent-call slots for a `tools/call`; 429 when all are
    /// taken. The slot is given back when the returned guard is dropped.
    pub(crate) async fn take_call_slot(
        &self,
        metrics: &Metrics,
        entity: &EntityId,
        id: &RequestId,
    ) -> Result<Option<CallSlot>, Response> {
        if self.concurrent_calls == 0 {
            return Ok(None);
        }
        let key = format!("calls:{entity}");
        match self
            .store
            .acquire(&key, self.concurrent_calls, self.call_lease)
            .await
        {
            Ok(Some(slot)) => Ok(Some(CallSlot {
                store: Arc::clone(&self.store),
                key,
                slot: Some(slot),
            })),
            Ok(None) => {
                metrics.rate_limited(entity, "concurrency");
                Err(too_many(
                    Some(id),
                    format!(
                        "entity `{entity}` already has {} tool calls running",
                        self.concurrent_calls
                    ),
                    Duration::from_secs(1),
                ))
            }
            Err(e) => Err(store_error(&e)),
        }
    }

    /// Refuses a new session when the entity already has `max_sessions` live ones (counted in
    /// the shared store, so across instances).
    pub(crate) async fn check_sessions(
        &self,
        mcp: &fastmcp_core::McpServer,
        metrics: &Metrics,
        entity: &EntityId,
        id: Option<&RequestId>,
    ) -> Result<(), Response> {
        if self.max_sessions == 0 {
            return Ok(());
        }
        let cap = usize::try_from(self.max_sessions).unwrap_or(usize::MAX);
        let page = mcp
            .sessions()
            .list(entity, None, cap)
            .await
            .map_err(|e| store_error(&e))?;
        if page.sessions.len() < cap {
            return Ok(());
        }
        metrics.rate_limited(entity, "sessions");
        Err(too_many(
            id,
            format!("entity `{entity}` already has {cap} live sessions; end one first"),
            Duration::from_secs(60),
        ))
    }
}

fn too_many(id: Option<&RequestId>, message: String, retry_after: Duration) -> Response {
    let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
    let err =
        ErrorObject::new(RATE_LIMITED, message).with_data(json!({ "retryAfterSeconds": secs }));
    let mut resp = rpc_error(StatusCode::TOO_MANY_REQUESTS, id, err);
    if let Ok(v) = secs.to_string().parse() {
        resp.headers_mut().insert("retry-after", v);
    }
    resp
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
                    tracing::warn!(error = %e, "cannot release a call slot; it expires with its lease");
                }
            });
        }
    }
}
