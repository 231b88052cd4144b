//! The command line shared by `fastmcp` and servers built on this crate.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use fastmcp_core::{
    redact_url, ApiKeyStore, Authenticator, McpServerBuilder, NoAuth, ServerConfig,
};

use crate::app::{routes, AppState};
use crate::config::HttpConfig;
use crate::connections::{ConnectionConfig, NoDelayAcceptor};
pub use crate::storage::{open_store, store_url, StoreOptions, Stores};

/// FastMCP-MT: a multi-tenant MCP server.
#[derive(Debug, Parser)]
#[command(name = "fastmcp", version)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve MCP over HTTP (the default).
    Serve(ServeArgs),
    /// Apply the PostgreSQL migrations to `--store postgres://…` (or DATABASE_URL) and exit.
    Migrate(ServeArgs),
}

/// Options of `fastmcp serve`.
#[derive(Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "FASTMCP_MT_BIND", default_value = "127.0.0.1:8000")]
    pub bind: SocketAddr,
    /// Serve one client over stdin/stdout (newline-delimited JSON-RPC) instead of HTTP, as
    /// local clients launch a server; logs go to stderr.
    #[arg(long)]
    pub stdio: bool,
    /// The entity a `--stdio` client acts for.
    #[arg(long, env = "FASTMCP_MT_ENTITY", default_value = "local")]
    pub entity: String,
    /// Session store: `memory`, `redis://…`, `redis+cluster://host:port,host:port` (a Redis
    /// Cluster, by its seed nodes) or `postgres://…` [default: `memory`, or `$REDIS_URL` /
    /// `$DATABASE_URL` when set].
    #[arg(long, env = "FASTMCP_MT_STORE")]
    pub store: Option<String>,
    /// Bearer token for the admin API (generated and printed once if unset).
    #[arg(long, env = "FASTMCP_MT_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Prefix of every key in a shared store (several deployments can share one Redis).
    #[arg(long, env = "FASTMCP_MT_KEY_PREFIX", default_value = "fastmcp")]
    pub key_prefix: String,
    /// Idle seconds after which a session expires.
    #[arg(long, env = "FASTMCP_MT_SESSION_TTL", default_value_t = 3600)]
    pub session_ttl: u64,
    /// Largest accepted request body in bytes.
    #[arg(long, env = "FASTMCP_MT_BODY_LIMIT", default_value_t = 4 * 1024 * 1024)]
    pub body_limit: usize,
    /// Extra allowed `Origin`s, comma-separated (`*` for any).
    #[arg(long, env = "FASTMCP_MT_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
    /// Extra allowed `Host` names, comma-separated (`*` for any).
    #[arg(long, env = "FASTMCP_MT_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,
    /// Seconds between SSE keep-alive comments. Also how long a 2026-07-28 call answers in
    /// plain JSON before moving to a stream (so a client that leaves cancels it).
    #[arg(long, env = "FASTMCP_MT_SSE_KEEP_ALIVE_SECS", default_value_t = 15,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub sse_keep_alive_secs: u64,
    /// Most TCP connections open at once (`0`: no cap). At the cap the server stops accepting
    /// until one closes, so idle connections cannot use up the process's descriptors.
    #[arg(long, env = "FASTMCP_MT_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,
    /// Most SSE streams open on this instance (GET /mcp, legacy /sse, subscriptions/listen;
    /// `0`: no cap); beyond it, 503 with Retry-After. Kept under --max-connections, with room
    /// for calls and health checks.
    #[arg(long, env = "FASTMCP_MT_MAX_STREAMS", default_value_t = 8_000)]
    pub max_streams: usize,
    /// Most SSE streams one entity may hold open on this instance (`0`: no cap); beyond it, 429.
    #[arg(
        long,
        env = "FASTMCP_MT_MAX_STREAMS_PER_ENTITY",
        default_value_t = 1_000
    )]
    pub max_streams_per_entity: usize,
    /// Largest value a tool may keep in a session's state (bytes of JSON); beyond it, -32602.
    #[arg(long, env = "FASTMCP_MT_MAX_STATE_VALUE_BYTES", default_value_t = 64 * 1024)]
    pub max_state_value_bytes: usize,
    /// Largest state one session may hold in total (bytes of JSON); beyond it, -32602.
    #[arg(long, env = "FASTMCP_MT_MAX_STATE_BYTES", default_value_t = 256 * 1024)]
    pub max_state_bytes: usize,
    /// Largest `clientInfo` plus `capabilities` an `initialize` may bring (bytes of JSON);
    /// beyond it, -32602.
    #[arg(long, env = "FASTMCP_MT_MAX_CLIENT_INFO_BYTES", default_value_t = 16 * 1024)]
    pub max_client_info_bytes: usize,
    /// Items (prompts, resources, templates) one entity may store through the admin API, and
    /// the global scope (`*`) too; beyond it, 422.
    #[arg(long, env = "FASTMCP_MT_MAX_CATALOG_ITEMS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_catalog_items: u64,
    /// Milliseconds between this instance's checks for stored-catalog changes made elsewhere
    /// (one small store read each): a change is served everywhere within about this.
    #[arg(long, env = "FASTMCP_MT_CATALOG_REFRESH_MS", default_value_t = 250,
          value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub catalog_refresh_ms: u64,
    /// Addresses stored HTTP tools may reach although they are loopback, private or
    /// link-local: IPs and CIDR ranges, comma-separated (`127.0.0.1,10.0.0.0/8`). Everything
    /// else of that kind is refused (the SSRF guard).
    #[arg(long, env = "FASTMCP_MT_HTTP_TOOLS_ALLOW", value_delimiter = ',')]
    pub http_tools_allow: Vec<String>,
    /// Largest log record kept (message and data, bytes of JSON); longer ones are kept cut
    /// down, with their size. With 1,000 records per entity (memory, Redis) this bounds what
    /// the log store keeps per entity.
    #[arg(long, env = "FASTMCP_MT_MAX_LOG_RECORD_BYTES", default_value_t = 16 * 1024)]
    pub max_log_record_bytes: usize,
    /// Largest JSON-RPC answer sent or published (bytes); a larger one is replaced by a -32603
    /// error naming its size and the cap.
    #[arg(long, env = "FASTMCP_MT_MAX_RESPONSE_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_response_bytes: usize,
    /// Whether responses may stay open as streams (`false` behind a platform that buffers
    /// every response whole, such as AWS Lambda without response streaming: POSTs answer in
    /// JSON, and stream-only requests are refused with a message saying why).
    #[arg(long, env = "FASTMCP_MT_HOLD_STREAMS", default_value_t = true, action = clap::ArgAction::Set)]
    pub hold_streams: bool,
    /// Requests per second one source address may make that fail authentication (`0`: no
    /// budget); beyond it, 429 before any authentication work. Such requests never count
    /// against an entity's --rate-limit-rps.
    #[arg(long, env = "FASTMCP_MT_UNAUTHENTICATED_RPS", default_value_t = 20)]
    pub unauthenticated_rps: u64,
    /// Header holding the client's address, set by the proxy in front (its last address
    /// counts), e.g. `X-Forwarded-For`; unset: the TCP peer. Only set it behind a proxy that
    /// writes it.
    #[arg(long, env = "FASTMCP_MT_CLIENT_IP_HEADER")]
    pub client_ip_header: Option<String>,
    /// Seconds a request head (request line and headers) may take to arrive once it starts;
    /// slower connections are closed.
    #[arg(long, env = "FASTMCP_MT_HEADER_TIMEOUT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout_secs: u64,
    /// Seconds a request body may take to arrive once its head has; slower ones get 408.
    #[arg(long, env = "FASTMCP_MT_BODY_TIMEOUT_SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub body_timeout_secs: u64,
    /// Seconds an idle connection (no request open, nothing arriving) stays open, and a write
    /// may wait for a client that stopped reading. Keep it above the load balancer's own idle
    /// timeout (AWS ALB: 60 s).
    #[arg(long, env = "FASTMCP_MT_IDLE_TIMEOUT_SECS", default_value_t = 75,
          value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub idle_timeout_secs: u64,
    /// Largest request head (request line and headers), in bytes; larger ones get 431.
    #[arg(long, env = "FASTMCP_MT_MAX_HEADER_BYTES", default_value_t = 64 * 1024,
          value_parser = clap::value_parser!(u64).range(8192..=16 * 1024 * 1024))]
    pub max_header_bytes: u64,
    /// Seconds a draining process (SIGTERM, Ctrl-C) gives calls in flight to finish before it
    /// exits. Keep it under the orchestrator's own grace period (Kubernetes: 30 s).
    #[arg(long, env = "FASTMCP_MT_SHUTDOWN_GRACE_SECS", default_value_t = 20,
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub shutdown_grace_secs: u64,
    /// Seconds to wait for the client's answer to sampling/elicitation/roots requests.
    #[arg(long, env = "FASTMCP_MT_CLIENT_TIMEOUT", default_value_t = 60)]
    pub client_request_timeout: u64,
    /// The server's own log lines: `text` for people, `json` (one object per line: timestamp,
    /// level, message, fields, span) for collectors. The level comes from
    /// `FASTMCP_MT_LOG_LEVEL` (a tracing filter; `info` by default) or `FASTMCP_MT_DEBUG=1`.
    #[arg(long, env = "FASTMCP_MT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Days that PostgreSQL keeps `logs` rows (memory and Redis keep the newest 1000 per entity).
    #[arg(long, env = "FASTMCP_MT_LOG_RETENTION_DAYS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=36500))]
    pub log_retention_days: u64,
    /// Ids of the keys that sign 2026-07-28 `requestState`, comma-separated: the first signs, all
    /// verify. Rotate by putting a new id first (the key is created in the shared store on first
    /// use) and dropping the old one once states signed with it have expired (10 minutes).
    #[arg(long, env = "FASTMCP_MT_REQUEST_STATE_KEYS", value_delimiter = ',', default_value = "k1",
          value_parser = parse_key_id)]
    pub request_state_keys: Vec<String>,
    /// Who may call the MCP endpoints: `none` (loopback only unless
    /// `--allow-unauthenticated`), `api-key` (keys minted through the admin API, kept hashed in
    /// the store) or `jwt` (bearer tokens: HS256 with `--jwt-secret`, RS256/ES256 with keys from
    /// `--jwt-jwks-url`).
    #[arg(long, env = "FASTMCP_MT_AUTH", value_enum, default_value_t = AuthMode::None)]
    pub auth: AuthMode,
    /// Serve a non-loopback address without authentication (logged as a warning).
    #[arg(long, env = "FASTMCP_MT_ALLOW_UNAUTHENTICATED")]
    pub allow_unauthenticated: bool,
    /// HS256 secret of `--auth jwt`.
    #[arg(long, env = "FASTMCP_MT_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// JWKS URL of the authorization server whose public keys verify RS256/ES256 tokens
    /// (`https://`; plain `http://` only on loopback).
    #[arg(long, env = "FASTMCP_MT_JWT_JWKS_URL")]
    pub jwt_jwks_url: Option<String>,
    /// Asymmetric algorithms accepted with `--jwt-jwks-url` keys, comma-separated.
    #[arg(long, env = "FASTMCP_MT_JWT_ALGORITHMS", value_delimiter = ',',
          default_value = "RS256,ES256", value_parser = parse_jwt_algorithm)]
    pub jwt_algorithms: Vec<String>,
    /// Seconds a fetched JWKS is used before it is refreshed (a token naming an unknown key
    /// refreshes it sooner, at most every 10 seconds or every `--jwks-cache-secs` if shorter).
    #[arg(long, env = "FASTMCP_MT_JWKS_CACHE_SECS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub jwks_cache_secs: u64,
    /// Required `aud` of JWTs.
    #[arg(long, env = "FASTMCP_MT_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// Required `iss` of JWTs.
    #[arg(long, env = "FASTMCP_MT_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// JWT claim listing the entities a token may act for (string or array).
    #[arg(long, env = "FASTMCP_MT_JWT_ENTITY_CLAIM", default_value = "entities")]
    pub jwt_entity_claim: String,
    /// Seconds an instance trusts a verified API key before re-reading the store (revocation
    /// reaches every instance within this time; 0 = read the store on every request).
    #[arg(long, env = "FASTMCP_MT_API_KEY_CACHE_SECS", default_value_t = 5)]
    pub api_key_cache_secs: u64,
    /// Authorization servers advertised in the protected-resource metadata, comma-separated
    /// (default with `--auth jwt`: `--jwt-issuer`).
    #[arg(long, env = "FASTMCP_MT_AUTH_SERVERS", value_delimiter = ',')]
    pub auth_servers: Vec<String>,
    /// Scopes advertised in the protected-resource metadata, comma-separated.
    #[arg(long, env = "FASTMCP_MT_AUTH_SCOPES", value_delimiter = ',')]
    pub auth_scopes: Vec<String>,
    /// Externally visible base URL (for metadata URLs behind a proxy); else from `Host`.
    #[arg(long, env = "FASTMCP_MT_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Most messages in one JSON-RPC batch (batches exist only at protocol 2025-03-26).
    #[arg(long, env = "FASTMCP_MT_MAX_BATCH_ITEMS", default_value_t = 32,
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub max_batch_items: u64,
    /// Requests per second each entity may make to the MCP endpoints, across all instances
    /// (authenticated or not; 0 = no limit). Beyond it: 429 with `Retry-After`.
    #[arg(long, env = "FASTMCP_MT_RATE_LIMIT_RPS", default_value_t = 0)]
    pub rate_limit_rps: u64,
    /// Tool calls each entity may have running at once, across all instances (0 = no limit).
    #[arg(long, env = "FASTMCP_MT_MAX_CONCURRENT_CALLS", default_value_t = 0)]
    pub max_concurrent_calls: u64,
    /// Live sessions each entity may hold, across all instances (0 = no limit). Beyond it a new
    /// session gets 429.
    #[arg(long, env = "FASTMCP_MT_MAX_SESSIONS_PER_ENTITY", default_value_t = 0)]
    pub max_sessions_per_entity: u64,
    /// Entities labelled by name in `/metrics`; later ones are counted as `other`.
    #[arg(long, env = "FASTMCP_MT_METRICS_MAX_ENTITIES", default_value_t = 100)]
    pub metrics_max_entities: usize,
    /// Connections in this instance's PostgreSQL pool.
    #[arg(long, env = "FASTMCP_MT_PG_POOL_SIZE", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(2..=1000))]
    pub pg_pool_size: u32,
    /// A CA certificate (PEM) for TLS to the store, when a private CA signed its certificate:
    /// `rediss://…`, or `postgres://…?sslmode=verify-full`. Public CAs need nothing.
    #[arg(long, env = "FASTMCP_MT_STORE_CA_FILE")]
    pub store_ca_file: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for ServeArgs {
    // Written by hand: the admin token and the store password must never reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeArgs")
            .field("bind", &self.bind)
            .field("store", &self.store.as_deref().map(redact_url))
            .field("key_prefix", &self.key_prefix)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "***"))
            .field("session_ttl", &self.session_ttl)
            .field("body_limit", &self.body_limit)
            .field("allowed_origins", &self.allowed_origins)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("client_request_timeout", &self.client_request_timeout)
            .field("log_retention_days", &self.log_retention_days)
            .field("pg_pool_size", &self.pg_pool_size)
            .field("store_ca_file", &self.store_ca_file)
            .field("request_state_keys", &self.request_state_keys)
            .field("auth", &self.auth)
            .field("jwt_secret", &self.jwt_secret.as_ref().map(|_| "***"))
            .field("jwt_jwks_url", &self.jwt_jwks_url)
            .field("jwt_algorithms", &self.jwt_algorithms)
            .field("jwt_audience", &self.jwt_audience)
            .field("jwt_issuer", &self.jwt_issuer)
            .finish()
    }
}

