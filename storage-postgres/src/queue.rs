//! Event streams and reply routing, woken by LISTEN/NOTIFY and backed by polling.

use super::*;

fn parse_seq(id: &EventId) -> StoreResult<i64> {
    id.0.parse::<i64>()
        .ok()
        .filter(|s| *s >= 0)
        .ok_or_else(|| StoreError::invalid_value(format!("unknown event id {:?}", id.0)))
}

impl PostgresStore {
    /// Events after `after`, and whether the stream is closed. The closed flag is read *before*
    /// the events: a stream is closed only after its last publish committed, so "closed and no
    /// newer event" seen in this order really is the end.
    async fn read_after(
        &self,
        entity: &EntityId,
        stream: &StreamKey,
        after: i64,
    ) -> StoreResult<(Vec<Event>, bool)> {
        let closed: Option<bool> = sqlx::query_scalar(
            "SELECT closed FROM stream_seqs WHERE entity_id = $1 AND session_id = $2 AND stream = $3",
        )
        .bind(entity.as_str())
        .bind(stream.session.as_uuid())
        .bind(&stream.name)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| map_err("read stream state", e))?;
        let rows = sqlx::query(
            "SELECT seq, message FROM events WHERE entity_id = $1 AND session_id = $2 AND stream = $3 \
                 AND seq > $4 ORDER BY seq",
        )
        .bind(entity.as_str())
        .bind(stream.session.as_uuid())
        .bind(&stream.name)
        .bind(after)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| map_err("read events", e))?;
        let mut events = Vec::with_capacity(rows.len());
        for r in &rows {
            let seq: i64 = r
                .try_get("seq")
                .map_err(|e| StoreError::backend("postgres: corrupt event", e))?;
            let Json(message): Json<Value> = r
                .try_get("message")
                .map_err(|e| StoreError::backend("postgres: corrupt event", e))?;
            events.push(Event {
                id: EventId(seq.to_string()),
                message,
            });
        }
        Ok((events, closed.unwrap_or(false)))
    }
}

#[async_trait]
impl MessageQueue for PostgresStore {
    async fn publish(
        &self,
        entity: &EntityId,
        stream: &StreamKey,
        message: &Value,
    ) -> StoreResult<EventId> {
        // One statement: the counter row's lock serialises publishers of a stream until commit,
        // so seq order is commit order; the NOTIFY is delivered at that commit.
        let seq: i64 = sqlx::query_scalar(
            "WITH s AS ( \
                 INSERT INTO stream_seqs (entity_id, session_id, stream, next_seq) VALUES ($1, $2, $3, 1) \
                 ON CONFLICT (entity_id, session_id, stream) \
                 DO UPDATE SET next_seq = stream_seqs.next_seq + 1, updated_at = now() \
                 RETURNING next_seq), \
             n AS (SELECT pg_notify($5, $6)) \
             INSERT INTO events (entity_id, session_id, stream, seq, message) \
             SELECT $1, $2, $3, s.next_seq, $4 FROM s, n RETURNING seq",
        )
        .bind(entity.as_str())
        .bind(stream.session.as_uuid())
        .bind(&stream.name)
        .bind(Json(message))
        .bind(EVENTS_CHANNEL)
        .bind(stream_key(entity, stream))
        .fetch_one(&self.pool)
        .await
        .map_err(|e| map_err("publish", e))?;
        Ok(EventId(seq.to_string()))
    }

    async fn replay_after(
        &self,
        entity: &EntityId,
        stream: &StreamKey,
        after: Option<&EventId>,
    ) -> StoreResult<Vec<Event>> {
        let after = after.map(parse_seq).transpose()?.unwrap_or(0);
        Ok(self.read_after(entity, stream, after).await?.0)
    }

