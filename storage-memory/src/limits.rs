//! Rate windows and call slots.

use super::*;

#[async_trait]
impl LimitStore for MemoryStore {
    async fn hit(&self, key: &str, window: Duration) -> StoreResult<(u64, Duration)> {
        let (idx, left) =
            fastmcp_core::storage::window_of(u64::try_from(window.as_millis()).unwrap_or(u64::MAX));
        let mut e = self
            .inner
            .windows
            .entry(key.to_string())
            .or_insert((idx, 0));
        if e.0 != idx {
            *e = (idx, 0);
        }
        e.1 += 1;
        Ok((e.1, Duration::from_millis(left)))
    }

    async fn acquire(&self, key: &str, limit: u64, lease: Duration) -> StoreResult<Option<String>> {
        let now = Instant::now();
        let mut slots = self.inner.slots.entry(key.to_string()).or_default();
        slots.retain(|(_, exp)| *exp > now);
        if slots.len() as u64 >= limit {
            return Ok(None);
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        slots.push((id.clone(), now + lease));
        Ok(Some(id))
    }

    async fn release(&self, key: &str, slot: &str) -> StoreResult<()> {
        if let Some(mut slots) = self.inner.slots.get_mut(key) {
            slots.retain(|(id, _)| id != slot);
        }
        Ok(())
    }
}
