//! # fastmcp-storage-redis
//!
//! [`RedisStore`]: both storage traits on Redis, so any number of server instances share
//! sessions, event logs and client replies.
//!
//! ## Layout
//! Every key is defined in `keys.rs`, whose header is the full table (type, contents,
//! lifetime). Every key of a session carries the hash tag `{prefix:entity:session}`, so all
//! multi-key work of one session lands in one Redis Cluster slot.
//!
//! Saves are compare-and-swap in a Lua script; `load_and_touch` is one command (`GETEX … PX`),
//! the only Redis work of a request answered with JSON. Live subscribers and reply waiters use blocking reads (`XREAD BLOCK`,
//! `BLPOP`) on connections of their own, so they never stall the shared multiplexed connection.

mod keys;

use std::time::Duration;

use async_trait::async_trait;
use fastmcp_core::error::{Error, Result};
use fastmcp_core::storage::{Event, EventId, EventStream, SessionPage};
use fastmcp_core::{
    redact_url, ApiKeyRecord, ApiKeyStore, EntityConfig, EntityConfigStore, EntityId, KeyStore,
    LimitStore, LogRecord, LogStore, MessageQueue, SessionId, SessionRecord, SessionStore,
    StreamKey,
};
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::{Client, RedisError, Script, Value as RV};
use serde_json::Value;

/// Re-exported so users build configs with the matching client version.
pub use redis;

/// Settings of the Redis backend.
#[derive(Clone)]
pub struct RedisConfig {
    /// `redis://[:password@]host:port[/db]` (or `rediss://`).
    pub url: String,
    /// Prefix of every key, so several deployments can share one Redis.
    pub prefix: String,
    /// Approximate cap on events per stream (`XADD MAXLEN ~`).
    pub max_events_per_stream: usize,
    /// A stream idle this long expires as a whole.
    pub stream_ttl: Duration,
    /// How long an undelivered client reply is kept.
    pub reply_ttl: Duration,
    /// How long one blocking read waits before re-checking (bounds shutdown latency).
    pub block_interval: Duration,
    /// Log records kept per entity (the newest).
    pub max_logs_per_entity: usize,
}

impl RedisConfig {
    /// Defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            prefix: "fastmcp".into(),
            max_events_per_stream: 1000,
            stream_ttl: Duration::from_secs(3600),
            reply_ttl: Duration::from_secs(300),
            block_interval: Duration::from_secs(5),
            max_logs_per_entity: 1000,
        }
    }
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &redact_url(&self.url))
            .field("prefix", &self.prefix)
            .field("max_events_per_stream", &self.max_events_per_stream)
            .field("stream_ttl", &self.stream_ttl)
            .field("reply_ttl", &self.reply_ttl)
            .finish()
    }
}

/// Compare-and-swap on the `VERSION:` prefix of the stored value.
const SAVE: &str = r"
local cur = redis.call('GET', KEYS[1])
if not cur then return -1 end
if string.match(cur, '^(%d+):') ~= ARGV[1] then return -2 end
redis.call('SET', KEYS[1], ARGV[2] .. ':' .. ARGV[3], 'PX', ARGV[4])
return 1";

/// Marks the end of a stream (`close`, `delete_session`); never returned as an event.
const END_FIELD: &str = "end";
const MSG_FIELD: &str = "m";

/// The Redis backend. Cloning shares the connection.
#[derive(Clone)]
pub struct RedisStore {
    client: Client,
    con: ConnectionManager,
    cfg: RedisConfig,
    keys: keys::Keys,
    save: Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("cfg", &self.cfg)
            .finish()
    }
}

fn map_err(what: &str, e: RedisError) -> Error {
    if e.is_io_error() || e.is_connection_refusal() || e.is_timeout() || e.is_connection_dropped() {
        Error::unavailable(format!("redis: {what}"), e)
    } else {
        Error::backend(format!("redis: {what}"), e)
    }
}

fn ms(d: Duration) -> u64 {
    d.as_millis().max(1) as u64
}

