//! Event streams (Redis streams) and reply routing (one-shot mailboxes).

use super::*;

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
fn parse_entries(v: &RV) -> StoreResult<Vec<Entry>> {
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
                        .map_err(|e| StoreError::backend("redis: corrupt stream entry", e))?;
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

fn check_event_id(id: &EventId) -> StoreResult<&str> {
    let ok =
        id.0.split_once('-')
            .is_some_and(|(a, b)| a.parse::<u64>().is_ok() && b.parse::<u64>().is_ok());
    if ok {
        Ok(&id.0)
    } else {
        Err(StoreError::invalid_value(format!(
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
    ) -> StoreResult<EventId> {
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
    ) -> StoreResult<Vec<Event>> {
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
    ) -> StoreResult<EventStream> {
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
        let key = self.keys.stream(entity, stream);
        let con = self.dedicated(&key, self.cfg.block_interval).await?;
        struct State {
            con: Blocking,
            key: String,
            last: String,
            block_ms: u64,
            buf: std::collections::VecDeque<Event>,
            done: bool,
        }
        let state = State {
            con,
            key,
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
                let mut xread = redis::cmd("XREAD");
                xread
                    .arg("BLOCK")
                    .arg(st.block_ms)
                    .arg("STREAMS")
                    .arg(&st.key)
                    .arg(&st.last);
                let read: std::result::Result<RV, RedisError> = st.con.query(&xread).await;
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

    async fn close(&self, entity: &EntityId, stream: &StreamKey) -> StoreResult<()> {
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

    async fn delete_session(&self, entity: &EntityId, session: &SessionId) -> StoreResult<()> {
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
    ) -> StoreResult<()> {
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
    ) -> StoreResult<Option<Value>> {
        let key = self.keys.reply(entity, session, request_key);
        let mut con = self.dedicated(&key, timeout).await?;
        // BLPOP takes seconds as a float; a non-positive timeout would block forever.
        let secs = timeout.as_secs_f64().max(0.01);
        let mut blpop = redis::cmd("BLPOP");
        blpop.arg(&key).arg(secs);
        let r: Option<(String, String)> = con
            .query(&blpop)
            .await
            .map_err(|e| map_err("take reply", e))?;
        match r {
            None => Ok(None),
            Some((_, text)) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| StoreError::backend("redis: corrupt reply", e)),
        }
    }
}
