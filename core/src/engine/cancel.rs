//! Cancellation: `notifications/cancelled` ends the request it names, on whichever instance
//! runs it.
//!
//! A request of a session registers a token here while it runs. A cancellation that reaches
//! the instance running the request fires the token at once. One that reaches another instance
//! is left in the shared queue under [`key`]; the instance running the request starts watching
//! for it once the request has run for `remote_cancel_after`, so quick calls never touch the
//! store for this.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::ids::{EntityId, SessionId};
use crate::protocol::{ErrorObject, RequestId};
use crate::storage::MessageQueue;

type RunningKey = (SessionId, RequestId);

/// Cancellation tokens of the requests running on this instance, by (session, request id).
#[derive(Default)]
pub(crate) struct Running(Mutex<HashMap<RunningKey, CancellationToken>>);

impl Running {
    fn lock(&self) -> MutexGuard<'_, HashMap<RunningKey, CancellationToken>> {
        // A poisoned lock only means another request panicked while holding it; the map is
        // still consistent (single insert/remove operations).
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers request `id` of `session`; the registration ends when the guard drops (the
    /// request ended, or the transport dropped its future because the client left).
    /// -32600 if a request with this id is already running in the session.
    pub(crate) fn register(
        self: &Arc<Self>,
        session: SessionId,
        id: RequestId,
    ) -> Result<(CancellationToken, RunningGuard)> {
        let key = (session, id);
        let token = CancellationToken::new();
        let mut running = self.lock();
        if running.contains_key(&key) {
            return Err(Error::Rpc(ErrorObject::invalid_request(
                "a request with this id is already running",
            )));
        }
        running.insert(key.clone(), token.clone());
        Ok((
            token,
            RunningGuard {
                running: Arc::clone(self),
                key,
            },
        ))
    }

    /// Fires the token of request `id` of `session` if it runs here; `false` otherwise.
    pub(crate) fn cancel(&self, session: SessionId, id: &RequestId) -> bool {
        match self.lock().get(&(session, id.clone())) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    /// Fires the tokens of every request of `session` running here (the session ended).
    pub(crate) fn cancel_session(&self, session: &SessionId) {
        for ((sid, _), token) in self.lock().iter() {
            if sid == session {
                token.cancel();
            }
        }
    }
}

/// Drops a request's registration when the request's future ends or is dropped.
pub(crate) struct RunningGuard {
    running: Arc<Running>,
    key: RunningKey,
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.running.lock().remove(&self.key);
    }
}

/// Where a `notifications/cancelled` for request `id` waits for the instance running it (the
/// JSON form keeps `1` and `"1"` apart).
pub(crate) fn key(id: &RequestId) -> String {
    format!("cancel:{}", serde_json::to_string(id).unwrap_or_default())
}

/// Leaves a cancellation of request `id` where the instance running it looks; it expires with
/// the reply TTL if no one does.
pub(crate) async fn leave_for_others(
    queue: &dyn MessageQueue,
    entity: &EntityId,
    session: &SessionId,
    id: &RequestId,
) -> Result<()> {
    queue
        .deliver_reply(entity, session, &key(id), &json!({ "cancelled": true }))
        .await
        .map_err(Into::into)
}

/// Resolves when the client cancels request `id` through another instance: after `after`,
/// waits in the shared queue for what [`leave_for_others`] left there. Never resolves
/// otherwise (store errors are logged and retried).
pub(crate) async fn cancelled_elsewhere(
    queue: &dyn MessageQueue,
    entity: &EntityId,
    session: &SessionId,
    id: &RequestId,
    after: Duration,
) {
    tokio::time::sleep(after).await;
    let key = key(id);
    loop {
        match queue
            .take_reply(entity, session, &key, Duration::from_secs(30))
            .await
        {
            Ok(Some(_)) => return,
            Ok(None) => {}
            Err(e) => {
                tracing::debug!(error = %e.report(), "cannot watch for a remote cancellation; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