impl RedisStore {
    /// Connects (and fails fast if Redis cannot be reached now); later outages are retried by
    /// the connection manager, and calls made meanwhile fail with `Error::Unavailable`.
    pub async fn connect(cfg: RedisConfig) -> Result<Self> {
        let client = Client::open(cfg.url.as_str()).map_err(|e| {
            Error::backend(format!("invalid Redis URL {}", redact_url(&cfg.url)), e)
        })?;
        let mgr_cfg = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let con = ConnectionManager::new_with_config(client.clone(), mgr_cfg)
            .await
            .map_err(|e| map_err("connect", e))?;
        Ok(Self {
            client,
            con,
            keys: keys::Keys::new(cfg.prefix.clone()),
            cfg,
            save: Script::new(SAVE),
        })
    }

    /// A connection of its own, for blocking commands. Its response timeout must outlast the
    /// blocking time (the client's default, 500 ms, would fail every `XREAD BLOCK`/`BLPOP`).
    async fn dedicated(&self, longest_block: Duration) -> Result<MultiplexedConnection> {
        let cfg = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(longest_block + Duration::from_secs(5)));
        self.client
            .get_multiplexed_async_connection_with_config(&cfg)
            .await
            .map_err(|e| map_err("connect (blocking reader)", e))
    }

    fn decode(
        entity: &EntityId,
        id: &SessionId,
        raw: Option<String>,
    ) -> Result<Option<SessionRecord>> {
        let Some(raw) = raw else { return Ok(None) };
        let corrupt = || Error::Backend {
            message: "redis: corrupt session record".into(),
            source: None,
        };
        let (v, d) = raw.split_once(':').ok_or_else(corrupt)?;
        let mut rec: SessionRecord = serde_json::from_str(d)
            .map_err(|e| Error::backend("redis: corrupt session record", e))?;
        rec.version = v.parse().map_err(|_| corrupt())?;
        // The key already scopes by entity; this guards against a hand-edited record.
        if &rec.entity != entity || &rec.id != id {
            return Ok(None);
        }
        Ok(Some(rec))
    }

    fn encode(record: &SessionRecord) -> Result<String> {
        serde_json::to_string(record)
            .map_err(|e| Error::Internal(format!("cannot encode session: {e}")))
    }
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn create(&self, mut record: SessionRecord, ttl: Duration) -> Result<SessionRecord> {
        record.version = 1;
        let key = self.keys.session(&record.entity, &record.id);
        let data = Self::encode(&record)?;
        let mut con = self.con.clone();
        let created: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(format!("1:{data}"))
            .arg("NX")
            .arg("PX")
            .arg(ms(ttl))
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("create session", e))?;
        if created.is_none() {
            return Err(Error::Conflict("session id exists".into()));
        }
        // Listing index: a different slot on Cluster, so a separate command; list() prunes
        // ids whose record is gone.
        let _: () = redis::cmd("ZADD")
            .arg(self.keys.session_index(&record.entity))
            .arg(0)
            .arg(record.id.to_string())
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("index session", e))?;
        Ok(record)
    }

    async fn load(&self, entity: &EntityId, id: &SessionId) -> Result<Option<SessionRecord>> {
        let mut con = self.con.clone();
        let raw: Option<String> = redis::cmd("GET")
            .arg(self.keys.session(entity, id))
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("load session", e))?;
        Self::decode(entity, id, raw)
    }

    async fn load_and_touch(
        &self,
        entity: &EntityId,
        id: &SessionId,
        ttl: Duration,
    ) -> Result<Option<SessionRecord>> {
        let key = self.keys.session(entity, id);
        let mut con = self.con.clone();
        let raw: Option<String> = redis::cmd("GETEX")
            .arg(&key)
            .arg("PX")
            .arg(ms(ttl))
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("load session", e))?;
        Self::decode(entity, id, raw)
    }

    async fn save(&self, record: &SessionRecord, ttl: Duration) -> Result<u64> {
        let key = self.keys.session(&record.entity, &record.id);
        let next = record.version + 1;
        let mut stored = record.clone();
        stored.version = next;
        let data = Self::encode(&stored)?;
        let mut con = self.con.clone();
        let r: i64 = self
            .save
            .key(&key)
            .arg(record.version.to_string())
            .arg(next.to_string())
            .arg(&data)
            .arg(ms(ttl))
            .invoke_async(&mut con)
            .await
            .map_err(|e| map_err("save session", e))?;
        match r {
            1 => Ok(next),
            -1 => Err(Error::NotFound("session".into())),
            _ => Err(Error::Conflict(format!(
                "session is not at version {}",
                record.version
            ))),
        }
    }

    async fn touch(&self, entity: &EntityId, id: &SessionId, ttl: Duration) -> Result<bool> {
        let mut con = self.con.clone();
        let n: i64 = redis::cmd("PEXPIRE")
            .arg(self.keys.session(entity, id))
            .arg(ms(ttl))
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("touch session", e))?;
        Ok(n == 1)
    }

    async fn delete(&self, entity: &EntityId, id: &SessionId) -> Result<bool> {
        let mut con = self.con.clone();
        let n: i64 = redis::cmd("DEL")
            .arg(self.keys.session(entity, id))
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("delete session", e))?;
        let _: i64 = redis::cmd("ZREM")
            .arg(self.keys.session_index(entity))
            .arg(id.to_string())
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("unindex session", e))?;
        Ok(n == 1)
    }

    async fn list(
        &self,
        entity: &EntityId,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<SessionPage> {
        let limit = limit.max(1);
        let mut start = match cursor {
            None => "-".to_string(),
            Some(c) => {
                SessionId::parse(c)
                    .ok_or_else(|| Error::invalid_params("invalid session cursor"))?;
                format!("({c}")
            }
        };
        let idx = self.keys.session_index(entity);
        let mut con = self.con.clone();
        let mut found: Vec<SessionRecord> = Vec::new();
        // Ids of expired records are pruned as they are met, so a page may take several reads.
        loop {
            let ids: Vec<String> = redis::cmd("ZRANGEBYLEX")
                .arg(&idx)
                .arg(&start)
                .arg("+")
                .arg("LIMIT")
                .arg(0)
                .arg(limit + 1)
                .query_async(&mut con)
                .await
                .map_err(|e| map_err("list sessions", e))?;
            for raw in &ids {
                let live = match SessionId::parse(raw) {
                    Some(id) => self.load(entity, &id).await?,
                    None => None,
                };
                match live {
                    Some(rec) => found.push(rec),
                    None => {
                        let _: i64 = redis::cmd("ZREM")
                            .arg(&idx)
                            .arg(raw)
                            .query_async(&mut con)
                            .await
                            .map_err(|e| map_err("prune index", e))?;
                    }
                }
                if found.len() > limit {
                    break;
                }
            }
            match ids.last() {
                Some(last) if found.len() <= limit && ids.len() > limit => {
                    start = format!("({last}")
                }
                _ => break,
            }
        }
        let next_cursor = (found.len() > limit).then(|| found[limit - 1].id.to_string());
        found.truncate(limit);
        Ok(SessionPage {
            sessions: found,
            next_cursor,
        })
    }

    async fn ping(&self) -> Result<()> {
        let mut con = self.con.clone();
        let _: String = redis::cmd("PING")
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("ping", e))?;
        Ok(())
    }
}