fn parse_key_id(raw: &str) -> Result<String, String> {
    let ok = (1..=32).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(raw.to_string())
    } else {
        Err("a key id is 1-32 characters of [A-Za-z0-9_-]".into())
    }
}

/// The asymmetric algorithms `--jwt-algorithms` may name (checked here, so that a build without
/// `auth-jwt` refuses a bad flag the same way).
const JWKS_ALGORITHMS: [&str; 9] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

fn parse_jwt_algorithm(raw: &str) -> Result<String, String> {
    if matches!(raw, "HS256" | "HS384" | "HS512") {
        return Err("HMAC algorithms take a secret (--jwt-secret), not JWKS keys".into());
    }
    if JWKS_ALGORITHMS.contains(&raw) {
        Ok(raw.to_string())
    } else {
        Err(format!(
            "unknown JWT algorithm `{raw}` ({})",
            JWKS_ALGORITHMS.join(", ")
        ))
    }
}

/// Built-in authentication modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// Everyone is `anonymous`.
    None,
    /// API keys per entity (admin API: `/admin/api-keys`).
    ApiKey,
    /// JWT bearer tokens (HS256 secret and/or a JWKS URL).
    Jwt,
}

/// The authenticator the flags ask for (`custom` wins when given).
pub fn authenticator(
    args: &ServeArgs,
    api_keys: &Arc<dyn ApiKeyStore>,
    custom: Option<Arc<dyn Authenticator>>,
) -> Result<Arc<dyn Authenticator>, StartError> {
    let auth: Arc<dyn Authenticator> = match (custom, args.auth) {
        (Some(a), _) => a,
        (None, AuthMode::None) => Arc::new(NoAuth::new()),
        (None, AuthMode::ApiKey) => Arc::new(crate::auth::ApiKeyAuth::new(
            Arc::clone(api_keys),
            Duration::from_secs(args.api_key_cache_secs),
        )),
        #[cfg(feature = "auth-jwt")]
        (None, AuthMode::Jwt) => Arc::new(crate::auth::JwtAuth::new(jwt_config(args)?)),
        #[cfg(not(feature = "auth-jwt"))]
        (None, AuthMode::Jwt) => return Err(StartError::Auth(
            "this build has no JWT verification: rebuild with `--features auth-jwt` (or `full`)"
                .into(),
        )),
    };
    if !auth.enforces() && !args.bind.ip().is_loopback() {
        if !args.allow_unauthenticated {
            return Err(StartError::Auth(format!(
                "refusing to serve {} without authentication: choose --auth api-key|jwt, or pass --allow-unauthenticated",
                args.bind
            )));
        }
        tracing::warn!(bind = %args.bind, "serving a non-loopback address WITHOUT authentication");
    }
    Ok(auth)
}

