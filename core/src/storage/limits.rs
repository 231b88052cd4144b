//! Counters behind per-entity limits.

use async_trait::async_trait;

use super::error::StoreResult;
use super::now_ms;

/// Counters behind per-entity limits, shared by every instance so a limit holds across them.
///
/// Guarantees: `hit` is atomic (concurrent hits from any instance are all counted, each sees a
/// distinct count) and windows are aligned to the epoch (`now / window`), so every instance
/// agrees on the window; `acquire` never hands out more than `limit` live slots of a key, and a
/// slot not released within its `lease` frees itself (a killed instance cannot leak capacity).
#[async_trait]
pub trait LimitStore: Send + Sync + 'static {
    /// Counts one hit in `key`'s current window; returns the count so far in that window (this
    /// hit included) and the time until the window ends.
    async fn hit(
        &self,
        key: &str,
        window: std::time::Duration,
    ) -> StoreResult<(u64, std::time::Duration)>;

    /// Takes one of `limit` slots of `key` for at most `lease`; `None` when all are taken.
    async fn acquire(
        &self,
        key: &str,
        limit: u64,
        lease: std::time::Duration,
    ) -> StoreResult<Option<String>>;

    /// Gives a slot back (unknown or expired slots are ignored).
    async fn release(&self, key: &str, slot: &str) -> StoreResult<()>;
}

/// The current fixed window of length `window_ms` and the milliseconds left in it.
pub fn window_of(window_ms: u64) -> (u64, u64) {
    let now = now_ms();
    let w = window_ms.max(1);
    (now / w, w - now % w)
}
