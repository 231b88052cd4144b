//! `GET /metrics` in the Prometheus text format (0.0.4), per instance.
//!
//! Hand-written on atomics: the exposition format is a few lines of text, and the hot path is
//! one `DashMap` lookup plus an atomic add per series. Every series is labelled by entity, with a
//! cardinality guard: the first `max_entities` entities seen get their own label, any later one
//! is counted as `other`, so a client inventing entity ids cannot grow memory or the scrape.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use fastmcp_core::EntityId;

/// Latency buckets in seconds (upper bounds).
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    /// Sum in microseconds (integer atomics; rendered as seconds).
    sum_us: AtomicU64,
}

impl Histogram {
    /// Appends the series of this histogram: buckets, `+Inf`, sum and count, with `labels`.
    fn render(&self, text: &mut String, name: &str, labels: &str) {
        for (i, le) in BUCKETS.iter().enumerate() {
            let n = self.buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(text, "{name}_bucket{{{labels},le=\"{le}\"}} {n}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let sum = self.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(text, "{name}_bucket{{{labels},le=\"+Inf\"}} {count}");
        let _ = writeln!(text, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(text, "{name}_count{{{labels}}} {count}");
    }

    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (i, le) in BUCKETS.iter().enumerate() {
            if secs <= *le {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
}

/// The instance's metrics.
pub struct Metrics {
    max_entities: usize,
    entities: DashMap<EntityId, Arc<str>>,
    /// (entity, endpoint, status) → count.
    requests: DashMap<(Arc<str>, &'static str, u16), AtomicU64>,
    /// entity → request latency.
    latency: DashMap<Arc<str>, Histogram>,
    /// (entity, method) → time in handlers (the `Timing` middleware, innermost).
    handlers: DashMap<(Arc<str>, &'static str), Histogram>,
    /// (entity, tool, outcome) → count.
    tool_calls: DashMap<(Arc<str>, String, &'static str), AtomicU64>,
    /// (entity, kind) → count.
    rate_limited: DashMap<(Arc<str>, &'static str), AtomicU64>,
    /// entity → open SSE streams on this instance.
    streams: DashMap<Arc<str>, AtomicI64>,
    /// entity → sessions opened / ended through this instance.
    sessions_opened: DashMap<Arc<str>, AtomicU64>,
    sessions_closed: DashMap<Arc<str>, AtomicU64>,
}

fn bump<K: std::hash::Hash + Eq>(map: &DashMap<K, AtomicU64>, key: K) {
    if let Some(c) = map.get(&key) {
        c.fetch_add(1, Ordering::Relaxed);
        return;
    }
    map.entry(key).or_default().fetch_add(1, Ordering::Relaxed);
}

/// Escapes a label value (`\`, `"`, newline), as the text format requires.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// Metrics that label at most `max_entities` entities by name.
    pub fn new(max_entities: usize) -> Self {
        Self {
            max_entities,
            entities: DashMap::new(),
            requests: DashMap::new(),
            latency: DashMap::new(),
            handlers: DashMap::new(),
            tool_calls: DashMap::new(),
            rate_limited: DashMap::new(),
            streams: DashMap::new(),
            sessions_opened: DashMap::new(),
            sessions_closed: DashMap::new(),
        }
    }

    /// The label for `entity` under the cardinality guard.
    pub fn label(&self, entity: Option<&EntityId>) -> Arc<str> {
        let Some(e) = entity else {
            return Arc::from("none");
        };
        if let Some(l) = self.entities.get(e) {
            return Arc::clone(&l);
        }
        if self.entities.len() < self.max_entities {
            return Arc::clone(
                &self
                    .entities
                    .entry(e.clone())
                    .or_insert_with(|| Arc::from(e.as_str())),
            );
        }
        Arc::from("other")
    }

    /// One answered HTTP request to an MCP endpoint.
    pub fn request(&self, entity: Arc<str>, endpoint: &'static str, status: u16, took: Duration) {
        bump(&self.requests, (Arc::clone(&entity), endpoint, status));
        if let Some(h) = self.latency.get(&entity) {
            h.observe(took);
            return;
        }
        self.latency.entry(entity).or_default().observe(took);
    }

    /// Time one call spent in its handler (`tools/call`, `resources/read`, `prompts/get`,
    /// `completion/complete`).
    pub fn handler(&self, entity: &EntityId, method: &'static str, took: Duration) {
        let key = (self.label(Some(entity)), method);
        if let Some(h) = self.handlers.get(&key) {
            h.observe(took);
            return;
        }
        self.handlers.entry(key).or_default().observe(took);
    }

    /// One tool call and how it ended (`ok`, `tool_error`, `error`).
    pub fn tool_call(&self, entity: &EntityId, tool: &str, outcome: &'static str) {
        bump(
            &self.tool_calls,
            (self.label(Some(entity)), tool.to_string(), outcome),
        );
    }

    /// One request refused by a limit (`rate`, `concurrency`).
    pub fn rate_limited(&self, entity: &EntityId, kind: &'static str) {
        bump(&self.rate_limited, (self.label(Some(entity)), kind));
    }

    /// An SSE stream opened (+1) or closed (-1) on this instance.
    pub fn stream(&self, entity: &EntityId, delta: i64) {
        self.streams
            .entry(self.label(Some(entity)))
            .or_default()
            .fetch_add(delta, Ordering::Relaxed);
    }

    /// A session opened (`true`) or ended (`false`) through this instance.
    pub fn session(&self, entity: &EntityId, opened: bool) {
        let map = if opened {
            &self.sessions_opened
        } else {
            &self.sessions_closed
        };
        bump(map, self.label(Some(entity)));
    }

    /// The entities labelled by name (at most `max_entities`).
    pub fn labelled(&self) -> Vec<(EntityId, Arc<str>)> {
        self.entities
            .iter()
            .map(|e| (e.key().clone(), Arc::clone(e.value())))
            .collect()
    }

    /// Reads the shared store's gauges at scrape time: whether it answers, and the live
    /// sessions of each labelled entity (entities labelled `other` are not counted). Bounded
    /// by `budget`: a slow store yields `up = 0` and no session series rather than a hung scrape.
    pub async fn read_store(
        &self,
        sessions: &dyn fastmcp_core::SessionStore,
        budget: Duration,
    ) -> StoreGauges {
        use futures::StreamExt as _;
        let read = async {
            sessions.ping().await?;
            let counts =
                futures::stream::iter(self.labelled())
                    .map(|(entity, label)| async move {
                        sessions.count(&entity).await.map(|n| (label, n))
                    })
                    .buffer_unordered(8)
                    .collect::<Vec<_>>()
                    .await;
            counts
                .into_iter()
                .collect::<fastmcp_core::storage::StoreResult<Vec<_>>>()
        };
        match tokio::time::timeout(budget, read).await {
            Ok(Ok(live)) => StoreGauges { up: true, live },
            _ => StoreGauges::default(),
        }
    }

    /// The exposition text, with the store's gauges read for this scrape.
    pub fn render(&self, store: &StoreGauges) -> String {
        let mut text = String::with_capacity(4096);
        let _ = writeln!(text, "# HELP fastmcp_store_up Whether the shared store answered this scrape (1) or not (0).\n# TYPE fastmcp_store_up gauge\nfastmcp_store_up {}", u8::from(store.up));
        let _ = writeln!(text, "# HELP fastmcp_live_sessions Live sessions in the shared store by entity: the same on every instance sharing the store (aggregate with max, not sum).\n# TYPE fastmcp_live_sessions gauge");
        for (e, n) in &store.live {
            let _ = writeln!(text, "fastmcp_live_sessions{{entity=\"{}\"}} {n}", esc(e));
        }
        let _ = writeln!(text, "# HELP fastmcp_requests_total HTTP requests to MCP endpoints by entity, endpoint and status (503: the store is unavailable).\n# TYPE fastmcp_requests_total counter");
        for r in &self.requests {
            let (e, ep, st) = r.key();
            let _ = writeln!(
                text,
                "fastmcp_requests_total{{entity=\"{}\",endpoint=\"{ep}\",status=\"{st}\"}} {}",
                esc(e),
                r.value().load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(text, "# HELP fastmcp_request_duration_seconds Time to the response headers of MCP requests, by entity.\n# TYPE fastmcp_request_duration_seconds histogram");
        for h in &self.latency {
            let labels = format!("entity=\"{}\"", esc(h.key()));
            h.render(&mut text, "fastmcp_request_duration_seconds", &labels);
        }
        let _ = writeln!(text, "# HELP fastmcp_handler_duration_seconds Time calls spent in their handlers, by entity and method (measured by the Timing middleware, inside any of the app's own).\n# TYPE fastmcp_handler_duration_seconds histogram");
        for h in &self.handlers {
            let (e, method) = h.key();
            let labels = format!("entity=\"{}\",method=\"{method}\"", esc(e));
            h.render(&mut text, "fastmcp_handler_duration_seconds", &labels);
        }
        let _ = writeln!(text, "# HELP fastmcp_tool_calls_total Tool calls by entity, tool and outcome (ok, tool_error, error).\n# TYPE fastmcp_tool_calls_total counter");
        for r in &self.tool_calls {
            let (e, tool, outcome) = r.key();
            let _ = writeln!(
                text,
                "fastmcp_tool_calls_total{{entity=\"{}\",tool=\"{}\",outcome=\"{outcome}\"}} {}",
                esc(e),
                esc(tool),
                r.value().load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(text, "# HELP fastmcp_rate_limited_total Requests refused by a per-entity limit, by kind (rate, concurrency).\n# TYPE fastmcp_rate_limited_total counter");
        for r in &self.rate_limited {
            let (e, kind) = r.key();
            let _ = writeln!(
                text,
                "fastmcp_rate_limited_total{{entity=\"{}\",kind=\"{kind}\"}} {}",
                esc(e),
                r.value().load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(text, "# HELP fastmcp_open_streams SSE streams open on this instance.\n# TYPE fastmcp_open_streams gauge");
        for r in &self.streams {
            let _ = writeln!(
                text,
                "fastmcp_open_streams{{entity=\"{}\"}} {}",
                esc(r.key()),
                r.value().load(Ordering::Relaxed)
            );
        }
        for (name, help, map) in [
            (
                "fastmcp_sessions_opened_total",
                "Sessions opened through this instance.",
                &self.sessions_opened,
            ),
            (
                "fastmcp_sessions_closed_total",
                "Sessions ended through this instance.",
                &self.sessions_closed,
            ),
        ] {
            let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} counter");
            for r in map {
                let _ = writeln!(
                    text,
                    "{name}{{entity=\"{}\"}} {}",
                    esc(r.key()),
                    r.value().load(Ordering::Relaxed)
                );
            }
        }
        text
    }
}

/// Mount names labelled at most; the rest are summed under `other`.
#[cfg(feature = "federation")]
const MAX_MOUNT_LABELS: usize = 100;

/// The health of the upstream MCP servers this instance holds, by mount name (mounts of one
/// name in several entities are summed; `up` is 0 when any of them is down).
#[cfg(feature = "federation")]
pub fn render_mounts(text: &mut String, mounts: &[fastmcp_upstream::MountHealth]) {
    use std::collections::BTreeMap;
    let mut by_name: BTreeMap<&str, (bool, u64, u64)> = BTreeMap::new();
    for m in mounts {
        let name = if by_name.len() >= MAX_MOUNT_LABELS && !by_name.contains_key(m.name.as_str()) {
            "other"
        } else {
            m.name.as_str()
        };
        let e = by_name.entry(name).or_insert((true, 0, 0));
        e.0 &= m.health.up;
        e.1 += m.health.calls;
        e.2 += m.health.failures;
    }
    let _ = writeln!(
        text,
        "# HELP fastmcp_upstream_up Whether the mounted upstream MCP server answered its last exchange here.\n# TYPE fastmcp_upstream_up gauge"
    );
    for (name, (up, _, _)) in &by_name {
        let _ = writeln!(
            text,
            "fastmcp_upstream_up{{mount=\"{}\"}} {}",
            esc(name),
            u8::from(*up)
        );
    }
    let _ = writeln!(
        text,
        "# HELP fastmcp_upstream_calls_total Calls forwarded to mounted upstream MCP servers.\n# TYPE fastmcp_upstream_calls_total counter"
    );
    for (name, (_, calls, _)) in &by_name {
        let _ = writeln!(
            text,
            "fastmcp_upstream_calls_total{{mount=\"{}\"}} {calls}",
            esc(name)
        );
    }
    let _ = writeln!(
        text,
        "# HELP fastmcp_upstream_failures_total Forwarded calls that failed because the upstream was unreachable, slow or broken.\n# TYPE fastmcp_upstream_failures_total counter"
    );
    for (name, (_, _, failures)) in &by_name {
        let _ = writeln!(
            text,
            "fastmcp_upstream_failures_total{{mount=\"{}\"}} {failures}",
            esc(name)
        );
    }
}

/// What the shared store reported at scrape time (see [`Metrics::read_store`]).
#[derive(Debug, Default)]
pub struct StoreGauges {
    /// The store answered.
    pub up: bool,
    /// Live sessions per labelled entity.
    pub live: Vec<(Arc<str>, u64)>,
}

impl fastmcp_core::engine::CallObserver for Metrics {
    fn tool_call(&self, entity: &EntityId, tool: &str, outcome: &'static str) {
        Metrics::tool_call(self, entity, tool, outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_beyond_the_guard_are_other() {
        let m = Metrics::new(2);
        let e = |s: &str| EntityId::parse(s).unwrap();
        assert_eq!(&*m.label(Some(&e("a"))), "a");
        assert_eq!(&*m.label(Some(&e("b"))), "b");
        assert_eq!(&*m.label(Some(&e("c"))), "other");
        assert_eq!(&*m.label(Some(&e("a"))), "a");
        m.tool_call(&e("c"), "echo \"x\"", "ok");
        m.request(
            m.label(Some(&e("a"))),
            "mcp",
            200,
            Duration::from_micros(700),
        );
        let text = m.render(&StoreGauges {
            up: true,
            live: vec![(Arc::from("a"), 3)],
        });
        assert!(text.contains("fastmcp_store_up 1\n"), "{text}");
        assert!(
            text.contains("fastmcp_live_sessions{entity=\"a\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains(
                r#"fastmcp_tool_calls_total{entity="other",tool="echo \"x\"",outcome="ok"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"fastmcp_request_duration_seconds_bucket{entity="a",le="0.001"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"fastmcp_request_duration_seconds_bucket{entity="a",le="0.0005"} 0"#),
            "{text}"
        );
    }
}