#[cfg(feature = "auth-jwt")]
fn jwt_config(args: &ServeArgs) -> Result<crate::auth::JwtConfig, StartError> {
    let secret = match &args.jwt_secret {
        Some(s) if s.len() < 16 => {
            return Err(StartError::Auth(
                "--jwt-secret must be at least 16 bytes".into(),
            ))
        }
        s => s.clone().map(String::into_bytes),
    };
    let jwks = match &args.jwt_jwks_url {
        Some(url) => {
            let jwks = crate::auth::Jwks::new(crate::auth::JwksConfig {
                ttl: Duration::from_secs(args.jwks_cache_secs),
                min_refetch: Duration::from_secs(args.jwks_cache_secs.min(10)),
                ..crate::auth::JwksConfig::new(url.clone())
            })
            .map_err(StartError::Auth)?;
            // Warm the cache so the first token does not wait; failure is not fatal.
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                let warm = Arc::clone(&jwks);
                rt.spawn(async move { warm.prefetch().await });
            }
            Some(jwks)
        }
        None => None,
    };
    if secret.is_none() && jwks.is_none() {
        return Err(StartError::Auth(
            "--auth jwt needs --jwt-secret (HS256) or --jwt-jwks-url (RS256/ES256)".into(),
        ));
    }
    Ok(crate::auth::JwtConfig {
        secret,
        jwks,
        algorithms: args
            .jwt_algorithms
            .iter()
            .map(|a| a.parse().map_err(|e| StartError::Auth(format!("{a}: {e}"))))
            .collect::<Result<_, _>>()?,
        audience: args.jwt_audience.clone(),
        issuer: args.jwt_issuer.clone(),
        entity_claim: args.jwt_entity_claim.clone(),
        leeway: Duration::from_secs(30),
    })
}

