//! When a connection has been slow or silent for too long.
//!
//! A connection is in one of these states, and each has its own clock:
//! - **a request is open** (handed to the application, its response not finished): no clock
//!   here. The body is read under the handler's own timeout, and a stream lives as long as its
//!   client (a closed socket ends it at once: see the module docs of `connections`).
//! - **a write is stuck** (the client stopped reading and the socket's buffer is full): cut
//!   after the idle timeout, whatever else is open.
//! - **a request head is arriving** (bytes came while no request was open): the head must be
//!   complete within the header timeout. This is what ends slow-header (slowloris) clients.
//! - **idle** (nothing open, nothing arriving): closed after the idle timeout.
//!
//! The reads and writes of [`super::Conn`] and the requests of the service keep the record; the
//! connection's task sleeps until the next deadline and closes the connection when one passes.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// Tokio's clock, so that tests can pause it; in a build without `test-util` it is std's.
use tokio::time::Instant;

/// The activity record of one connection. Milliseconds count from `epoch` plus one, so `0` can
/// mean "none".
///
/// Nothing here wakes the connection's task: it checks on its own, at the deadline in force or
/// at least every header timeout, so a request costs no wake-up and no timer of its own (the
/// first version notified the task at each request's end and head, two wake-ups and two timer
/// registrations per request). The price is precision: a head that starts while the task
/// sleeps toward a later check is cut between one and two header timeouts after it started.
#[derive(Debug)]
pub(crate) struct Watch {
    epoch: Instant,
    /// Requests handed to the application whose response has not finished.
    open: AtomicU32,
    /// When the first byte of a request head arrived with no request open (`0`: none).
    head_since: AtomicU64,
    /// The last byte read or written.
    last_io: AtomicU64,
    /// Since when a write has waited for the client to make room (`0`: none waits).
    write_blocked: AtomicU64,
    /// Whether bytes arriving with no request open start a head (HTTP/1). On HTTP/2 they may
    /// be anything (a `PING`, a `WINDOW_UPDATE`), so only the idle clock applies there.
    heads: AtomicBool,
    /// HTTP/2 answers holding a frame hyper has not sent yet (the client's flow-control window
    /// is shut), by token, with since when. The socket does not block then, so this is the
    /// HTTP/2 form of a stuck write.
    held: Mutex<Vec<(u64, u64)>>,
    next_token: AtomicU64,
}

/// One open request; it finishes when dropped (with the response body, or the handler's
/// future if the connection goes first).
#[derive(Debug)]
pub(crate) struct OpenRequest(Arc<Watch>);

impl OpenRequest {
    /// The connection's record.
    pub(crate) fn watch(&self) -> &Watch {
        &self.0
    }
}

