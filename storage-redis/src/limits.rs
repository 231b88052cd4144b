//! Rate windows and call slots, counted atomically by scripts.

use super::*;

/// One atomic step per hit: the counter and its expiry together.
const HIT_SCRIPT: &str = r"
local c = redis.call('INCR', KEYS[1])
if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return c
";

/// Drop expired slots, then take one if fewer than the limit are held.
const ACQUIRE_SCRIPT: &str = r"
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
";

#[async_trait]
impl LimitStore for RedisStore {
    async fn hit(&self, key: &str, window: Duration) -> StoreResult<(u64, Duration)> {
        let ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        let (idx, left) = fastmcp_core::storage::window_of(ms);
        let mut con = self.con.clone();
        let count: u64 = redis::Script::new(HIT_SCRIPT)
            .key(self.keys.rate_window(key, idx))
            .arg(ms)
            .invoke_async(&mut con)
            .await
            .map_err(|e| map_err("count a limit hit", e))?;
        Ok((count, Duration::from_millis(left)))
    }

    async fn acquire(&self, key: &str, limit: u64, lease: Duration) -> StoreResult<Option<String>> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let mut con = self.con.clone();
        let got: i64 = redis::Script::new(ACQUIRE_SCRIPT)
            .key(self.keys.slots(key))
            .arg(fastmcp_core::storage::now_ms())
            .arg(limit)
            .arg(u64::try_from(lease.as_millis()).unwrap_or(u64::MAX))
            .arg(&id)
            .invoke_async(&mut con)
            .await
            .map_err(|e| map_err("take a limit slot", e))?;
        Ok((got == 1).then_some(id))
    }

    async fn release(&self, key: &str, slot: &str) -> StoreResult<()> {
        let mut con = self.con.clone();
        let _: i64 = redis::cmd("ZREM")
            .arg(self.keys.slots(key))
            .arg(slot)
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("release a limit slot", e))?;
        Ok(())
    }
}
