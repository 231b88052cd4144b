//! `fastmcp-load`: the load generator of FastMCP-MT's benchmark scripts.
//!
//! Every mode prints one JSON object on stdout, so scripts can read it with any JSON parser.
//! It drives any MCP server over HTTP: ours, and the peers `shared/bench`-style comparisons use.
//!
//! ```text
//! fastmcp-load call --url http://127.0.0.1:8000/bench/mcp -c 16 -d 10s [--era modern]
//! fastmcp-load call --url http://127.0.0.1:8000/bench/sse --era legacy -c 16
//! fastmcp-load sessions --url http://127.0.0.1:8000/bench/mcp -k 1000 --pid PID
//! fastmcp-load streams --url http://127.0.0.1:8000/bench/sse --kind legacy -k 10000 --pid PID \
//!     --call-url http://127.0.0.1:8000/bench/mcp
//! fastmcp-load coldstart --url http://127.0.0.1:8000/bench/mcp -- target/release/fastmcp
//! fastmcp-load wait --url http://127.0.0.1:8000/bench/mcp
//! ```

mod conn;
mod mcp;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use serde_json::{json, Value};

use conn::Target;
use mcp::{Client, Era, HeldStream, StreamKind, ToolCall};

#[derive(Parser)]
#[command(
    name = "fastmcp-load",
    version,
    about = "Load generator for MCP servers over HTTP"
)]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// tools/call throughput and latency: C clients, one call in flight each.
    Call(CallArgs),
    /// Opens K idle handshake-era sessions and reports the server's memory per session.
    Sessions(SessionsArgs),
    /// Holds K idle SSE streams of one kind, reports the server's memory per stream, and
    /// measures ordinary calls while they stay open (keep-alives running).
    Streams(StreamsArgs),
    /// Spawns a server N times and times spawn → first successful tools/call.
    Coldstart(ColdstartArgs),
    /// Waits until a tools/call succeeds (exit 0) or the time is up (exit 1).
    Wait(WaitArgs),
    /// A minimal HTTP service for HTTP tools to call: every request is answered `200` with a
    /// small JSON object naming its method and path (keep-alive, HTTP/1.1).
    EchoServer(EchoArgs),
}

#[derive(Args)]
struct EchoArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:18999")]
    bind: String,
}

#[derive(Args, Clone)]
struct Endpoint {
    /// The MCP endpoint: http://HOST:PORT/{entity}/mcp, or …/{entity}/sse with --era legacy.
    #[arg(long)]
    url: String,
    /// The protocol era the clients speak.
    #[arg(long, value_enum, default_value = "handshake")]
    era: Era,
    /// Tool to call: `echo` (text of --payload bytes, answer checked) or any with --args.
    #[arg(long, default_value = "echo")]
    tool: String,
    /// Bytes of echo text.
    #[arg(long, default_value_t = 16)]
    payload: usize,
    /// Raw JSON arguments for --tool.
    #[arg(long)]
    args: Option<String>,
    /// The method each request makes: `tools/call` (of --tool), or one without params such as
    /// `tools/list` (its first page).
    #[arg(long, default_value = "tools/call")]
    method: String,
    /// Extra request header, `Name: value` (repeatable), e.g. an Authorization header.
    #[arg(short = 'H', long = "header")]
    headers: Vec<String>,
}

impl Endpoint {
    /// `tools/call echo` with 16 bytes of text in the handshake era: the defaults of `call`.
    fn echo(url: &str, headers: &[String]) -> Self {
        Self {
            url: url.to_string(),
            era: Era::Handshake,
            tool: "echo".into(),
            payload: 16,
            args: None,
            method: "tools/call".into(),
            headers: headers.to_vec(),
        }
    }

    fn target(&self) -> Result<Target, String> {
        Target::parse(&self.url)
    }

    fn call(&self) -> Result<ToolCall, String> {
        ToolCall::new(
            &self.tool,
            self.payload,
            self.args.as_deref(),
            self.era,
            &self.method,
        )
    }

    fn headers(&self) -> Result<Vec<(String, String)>, String> {
        self.headers
            .iter()
            .map(|h| {
                h.split_once(':')
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                    .ok_or_else(|| format!("header {h:?} is not `Name: value`"))
            })
            .collect()
    }
}

