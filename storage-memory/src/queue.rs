//! Event streams and reply routing.

use super::*;

#[async_trait]
impl MessageQueue for MemoryStore {
    async fn publish(
        &self,
        entity: &EntityId,
        stream: &StreamKey,
        message: &Value,
    ) -> StoreResult<EventId> {
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
    ) -> StoreResult<Vec<Event>> {
        let after = after.map(parse_event_id).transpose()?.unwrap_or(0);
        Ok(self.inner.events_after(entity, stream, after).0)
    }

    async fn subscribe(
        &self,
        entity: &EntityId,
        stream: &StreamKey,
        after: Option<EventId>,
    ) -> StoreResult<EventStream> {
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

    async fn delivered(
        &self,
        entity: &EntityId,
        stream: &StreamKey,
        upto: &EventId,
    ) -> StoreResult<()> {
        let upto = parse_event_id(upto)?;
        // Only an existing log: an acknowledgement must not create a stream.
        if let Some(mut logs) = self
            .inner
            .streams
            .get_mut(&(entity.clone(), stream.session))
        {
            if let Some(log) = logs.get_mut(&stream.name) {
                while log.events.front().is_some_and(|(seq, _, _)| *seq <= upto) {
                    log.events.pop_front();
                }
                if log.events.is_empty() && log.events.capacity() > 16 {
                    // An idle stream keeps no buffer from its busiest moment; a small one
                    // stays, so a stream delivering one event at a time does not reallocate.
                    log.events.shrink_to_fit();
                }
            }
        }
        Ok(())
    }

    async fn close(&self, entity: &EntityId, stream: &StreamKey) -> StoreResult<()> {
        self.inner.with_log(entity, stream, |log| {
            log.closed = true;
            log.last_activity = Instant::now();
            let v = *log.wake.borrow();
            log.wake.send_replace(v);
        });
        Ok(())
    }

    async fn delete_session(&self, entity: &EntityId, session: &SessionId) -> StoreResult<()> {
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
    ) -> StoreResult<()> {
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
            return Err(StoreError::Conflict("too many undelivered replies".into()));
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
    ) -> StoreResult<Option<Value>> {
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