    async fn subscribe(
        &self,
        entity: &EntityId,
        stream: &StreamKey,
        after: Option<EventId>,
    ) -> StoreResult<EventStream> {
        let after = after.as_ref().map(parse_seq).transpose()?.unwrap_or(0);
        // Registered like a published stream, so `delete_session` ends this subscriber even if
        // nothing was ever published to it.
        sqlx::query(
            "INSERT INTO stream_seqs (entity_id, session_id, stream, next_seq) VALUES ($1, $2, $3, 0) \
             ON CONFLICT (entity_id, session_id, stream) DO NOTHING",
        )
        .bind(entity.as_str())
        .bind(stream.session.as_uuid())
        .bind(&stream.name)
        .execute(&self.pool)
        .await
        .map_err(|e| map_err("subscribe", e))?;
        struct State {
            store: PostgresStore,
            entity: EntityId,
            stream: StreamKey,
            key: String,
            last: i64,
            rx: broadcast::Receiver<String>,
            buf: VecDeque<Event>,
        }
        // Subscribed to notifications before the first read: nothing falls in between.
        let state = State {
            rx: self.hub.subscribe(),
            store: self.clone(),
            entity: entity.clone(),
            stream: stream.clone(),
            key: stream_key(entity, stream),
            last: after,
            buf: VecDeque::new(),
        };
        let s = futures::stream::unfold(state, |mut st| async move {
            loop {
                if let Some(ev) = st.buf.pop_front() {
                    return Some((Ok(ev), st));
                }
                match st.store.read_after(&st.entity, &st.stream, st.last).await {
                    Err(e) => return Some((Err(e), st)),
                    Ok((events, closed)) => {
                        if let Some(last) = events.last() {
                            st.last = last.id.0.parse().unwrap_or(st.last);
                            st.buf.extend(events);
                            continue;
                        }
                        if closed {
                            return None;
                        }
                    }
                }
                let poll = st.store.cfg.poll_interval;
                let deadline = tokio::time::Instant::now() + poll;
                loop {
                    match tokio::time::timeout_at(deadline, st.rx.recv()).await {
                        Ok(Ok(k)) if k == st.key => break,
                        Ok(Ok(_)) => continue,
                        // Lagged: something may have been ours; re-read.
                        Ok(Err(broadcast::error::RecvError::Lagged(_))) => break,
                        Ok(Err(broadcast::error::RecvError::Closed)) | Err(_) => break,
                    }
                }
            }
        });
        Ok(Box::pin(s))
    }

    async fn close(&self, entity: &EntityId, stream: &StreamKey) -> StoreResult<()> {
        sqlx::query(
            "WITH n AS (SELECT pg_notify($4, $5)) \
             INSERT INTO stream_seqs (entity_id, session_id, stream, next_seq, closed) \
             SELECT $1, $2, $3, 0, true FROM n \
             ON CONFLICT (entity_id, session_id, stream) DO UPDATE SET closed = true, updated_at = now()",
        )
        .bind(entity.as_str())
        .bind(stream.session.as_uuid())
        .bind(&stream.name)
        .bind(EVENTS_CHANNEL)
        .bind(stream_key(entity, stream))
        .execute(&self.pool)
        .await
        .map_err(|e| map_err("close stream", e))?;
        Ok(())
    }

    async fn delete_session(&self, entity: &EntityId, session: &SessionId) -> StoreResult<()> {
        let err = |e| map_err("delete streams", e);
        let mut tx = self.pool.begin().await.map_err(err)?;
        sqlx::query("DELETE FROM events WHERE entity_id = $1 AND session_id = $2")
            .bind(entity.as_str())
            .bind(session.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        sqlx::query("DELETE FROM replies WHERE entity_id = $1 AND session_id = $2")
            .bind(entity.as_str())
            .bind(session.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        // Closed, not deleted: subscribers positioned anywhere see the end.
        let names: Vec<String> = sqlx::query_scalar(
            "UPDATE stream_seqs SET closed = true, updated_at = now() \
             WHERE entity_id = $1 AND session_id = $2 RETURNING stream",
        )
        .bind(entity.as_str())
        .bind(session.as_uuid())
        .fetch_all(&mut *tx)
        .await
        .map_err(err)?;
        for name in names {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(EVENTS_CHANNEL)
                .bind(stream_key(entity, &StreamKey::new(*session, name)))
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        tx.commit().await.map_err(err)
    }

    async fn deliver_reply(
        &self,
        entity: &EntityId,
        session: &SessionId,
        request_key: &str,
        reply: &Value,
    ) -> StoreResult<()> {
        sqlx::query(
            "WITH n AS (SELECT pg_notify($5, $6)) \
             INSERT INTO replies (entity_id, session_id, request_key, reply) SELECT $1, $2, $3, $4 FROM n \
             ON CONFLICT (entity_id, session_id, request_key) DO UPDATE SET reply = EXCLUDED.reply, created_at = now()",
        )
        .bind(entity.as_str())
        .bind(session.as_uuid())
        .bind(request_key)
        .bind(Json(reply))
        .bind(REPLIES_CHANNEL)
        .bind(reply_key(entity, session, request_key))
        .execute(&self.pool)
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
        let mut rx = self.hub.subscribe();
        let key = reply_key(entity, session, request_key);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let taken: Option<Json<Value>> = sqlx::query_scalar(
                "DELETE FROM replies WHERE entity_id = $1 AND session_id = $2 AND request_key = $3 RETURNING reply",
            )
            .bind(entity.as_str())
            .bind(session.as_uuid())
            .bind(request_key)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| map_err("take reply", e))?;
            if let Some(Json(v)) = taken {
                return Ok(Some(v));
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let wake = (now + self.cfg.poll_interval).min(deadline);
            loop {
                match tokio::time::timeout_at(wake, rx.recv()).await {
                    Ok(Ok(k)) if k == key => break,
                    Ok(Ok(_)) => continue,
                    Ok(Err(_)) | Err(_) => break,
                }
            }
        }
    }
}
