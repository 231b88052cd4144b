//! Session reads on the request path, sent to one Redis server as pipelines.
//!
//! Every handshake-era request reads its session with one `GETEX`. Sent one command per write
//! (what the multiplexed connection does by itself), each write woke redis-server, which on a
//! shared core preempted the server, answered that one command and switched back: about one
//! context switch per request on each side, and half of memory's throughput
//! (`scripts/bench-stores.sh`, see `docs/decisions.md`). Reads that arrive while a pipeline is
//! in flight are sent as the next pipeline instead: one write and one wakeup per batch. An idle
//! instance sends a batch of one at once, so no latency is added.
//!
//! Nothing is cached: every read is a `GETEX` that reaches Redis after the request arrived, so
//! a save made by any instance before it is seen. Reads of concurrent requests carry no order
//! between them, and a request's own earlier save has completed before its next read is queued.
//!
//! A Redis Cluster keeps one command per read: its keys spread over slots, hence over nodes.

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::{FromRedisValue, Pipeline, RedisError, Value};
use tokio::sync::{mpsc, oneshot};

use fastmcp_core::storage::batching::next_batch;
use fastmcp_core::storage::{StoreError, StoreResult};

/// At most this many reads share one pipeline (bounds one write and one reply).
const MAX_BATCH: usize = 256;

/// Reads waiting for a pipeline; beyond this, requests wait to queue theirs (backpressure on
/// an instance whose Redis cannot keep up, rather than an unbounded queue).
const QUEUE: usize = 4 * MAX_BATCH;

struct Read {
    key: String,
    ttl_ms: u64,
    reply: oneshot::Sender<StoreResult<Option<String>>>,
}

/// The queue of `GETEX … PX` reads; cloning shares it. The pipeline task ends when the last
/// clone is dropped.
#[derive(Clone)]
pub(crate) struct Reads(mpsc::Sender<Read>);

impl Reads {
    /// Starts the task that sends queued reads on `con` (needs a Tokio runtime).
    pub(crate) fn start(con: ConnectionManager) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(con, rx));
        Self(tx)
    }

    /// `GETEX key PX ttl_ms`: the raw value, `None` when the key does not exist.
    pub(crate) async fn get_and_touch(
        &self,
        key: String,
        ttl_ms: u64,
    ) -> StoreResult<Option<String>> {
        let (reply, answer) = oneshot::channel();
        let gone = || StoreError::unavailable("redis: load session", "the read pipeline stopped");
        self.0
            .send(Read { key, ttl_ms, reply })
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

async fn run(con: ConnectionManager, mut rx: mpsc::Receiver<Read>) {
    let mut batch = Vec::with_capacity(64);
    while next_batch(&mut rx, &mut batch, MAX_BATCH).await > 0 {
        let mut pipe = Pipeline::with_capacity(batch.len());
        for r in &batch {
            pipe.cmd("GETEX").arg(&r.key).arg("PX").arg(r.ttl_ms);
        }
        let mut con = con.clone();
        let sent = con.req_packed_commands(&pipe, 0, batch.len()).await;
        match sent {
            Ok(values) if values.len() == batch.len() => {
                for (r, v) in batch.drain(..).zip(values) {
                    // A waiter that gave up (its request was cancelled) is not an error.
                    let _ = r.reply.send(decode(v));
                }
            }
            Ok(values) => {
                let n = values.len();
                for r in batch.drain(..) {
                    let _ = r.reply.send(Err(StoreError::internal(format!(
                        "redis: load session: {n} replies to a pipeline of {}",
                        pipe.len()
                    ))));
                }
            }
            Err(e) => {
                let err = crate::map_err("load session", e);
                for r in batch.drain(..) {
                    let _ = r.reply.send(Err(err.replicate()));
                }
            }
        }
    }
}

/// One pipeline reply: a bulk string, nil, or this command's own server error.
fn decode(v: Value) -> StoreResult<Option<String>> {
    let v = v
        .extract_error()
        .map_err(|e: RedisError| crate::map_err("load session", e))?;
    Option::<String>::from_redis_value(v)
        .map_err(|e| StoreError::backend("redis: load session", e.to_string()))
}
