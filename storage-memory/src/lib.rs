//! # fastmcp-storage-memory
//!
//! [`MemoryStore`]: both storage traits in process memory. The default for a single instance and
//! for tests. Nothing survives a restart and nothing is shared between processes; use the Redis
//! or PostgreSQL backend to run more than one instance.
//!
//! Sessions expire lazily on access and are swept every [`MemoryConfig::sweep_interval`]; each
//! stream keeps at most [`MemoryConfig::max_events_per_stream`] events no older than
//! [`MemoryConfig::max_event_age`].

mod api_keys;
mod catalog;
mod entity_config;
mod limits;
mod logs;
mod queue;
mod secrets;
mod sessions;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use fastmcp_core::storage::{Event, EventId, EventStream, SessionPage};
use fastmcp_core::storage::{StoreError, StoreResult};
use fastmcp_core::{
    ApiKeyRecord, ApiKeyStore, EntityConfig, EntityConfigStore, EntityId, KeyStore, LimitStore,
    LogRecord, LogStore, MessageQueue, SessionId, SessionRecord, SessionStore, StreamKey,
};
use serde_json::Value;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

/// Limits of the in-memory backend.
#[derive(Debug, Clone)]
pub struct MemoryConfig {
    /// Events kept per stream (oldest trimmed first).
    pub max_events_per_stream: usize,
    /// Events older than this are trimmed.
    pub max_event_age: Duration,
    /// How long an undelivered client reply is kept.
    pub reply_ttl: Duration,
    /// Most undelivered replies kept at once (further ones are dropped).
    pub max_pending_replies: usize,
    /// How often expired sessions, idle streams and stale replies are purged.
    pub sweep_interval: Duration,
    /// Log records kept per entity (the newest).
    pub max_logs_per_entity: usize,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            max_events_per_stream: 256,
            max_event_age: Duration::from_secs(600),
            reply_ttl: Duration::from_secs(300),
            max_pending_replies: 10_000,
            sweep_interval: Duration::from_secs(30),
            max_logs_per_entity: 1000,
        }
    }
}

type SessionKey = (EntityId, SessionId);

struct SessionEntry {
    record: SessionRecord,
    expires_at: Instant,
}

struct StreamLog {
    events: VecDeque<(u64, Instant, Value)>,
    next_seq: u64,
    closed: bool,
    last_activity: Instant,
    /// Bumped on every publish/close; dropping it (stream deleted) ends subscribers.
    wake: watch::Sender<u64>,
}

impl StreamLog {
    fn new() -> Self {
        Self {
            events: VecDeque::new(),
            next_seq: 1,
            closed: false,
            last_activity: Instant::now(),
            wake: watch::channel(0).0,
        }
    }
}

enum ReplySlot {
    Arrived(Value, Instant),
    Waiting(oneshot::Sender<Value>),
}

struct Inner {
    config: MemoryConfig,
    sessions: DashMap<SessionKey, SessionEntry>,
    /// Streams grouped by session so a session's streams go away together.
    streams: DashMap<SessionKey, HashMap<String, StreamLog>>,
    replies: DashMap<(EntityId, SessionId, String), ReplySlot>,
    logs: DashMap<EntityId, VecDeque<LogRecord>>,
    /// Server secrets (`KeyStore`).
    keys: DashMap<String, Vec<u8>>,
    /// API keys by hash (`ApiKeyStore`).
    api_keys: DashMap<String, ApiKeyRecord>,
    /// Limit windows: key → (window index, count).
    windows: DashMap<String, (u64, u64)>,
    /// Limit slots: key → (slot id, expiry).
    slots: DashMap<String, Vec<(String, Instant)>>,
    /// Entity configurations.
    entity_configs: DashMap<EntityId, EntityConfig>,
    /// Stored catalogs, one lock for all: writes are rare, and one lock makes the epoch and a
    /// scope's version move together with its items.
    catalog: std::sync::Mutex<catalog::Catalogs>,
}

/// The in-memory backend. Cloning shares the same data.
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new(MemoryConfig::default())
    }
}

impl MemoryStore {
    /// A new, empty store. If called inside a Tokio runtime, starts the sweeper task, which
    /// stops by itself when the last clone of the store is dropped.
    pub fn new(config: MemoryConfig) -> Self {
        let inner = Arc::new(Inner {
            config,
            sessions: DashMap::new(),
            streams: DashMap::new(),
            replies: DashMap::new(),
            logs: DashMap::new(),
            keys: DashMap::new(),
            api_keys: DashMap::new(),
            windows: DashMap::new(),
            slots: DashMap::new(),
            entity_configs: DashMap::new(),
            catalog: std::sync::Mutex::new(catalog::Catalogs::default()),
        });
        if tokio::runtime::Handle::try_current().is_ok() {
            let weak = Arc::downgrade(&inner);
            let every = inner.config.sweep_interval;
            tokio::spawn(sweeper(weak, every));
        }
        Self { inner }
    }

    /// Number of live sessions (for metrics and tests).
    pub fn session_count(&self) -> usize {
        self.inner.sessions.len()
    }

    /// Purges expired sessions, trims streams and drops stale replies now.
    pub fn sweep(&self) {
        self.inner.sweep();
    }
}

async fn sweeper(inner: Weak<Inner>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        inner.sweep();
    }
}

impl Inner {
    /// Runs `f` on the stream's log, creating it if needed, under the map's shard lock (never
    /// across an await).
    fn with_log<R>(
        &self,
        entity: &EntityId,
        stream: &StreamKey,
        f: impl FnOnce(&mut StreamLog) -> R,
    ) -> R {
        let mut logs = self
            .streams
            .entry((entity.clone(), stream.session))
            .or_default();
        f(logs
            .entry(stream.name.clone())
            .or_insert_with(StreamLog::new))
    }

