//! API keys, by hash.

use super::*;

#[async_trait]
impl ApiKeyStore for PostgresStore {
    async fn put_key(&self, key: &ApiKeyRecord) -> StoreResult<()> {
        let r = sqlx::query(
            "INSERT INTO api_keys (hash, entity_id, id, name, scopes, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&key.hash)
        .bind(key.entity.as_str())
        .bind(&key.id)
        .bind(&key.name)
        .bind(Json(&key.scopes))
        .bind(i64::try_from(key.created_at_ms).unwrap_or(i64::MAX))
        .execute(&self.pool)
        .await;
        match r {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("23505") => {
                Err(StoreError::Conflict(format!("api key {} exists", key.id)))
            }
            Err(e) => Err(map_err("store api key", e)),
        }
    }

    async fn key_by_hash(&self, hash: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let row = sqlx::query(
            "SELECT hash, entity_id, id, name, scopes, created_at_ms FROM api_keys WHERE hash = $1",
        )
        .bind(hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| map_err("read api key", e))?;
        row.as_ref().map(api_key_from_row).transpose()
    }

    async fn list_keys(&self, entity: &EntityId) -> StoreResult<Vec<ApiKeyRecord>> {
        let rows = sqlx::query(
            "SELECT hash, entity_id, id, name, scopes, created_at_ms FROM api_keys \
             WHERE entity_id = $1 ORDER BY created_at_ms, id",
        )
        .bind(entity.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| map_err("list api keys", e))?;
        rows.iter().map(api_key_from_row).collect()
    }

    async fn revoke_key(&self, entity: &EntityId, id: &str) -> StoreResult<bool> {
        let r = sqlx::query("DELETE FROM api_keys WHERE entity_id = $1 AND id = $2")
            .bind(entity.as_str())
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(|e| map_err("revoke api key", e))?;
        Ok(r.rows_affected() > 0)
    }
}

fn api_key_from_row(row: &sqlx::postgres::PgRow) -> StoreResult<ApiKeyRecord> {
    let corrupt = |e| StoreError::backend("postgres: corrupt api key", e);
    let entity: String = row.try_get("entity_id").map_err(corrupt)?;
    let Json(scopes): Json<Vec<String>> = row.try_get("scopes").map_err(corrupt)?;
    let created: i64 = row.try_get("created_at_ms").map_err(corrupt)?;
    Ok(ApiKeyRecord {
        id: row.try_get("id").map_err(corrupt)?,
        entity: EntityId::parse(&entity)
            .map_err(|e| StoreError::backend("postgres: corrupt api key entity", e))?,
        name: row.try_get("name").map_err(corrupt)?,
        scopes,
        hash: row.try_get("hash").map_err(corrupt)?,
        created_at_ms: u64::try_from(created).unwrap_or(0),
    })
}