/// One stream entry: its id and either a message or the end marker.
enum Entry {
    Message(Event),
    End,
}

fn bulk_str(v: &RV) -> Option<String> {
    match v {
        RV::BulkString(b) => String::from_utf8(b.clone()).ok(),
        RV::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

/// Parses `[[id, [field, value, …]], …]` (XRANGE, and each stream of XREAD).
fn parse_entries(v: &RV) -> Result<Vec<Entry>> {
    let RV::Array(items) = v else {
        return Ok(vec![]);
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let RV::Array(pair) = item else { continue };
        let (Some(id), Some(RV::Array(fields))) = (pair.first().and_then(bulk_str), pair.get(1))
        else {
            continue;
        };
        let mut entry = None;
        for kv in fields.chunks(2) {
            match (kv.first().and_then(bulk_str).as_deref(), kv.get(1)) {
                (Some(MSG_FIELD), Some(val)) => {
                    let text = bulk_str(val).unwrap_or_default();
                    let message = serde_json::from_str(&text)
                        .map_err(|e| Error::backend("redis: corrupt stream entry", e))?;
                    entry = Some(Entry::Message(Event {
                        id: EventId(id.clone()),
                        message,
                    }));
                }
                (Some(END_FIELD), _) => entry = Some(Entry::End),
                _ => {}
            }
        }
        if let Some(e) = entry {
            out.push(e);
        }
    }
    Ok(out)
}

fn check_event_id(id: &EventId) -> Result<&str> {
    let ok =
        id.0.split_once('-')
            .is_some_and(|(a, b)| a.parse::<u64>().is_ok() && b.parse::<u64>().is_ok());
    if ok {
        Ok(&id.0)
    } else {
        Err(Error::invalid_params(format!(
            "unknown event id {:?}",
            id.0
        )))
    }
}

#[async_trait]
impl MessageQueue for RedisStore {
    async fn publish(
        &self,
        entity: &EntityId,
        stream: &StreamKey,
        message: &Value,
    ) -> Result<EventId> {
        let key = self.keys.stream(entity, stream);
        let set = self.keys.streams(entity, &stream.session);
        let ttl = ms(self.cfg.stream_ttl);
        let mut con = self.con.clone();
        let (id, _, _, _): (String, i64, i64, i64) = redis::pipe()
            .cmd("XADD")
            .arg(&key)
            .arg("MAXLEN")
            .arg("~")
            .arg(self.cfg.max_events_per_stream)
            .arg("*")
            .arg(MSG_FIELD)
            .arg(message.to_string())
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(ttl)
            .cmd("SADD")
            .arg(&set)
            .arg(&stream.name)
            .cmd("PEXPIRE")
            .arg(&set)
            .arg(ttl)
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("publish", e))?;
        Ok(EventId(id))
    }

    async fn replay_after(
        &self,
        entity: &EntityId,
        stream: &StreamKey,
        after: Option<&EventId>,
    ) -> Result<Vec<Event>> {
        let start = match after {
            Some(a) => format!("({}", check_event_id(a)?),
            None => "-".into(),
        };
        let mut con = self.con.clone();
        let v: RV = redis::cmd("XRANGE")
            .arg(self.keys.stream(entity, stream))
            .arg(start)
            .arg("+")
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("replay", e))?;
        Ok(parse_entries(&v)?
            .into_iter()
            .filter_map(|e| match e {
                Entry::Message(ev) => Some(ev),
                Entry::End => None,
            })
            .collect())
    }

    async fn subscribe(
        &self,
        entity: &EntityId,
        stream: &StreamKey,
        after: Option<EventId>,
    ) -> Result<EventStream> {
        let last = match &after {
            Some(a) => check_event_id(a)?.to_string(),
            None => "0-0".to_string(),
        };
        // Registered like a published stream, so `delete_session` ends this subscriber even if
        // nothing was ever published to it.
        let set = self.keys.streams(entity, &stream.session);
        let mut shared = self.con.clone();
        let _: (i64, i64) = redis::pipe()
            .cmd("SADD")
            .arg(&set)
            .arg(&stream.name)
            .cmd("PEXPIRE")
            .arg(&set)
            .arg(ms(self.cfg.stream_ttl))
            .query_async(&mut shared)
            .await
            .map_err(|e| map_err("subscribe", e))?;
        let con = self.dedicated(self.cfg.block_interval).await?;
        struct State {
            con: MultiplexedConnection,
            key: String,
            last: String,
            block_ms: u64,
            buf: std::collections::VecDeque<Event>,
            done: bool,
        }
        let state = State {
            con,
            key: self.keys.stream(entity, stream),
            last,
            block_ms: ms(self.cfg.block_interval),
            buf: Default::default(),
            done: false,
        };
        let s = futures::stream::unfold(state, |mut st| async move {
            loop {
                if let Some(ev) = st.buf.pop_front() {
                    return Some((Ok(ev), st));
                }
                if st.done {
                    return None;
                }
                let read: std::result::Result<RV, RedisError> = redis::cmd("XREAD")
                    .arg("BLOCK")
                    .arg(st.block_ms)
                    .arg("STREAMS")
                    .arg(&st.key)
                    .arg(&st.last)
                    .query_async(&mut st.con)
                    .await;
                let v = match read {
                    Ok(v) => v,
                    Err(e) => {
                        st.done = true;
                        return Some((Err(map_err("subscribe", e)), st));
                    }
                };
                // Nil on timeout; else [[key, entries]].
                let RV::Array(streams) = v else { continue };
                for s in streams {
                    let RV::Array(pair) = s else { continue };
                    let Some(entries) = pair.get(1) else { continue };
                    let parsed = match parse_entries(entries) {
                        Ok(p) => p,
                        Err(e) => {
                            st.done = true;
                            return Some((Err(e), st));
                        }
                    };
                    for e in parsed {
                        match e {
                            Entry::Message(ev) => {
                                st.last = ev.id.0.clone();
                                st.buf.push_back(ev);
                            }
                            Entry::End => {
                                st.done = true;
                                break;
                            }
                        }
                    }
                    if let RV::Array(raw) = entries {
                        // Advance past end markers too.
                        if let Some(RV::Array(last)) = raw.last() {
                            if let Some(id) = last.first().and_then(bulk_str) {
                                st.last = id;
                            }
                        }
                    }
                }
            }
        });
        Ok(Box::pin(s))
    }

    async fn close(&self, entity: &EntityId, stream: &StreamKey) -> Result<()> {
        let key = self.keys.stream(entity, stream);
        let mut con = self.con.clone();
        let _: (String, i64) = redis::pipe()
            .cmd("XADD")
            .arg(&key)
            .arg("*")
            .arg(END_FIELD)
            .arg(1)
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(ms(self.cfg.stream_ttl))
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("close stream", e))?;
        Ok(())
    }

    async fn delete_session(&self, entity: &EntityId, session: &SessionId) -> Result<()> {
        let set = self.keys.streams(entity, session);
        let mut con = self.con.clone();
        let names: Vec<String> = redis::cmd("SMEMBERS")
            .arg(&set)
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("list streams", e))?;
        // Empty each log and leave an end marker, so blocked readers anywhere wake up and stop;
        // the keys then expire shortly.
        let mut pipe = redis::pipe();
        for name in &names {
            let key = self
                .keys
                .stream(entity, &StreamKey::new(*session, name.clone()));
            pipe.cmd("XTRIM").arg(&key).arg("MAXLEN").arg(0).ignore();
            pipe.cmd("XADD")
                .arg(&key)
                .arg("*")
                .arg(END_FIELD)
                .arg(1)
                .ignore();
            pipe.cmd("PEXPIRE").arg(&key).arg(60_000).ignore();
        }
        pipe.cmd("PEXPIRE").arg(&set).arg(60_000).ignore();
        let _: () = pipe
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("delete streams", e))?;
        // Pending replies of the session go too.
        let replies = self.keys.replies(entity, session);
        let keys: Vec<String> = redis::cmd("SMEMBERS")
            .arg(&replies)
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("list replies", e))?;
        let mut pipe = redis::pipe();
        for k in &keys {
            pipe.cmd("DEL")
                .arg(self.keys.reply(entity, session, k))
                .ignore();
        }
        pipe.cmd("DEL").arg(&replies).ignore();
        let _: () = pipe
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("delete replies", e))?;
        Ok(())
    }

    async fn deliver_reply(
        &self,
        entity: &EntityId,
        session: &SessionId,
        request_key: &str,
        reply: &Value,
    ) -> Result<()> {
        let key = self.keys.reply(entity, session, request_key);
        let mut con = self.con.clone();
        let set = self.keys.replies(entity, session);
        let ttl = ms(self.cfg.reply_ttl);
        let _: (i64, i64, i64, i64) = redis::pipe()
            .cmd("RPUSH")
            .arg(&key)
            .arg(reply.to_string())
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(ttl)
            .cmd("SADD")
            .arg(&set)
            .arg(request_key)
            .cmd("PEXPIRE")
            .arg(&set)
            .arg(ttl)
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("deliver reply", e))?;
        Ok(())
    }

    async fn take_reply(
        &self,
        entity: &EntityId,
        session: &SessionId,
        request_key: &str,
        timeout: Duration,
    ) -> Result<Option<Value>> {
        let key = self.keys.reply(entity, session, request_key);
        let mut con = self.dedicated(timeout).await?;
        // BLPOP takes seconds as a float; a non-positive timeout would block forever.
        let secs = timeout.as_secs_f64().max(0.01);
        let r: Option<(String, String)> = redis::cmd("BLPOP")
            .arg(&key)
            .arg(secs)
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("take reply", e))?;
        match r {
            None => Ok(None),
            Some((_, text)) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| Error::backend("redis: corrupt reply", e)),
        }
    }
}