/// Errors that stop the process before it serves.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store URL cannot be used.
    #[error("{0}")]
    Store(String),
    /// The authentication settings cannot be used.
    #[error("{0}")]
    Auth(String),
    /// A setting in the environment cannot be used (serverless functions).
    #[error("configuration: {0}")]
    Config(String),
    /// `--entity` is not a valid entity id.
    #[error("--entity: {0}")]
    Entity(String),
    /// stdin or stdout failed (`--stdio`).
    #[error("stdio: {0}")]
    Stdio(std::io::Error),
    /// The address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

impl StoreOptions {
    /// The options given on the command line.
    pub fn from_args(args: &ServeArgs) -> Self {
        Self {
            key_prefix: args.key_prefix.clone(),
            log_retention: std::time::Duration::from_secs(args.log_retention_days * 24 * 3600),
            pg_pool_size: args.pg_pool_size,
            ca_file: args.store_ca_file.clone(),
        }
    }
}

/// How the server's own log lines are written (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (coloured at a terminal).
    Text,
    /// One JSON object per line.
    Json,
}

fn init_tracing(to_stderr: bool, format: LogFormat) {
    let default = if std::env::var("FASTMCP_MT_DEBUG").is_ok_and(|v| v == "1" || v == "true") {
        "debug".to_string()
    } else {
        std::env::var("FASTMCP_MT_LOG_LEVEL").unwrap_or_else(|_| "info".into())
    };
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::Layer as _;
    let mut filter = tracing_subscriber::EnvFilter::try_new(&default)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // The spans meant for OpenTelemetry are not log lines.
    if let Ok(off) = format!("{}=off", crate::telemetry::SPAN_TARGET).parse() {
        filter = filter.add_directive(off);
    }
    // Colour only for a person at a terminal: log files and collectors get plain text.
    let ansi = if to_stderr {
        std::io::IsTerminal::is_terminal(&std::io::stderr())
    } else {
        std::io::IsTerminal::is_terminal(&std::io::stdout())
    };
    let writer = if to_stderr {
        tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::io::stderr)
    } else {
        tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::io::stdout)
    };
    let fmt = tracing_subscriber::fmt::layer().with_writer(writer);
    let fmt = match format {
        LogFormat::Text => fmt
            .with_target(false)
            .with_ansi(ansi)
            .with_filter(filter)
            .boxed(),
        LogFormat::Json => fmt
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_filter(filter)
            .boxed(),
    };
    let registry = tracing_subscriber::registry().with(fmt);
    // Only an exporter that exists joins: an absent layer (`Option::None`) answers "always
    // interested" for every callsite, which made every request build its spans (edge, request,
    // store) for no one — a few percent of each call's CPU.
    #[cfg(feature = "otel")]
    if let Some(otel) = crate::telemetry::layer() {
        let _ = registry.with(otel).try_init();
        return;
    }
    let _ = registry.try_init();
}

