//! `CatalogStore`: one hash per scope, its version beside it (same slot), and a store-wide
//! epoch bumped after each write.

use fastmcp_core::catalog::{CatalogItem, CatalogKind, CatalogScope};
use fastmcp_core::storage::{CatalogSnapshot, CatalogStore, PutMode};

use super::*;

/// KEYS: items, version. ARGV: field, JSON, `create`/`upsert`, max items. Returns the new
/// version, -1 for a clash, -2 for a full scope. The creation version prefixes the value, so
/// listings keep creation order and a replacement keeps its place.
const PUT: &str = r"
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  if ARGV[3] == 'create' then return -1 end
  local created = string.match(cur, '^(%d+):')
  local v = redis.call('INCR', KEYS[2])
  redis.call('HSET', KEYS[1], ARGV[1], created .. ':' .. ARGV[2])
  return v
end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then return -2 end
local v = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], ARGV[1], v .. ':' .. ARGV[2])
return v
";

/// KEYS: items, version. ARGV: field. Returns the new version, or 0 when nothing was there.
const DELETE: &str = r"
if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then return redis.call('INCR', KEYS[2]) end
return 0
";

/// KEYS: items, version. Returns {version, field, value, field, value, …} read together.
const SNAPSHOT: &str = r"
local out = {redis.call('GET', KEYS[2]) or '0'}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all do out[#out + 1] = all[i] end
return out
";

fn field(kind: CatalogKind, key: &str) -> String {
    format!("{} {key}", kind.as_str())
}

impl RedisStore {
    async fn bump_epoch(&self) -> StoreResult<()> {
        let mut con = self.con.clone();
        let _: u64 = redis::cmd("INCR")
            .arg(self.keys.catalog_epoch())
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("move the catalog epoch", e))?;
        Ok(())
    }
}

#[async_trait]
impl CatalogStore for RedisStore {
    async fn put_catalog_item(
        &self,
        scope: &CatalogScope,
        item: &CatalogItem,
        mode: PutMode,
        max_items: usize,
    ) -> StoreResult<u64> {
        let json = serde_json::to_string(item)
            .map_err(|e| StoreError::internal(format!("cannot encode a catalog item: {e}")))?;
        let mut con = self.con.clone();
        let got: i64 = Script::new(PUT)
            .key(self.keys.catalog_items(scope.as_str()))
            .key(self.keys.catalog_version(scope.as_str()))
            .arg(field(item.kind(), item.key()))
            .arg(json)
            .arg(match mode {
                PutMode::Create => "create",
                PutMode::Upsert => "upsert",
            })
            .arg(max_items)
            .invoke_async(&mut con)
            .await
            .map_err(|e| map_err("write a catalog item", e))?;
        match got {
            -1 => Err(StoreError::Conflict(format!(
                "a {} keyed `{}` exists in `{scope}`",
                item.kind().as_str(),
                item.key()
            ))),
            -2 => Err(StoreError::invalid_value(format!(
                "the catalog of `{scope}` holds {max_items} items, the most allowed"
            ))),
            v => {
                self.bump_epoch().await?;
                Ok(u64::try_from(v).unwrap_or_default())
            }
        }
    }

    async fn delete_catalog_item(
        &self,
        scope: &CatalogScope,
        kind: CatalogKind,
        key: &str,
    ) -> StoreResult<Option<u64>> {
        let mut con = self.con.clone();
        let got: u64 = Script::new(DELETE)
            .key(self.keys.catalog_items(scope.as_str()))
            .key(self.keys.catalog_version(scope.as_str()))
            .arg(field(kind, key))
            .invoke_async(&mut con)
            .await
            .map_err(|e| map_err("delete a catalog item", e))?;
        if got == 0 {
            return Ok(None);
        }
        self.bump_epoch().await?;
        Ok(Some(got))
    }

    async fn catalog(&self, scope: &CatalogScope) -> StoreResult<CatalogSnapshot> {
        let mut con = self.con.clone();
        let raw: Vec<String> = Script::new(SNAPSHOT)
            .key(self.keys.catalog_items(scope.as_str()))
            .key(self.keys.catalog_version(scope.as_str()))
            .invoke_async(&mut con)
            .await
            .map_err(|e| map_err("read a catalog", e))?;
        let corrupt = |what: &str| StoreError::internal(format!("redis: corrupt catalog ({what})"));
        let version = raw
            .first()
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| corrupt("version"))?;
        let mut items = Vec::with_capacity(raw.len() / 2);
        for pair in raw[1..].chunks(2) {
            let value = pair.get(1).ok_or_else(|| corrupt("odd hash"))?;
            let (created, json) = value.split_once(':').ok_or_else(|| corrupt("value"))?;
            let created: u64 = created.parse().map_err(|_| corrupt("creation version"))?;
            let item: CatalogItem = serde_json::from_str(json)
                .map_err(|e| StoreError::backend("redis: corrupt catalog item", e))?;
            items.push((created, item));
        }
        items.sort_by_key(|(created, _)| *created);
        Ok(CatalogSnapshot {
            version,
            items: items.into_iter().map(|(_, i)| i).collect(),
        })
    }

    async fn catalog_versions(&self, scopes: &[CatalogScope]) -> StoreResult<Vec<u64>> {
        if scopes.is_empty() {
            return Ok(Vec::new());
        }
        // One GET per scope, all in flight at once on the multiplexed connection: the keys
        // live in different cluster slots, so they cannot share a pipeline there.
        let reads = scopes.iter().map(|s| {
            let mut con = self.con.clone();
            let key = self.keys.catalog_version(s.as_str());
            async move {
                redis::cmd("GET")
                    .arg(key)
                    .query_async::<Option<u64>>(&mut con)
                    .await
                    .map_err(|e| map_err("read catalog versions", e))
            }
        });
        let got = futures::future::try_join_all(reads).await?;
        Ok(got.into_iter().map(Option::unwrap_or_default).collect())
    }

    async fn catalog_epoch(&self) -> StoreResult<u64> {
        let mut con = self.con.clone();
        let got: Option<u64> = redis::cmd("GET")
            .arg(self.keys.catalog_epoch())
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("read the catalog epoch", e))?;
        Ok(got.unwrap_or_default())
    }
}