#[derive(Args)]
struct CallArgs {
    #[command(flatten)]
    endpoint: Endpoint,
    /// Concurrent clients (each with its own connection and session).
    #[arg(short = 'c', long, default_value_t = 16)]
    concurrency: usize,
    /// Warm-up before measuring (not counted).
    #[arg(short = 'w', long, default_value = "2s", value_parser = parse_duration)]
    warmup: Duration,
    /// Measured duration.
    #[arg(short = 'd', long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
}

#[derive(Args)]
struct SessionsArgs {
    #[command(flatten)]
    endpoint: Endpoint,
    /// Sessions to open and keep idle.
    #[arg(short = 'k', long, default_value_t = 1000)]
    count: usize,
    /// The server's pid, whose resident memory is read before and after.
    #[arg(long)]
    pid: Option<u32>,
    /// Keep each session's connection open (measures session + connection); by default the
    /// connection closes after the handshake and only the session's state remains.
    #[arg(long)]
    keep_connections: bool,
}

#[derive(Args)]
struct StreamsArgs {
    /// Where streams are opened (and, with --kind get, sessions made): …/mcp, or …/sse for
    /// --kind legacy. `{i}` in the URL is replaced by the stream's number modulo
    /// --entities, to spread streams over tenants.
    #[arg(long)]
    url: String,
    /// The kind of stream.
    #[arg(long, value_enum)]
    kind: StreamKind,
    /// Streams to open and hold.
    #[arg(short = 'k', long, default_value_t = 10_000)]
    count: usize,
    /// Distinct values of `{i}` in --url.
    #[arg(long, default_value_t = 1)]
    entities: usize,
    /// Streams being opened at once.
    #[arg(long, default_value_t = 64)]
    open_concurrency: usize,
    /// The server's pid, whose resident memory is read before and after.
    #[arg(long)]
    pid: Option<u32>,
    /// A handshake-era endpoint to make `tools/call echo` on while the streams are open.
    #[arg(long)]
    call_url: Option<String>,
    /// Concurrent callers on --call-url.
    #[arg(short = 'c', long, default_value_t = 16)]
    concurrency: usize,
    /// Measured duration of the calls.
    #[arg(short = 'd', long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// How long the streams stay open after the last one opened (calls included); make it
    /// longer than the server's keep-alive interval, so keep-alives are part of the figure.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    hold: Duration,
    /// Extra request header, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header")]
    headers: Vec<String>,
}

