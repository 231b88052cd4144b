//! `CatalogStore`: stored items are rows of `tools`, `resources` and `prompts` keyed by scope
//! first, with their definition in `item`; `catalog_versions` holds each scope's version and
//! the epoch (scope `''`). A write locks its scope's version row, then the epoch row, always in
//! that order, so writers of one scope serialise and none deadlock.

use fastmcp_core::catalog::{CatalogItem, CatalogKind, CatalogScope};
use fastmcp_core::storage::{CatalogSnapshot, CatalogStore, PutMode};

use super::*;

/// Stored items of a scope, in creation order, with the scope's version on every row (one
/// statement: one snapshot). A scope without items gives one row with a NULL item.
const SNAPSHOT: &str = "\
SELECT v.version, x.item FROM \
  (SELECT COALESCE((SELECT version FROM catalog_versions WHERE scope = $1), 0) AS version) v \
  LEFT JOIN ( \
    SELECT item, created FROM prompts WHERE scope = $1 AND item IS NOT NULL \
    UNION ALL SELECT item, created FROM resources WHERE scope = $1 AND item IS NOT NULL \
    UNION ALL SELECT item, created FROM tools WHERE scope = $1 AND item IS NOT NULL \
    UNION ALL SELECT item, created FROM catalog_mcp_servers WHERE scope = $1 \
  ) x ON true \
ORDER BY x.created";

const COUNT: &str = "\
SELECT (SELECT count(*) FROM prompts WHERE scope = $1 AND item IS NOT NULL) \
     + (SELECT count(*) FROM resources WHERE scope = $1 AND item IS NOT NULL) \
     + (SELECT count(*) FROM tools WHERE scope = $1 AND item IS NOT NULL) \
     + (SELECT count(*) FROM catalog_mcp_servers WHERE scope = $1)";

/// The lookup of an item's creation version, per kind (static SQL: no names are formatted in).
fn lookup_sql(kind: CatalogKind) -> &'static str {
    match kind {
        CatalogKind::Tool => {
            "SELECT created FROM tools WHERE scope = $1 AND name = $2 AND item IS NOT NULL"
        }
        CatalogKind::Prompt => {
            "SELECT created FROM prompts WHERE scope = $1 AND name = $2 AND item IS NOT NULL"
        }
        CatalogKind::Resource => {
            "SELECT created FROM resources WHERE scope = $1 AND uri = $2 AND item IS NOT NULL \
             AND NOT is_template"
        }
        CatalogKind::ResourceTemplate => {
            "SELECT created FROM resources WHERE scope = $1 AND uri = $2 AND item IS NOT NULL \
             AND is_template"
        }
        CatalogKind::McpServer => {
            "SELECT created FROM catalog_mcp_servers WHERE scope = $1 AND name = $2"
        }
    }
}

fn delete_sql(kind: CatalogKind) -> &'static str {
    match kind {
        CatalogKind::Tool => {
            "DELETE FROM tools WHERE scope = $1 AND name = $2 AND item IS NOT NULL"
        }
        CatalogKind::Prompt => {
            "DELETE FROM prompts WHERE scope = $1 AND name = $2 AND item IS NOT NULL"
        }
        CatalogKind::Resource => {
            "DELETE FROM resources WHERE scope = $1 AND uri = $2 AND item IS NOT NULL \
             AND NOT is_template"
        }
        CatalogKind::ResourceTemplate => {
            "DELETE FROM resources WHERE scope = $1 AND uri = $2 AND item IS NOT NULL \
             AND is_template"
        }
        CatalogKind::McpServer => "DELETE FROM catalog_mcp_servers WHERE scope = $1 AND name = $2",
    }
}

async fn bump(tx: &mut sqlx::PgConnection, scope: &str) -> StoreResult<u64> {
    let v: i64 = sqlx::query_scalar(
        "INSERT INTO catalog_versions (scope, version) VALUES ($1, 1) \
         ON CONFLICT (scope) DO UPDATE SET version = catalog_versions.version + 1 \
         RETURNING version",
    )
    .bind(scope)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| map_err("move a catalog version", e))?;
    Ok(u64::try_from(v).unwrap_or_default())
}

