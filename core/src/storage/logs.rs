//! Log records kept for operators.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::StoreResult;
use crate::ids::{EntityId, SessionId};
use crate::protocol::LoggingLevel;

/// What kind of event a [`LogRecord`] records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogKind {
    /// A `ctx.debug/info/…` message.
    Log,
    /// A `ctx.report_progress` event.
    Progress,
    /// A request that failed (JSON-RPC error or tool `isError`).
    Error,
}

impl LogKind {
    /// The stored name (`log`, `progress`, `error`), as serde writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            LogKind::Log => "log",
            LogKind::Progress => "progress",
            LogKind::Error => "error",
        }
    }

    /// The kind of a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        [LogKind::Log, LogKind::Progress, LogKind::Error]
            .into_iter()
            .find(|k| k.as_str() == name)
    }
}

/// One log record: every `ctx` log message and progress/error event, whatever the client's
/// logging level (that level filters what is *sent*, not what is *kept*).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    /// The tenant.
    pub entity: EntityId,
    /// The session, when the event happened inside one.
    pub session: Option<SessionId>,
    /// What kind of event.
    pub kind: LogKind,
    /// Severity.
    pub level: LoggingLevel,
    /// Human-readable text.
    pub message: String,
    /// Structured payload (the log data, or the progress numbers).
    pub data: Value,
    /// When, milliseconds since the Unix epoch.
    pub created_at_ms: u64,
}

/// Where log records are kept for operators (the admin API reads them).
///
/// Guarantees: records are entity-scoped like everything else; `recent` returns the newest
/// first, at most `limit`; a backend keeps at least its configured recent window per entity
/// (memory and Redis: a bounded window; PostgreSQL: durably, with configurable retention).
#[async_trait]
pub trait LogStore: Send + Sync + 'static {
    /// Stores one record.
    async fn append(&self, record: &LogRecord) -> StoreResult<()>;

    /// The newest records of `entity` (only those of `session` when given), newest first.
    async fn recent(
        &self,
        entity: &EntityId,
        session: Option<&SessionId>,
        limit: usize,
    ) -> StoreResult<Vec<LogRecord>>;
}

#[cfg(test)]
mod tests {
    use super::LogKind;

    #[test]
    fn log_kind_names_match_serde_and_round_trip() {
        for k in [LogKind::Log, LogKind::Progress, LogKind::Error] {
            assert_eq!(
                serde_json::to_value(k).unwrap(),
                serde_json::json!(k.as_str())
            );
            assert_eq!(LogKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(LogKind::parse("nope"), None);
    }
}