#[derive(Args)]
struct ColdstartArgs {
    #[command(flatten)]
    endpoint: Endpoint,
    /// Cold starts to time.
    #[arg(short = 'n', long, default_value_t = 5)]
    runs: usize,
    /// Give up on one start after this long.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    max_wait: Duration,
    /// The server command and its arguments.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

#[derive(Args)]
struct WaitArgs {
    #[command(flatten)]
    endpoint: Endpoint,
    /// How long to keep trying.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    max_wait: Duration,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map(|i| s.split_at(i))
        .unwrap_or((s, "s"));
    let n: f64 = num.parse().map_err(|e| format!("{s}: {e}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(format!("{s}: unit must be ms, s or m")),
    };
    Ok(Duration::from_secs_f64(secs))
}

/// Serves `{"method": …, "path": …}` to every request until killed.
async fn echo_server(bind: &str) -> std::process::ExitCode {
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    let listener = match tokio::net::TcpListener::bind(bind).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {bind}: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                let body = json!({ "method": req.method().as_str(), "path": req.uri().path() });
                hyper::Response::builder()
                    .header("content-type", "application/json")
                    .body(http_body_util::Full::new(bytes::Bytes::from(
                        body.to_string(),
                    )))
            });
            let _ = http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

// One worker thread on its own (pinned) CPU: the current-thread runtime measured 0.4x the
// throughput at c=1 and 0.75x at c=16 on this 2-core machine (wake-ups through the I/O driver).
#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.mode {
        Mode::Call(a) => run_call(a).await,
        Mode::Sessions(a) => run_sessions(a).await,
        Mode::Streams(a) => run_streams(a).await,
        Mode::Coldstart(a) => run_coldstart(a).await,
        Mode::Wait(a) => run_wait(a).await,
        Mode::EchoServer(a) => return echo_server(&a.bind).await,
    };
    match outcome {
        Ok((record, ok)) => {
            println!("{record}");
            if ok {
                std::process::ExitCode::SUCCESS
            } else {
                std::process::ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("fastmcp-load: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

/// What one worker saw inside the measured window.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    errors: BTreeMap<String, u64>,
    first_error: Option<String>,
}

impl Tally {
    fn error(&mut self, e: String) {
        let kind = e.split(':').next().unwrap_or("error").to_string();
        *self.errors.entry(kind).or_default() += 1;
        self.first_error.get_or_insert(e);
    }

    fn merge(&mut self, other: Tally) {
        self.latencies_us.extend(other.latencies_us);
        for (k, n) in other.errors {
            *self.errors.entry(k).or_default() += n;
        }
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

async fn worker(
    endpoint: Endpoint,
    call: ToolCall,
    headers: Vec<(String, String)>,
    measure_from: Instant,
    until: Instant,
) -> Tally {
    let mut tally = Tally::default();
    let Ok(target) = endpoint.target() else {
        return tally;
    };
    let mut client: Option<Client> = None;
    while Instant::now() < until {
        let c = match &mut client {
            Some(c) => c,
            None => match Client::open(&target, endpoint.era, &headers).await {
                Ok(c) => client.insert(c),
                Err(e) => {
                    if Instant::now() >= measure_from {
                        tally.error(format!("open: {e}"));
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let start = Instant::now();
        let result = c.call(&call).await;
        let counted = start >= measure_from && Instant::now() <= until;
        match result {
            Ok(()) if counted => {
                let us = start.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                tally.latencies_us.push(us);
            }
            Ok(()) => {}
            Err(e) => {
                if counted {
                    tally.error(e);
                }
                // A failed exchange may leave the connection in any state: start afresh.
                client = None;
            }
        }
    }
    tally
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let i = rank.clamp(1, sorted.len()) - 1;
    round3(f64::from(sorted[i]) / 1000.0)
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

async fn run_call(a: CallArgs) -> Result<(Value, bool), String> {
    let call = a.endpoint.call()?;
    let headers = a.endpoint.headers()?;
    a.endpoint.target()?;
    let measure_from = Instant::now() + a.warmup;
    let until = measure_from + a.duration;
    let tasks: Vec<_> = (0..a.concurrency.max(1))
        .map(|_| {
            tokio::spawn(worker(
                a.endpoint.clone(),
                call.clone(),
                headers.clone(),
                measure_from,
                until,
            ))
        })
        .collect();
    let mut tally = Tally::default();
    for t in tasks {
        tally.merge(t.await.map_err(|e| format!("worker: {e}"))?);
    }
    tally.latencies_us.sort_unstable();
    let ok = tally.latencies_us.len();
    let secs = a.duration.as_secs_f64();
    let errors: u64 = tally.errors.values().sum();
    let l = &tally.latencies_us;
    let record = json!({
        "mode": "call",
        "url": a.endpoint.url,
        "era": format!("{:?}", a.endpoint.era).to_lowercase(),
        "tool": a.endpoint.tool,
        "concurrency": a.concurrency,
        "duration_s": secs,
        "requests": ok,
        "rps": (ok as f64 / secs * 10.0).round() / 10.0,
        "latency_ms": {
            "p50": percentile(l, 50.0), "p90": percentile(l, 90.0),
            "p99": percentile(l, 99.0), "max": percentile(l, 100.0),
        },
        "errors": errors,
        "error_kinds": tally.errors,
        "first_error": tally.first_error,
    });
    Ok((record, ok > 0 && errors == 0))
}

/// Resident memory of a process in KiB (Linux `/proc`).
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

async fn run_sessions(a: SessionsArgs) -> Result<(Value, bool), String> {
    if a.endpoint.era == Era::Modern {
        return Err("2026-07-28 has no sessions to keep idle".into());
    }
    let target = a.endpoint.target()?;
    let headers = a.endpoint.headers()?;
    // One warm-up session, so the first session's one-off allocations are not counted.
    let warm = Client::open(&target, a.endpoint.era, &headers).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = a.pid.and_then(rss_kib);
    let mut open = Vec::with_capacity(a.count);
    let mut errors = 0u64;
    let mut first_error = None;
    for _ in 0..a.count {
        match Client::open(&target, a.endpoint.era, &headers).await {
            Ok(c) if a.keep_connections => open.push(Some(c)),
            Ok(c) => {
                drop(c);
                open.push(None);
            }
            Err(e) => {
                errors += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = a.pid.and_then(rss_kib);
    let per_session = match (before, after) {
        (Some(b), Some(a)) if !open.is_empty() => {
            // Signed: the allocator may hand memory back while sessions are made.
            Some(round3((a as f64 - b as f64) / open.len() as f64))
        }
        _ => None,
    };
    let opened = open.len();
    drop(open);
    drop(warm);
    let record = json!({
        "mode": "sessions",
        "url": a.endpoint.url,
        "era": format!("{:?}", a.endpoint.era).to_lowercase(),
        "opened": opened,
        "connections_kept": a.keep_connections,
        "rss_kib_before": before,
        "rss_kib_after": after,
        "kib_per_session": per_session,
        "errors": errors,
        "first_error": first_error,
    });
    Ok((record, errors == 0))
}

/// What one held stream saw after it was established.
#[derive(Default)]
struct Held {
    /// SSE comments received while idle: keep-alives (a priming event is not one).
    keepalives: u64,
    /// Why it ended before it was let go, if it did.
    ended: Option<String>,
}

async fn run_streams(a: StreamsArgs) -> Result<(Value, bool), String> {
    use std::sync::Arc;
    use tokio::sync::{watch, Semaphore};

    let headers = Endpoint::echo(&a.url, &a.headers).headers()?;
    let entities = a.entities.max(1);
    let target_of = |i: usize| Target::parse(&a.url.replace("{i}", &(i % entities).to_string()));
    target_of(0)?;

    // One stream first, so one-off allocations (pools, tables) are not counted per stream.
    let warm = HeldStream::open(&target_of(0)?, a.kind, &headers).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = a.pid.and_then(rss_kib);

    let (release, released) = watch::channel(false);
    let gate = Arc::new(Semaphore::new(a.open_concurrency.max(1)));
    // Each holder reports once its open attempt is over, so the memory is read after the
    // last stream is established, not while some are still connecting.
    let (settled_tx, mut settled) = tokio::sync::mpsc::unbounded_channel::<()>();
    let opening = Instant::now();
    let mut holders = Vec::with_capacity(a.count);
    for i in 0..a.count {
        let target = target_of(i)?;
        let headers = headers.clone();
        let permits = gate.clone();
        let settled_tx = settled_tx.clone();
        let mut released = released.clone();
        let kind = a.kind;
        holders.push(tokio::spawn(async move {
            let opened = {
                let _permit = permits.acquire().await.map_err(|e| e.to_string());
                let opened = HeldStream::open(&target, kind, &headers).await;
                let _ = settled_tx.send(());
                opened?
            };
            let mut stream = opened;
            let mut held = Held::default();
            loop {
                tokio::select! {
                    _ = released.changed() => return Ok(held),
                    chunk = stream.reader.raw_chunk() => match chunk {
                        Some(Ok(data)) => {
                            if data.first() == Some(&b':') {
                                held.keepalives += 1;
                            }
                        }
                        Some(Err(e)) => { held.ended = Some(e); return Ok(held); }
                        None => { held.ended = Some("ended by the server".into()); return Ok(held); }
                    },
                }
            }
        }));
    }
    drop(settled_tx);
    for _ in 0..a.count {
        if settled.recv().await.is_none() {
            break;
        }
    }
    let open_secs = opening.elapsed().as_secs_f64();
    let held_since = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after_open = a.pid.and_then(rss_kib);

    let mut calls = Value::Null;
    let mut calls_ok = true;
    if let Some(url) = &a.call_url {
        let (record, ok) = run_call(CallArgs {
            endpoint: Endpoint::echo(url, &a.headers),
            concurrency: a.concurrency,
            warmup: Duration::from_secs(1),
            duration: a.duration,
        })
        .await?;
        calls = record;
        calls_ok = ok;
    }
    if let Some(rest) = a.hold.checked_sub(held_since.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    let after_hold = a.pid.and_then(rss_kib);
    let _ = release.send(true);

    let mut open_errors = 0u64;
    let mut first_error = None;
    let mut ended_early = 0u64;
    let mut with_keepalive = 0u64;
    let mut opened = 0u64;
    for h in holders {
        match h.await.map_err(|e| format!("holder: {e}"))? {
            Ok(held) => {
                opened += 1;
                if held.keepalives > 0 {
                    with_keepalive += 1;
                }
                if let Some(e) = held.ended {
                    ended_early += 1;
                    first_error.get_or_insert(e);
                }
            }
            Err(e) => {
                open_errors += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    drop(warm);
    let per_stream = |after: Option<u64>| match (before, after) {
        (Some(b), Some(a)) if opened > 0 => Some(round3((a as f64 - b as f64) / opened as f64)),
        _ => None,
    };
    let record = json!({
        "mode": "streams",
        "url": a.url,
        "kind": format!("{:?}", a.kind).to_lowercase(),
        "opened": opened,
        "open_errors": open_errors,
        "ended_early": ended_early,
        "streams_with_keepalives": with_keepalive,
        "open_seconds": round3(open_secs),
        "rss_kib_before": before,
        "rss_kib_open": after_open,
        "rss_kib_after_hold": after_hold,
        "kib_per_stream": per_stream(after_open),
        "kib_per_stream_after_hold": per_stream(after_hold),
        "calls": calls,
        "first_error": first_error,
    });
    Ok((record, open_errors == 0 && ended_early == 0 && calls_ok))
}

async fn first_call(endpoint: &Endpoint) -> Result<(), String> {
    let target = endpoint.target()?;
    let mut c = Client::open(&target, endpoint.era, &endpoint.headers()?).await?;
    c.call(&endpoint.call()?).await
}

async fn run_wait(a: WaitArgs) -> Result<(Value, bool), String> {
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < a.max_wait {
        match first_call(&a.endpoint).await {
            Ok(()) => {
                let ms = round3(start.elapsed().as_secs_f64() * 1000.0);
                return Ok((json!({ "mode": "wait", "ready_after_ms": ms }), true));
            }
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok((
        json!({ "mode": "wait", "ready": false, "last_error": last }),
        false,
    ))
}

async fn run_coldstart(a: ColdstartArgs) -> Result<(Value, bool), String> {
    let (program, args) = a
        .command
        .split_first()
        .ok_or("a server command is needed after --")?;
    let mut runs = Vec::new();
    let mut all_ok = true;
    for _ in 0..a.runs.max(1) {
        let spawned = Instant::now();
        let mut child = std::os::unix::process::CommandExt::process_group(
            Command::new(program)
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
            0,
        )
        .spawn()
        .map_err(|e| format!("spawn {program}: {e}"))?;
        let mut ready = None;
        while spawned.elapsed() < a.max_wait {
            if first_call(&a.endpoint).await.is_ok() {
                ready = Some(spawned.elapsed());
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("{program} exited before answering: {status}"));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let rss = rss_kib(child.id());
        // The whole process group: a wrapper script's children go too.
        let _ = Command::new("kill")
            .args(["-TERM", &format!("-{}", child.id())])
            .status();
        let _ = child.wait();
        match ready {
            Some(d) => runs.push(json!({
                "ready_ms": round3(d.as_secs_f64() * 1000.0),
                "rss_kib_when_ready": rss,
            })),
            None => {
                all_ok = false;
                runs.push(json!({ "ready_ms": null }));
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut times: Vec<f64> = runs.iter().filter_map(|r| r["ready_ms"].as_f64()).collect();
    times.sort_by(f64::total_cmp);
    let median = times.get(times.len() / 2).copied();
    let record = json!({ "mode": "coldstart", "runs": runs, "median_ready_ms": median });
    Ok((record, all_ok))
}