#[async_trait]
impl KeyStore for RedisStore {
    async fn get_or_create(&self, name: &str, proposed: &[u8]) -> Result<Vec<u8>> {
        let key = self.keys.secret(name);
        let mut con = self.con.clone();
        // SET NX then GET: whoever wins the SET, every caller reads the one stored value.
        let (stored,): (Option<Vec<u8>>,) = redis::pipe()
            .cmd("SET")
            .arg(&key)
            .arg(proposed)
            .arg("NX")
            .ignore()
            .cmd("GET")
            .arg(&key)
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("read server key", e))?;
        stored.ok_or_else(|| Error::Internal("server key vanished after SET NX".into()))
    }
}

#[async_trait]
impl ApiKeyStore for RedisStore {
    async fn put_key(&self, key: &ApiKeyRecord) -> Result<()> {
        let by_hash = self.keys.api_key(&key.hash);
        let index = self.keys.api_keys(&key.entity);
        let text = serde_json::to_string(key)
            .map_err(|e| Error::Internal(format!("cannot encode api key: {e}")))?;
        let mut con = self.con.clone();
        // The index entry first (HSETNX): it is what makes (entity, id) unique.
        let fresh: bool = redis::cmd("HSETNX")
            .arg(&index)
            .arg(&key.id)
            .arg(&key.hash)
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("store api key", e))?;
        if !fresh {
            return Err(Error::Conflict(format!("api key {} exists", key.id)));
        }
        let set: Option<String> = redis::cmd("SET")
            .arg(&by_hash)
            .arg(text)
            .arg("NX")
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("store api key", e))?;
        if set.is_none() {
            let _: () = redis::cmd("HDEL")
                .arg(&index)
                .arg(&key.id)
                .query_async(&mut con)
                .await
                .map_err(|e| map_err("store api key", e))?;
            return Err(Error::Conflict("api key exists".into()));
        }
        Ok(())
    }

    async fn key_by_hash(&self, hash: &str) -> Result<Option<ApiKeyRecord>> {
        let mut con = self.con.clone();
        let text: Option<String> = redis::cmd("GET")
            .arg(self.keys.api_key(hash))
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("read api key", e))?;
        text.map(|t| {
            serde_json::from_str(&t).map_err(|e| Error::backend("redis: corrupt api key", e))
        })
        .transpose()
    }

    async fn list_keys(&self, entity: &EntityId) -> Result<Vec<ApiKeyRecord>> {
        let mut con = self.con.clone();
        let hashes: Vec<String> = redis::cmd("HVALS")
            .arg(self.keys.api_keys(entity))
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("list api keys", e))?;
        let mut keys = Vec::new();
        for h in hashes {
            if let Some(k) = self.key_by_hash(&h).await? {
                keys.push(k);
            }
        }
        keys.sort_by(|a, b| (a.created_at_ms, &a.id).cmp(&(b.created_at_ms, &b.id)));
        Ok(keys)
    }

    async fn revoke_key(&self, entity: &EntityId, id: &str) -> Result<bool> {
        let index = self.keys.api_keys(entity);
        let mut con = self.con.clone();
        let hash: Option<String> = redis::cmd("HGET")
            .arg(&index)
            .arg(id)
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("revoke api key", e))?;
        let Some(hash) = hash else { return Ok(false) };
        let _: (i64, i64) = redis::pipe()
            .cmd("DEL")
            .arg(self.keys.api_key(&hash))
            .cmd("HDEL")
            .arg(&index)
            .arg(id)
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("revoke api key", e))?;
        Ok(true)
    }
}

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
    async fn hit(&self, key: &str, window: Duration) -> Result<(u64, Duration)> {
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

    async fn acquire(&self, key: &str, limit: u64, lease: Duration) -> Result<Option<String>> {
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

    async fn release(&self, key: &str, slot: &str) -> Result<()> {
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

#[async_trait]
impl EntityConfigStore for RedisStore {
    async fn entity_config(&self, entity: &EntityId) -> Result<Option<EntityConfig>> {
        let mut con = self.con.clone();
        let text: Option<String> = redis::cmd("GET")
            .arg(self.keys.entity_config(entity))
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("read entity config", e))?;
        text.map(|t| {
            serde_json::from_str(&t).map_err(|e| Error::backend("redis: corrupt entity config", e))
        })
        .transpose()
    }

    async fn set_entity_config(
        &self,
        entity: &EntityId,
        config: Option<&EntityConfig>,
    ) -> Result<()> {
        let key = self.keys.entity_config(entity);
        let mut con = self.con.clone();
        let cmd = match config {
            Some(c) => {
                let text = serde_json::to_string(c)
                    .map_err(|e| Error::Internal(format!("cannot encode entity config: {e}")))?;
                let mut cmd = redis::cmd("SET");
                cmd.arg(&key).arg(text);
                cmd
            }
            None => {
                let mut cmd = redis::cmd("DEL");
                cmd.arg(&key);
                cmd
            }
        };
        let _: redis::Value = cmd
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("write entity config", e))?;
        Ok(())
    }
}

#[async_trait]
impl LogStore for RedisStore {
    async fn append(&self, record: &LogRecord) -> Result<()> {
        let key = self.keys.logs(&record.entity);
        let text = serde_json::to_string(record)
            .map_err(|e| Error::Internal(format!("cannot encode log record: {e}")))?;
        let mut con = self.con.clone();
        let _: (i64, ()) = redis::pipe()
            .cmd("LPUSH")
            .arg(&key)
            .arg(text)
            .cmd("LTRIM")
            .arg(&key)
            .arg(0)
            .arg(self.cfg.max_logs_per_entity.saturating_sub(1))
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("append log", e))?;
        Ok(())
    }

    async fn recent(
        &self,
        entity: &EntityId,
        session: Option<&SessionId>,
        limit: usize,
    ) -> Result<Vec<LogRecord>> {
        let key = self.keys.logs(entity);
        let mut con = self.con.clone();
        // The window is bounded, so reading it whole to filter by session is bounded too.
        let raw: Vec<String> = redis::cmd("LRANGE")
            .arg(&key)
            .arg(0)
            .arg(-1)
            .query_async(&mut con)
            .await
            .map_err(|e| map_err("read logs", e))?;
        Ok(raw
            .iter()
            .filter_map(|t| serde_json::from_str::<LogRecord>(t).ok())
            .filter(|r| {
                &r.entity == entity && session.is_none_or(|s| r.session.as_ref() == Some(s))
            })
            .take(limit)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fastmcp_core::testing::Stores;

    /// The suite runs against the Redis named by FASTMCP_TEST_REDIS_URL (scripts/test.sh starts
    /// one on a free port). Without it the tests are skipped, except under CI, where a missing
    /// backend is a failure.
    async fn stores() -> Option<Stores> {
        let url = fastmcp_core::testing::backend_url("FASTMCP_TEST_REDIS_URL")?;
        let mut cfg = RedisConfig::new(url);
        cfg.prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
        cfg.block_interval = Duration::from_millis(500);
        Some(Stores::of(
            RedisStore::connect(cfg).await.expect("redis reachable"),
        ))
    }

    fastmcp_core::store_test_suite!(optional stores());

    #[test]
    fn debug_hides_the_password() {
        let cfg = RedisConfig::new("redis://user:hunter2@localhost:6379/0");
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("user:***@localhost"), "{shown}");
    }

    #[tokio::test]
    async fn unreachable_redis_is_unavailable() {
        let err = RedisStore::connect(RedisConfig::new("redis://127.0.0.1:1"))
            .await
            .unwrap_err();
        assert!(err.is_retryable(), "{err:?}");
    }
}
