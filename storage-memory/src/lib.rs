//! # fastmcp-storage-memory
//!
//! [`MemoryStore`]: both storage traits in process memory. The default for a single instance and
//! for tests. Nothing survives a restart and nothing is shared between processes; use the Redis
//! or PostgreSQL backend to run more than one instance.
//!
//! Sessions expire lazily on access and are swept every [`MemoryConfig::sweep_interval`]; each
//! stream keeps at most [`MemoryConfig::max_events_per_stream`] events no older than
//! [`MemoryConfig::max_event_age`].

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use fastmcp_core::error::{Error, Result};
use fastmcp_core::storage::{Event, EventId, EventStream, SessionPage};
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

fn parse_event_id(id: &EventId) -> Result<u64> {
    id.0.parse()
        .map_err(|_| Error::invalid_params(format!("unknown event id {:?}", id.0)))
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn create(&self, mut record: SessionRecord, ttl: Duration) -> Result<SessionRecord> {
        let key = (record.entity.clone(), record.id);
        let now = Instant::now();
        match self.inner.sessions.entry(key) {
            Entry::Occupied(mut o) if o.get().expires_at <= now => {
                record.version = 1;
                o.insert(SessionEntry {
                    record: record.clone(),
                    expires_at: now + ttl,
                });
            }
            Entry::Occupied(_) => return Err(Error::Conflict("session id exists".into())),
            Entry::Vacant(v) => {
                record.version = 1;
                v.insert(SessionEntry {
                    record: record.clone(),
                    expires_at: now + ttl,
                });
            }
        }
        Ok(record)
    }

    async fn load(&self, entity: &EntityId, id: &SessionId) -> Result<Option<SessionRecord>> {
        let key = (entity.clone(), *id);
        let now = Instant::now();
        Ok(self
            .inner
            .sessions
            .get(&key)
            .filter(|e| e.expires_at > now)
            .map(|e| e.record.clone()))
    }

    async fn load_and_touch(
        &self,
        entity: &EntityId,
        id: &SessionId,
        ttl: Duration,
    ) -> Result<Option<SessionRecord>> {
        let key = (entity.clone(), *id);
        let now = Instant::now();
        Ok(self
            .inner
            .sessions
            .get_mut(&key)
            .filter(|e| e.expires_at > now)
            .map(|mut e| {
                e.expires_at = now + ttl;
                e.record.clone()
            }))
    }

    async fn save(&self, record: &SessionRecord, ttl: Duration) -> Result<u64> {
        let key = (record.entity.clone(), record.id);
        let now = Instant::now();
        let Some(mut e) = self
            .inner
            .sessions
            .get_mut(&key)
            .filter(|e| e.expires_at > now)
        else {
            return Err(Error::NotFound("session".into()));
        };
        if e.record.version != record.version {
            return Err(Error::Conflict(format!(
                "session is at version {}, not {}",
                e.record.version, record.version
            )));
        }
        let mut next = record.clone();
        next.version = record.version + 1;
        e.record = next;
        e.expires_at = now + ttl;
        Ok(record.version + 1)
    }

    async fn touch(&self, entity: &EntityId, id: &SessionId, ttl: Duration) -> Result<bool> {
        let key = (entity.clone(), *id);
        let now = Instant::now();
        match self
            .inner
            .sessions
            .get_mut(&key)
            .filter(|e| e.expires_at > now)
        {
            Some(mut e) => {
                e.expires_at = now + ttl;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn delete(&self, entity: &EntityId, id: &SessionId) -> Result<bool> {
        let key = (entity.clone(), *id);
        let now = Instant::now();
        Ok(self
            .inner
            .sessions
            .remove(&key)
            .is_some_and(|(_, e)| e.expires_at > now))
    }

    async fn count(&self, entity: &EntityId) -> Result<u64> {
        let now = Instant::now();
        let n = self
            .inner
            .sessions
            .iter()
            .filter(|e| &e.key().0 == entity && e.expires_at > now)
            .count();
        Ok(n as u64)
    }

    async fn list(
        &self,
        entity: &EntityId,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<SessionPage> {
        let after = match cursor {
            None => None,
            Some(c) => Some(
                SessionId::parse(c)
                    .ok_or_else(|| Error::invalid_params("invalid session cursor"))?,
            ),
        };
        let now = Instant::now();
        // Linear in all sessions: listing is an admin operation, not on any request path.
        let mut hits: Vec<SessionRecord> = self
            .inner
            .sessions
            .iter()
            .filter(|e| &e.key().0 == entity && e.expires_at > now)
            .filter(|e| after.is_none_or(|a| e.key().1 > a))
            .map(|e| e.record.clone())
            .collect();
        hits.sort_by_key(|r| r.id);
        let limit = limit.max(1);
        let next_cursor = (hits.len() > limit).then(|| hits[limit - 1].id.to_string());
        hits.truncate(limit);
        Ok(SessionPage {
            sessions: hits,
            next_cursor,
        })
    }

    async fn ping(&self) -> Result<()> {
        Ok(())
    }
}

#[async_trait]
impl MessageQueue for MemoryStore {
    async fn publish(
        &self,
        entity: &EntityId,
        stream: &StreamKey,
        message: &Value,
    ) -> Result<EventId> {
        let now = Instant::now();
        let config = &self.inner.config;
        let seq = self.inner.with_log(entity, stream, |log| {
            let seq = log.next_seq;
            log.next_seq += 1;
            log.events.push_back((seq, now, message.clone()));
            log.last_activity = now;
            trim(log, config.max_events_per_stream, config.max_event_age, now);
            log.wake.send_replace(seq);
            seq
        });
        Ok(EventId(seq.to_string()))
    }

    async fn replay_after(
        &self,
        entity: &EntityId,
        stream: &StreamKey,
        after: Option<&EventId>,
    ) -> Result<Vec<Event>> {
        let after = after.map(parse_event_id).transpose()?.unwrap_or(0);
        Ok(self.inner.events_after(entity, stream, after).0)
    }

    async fn subscribe(
        &self,
        entity: &EntityId,
        stream: &StreamKey,
        after: Option<EventId>,
    ) -> Result<EventStream> {
        let after = after.as_ref().map(parse_event_id).transpose()?.unwrap_or(0);
        // Register for wake-ups before reading, so nothing published in between is missed.
        let rx = self
            .inner
            .with_log(entity, stream, |log| log.wake.subscribe());
        struct State {
            inner: Arc<Inner>,
            entity: EntityId,
            stream: StreamKey,
            last: u64,
            rx: watch::Receiver<u64>,
            buf: VecDeque<Event>,
        }
        let state = State {
            inner: Arc::clone(&self.inner),
            entity: entity.clone(),
            stream: stream.clone(),
            last: after,
            rx,
            buf: VecDeque::new(),
        };
        let s = futures::stream::unfold(state, |mut st| async move {
            loop {
                if let Some(ev) = st.buf.pop_front() {
                    return Some((Ok(ev), st));
                }
                st.rx.borrow_and_update();
                let (events, closed, exists) =
                    st.inner.events_after(&st.entity, &st.stream, st.last);
                if let Some(last) = events.last() {
                    st.last = last.id.0.parse().unwrap_or(st.last);
                    st.buf.extend(events);
                    continue;
                }
                if closed || !exists {
                    return None;
                }
                if st.rx.changed().await.is_err() {
                    // Sender dropped: the stream (or its session) was deleted. Drain, then end.
                    let (events, _, _) = st.inner.events_after(&st.entity, &st.stream, st.last);
                    if events.is_empty() {
                        return None;
                    }
                    st.buf.extend(events);
                }
            }
        });
        Ok(Box::pin(s))
    }

    async fn close(&self, entity: &EntityId, stream: &StreamKey) -> Result<()> {
        self.inner.with_log(entity, stream, |log| {
            log.closed = true;
            log.last_activity = Instant::now();
            let v = *log.wake.borrow();
            log.wake.send_replace(v);
        });
        Ok(())
    }

    async fn delete_session(&self, entity: &EntityId, session: &SessionId) -> Result<()> {
        self.inner.streams.remove(&(entity.clone(), *session));
        self.inner
            .replies
            .retain(|(e, s, _), _| !(e == entity && s == session));
        Ok(())
    }

    async fn deliver_reply(
        &self,
        entity: &EntityId,
        session: &SessionId,
        request_key: &str,
        reply: &Value,
    ) -> Result<()> {
        let key = (entity.clone(), *session, request_key.to_string());
        let waiting = match self.inner.replies.remove(&key) {
            Some((_, ReplySlot::Waiting(tx))) => Some(tx),
            _ => None,
        };
        if let Some(tx) = waiting {
            if tx.send(reply.clone()).is_ok() {
                return Ok(());
            }
            // The waiter gave up; keep the reply for a later taker.
        }
        if self.inner.replies.len() >= self.inner.config.max_pending_replies {
            // Bounded memory beats keeping an answer nobody may ever take.
            return Err(Error::Conflict("too many undelivered replies".into()));
        }
        self.inner
            .replies
            .insert(key, ReplySlot::Arrived(reply.clone(), Instant::now()));
        Ok(())
    }

    async fn take_reply(
        &self,
        entity: &EntityId,
        session: &SessionId,
        request_key: &str,
        timeout: Duration,
    ) -> Result<Option<Value>> {
        let key = (entity.clone(), *session, request_key.to_string());
        let rx = match self.inner.replies.entry(key.clone()) {
            Entry::Occupied(o) => match o.remove() {
                ReplySlot::Arrived(v, _) => return Ok(Some(v)),
                ReplySlot::Waiting(_) => {
                    // A previous waiter (timed out or superseded): this one replaces it.
                    let (tx, rx) = oneshot::channel();
                    self.inner
                        .replies
                        .insert(key.clone(), ReplySlot::Waiting(tx));
                    rx
                }
            },
            Entry::Vacant(v) => {
                let (tx, rx) = oneshot::channel();
                v.insert(ReplySlot::Waiting(tx));
                rx
            }
        };
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(v)) => Ok(Some(v)),
            _ => {
                self.inner
                    .replies
                    .remove_if(&key, |_, s| matches!(s, ReplySlot::Waiting(_)));
                Ok(None)
            }
        }
    }
}

#[async_trait]
impl KeyStore for MemoryStore {
    async fn get_or_create(&self, name: &str, proposed: &[u8]) -> Result<Vec<u8>> {
        Ok(self
            .inner
            .keys
            .entry(name.to_string())
            .or_insert_with(|| proposed.to_vec())
            .clone())
    }
}

#[async_trait]
impl ApiKeyStore for MemoryStore {
    async fn put_key(&self, key: &ApiKeyRecord) -> Result<()> {
        let clash = self
            .inner
            .api_keys
            .iter()
            .any(|k| k.entity == key.entity && k.id == key.id);
        if clash {
            return Err(Error::Conflict(format!("api key {} exists", key.id)));
        }
        match self.inner.api_keys.entry(key.hash.clone()) {
            dashmap::Entry::Occupied(_) => Err(Error::Conflict("api key exists".into())),
            dashmap::Entry::Vacant(v) => {
                v.insert(key.clone());
                Ok(())
            }
        }
    }

    async fn key_by_hash(&self, hash: &str) -> Result<Option<ApiKeyRecord>> {
        Ok(self.inner.api_keys.get(hash).map(|k| k.clone()))
    }

    async fn list_keys(&self, entity: &EntityId) -> Result<Vec<ApiKeyRecord>> {
        let mut keys: Vec<ApiKeyRecord> = self
            .inner
            .api_keys
            .iter()
            .filter(|k| &k.entity == entity)
            .map(|k| k.clone())
            .collect();
        keys.sort_by(|a, b| (a.created_at_ms, &a.id).cmp(&(b.created_at_ms, &b.id)));
        Ok(keys)
    }

    async fn revoke_key(&self, entity: &EntityId, id: &str) -> Result<bool> {
        let before = self.inner.api_keys.len();
        self.inner
            .api_keys
            .retain(|_, k| !(&k.entity == entity && k.id == id));
        Ok(self.inner.api_keys.len() < before)
    }
}

#[async_trait]
impl LimitStore for MemoryStore {
    async fn hit(&self, key: &str, window: Duration) -> Result<(u64, Duration)> {
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

    async fn acquire(&self, key: &str, limit: u64, lease: Duration) -> Result<Option<String>> {
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

    async fn release(&self, key: &str, slot: &str) -> Result<()> {
        if let Some(mut slots) = self.inner.slots.get_mut(key) {
            slots.retain(|(id, _)| id != slot);
        }
        Ok(())
    }
}

#[async_trait]
impl EntityConfigStore for MemoryStore {
    async fn entity_config(&self, entity: &EntityId) -> Result<Option<EntityConfig>> {
        Ok(self.inner.entity_configs.get(entity).map(|c| c.clone()))
    }

    async fn set_entity_config(
        &self,
        entity: &EntityId,
        config: Option<&EntityConfig>,
    ) -> Result<()> {
        match config {
            Some(c) => {
                self.inner.entity_configs.insert(entity.clone(), c.clone());
            }
            None => {
                self.inner.entity_configs.remove(entity);
            }
        }
        Ok(())
    }
}

#[async_trait]
impl LogStore for MemoryStore {
    async fn append(&self, record: &LogRecord) -> Result<()> {
        let mut logs = self.inner.logs.entry(record.entity.clone()).or_default();
        logs.push_front(record.clone());
        logs.truncate(self.inner.config.max_logs_per_entity);
        Ok(())
    }

    async fn recent(
        &self,
        entity: &EntityId,
        session: Option<&SessionId>,
        limit: usize,
    ) -> Result<Vec<LogRecord>> {
        Ok(self.inner.logs.get(entity).map_or_else(Vec::new, |logs| {
            logs.iter()
                .filter(|r| session.is_none_or(|s| r.session.as_ref() == Some(s)))
                .take(limit)
                .cloned()
                .collect()
        }))
    }
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
}