impl Drop for OpenRequest {
    fn drop(&mut self) {
        let w = &self.0;
        w.last_io.store(w.now(), Ordering::Relaxed);
        w.open.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Watch {
    pub(crate) fn new() -> Self {
        Self {
            epoch: Instant::now(),
            open: AtomicU32::new(0),
            head_since: AtomicU64::new(0),
            last_io: AtomicU64::new(1),
            write_blocked: AtomicU64::new(0),
            heads: AtomicBool::new(true),
            held: Mutex::new(Vec::new()),
            next_token: AtomicU64::new(0),
        }
    }

    /// An HTTP/2 answer gave hyper a frame: held until [`Self::frame_sent`] with the token.
    pub(crate) fn frame_held(&self) -> u64 {
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let now = self.now();
        self.held_list().push((token, now));
        token
    }

    /// hyper asked that answer for its next frame (or dropped it): the last one went out.
    pub(crate) fn frame_sent(&self, token: u64) {
        self.held_list().retain(|(t, _)| *t != token);
    }

    fn held_list(&self) -> std::sync::MutexGuard<'_, Vec<(u64, u64)>> {
        // A panic while holding this lock cannot leave the list inconsistent (push, retain).
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The connection speaks HTTP/2: no head clock from here on.
    pub(crate) fn without_heads(&self) {
        self.heads.store(false, Ordering::Relaxed);
        self.head_since.store(0, Ordering::Relaxed);
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis())
            .unwrap_or(u64::MAX - 1)
            .saturating_add(1)
    }

    /// Bytes arrived.
    pub(crate) fn read(&self) {
        let now = self.now();
        self.last_io.store(now, Ordering::Relaxed);
        if self.open.load(Ordering::Acquire) == 0
            && self.head_since.load(Ordering::Relaxed) == 0
            && self.heads.load(Ordering::Relaxed)
        {
            self.head_since.store(now, Ordering::Relaxed);
        }
    }

    /// Bytes left.
    pub(crate) fn wrote(&self) {
        self.last_io.store(self.now(), Ordering::Relaxed);
        if self.write_blocked.load(Ordering::Relaxed) != 0 {
            self.write_blocked.store(0, Ordering::Relaxed);
        }
    }

    /// A write found the socket's buffer full (the client is not reading).
    pub(crate) fn write_waits(&self) {
        if self.write_blocked.load(Ordering::Relaxed) == 0 {
            self.write_blocked.store(self.now(), Ordering::Relaxed);
        }
    }

    /// A head is known to be arriving (pipelined bytes are already buffered).
    pub(crate) fn head_started(&self) {
        if self.head_since.load(Ordering::Relaxed) == 0 {
            self.head_since.store(self.now(), Ordering::Relaxed);
        }
    }

    /// A request head is complete and handed to the application.
    pub(crate) fn request(self: &Arc<Self>) -> OpenRequest {
        self.open.fetch_add(1, Ordering::AcqRel);
        self.head_since.store(0, Ordering::Relaxed);
        OpenRequest(Arc::clone(self))
    }

    /// The deadline in force (record milliseconds), `None` while a request is open and its
    /// writes progress. A write that makes no progress for `idle` ends the connection whatever
    /// is open: a client that stops reading would otherwise hold its connection (and slot)
    /// for ever.
    fn deadline(&self, header: u64, idle: u64) -> Option<u64> {
        let blocked = self.write_blocked.load(Ordering::Relaxed);
        let held = self.held_list().iter().map(|(_, since)| *since).min();
        let stuck = [blocked, held.unwrap_or(0)]
            .into_iter()
            .filter(|t| *t > 0)
            .min();
        if let Some(since) = stuck {
            return Some(since.saturating_add(idle));
        }
        if self.open.load(Ordering::Acquire) > 0 {
            return None;
        }
        let head = self.head_since.load(Ordering::Relaxed);
        Some(if head > 0 {
            head.saturating_add(header)
        } else {
            self.last_io.load(Ordering::Relaxed).saturating_add(idle)
        })
    }

    /// Resolves once a deadline passes: a head slower than `header`, nothing at all for
    /// `idle`, or a write stuck for `idle` (the only one while a request is open).
    pub(crate) async fn expired(&self, header: Duration, idle: Duration) {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 4).max(1);
        let (header, idle) = (ms(header), ms(idle));
        loop {
            let now = self.now();
            let next_check = match self.deadline(header, idle) {
                Some(at) if at <= now => return,
                // A head may start at any moment: look again within a header timeout.
                Some(at) => at.min(now + header),
                None => now + header,
            };
            tokio::time::sleep(Duration::from_millis(next_check - now)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: Duration = Duration::from_secs(10);
    const IDLE: Duration = Duration::from_secs(60);

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_expires_after_the_idle_timeout() {
        let w = Watch::new();
        let started = tokio::time::Instant::now();
        w.expired(HEADER, IDLE).await;
        assert!(started.elapsed() >= IDLE);
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_that_started_must_finish_within_the_header_timeout() {
        let w = Arc::new(Watch::new());
        let started = tokio::time::Instant::now();
        let watcher = {
            let w = Arc::clone(&w);
            tokio::spawn(async move { w.expired(HEADER, IDLE).await })
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        w.read(); // while the task sleeps toward its next check
        watcher.await.unwrap();
        let took = started.elapsed();
        assert!(took >= HEADER && took < HEADER * 2, "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_open_request_has_no_deadline_and_its_end_starts_the_idle_clock() {
        let w = Arc::new(Watch::new());
        w.read();
        let open = w.request();
        w.read(); // its body: not a new head
        let watcher = {
            let w = Arc::clone(&w);
            tokio::spawn(async move { w.expired(HEADER, IDLE).await })
        };
        tokio::time::sleep(IDLE * 3).await;
        assert!(!watcher.is_finished(), "expired while a request was open");
        let ended = tokio::time::Instant::now();
        drop(open);
        watcher.await.unwrap();
        assert!(ended.elapsed() >= IDLE, "{:?}", ended.elapsed());
    }

    /// An HTTP/2 client's frames between requests (pings) keep its connection as long as the
    /// idle timeout allows, not the header timeout.
    #[tokio::test(start_paused = true)]
    async fn http2_frames_between_requests_do_not_start_a_head_clock() {
        let w = Arc::new(Watch::new());
        w.without_heads();
        let watcher = {
            let w = Arc::clone(&w);
            tokio::spawn(async move { w.expired(HEADER, IDLE).await })
        };
        for _ in 0..5 {
            tokio::time::sleep(HEADER).await;
            w.read(); // a PING
        }
        assert!(
            !watcher.is_finished(),
            "a pinging connection was cut as a slow head"
        );
        let last = tokio::time::Instant::now();
        watcher.await.unwrap();
        assert!(last.elapsed() >= IDLE, "{:?}", last.elapsed());
    }

    /// An HTTP/2 answer whose frame waits for the client's window for the idle timeout ends
    /// the connection; one whose frames are taken does not.
    #[tokio::test(start_paused = true)]
    async fn an_http2_frame_held_for_the_idle_timeout_expires() {
        let w = Arc::new(Watch::new());
        w.without_heads();
        let _open = w.request();
        let watcher = {
            let w = Arc::clone(&w);
            tokio::spawn(async move { w.expired(HEADER, IDLE).await })
        };
        for _ in 0..5 {
            let t = w.frame_held();
            tokio::time::sleep(IDLE / 2).await;
            w.frame_sent(t);
        }
        assert!(
            !watcher.is_finished(),
            "expired although every frame went out"
        );
        let _kept = w.frame_held();
        let held = tokio::time::Instant::now();
        watcher.await.unwrap();
        let took = held.elapsed();
        assert!(took >= IDLE && took < IDLE + HEADER, "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_stuck_for_the_idle_timeout_expires_even_while_a_request_is_open() {
        let w = Arc::new(Watch::new());
        w.read();
        let _open = w.request();
        let watcher = {
            let w = Arc::clone(&w);
            tokio::spawn(async move { w.expired(HEADER, IDLE).await })
        };
        tokio::time::sleep(IDLE / 2).await;
        w.write_waits();
        // Progress restarts the clock; a write that waits again starts it anew.
        tokio::time::sleep(IDLE / 2).await;
        w.wrote();
        w.write_waits();
        let blocked = tokio::time::Instant::now();
        watcher.await.unwrap();
        let took = blocked.elapsed();
        assert!(took >= IDLE && took < IDLE + HEADER, "{took:?}");
    }
}