#[async_trait]
impl CatalogStore for PostgresStore {
    async fn put_catalog_item(
        &self,
        scope: &CatalogScope,
        item: &CatalogItem,
        mode: PutMode,
        max_items: usize,
    ) -> StoreResult<u64> {
        let s = scope.as_str();
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|e| map_err("write a catalog item", e))?;
        // Locks the scope's version row first: the existence check and the count below cannot
        // race another writer of this scope.
        let version = bump(&mut tx, s).await?;
        let exists: Option<i64> = sqlx::query_scalar(lookup_sql(item.kind()))
            .bind(s)
            .bind(item.key())
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| map_err("write a catalog item: look up", e))?;
        match (exists, mode) {
            (Some(_), PutMode::Create) => {
                return Err(StoreError::Conflict(format!(
                    "a {} keyed `{}` exists in `{scope}`",
                    item.kind().as_str(),
                    item.key()
                )));
            }
            (None, _) => {
                let n: i64 = sqlx::query_scalar(COUNT)
                    .bind(s)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| map_err("write a catalog item: count", e))?;
                if usize::try_from(n).unwrap_or(usize::MAX) >= max_items {
                    return Err(StoreError::invalid_value(format!(
                        "the catalog of `{scope}` holds {n} items, the most allowed"
                    )));
                }
            }
            (Some(_), PutMode::Upsert) => {}
        }
        let created = exists.unwrap_or(i64::try_from(version).unwrap_or(i64::MAX));
        let json = Json(item);
        let q = match item {
            CatalogItem::HttpTool(t) => sqlx::query(
                "INSERT INTO tools (scope, name, description, input_schema, output_schema, \
                 annotations, item, created, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now()) \
                 ON CONFLICT (scope, name) DO UPDATE SET description = EXCLUDED.description, \
                 input_schema = EXCLUDED.input_schema, output_schema = EXCLUDED.output_schema, \
                 annotations = EXCLUDED.annotations, item = EXCLUDED.item, \
                 created = EXCLUDED.created, updated_at = now()",
            )
            .bind(s)
            .bind(&t.name)
            .bind(&t.description)
            .bind(Json(&t.input_schema))
            .bind(t.output_schema.as_ref().map(Json))
            .bind(
                t.annotations
                    .as_ref()
                    .and_then(|a| serde_json::to_value(a).ok())
                    .map(Json),
            )
            .bind(json)
            .bind(created),
            CatalogItem::Prompt(p) => sqlx::query(
                "INSERT INTO prompts (scope, name, description, arguments, item, created, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, now()) ON CONFLICT (scope, name) DO UPDATE SET \
                 description = EXCLUDED.description, arguments = EXCLUDED.arguments, \
                 item = EXCLUDED.item, created = EXCLUDED.created, updated_at = now()",
            )
            .bind(s)
            .bind(&p.name)
            .bind(&p.description)
            .bind(Json(serde_json::to_value(&p.arguments).unwrap_or(Value::Null)))
            .bind(json)
            .bind(created),
            CatalogItem::Resource(_) | CatalogItem::ResourceTemplate(_) => {
                let (name, description, mime) = match item {
                    CatalogItem::Resource(r) => (&r.name, &r.description, &r.mime_type),
                    CatalogItem::ResourceTemplate(t) => (&t.name, &t.description, &t.mime_type),
                    _ => unreachable!("matched above"),
                };
                sqlx::query(
                    "INSERT INTO resources (scope, uri, is_template, name, description, mime_type, \
                     item, created, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now()) \
                     ON CONFLICT (scope, uri) DO UPDATE SET is_template = EXCLUDED.is_template, \
                     name = EXCLUDED.name, description = EXCLUDED.description, \
                     mime_type = EXCLUDED.mime_type, item = EXCLUDED.item, \
                     created = EXCLUDED.created, updated_at = now()",
                )
                .bind(s)
                .bind(item.key())
                .bind(matches!(item, CatalogItem::ResourceTemplate(_)))
                .bind(name)
                .bind(description)
                .bind(mime)
                .bind(json)
                .bind(created)
            }
            CatalogItem::McpServer(m) => sqlx::query(
                "INSERT INTO catalog_mcp_servers (scope, name, item, created, updated_at) \
                 VALUES ($1, $2, $3, $4, now()) ON CONFLICT (scope, name) DO UPDATE SET \
                 item = EXCLUDED.item, created = EXCLUDED.created, updated_at = now()",
            )
            .bind(s)
            .bind(&m.name)
            .bind(json)
            .bind(created),
            _ => {
                return Err(StoreError::invalid_value(format!(
                    "PostgreSQL cannot store a {} yet",
                    item.kind().as_str()
                )))
            }
        };
        q.execute(&mut *tx)
            .await
            .map_err(|e| map_err("write a catalog item", e))?;
        bump(&mut tx, "").await?;
        tx.commit()
            .await
            .map_err(|e| map_err("write a catalog item: commit", e))?;
        Ok(version)
    }

    async fn delete_catalog_item(
        &self,
        scope: &CatalogScope,
        kind: CatalogKind,
        key: &str,
    ) -> StoreResult<Option<u64>> {
        let s = scope.as_str();
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|e| map_err("delete a catalog item", e))?;
        let version = bump(&mut tx, s).await?;
        let gone = sqlx::query(delete_sql(kind))
            .bind(s)
            .bind(key)
            .execute(&mut *tx)
            .await
            .map_err(|e| map_err("delete a catalog item", e))?
            .rows_affected();
        if gone == 0 {
            // Rolled back: the version does not move when nothing changed.
            return Ok(None);
        }
        bump(&mut tx, "").await?;
        tx.commit()
            .await
            .map_err(|e| map_err("delete a catalog item: commit", e))?;
        Ok(Some(version))
    }

    async fn catalog(&self, scope: &CatalogScope) -> StoreResult<CatalogSnapshot> {
        let rows = sqlx::query(SNAPSHOT)
            .bind(scope.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(|e| map_err("read a catalog", e))?;
        let mut snap = CatalogSnapshot::default();
        for row in rows {
            let v: i64 = row
                .try_get("version")
                .map_err(|e| StoreError::backend("postgres: corrupt catalog version", e))?;
            snap.version = u64::try_from(v).unwrap_or_default();
            let item: Option<Json<CatalogItem>> = row
                .try_get("item")
                .map_err(|e| StoreError::backend("postgres: corrupt catalog item", e))?;
            if let Some(Json(item)) = item {
                snap.items.push(item);
            }
        }
        Ok(snap)
    }

    async fn catalog_versions(&self, scopes: &[CatalogScope]) -> StoreResult<Vec<u64>> {
        let names: Vec<&str> = scopes.iter().map(CatalogScope::as_str).collect();
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT scope, version FROM catalog_versions WHERE scope = ANY($1)")
                .bind(&names)
                .fetch_all(&self.pool)
                .await
                .map_err(|e| map_err("read catalog versions", e))?;
        let found: std::collections::HashMap<String, i64> = rows.into_iter().collect();
        Ok(names
            .iter()
            .map(|n| {
                found
                    .get(*n)
                    .and_then(|v| u64::try_from(*v).ok())
                    .unwrap_or_default()
            })
            .collect())
    }

    async fn catalog_epoch(&self) -> StoreResult<u64> {
        let v: Option<i64> =
            sqlx::query_scalar("SELECT version FROM catalog_versions WHERE scope = ''")
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| map_err("read the catalog epoch", e))?;
        Ok(v.and_then(|v| u64::try_from(v).ok()).unwrap_or_default())
    }
}