/// Parses the command line and serves `builder`'s catalog until SIGTERM/Ctrl-C.
///
/// Start-up errors (a store that cannot be reached, a bad flag) are printed prefixed with the
/// program's own file name, and the process exits with status 1.
pub async fn main_with(builder: McpServerBuilder) -> std::process::ExitCode {
    main_with_auth(builder, None).await
}

/// [`main_with`] with your own [`Authenticator`] (it replaces `--auth`).
pub async fn main_with_auth(
    builder: McpServerBuilder,
    auth: Option<Arc<dyn Authenticator>>,
) -> std::process::ExitCode {
    let cli = Cli::parse();
    let args = match cli.command {
        Some(Command::Serve(a)) => a,
        Some(Command::Migrate(a)) => {
            init_tracing(false, a.log_format);
            return migrate(&store_url(a.store.as_deref())).await;
        }
        None => cli.serve,
    };
    // Over stdio, stdout carries the protocol: logs go to stderr.
    init_tracing(args.stdio, args.log_format);
    let served = serve_with_auth(args, builder, auth).await;
    #[cfg(feature = "otel")]
    crate::telemetry::shutdown();
    match served {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}: {e}", program_name());
            std::process::ExitCode::FAILURE
        }
    }
}

/// This executable's file name, for messages (`fastmcp` when it cannot be read).
fn program_name() -> String {
    std::env::args_os()
        .next()
        .and_then(|p| {
            std::path::Path::new(&p)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "fastmcp".into())
}

/// `fastmcp migrate`: brings a PostgreSQL database's schema up to date.
async fn migrate(url: &str) -> std::process::ExitCode {
    #[cfg(feature = "storage-postgres")]
    {
        use fastmcp_storage_postgres::sqlx::postgres::PgPoolOptions;
        let done = async {
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .connect(url)
                .await
                .map_err(|e| e.to_string())?;
            fastmcp_storage_postgres::MIGRATOR
                .run(&pool)
                .await
                .map_err(|e| e.to_string())
        };
        match done.await {
            Ok(()) => {
                eprintln!("migrations applied to {}", redact_url(url));
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("fastmcp migrate: {}: {e}", redact_url(url));
                std::process::ExitCode::FAILURE
            }
        }
    }
    #[cfg(not(feature = "storage-postgres"))]
    {
        eprintln!("fastmcp migrate: this build has no PostgreSQL store (feature `storage-postgres`); url {}", redact_url(url));
        std::process::ExitCode::FAILURE
    }
}

/// Serves until a shutdown signal.
pub async fn serve(args: ServeArgs, builder: McpServerBuilder) -> Result<(), StartError> {
    serve_with_auth(args, builder, None).await
}

/// [`serve`] with an optional custom authenticator.
pub async fn serve_with_auth(
    args: ServeArgs,
    builder: McpServerBuilder,
    custom_auth: Option<Arc<dyn Authenticator>>,
) -> Result<(), StartError> {
    let mut args = args;
    // The store's pool, log files, the listener and the runtime take descriptors too.
    let reserved = 32 + u64::from(args.pg_pool_size);
    (args.max_connections, args.max_streams) = crate::connections::fit_to_descriptors(
        crate::connections::raise_descriptor_limit(),
        reserved,
        args.max_connections,
        args.max_streams,
    );
    if args.stdio {
        return serve_stdio_args(&args, builder, custom_auth).await;
    }
    let state = create_app(&args, builder, custom_auth).await?;
    serve_app(&args, state).await
}

/// `--stdio`: the app without a listener, one client on stdin/stdout for `--entity`.
async fn serve_stdio_args(
    args: &ServeArgs,
    builder: McpServerBuilder,
    custom_auth: Option<Arc<dyn Authenticator>>,
) -> Result<(), StartError> {
    let entity = fastmcp_core::EntityId::parse(&args.entity)
        .map_err(|e| StartError::Entity(e.to_string()))?;
    let state = create_app(args, builder, custom_auth).await?;
    crate::transport::stdio::serve_stdio(state, entity, tokio::io::stdin(), tokio::io::stdout())
        .await
        .map_err(StartError::Stdio)
}

impl ServeArgs {
    /// The settings from the environment alone (`FASTMCP_MT_*`, `REDIS_URL`, `DATABASE_URL`),
    /// each at its default when unset: what a serverless function has instead of a command line.
    pub fn from_env() -> Result<Self, clap::Error> {
        #[derive(Parser)]
        #[command(name = "fastmcp")]
        struct EnvOnly {
            #[command(flatten)]
            serve: ServeArgs,
        }
        EnvOnly::try_parse_from(["fastmcp"]).map(|e| e.serve)
    }
}

/// [`create_app`] for a serverless function (the design's `create_vercel_app`): settings from
/// [`ServeArgs::from_env`], logs set up as the binary sets them, and the deployment treated as
/// public (no loopback-only `Host`/`Origin` checks, and authentication required unless
/// `FASTMCP_MT_ALLOW_UNAUTHENTICATED=true`), since a function is reached through the
/// platform's edge, never on loopback.
/// `platform` adjusts the settings for the platform after they are read (an adapter that
/// cannot stream turns `hold_streams` off).
pub async fn create_function_app(
    builder: McpServerBuilder,
    platform: impl FnOnce(&mut ServeArgs),
) -> Result<Arc<AppState>, StartError> {
    let mut args = ServeArgs::from_env().map_err(|e| StartError::Config(e.to_string()))?;
    init_tracing(false, args.log_format);
    args.bind = SocketAddr::from(([0, 0, 0, 0], 0));
    platform(&mut args);
    create_app(&args, builder, None).await
}

/// Everything but the listener: opens the store named by `args` (or `REDIS_URL` /
/// `DATABASE_URL`, else memory), records the catalog, and builds the application state for
/// `builder`'s catalog with every setting of `args`. [`routes`] of the result is the whole poem
/// endpoint (MCP, admin API, docs, probes), for a listener of the caller's choosing; the binary
/// serves it with [`serve_app`].
pub async fn create_app(
    args: &ServeArgs,
    builder: McpServerBuilder,
    custom_auth: Option<Arc<dyn Authenticator>>,
) -> Result<Arc<AppState>, StartError> {
    let url = store_url(args.store.as_deref());
    let stores = open_store(&url, &StoreOptions::from_args(args))
        .await
        .map_err(|e| StartError::Store(e.to_string()))?;
    let auth = authenticator(args, &stores.roles.api_keys, custom_auth)?;
    let kind = stores.kind;
    let config = ServerConfig {
        session_ttl: Duration::from_secs(args.session_ttl.max(1)),
        client_request_timeout: Duration::from_secs(args.client_request_timeout.max(1)),
        request_state_keys: args.request_state_keys.clone(),
        retention: fastmcp_core::RetentionCaps {
            log_record_bytes: args.max_log_record_bytes,
            state_value_bytes: args.max_state_value_bytes,
            state_bytes: args.max_state_bytes,
            client_info_bytes: args.max_client_info_bytes,
        },
        ..ServerConfig::default()
    };
    let admin_token = match args.admin_token.clone().filter(|t| !t.is_empty()) {
        Some(t) => t,
        None => {
            let t = crate::admin::generate_token();
            // Printed once, like a notebook server's token: the only way to learn it. Not in
            // stdio mode, which serves no admin API (and whose stderr is the client's log).
            if !args.stdio {
                eprintln!("admin API token (pass --admin-token to choose one): {t}");
            }
            t
        }
    };
    let http = HttpConfig {
        body_limit: args.body_limit,
        allowed_origins: args.allowed_origins.clone(),
        allowed_hosts: args.allowed_hosts.clone(),
        loopback_only: args.bind.ip().is_loopback(),
        keep_alive: Duration::from_secs(args.sse_keep_alive_secs),
        max_batch_items: usize::try_from(args.max_batch_items).unwrap_or(usize::MAX),
        body_timeout: Duration::from_secs(args.body_timeout_secs),
        max_streams: args.max_streams,
        max_streams_per_entity: args.max_streams_per_entity,
        client_ip_header: args.client_ip_header.clone(),
        unauthenticated_rps: args.unauthenticated_rps,
        max_response_bytes: args.max_response_bytes,
        hold_streams: args.hold_streams,
        ..HttpConfig::default()
    };
    let app = AppState::builder(builder.config(config), stores.roles.clone());
    #[cfg(feature = "http-tools")]
    let app = {
        let allow = crate::outbound::AllowList::parse(&args.http_tools_allow)
            .map_err(|e| StartError::Config(format!("--http-tools-allow: {e}")))?;
        let outbound =
            Arc::new(crate::outbound::HttpOutbound::new(allow).map_err(StartError::Config)?);
        let app = app.outbound(Arc::clone(&outbound) as _);
        // Upstream MCP servers are reached the same way, behind the same guard.
        #[cfg(feature = "federation")]
        let app = app.federation(outbound);
        app
    };
    let state = app
        .http(http)
        .store_kind(kind)
        .admin_token(admin_token)
        .auth(auth)
        .auth_meta(crate::auth::AuthMetadata {
            // The JWT issuer is the authorization server clients should find, unless told else.
            authorization_servers: match (&args.auth_servers[..], &args.jwt_issuer) {
                ([], Some(issuer)) if args.auth == AuthMode::Jwt => vec![issuer.clone()],
                _ => args.auth_servers.clone(),
            },
            scopes: args.auth_scopes.clone(),
            public_url: args.public_url.clone(),
        })
        .metrics_max_entities(args.metrics_max_entities)
        .catalog(
            fastmcp_core::catalog::CatalogCaps {
                max_items: usize::try_from(args.max_catalog_items).unwrap_or(usize::MAX),
                ..Default::default()
            },
            Duration::from_millis(args.catalog_refresh_ms),
        )
        .limits(|l| {
            l.rps = args.rate_limit_rps;
            l.concurrent_calls = args.max_concurrent_calls;
            l.call_lease = Duration::from_secs(args.client_request_timeout.max(1) + 300);
            l.max_sessions = args.max_sessions_per_entity;
        })
        .build();
    #[cfg(feature = "storage-postgres")]
    if let Some(pg) = &stores.postgres {
        let mcp = &state.mcp;
        let r = mcp.registry();
        let tools: Vec<_> = r.tools().iter().map(|t| t.info().clone()).collect();
        let resources: Vec<_> = r.resources().iter().map(|x| x.info().clone()).collect();
        let templates: Vec<_> = r.templates().iter().map(|x| x.info().clone()).collect();
        let prompts: Vec<_> = r.prompts().iter().map(|x| x.info().clone()).collect();
        pg.upsert_catalog(&mcp.info().name, &tools, &resources, &templates, &prompts)
            .await
            .map_err(|e| StartError::Store(format!("cannot record the catalog: {}", e.report())))?;
    }
    Ok(state)
}

/// Serves `state` on `args.bind` until SIGTERM/Ctrl-C, then drains (the drain waits up to `--shutdown-grace-secs` for calls in flight).
pub async fn serve_app(args: &ServeArgs, state: Arc<AppState>) -> Result<(), StartError> {
    let kind = state.store_kind.clone();
    let acceptor = NoDelayAcceptor::bind(args.bind)
        .await
        .map_err(|source| StartError::Bind {
            addr: args.bind,
            source,
        })?;
    let local = acceptor.local_addr().unwrap_or(args.bind);
    tracing::info!(
        addr = %local,
        store = kind,
        instance = %state.instance_id,
        "serving MCP at http://{local}/{{entity_id}}/mcp (legacy SSE at /{{entity_id}}/sse); admin API docs at http://{local}/docs"
    );
    let grace = Duration::from_secs(args.shutdown_grace_secs);
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(drain_on_signal(Arc::clone(&state), grace, stop.clone()));
    let acceptor = acceptor
        .max_connections(args.max_connections)
        .draining_on(state.draining.clone());
    let connections = ConnectionConfig {
        header_timeout: Duration::from_secs(args.header_timeout_secs),
        idle_timeout: Duration::from_secs(args.idle_timeout_secs),
        max_header_bytes: usize::try_from(args.max_header_bytes).unwrap_or(usize::MAX),
        // By the time `stop` fires every accepted request is answered: what remains are idle
        // connections and the last frames of ended streams, a moment's work.
        flush: FLUSH,
    };
    let ep = poem::EndpointExt::map_to_response(routes(state));
    crate::connections::serve(acceptor, ep, connections, stop).await;
    Ok(())
}

/// How long the server gives open connections to flush once the drain is over.
const FLUSH: Duration = Duration::from_secs(1);

/// The drain, from the signal to `stop`:
/// 1. `draining`: `/ready` answers 503, the acceptor takes what the kernel queued and closes
///    the listener (later connects are refused, so a balancer retries them elsewhere), streams
///    a client can resume elsewhere end, responses say `Connection: close`;
/// 2. wait, within `grace`, until the requests accepted are answered and the calls that run
///    in tasks of their own (answers on streams, the legacy transport's) are done;
/// 3. `stop`: the server closes what is left.
async fn drain_on_signal(
    state: Arc<AppState>,
    grace: Duration,
    stop: tokio_util::sync::CancellationToken,
) {
    shutdown_signal().await;
    let started = std::time::Instant::now();
    state.draining.cancel();
    state.requests.close();
    state.calls.close();
    let idle = async {
        loop {
            state.requests.wait().await;
            state.calls.wait().await;
            // Connections taken from the backlog may not have sent their request yet: idle
            // means idle twice, a moment apart.
            tokio::time::sleep(Duration::from_millis(200)).await;
            if state.requests.is_empty() && state.calls.is_empty() {
                return;
            }
        }
    };
    match tokio::time::timeout(grace, idle).await {
        Ok(()) => tracing::info!(
            after_ms = started.elapsed().as_millis() as u64,
            "drained; stopping"
        ),
        Err(_) => tracing::warn!(
            requests = state.requests.len(),
            calls = state.calls.len(),
            "grace period over; stopping with work in flight"
        ),
    }
    stop.cancel();
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_opts() -> StoreOptions {
        StoreOptions {
            key_prefix: "p".into(),
            log_retention: std::time::Duration::from_secs(60),
            pg_pool_size: 2,
            ca_file: None,
        }
    }

    #[test]
    fn retention_and_pool_flags_are_bounded() {
        let cli = Cli::try_parse_from([
            "fastmcp",
            "--log-retention-days",
            "7",
            "--pg-pool-size",
            "4",
        ])
        .expect("valid flags");
        let opts = StoreOptions::from_args(&cli.serve);
        assert_eq!(
            opts.log_retention,
            std::time::Duration::from_secs(7 * 86400)
        );
        assert_eq!(opts.pg_pool_size, 4);
        assert!(Cli::try_parse_from(["fastmcp", "--log-retention-days", "0"]).is_err());
        assert!(Cli::try_parse_from(["fastmcp", "--pg-pool-size", "1"]).is_err());
        let cli = Cli::try_parse_from(["fastmcp", "--request-state-keys", "k2,k1"]).unwrap();
        assert_eq!(cli.serve.request_state_keys, ["k2", "k1"]);
        assert!(Cli::try_parse_from(["fastmcp", "--request-state-keys", "a/b"]).is_err());
    }

    #[test]
    fn debug_output_hides_secrets() {
        let cli = Cli::parse_from([
            "fastmcp",
            "--admin-token",
            "tok-secret",
            "--store",
            "redis://:pw-secret@h:1",
        ]);
        let shown = format!("{cli:?}");
        assert!(
            !shown.contains("tok-secret") && !shown.contains("pw-secret"),
            "{shown}"
        );
    }

    #[tokio::test]
    async fn unknown_or_missing_backends_are_clear_errors() {
        let err = open_store("postgres://u:secret@127.0.0.1:1/db", &test_opts())
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(!err.contains("secret"), "{err}");
        #[cfg(not(feature = "storage-postgres"))]
        assert!(err.contains("storage-postgres"), "{err}");
        #[cfg(feature = "storage-postgres")]
        assert!(err.contains("cannot use PostgreSQL"), "{err}");
        let err = open_store("ftp://x:secret@y", &test_opts())
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("unknown store") && !err.contains("secret"),
            "{err}"
        );
        let err = open_store("redis://:secret@127.0.0.1:1", &test_opts())
            .await
            .err()
            .map(|e| e.to_string());
        let err = err.unwrap_or_default();
        assert!(!err.contains("secret"), "{err}");
        #[cfg(not(feature = "storage-redis"))]
        assert!(err.contains("storage-redis"), "{err}");
        #[cfg(feature = "storage-redis")]
        assert!(err.contains("cannot use Redis"), "{err}");
    }
}