    fn sweep(&self) {
        let now = Instant::now();
        let mut expired = Vec::new();
        self.sessions.retain(|k, e| {
            let live = e.expires_at > now;
            if !live {
                expired.push(k.clone());
            }
            live
        });
        for k in expired {
            self.streams.remove(&k);
        }
        let max_age = self.config.max_event_age;
        self.streams.retain(|_, logs| {
            logs.retain(|_, log| {
                trim(log, usize::MAX, max_age, now);
                let idle = now.duration_since(log.last_activity) > max_age;
                !(idle && log.wake.receiver_count() == 0)
            });
            !logs.is_empty()
        });
        let reply_ttl = self.config.reply_ttl;
        self.replies.retain(|_, slot| match slot {
            ReplySlot::Arrived(_, at) => now.duration_since(*at) < reply_ttl,
            ReplySlot::Waiting(tx) => !tx.is_closed(),
        });
    }

    fn events_after(
        &self,
        entity: &EntityId,
        stream: &StreamKey,
        after: u64,
    ) -> (Vec<Event>, bool, bool) {
        let key = (entity.clone(), stream.session);
        let Some(logs) = self.streams.get(&key) else {
            return (vec![], false, false);
        };
        let Some(log) = logs.get(&stream.name) else {
            return (vec![], false, false);
        };
        let events = log
            .events
            .iter()
            .filter(|(seq, _, _)| *seq > after)
            .map(|(seq, _, msg)| Event {
                id: EventId(seq.to_string()),
                message: msg.clone(),
            })
            .collect();
        (events, log.closed, true)
    }
}

fn trim(log: &mut StreamLog, max_len: usize, max_age: Duration, now: Instant) {
    while log.events.len() > max_len {
        log.events.pop_front();
    }
    while log
        .events
        .front()
        .is_some_and(|(_, at, _)| now.duration_since(*at) > max_age)
    {
        log.events.pop_front();
    }
}

fn parse_event_id(id: &EventId) -> StoreResult<u64> {
    id.0.parse()
        .map_err(|_| StoreError::invalid_value(format!("unknown event id {:?}", id.0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fastmcp_core::testing::Stores;

    fn stores() -> Stores {
        Stores::of(MemoryStore::default())
    }

    fastmcp_core::store_test_suite!(async { stores() });

    #[tokio::test(start_paused = true)]
    async fn ttl_expiry_with_paused_clock() {
        let s = MemoryStore::default();
        let e = EntityId::parse("acme").unwrap();
        let rec = s
            .create(SessionRecord::new(e.clone()), Duration::from_secs(60))
            .await
            .unwrap();
        tokio::time::advance(Duration::from_secs(59)).await;
        assert!(s.load(&e, &rec.id).await.unwrap().is_some());
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(s.load(&e, &rec.id).await.unwrap().is_none());
        s.sweep();
        assert_eq!(s.session_count(), 0);
    }

    #[tokio::test]
    async fn streams_are_bounded() {
        let s = MemoryStore::new(MemoryConfig {
            max_events_per_stream: 5,
            ..Default::default()
        });
        let e = EntityId::parse("acme").unwrap();
        let k = StreamKey::new(SessionId::new_random(), "sse");
        for i in 0..20 {
            s.publish(&e, &k, &serde_json::json!(i)).await.unwrap();
        }
        let all = s.replay_after(&e, &k, None).await.unwrap();
        assert_eq!(
            all.iter()
                .map(|e| e.message.as_i64().unwrap())
                .collect::<Vec<_>>(),
            vec![15, 16, 17, 18, 19]
        );
    }

    #[tokio::test]
    async fn delivered_events_are_released_and_later_ones_kept() {
        let s = MemoryStore::default();
        let e = EntityId::parse("acme").unwrap();
        let k = StreamKey::new(SessionId::new_random(), "sse");
        let mut ids = Vec::new();
        for i in 0..4 {
            ids.push(s.publish(&e, &k, &serde_json::json!(i)).await.unwrap());
        }
        use futures::StreamExt as _;
        let mut sub = s.subscribe(&e, &k, None).await.unwrap();
        let first = sub.next().await.unwrap().unwrap();
        assert_eq!(first.message, serde_json::json!(0));
        s.delivered(&e, &k, &ids[1]).await.unwrap();
        let left = s.replay_after(&e, &k, None).await.unwrap();
        assert_eq!(
            left.iter()
                .map(|e| e.message.as_i64().unwrap())
                .collect::<Vec<_>>(),
            vec![2, 3]
        );
        // The live subscriber goes on from where it is, and new events still arrive.
        s.publish(&e, &k, &serde_json::json!(4)).await.unwrap();
        let mut seen = Vec::new();
        while seen.last() != Some(&4) {
            seen.push(sub.next().await.unwrap().unwrap().message.as_i64().unwrap());
        }
        assert_eq!(seen, vec![1, 2, 3, 4]);
        // Another entity's acknowledgement reaches nothing, and creates no stream.
        let other = EntityId::parse("other").unwrap();
        s.delivered(&other, &k, &ids[3]).await.unwrap();
        assert_eq!(s.replay_after(&e, &k, None).await.unwrap().len(), 3);
        assert!(s.replay_after(&other, &k, None).await.unwrap().is_empty());
        assert!(s.delivered(&e, &k, &EventId("nope".into())).await.is_err());
    }
}
