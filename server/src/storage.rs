//! The store URL in effect, and the backend it opens: `memory`, `redis://…` (one server),
//! `redis+cluster://host:port,…` (a Redis Cluster) or `postgres://…`,
//! each only when its feature is compiled in (else an error naming the feature).

use fastmcp_core::redact_url;

/// Why a store could not be opened (the URL is redacted in the message).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OpenError(pub String);

/// The backend chosen by the store URL: every storage role, plus what only the server needs.
pub struct Stores {
    /// The storage roles.
    pub roles: fastmcp_core::storage::Stores,
    /// `memory`, `redis` or `postgres`.
    pub kind: &'static str,
    /// The PostgreSQL store, which also records the catalog.
    #[cfg(feature = "storage-postgres")]
    pub postgres: Option<fastmcp_storage_postgres::PostgresStore>,
}

impl Stores {
    #[allow(dead_code)] // unused when no backend feature is enabled
    fn of<S: fastmcp_core::storage::Backend>(s: S, kind: &'static str) -> Self {
        Stores {
            roles: fastmcp_core::storage::Stores::of(s),
            kind,
            #[cfg(feature = "storage-postgres")]
            postgres: None,
        }
    }
}

/// The store URL in effect: the flag (or `FASTMCP_MT_STORE`), else `REDIS_URL`, else
/// `DATABASE_URL`, else `memory`.
pub fn store_url(flag: Option<&str>) -> String {
    flag.map(str::to_string)
        .or_else(|| std::env::var("REDIS_URL").ok())
        .or_else(|| std::env::var("DATABASE_URL").ok())
        .unwrap_or_else(|| "memory".into())
}

/// Settings of the shared stores (the memory store has none).
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Prefix of every Redis key.
    pub key_prefix: String,
    /// How long PostgreSQL keeps log rows.
    pub log_retention: std::time::Duration,
    /// PostgreSQL pool size.
    pub pg_pool_size: u32,
    /// A CA certificate (PEM file) for TLS to a store whose certificate a private CA signed:
    /// `rediss://` and PostgreSQL with `sslmode=verify-ca` or `verify-full`.
    pub ca_file: Option<std::path::PathBuf>,
}

/// Opens the store named by `url`; a backend not compiled in is an error naming its feature.
pub async fn open_store(url: &str, opts: &StoreOptions) -> Result<Stores, OpenError> {
    #[cfg(not(any(feature = "storage-redis", feature = "storage-postgres")))]
    let _ = opts; // only shared stores have options
    let scheme = url.split_once("://").map_or(url, |(s, _)| s);
    match scheme {
        "memory" => {
            #[cfg(feature = "storage-memory")]
            {
                let s = fastmcp_storage_memory::MemoryStore::default();
                Ok(Stores::of(s, "memory"))
            }
            #[cfg(not(feature = "storage-memory"))]
            Err(OpenError(
                "the memory store needs the `storage-memory` feature".into(),
            ))
        }
        "redis" | "rediss" | "redis+cluster" | "rediss+cluster" => {
            #[cfg(feature = "storage-redis")]
            {
                let mut cfg = fastmcp_storage_redis::RedisConfig::new(url);
                cfg.prefix = opts.key_prefix.clone();
                if let Some(path) = &opts.ca_file {
                    cfg.ca_pem = Some(std::fs::read(path).map_err(|e| {
                        OpenError(format!("cannot read the CA file {}: {e}", path.display()))
                    })?);
                }
                let s = fastmcp_storage_redis::RedisStore::connect(cfg)
                    .await
                    .map_err(|e| {
                        OpenError(format!(
                            "cannot use Redis at {}: {}",
                            redact_url(url),
                            e.report()
                        ))
                    })?;
                Ok(Stores::of(s, "redis"))
            }
            #[cfg(not(feature = "storage-redis"))]
            Err(OpenError(
                "this build has no Redis store: rebuild with `--features storage-redis`".into(),
            ))
        }
        "postgres" | "postgresql" => {
            #[cfg(feature = "storage-postgres")]
            {
                let mut cfg = fastmcp_storage_postgres::PostgresConfig::new(url);
                cfg.log_retention = opts.log_retention;
                cfg.max_connections = opts.pg_pool_size;
                cfg.ca_file = opts.ca_file.clone();
                let s = fastmcp_storage_postgres::PostgresStore::connect(cfg)
                    .await
                    .map_err(|e| {
                        OpenError(format!(
                            "cannot use PostgreSQL at {}: {}",
                            redact_url(url),
                            e.report()
                        ))
                    })?;
                Ok(Stores {
                    postgres: Some(s.clone()),
                    ..Stores::of(s, "postgres")
                })
            }
            #[cfg(not(feature = "storage-postgres"))]
            Err(OpenError(
                "this build has no PostgreSQL store: rebuild with `--features storage-postgres`"
                    .into(),
            ))
        }
        _ => Err(OpenError(format!(
            "unknown store {:?}: use `memory`, `redis://…`, `redis+cluster://…` or `postgres://…`",
            redact_url(url)
        ))),
    }
}
