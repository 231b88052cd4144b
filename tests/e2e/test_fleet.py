"""Fleets: instances that start at the same moment, drain on SIGTERM, and roll under load.

What an orchestrator does on every rollout, with real processes on one shared store (Redis, then
PostgreSQL): start several instances at once, send each SIGTERM in turn and start it again while
clients of both eras call tools and read resumable streams, and `kill -9` one mid-run.

Needs ``FASTMCP_E2E_REDIS_URL`` and/or ``FASTMCP_E2E_DATABASE_URL`` (scripts/test.sh sets both),
and nginx for the rolling restart (scripts/test.sh installs it). Under CI, missing ones fail.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import _binary_path, _free_port, _tail, wait_ready
from e2e_helpers import jsonrpc_reply, mcp_headers, modern_call, raw_call, raw_initialize
from test_scale_out import SseReader, assert_counted_once, read_until_result

REDIS_URL = os.environ.get("FASTMCP_E2E_REDIS_URL")
DATABASE_URL = os.environ.get("FASTMCP_E2E_DATABASE_URL")
BACKENDS = {name: url for name, url in (("redis", REDIS_URL), ("postgres", DATABASE_URL)) if url}
if not BACKENDS:
    pytest.skip("no shared store configured", allow_module_level=True)
NGINX = shutil.which("nginx")
GRACE_SECS = 10


@pytest.fixture(params=sorted(BACKENDS))
def store(request) -> str:
    return BACKENDS[request.param]


def entity() -> str:
    return f"fleet-{uuid.uuid4().hex[:8]}"


class Node:
    """One `fastmcp serve` on a fixed port, so a restarted instance takes its place."""

    def __init__(self, tmp: Path, name: str, store: str, wait: bool = True, extra: list[str] | None = None):
        self.name, self.tmp, self.store, self.extra = name, tmp, store, extra or []
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.starts = 0
        self.proc: subprocess.Popen | None = None
        self.start()
        if wait:
            self.wait_ready()

    def start(self) -> None:
        self.starts += 1
        self.log = self.tmp / f"{self.name}-{self.starts}.log"
        self.proc = subprocess.Popen(
            [str(_binary_path()), "serve", "--bind", f"127.0.0.1:{self.port}", "--store", self.store,
             "--shutdown-grace-secs", str(GRACE_SECS), *self.extra],
            stdout=self.log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=dict(os.environ, FASTMCP_MT_LOG_LEVEL="info"),
        )

    def wait_ready(self) -> None:
        wait_ready(self.name, self.proc, self.url, self.log)

    def sigterm(self) -> None:
        self.proc.send_signal(signal.SIGTERM)

    def wait_exit(self, timeout: float = GRACE_SECS + 5) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def start_together(tmp: Path, store: str, n: int, extra: list[str] | None = None) -> list[Node]:
    """`n` instances spawned in one go, before any is ready: what a Deployment does."""
    nodes = [Node(tmp, f"n{i}", store, wait=False, extra=extra) for i in range(n)]
    for node in nodes:
        node.wait_ready()
    return nodes


def test_instances_started_together_all_come_up(tmp_path, store):
    # Several rounds: the catalog write and the migrations race on every one.
    for round_ in range(3):
        nodes = start_together(tmp_path, store, 4)
        try:
            for node in nodes:
                assert node.proc.poll() is None, _tail(node.log)
                r = httpx.get(f"{node.url}/ready", timeout=5)
                assert r.status_code == 200, (round_, node.name, r.text)
        finally:
            for node in nodes:
                node.stop()


def _count_call(n: int, delay_ms: int, rid: int = 9) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "method": "tools/call",
            "params": {"name": "count", "arguments": {"n": n, "delay_ms": delay_ms},
                       "_meta": {"progressToken": f"p{rid}"}}}


def test_sigterm_drains_calls_and_ends_streams_for_their_clients_to_resume(tmp_path, store):
    a, b = Node(tmp_path, "a", store), Node(tmp_path, "b", store)
    e = entity()
    try:
        with httpx.Client(timeout=30) as http:
            sid = raw_initialize(http, a.url, e)
            n = 10
            # A call answered in JSON only, in flight when the signal comes: it must finish.
            json_result: dict[str, Any] = {}

            def json_call() -> None:
                headers = dict(mcp_headers(sid), accept="application/json")
                r = httpx.post(f"{a.url}/{e}/mcp", headers=headers, json=_count_call(n, 150, rid=1), timeout=30)
                json_result["status"] = r.status_code
                json_result["body"] = r.json()

            caller = threading.Thread(target=json_call)
            caller.start()
            # A resumable stream of the same kind of call.
            stream = SseReader("POST", f"{a.url}/{e}/mcp", mcp_headers(sid), _count_call(n, 150, rid=2))
            seen = [stream.next_message(), stream.next_message()]
            # A legacy HTTP+SSE session and a 2026-07-28 listen stream held by `a`.
            legacy = SseReader("GET", f"{a.url}/{e}/sse", {"accept": "text/event-stream"})
            endpoint = legacy.next_raw()
            assert endpoint and endpoint.get("event") == "endpoint", endpoint
            listen_body = {"jsonrpc": "2.0", "id": 77, "method": "subscriptions/listen", "params": {
                "notifications": {"toolsListChanged": True},
                "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                          "io.modelcontextprotocol/clientCapabilities": {}}}}
            listen = SseReader("POST", f"{a.url}/{e}/mcp", {
                "accept": "application/json, text/event-stream", "content-type": "application/json",
                "mcp-protocol-version": "2026-07-28", "mcp-method": "subscriptions/listen"}, listen_body)
            assert listen.next_message()[1]["method"] == "notifications/subscriptions/acknowledged"

            signalled = time.monotonic()
            a.sigterm()
            # Out of rotation at once: /ready is refused or 503, never 200 again.
            time.sleep(0.3)
            try:
                assert httpx.get(f"{a.url}/ready", timeout=2).status_code == 503
            except httpx.HTTPError:
                pass
            # The listen stream ends as a finished listen; the legacy stream ends.
            _, done = listen.next_message(timeout=5)
            assert done.get("id") == 77 and done["result"]["resultType"] == "complete", done
            with pytest.raises(EOFError):
                while True:
                    legacy.next_message(timeout=5)
            # The resumable stream ends before its call does; the client resumes on `b`.
            with pytest.raises(EOFError):
                while True:
                    seen.append(stream.next_message(timeout=5))
            assert not any(m.get("id") == 2 for _, m in seen), "the stream was not ended early"
            hdr = dict(mcp_headers(sid), **{"last-event-id": seen[-1][0], "accept": "text/event-stream"})
            read_until_result(SseReader("GET", f"{b.url}/{e}/mcp", hdr), 2, seen)
            assert_counted_once(seen, n)
            # The JSON call finished on the draining instance.
            caller.join(timeout=GRACE_SECS + 5)
            assert json_result.get("status") == 200, json_result
            assert json_result["body"]["result"]["content"][0]["text"] == f"counted to {n}", json_result
            # And the process left within its grace period, cleanly.
            assert a.wait_exit() == 0, _tail(a.log)
            assert time.monotonic() - signalled < GRACE_SECS + 2
            for r in (stream, legacy, listen):
                r.close()
    finally:
        a.stop()
        b.stop()


def _nginx(tmp: Path, ports: list[int]) -> tuple[subprocess.Popen, str]:
    lb = _free_port()
    conf = tmp / "nginx.conf"
    # max_fails=0: a refused connection sends the request to the next instance but does not take
    # the refusing one out of rotation for fail_timeout (10 s), which during a roll would leave
    # no instance in rotation at all.
    servers = " ".join(f"server 127.0.0.1:{p} max_fails=0;" for p in ports)
    conf.write_text(f"""
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fcgi; uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
  upstream mcp {{ {servers} }}
  server {{
    listen 127.0.0.1:{lb};
    location / {{
      proxy_pass http://mcp;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_buffering off;
      proxy_read_timeout 60s;
      proxy_next_upstream error timeout;
      proxy_next_upstream_tries 0;
    }}
  }}
}}
""")
    proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(tmp)], stdout=subprocess.DEVNULL,
                            stderr=(tmp / "nginx.out").open("wb"))
    url = f"http://127.0.0.1:{lb}"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError("nginx did not start")


class Load:
    """Clients of both eras calling tools through the balancer, and a client reading resumable
    progress streams, until stopped. Failures are kept with what failed."""

    def __init__(self, lb: str):
        self.lb = lb
        self.stop = threading.Event()
        self.calls = 0
        self.failures: list[str] = []
        self.failure_times: list[float] = []  # time.monotonic() of each failure
        self.streams = 0
        self.events_lost_or_duplicated: list[str] = []
        self.sessions: list[tuple[str, str]] = []  # (entity, session id), to end them after
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=f, daemon=True)
                        for f in (self.handshake, self.handshake, self.modern, self.streams_worker)]
        for t in self.threads:
            t.start()

    def _fail(self, what: str) -> None:
        with self.lock:
            self.failures.append(what)
            self.failure_times.append(time.monotonic())

    def _ok(self) -> None:
        with self.lock:
            self.calls += 1

    def handshake(self) -> None:
        e = entity()
        with httpx.Client(timeout=30) as http:
            sid = raw_initialize(http, self.lb, e)
            with self.lock:
                self.sessions.append((e, sid))
            i = 0
            while not self.stop.is_set():
                i += 1
                try:
                    r = raw_call(http, self.lb, e, "tools/call",
                                 {"name": "echo", "arguments": {"text": f"h{i}"}}, session_id=sid, request_id=i)
                    reply = jsonrpc_reply(r, i)
                    if reply.get("result", {}).get("content", [{}])[0].get("text") == f"h{i}":
                        self._ok()
                    else:
                        self._fail(f"handshake {r.status_code} {reply}")
                except Exception as exc:  # noqa: BLE001 - every failure counts
                    self._fail(f"handshake {exc!r}")

    def modern(self) -> None:
        e = entity()
        with httpx.Client(timeout=30) as http:
            i = 0
            while not self.stop.is_set():
                i += 1
                try:
                    r = modern_call(http, self.lb, e, "tools/call",
                                    {"name": "echo", "arguments": {"text": f"m{i}"}}, request_id=i)
                    reply = jsonrpc_reply(r, i)
                    if reply.get("result", {}).get("content", [{}])[0].get("text") == f"m{i}":
                        self._ok()
                    else:
                        self._fail(f"modern {reply}")
                except Exception as exc:  # noqa: BLE001
                    self._fail(f"modern {exc!r}")

    def streams_worker(self) -> None:
        e = entity()
        with httpx.Client(timeout=30) as http:
            sid = raw_initialize(http, self.lb, e)
        with self.lock:
            self.sessions.append((e, sid))
        n, rid = 6, 100
        while not self.stop.is_set():
            rid += 1
            seen: list[tuple[str | None, dict[str, Any]]] = []
            try:
                reader = SseReader("POST", f"{self.lb}/{e}/mcp", mcp_headers(sid), _count_call(n, 120, rid))
                # A call refused outright (a 503 while the store fails over) opened no stream:
                # it fails now, and there is nothing to resume (a GET without Last-Event-ID
                # would wait on the standalone stream, which never carries this call).
                if reader.status != 200 or not reader.headers.get("content-type", "").startswith("text/event-stream"):
                    reader.close()
                    self._fail(f"stream {rid} refused: HTTP {reader.status}")
                    continue
                done = False
                for _ in range(20):  # the first stream, then resumptions, wherever they land
                    try:
                        while True:
                            ev = reader.next_message(timeout=15)
                            seen.append(ev)
                            if ev[1].get("id") == rid:
                                done = True
                                break
                    except EOFError:
                        pass
                    reader.close()
                    if done:
                        break
                    last = next((i for i, _ in reversed(seen) if i), None)
                    hdr = dict(mcp_headers(sid), accept="text/event-stream")
                    if last:
                        hdr["last-event-id"] = last
                    reader = SseReader("GET", f"{self.lb}/{e}/mcp", hdr)
                reader.close()
                if not done:
                    self._fail(f"stream {rid} never finished: {len(seen)} events")
                    continue
                ids = [i for i, _ in seen]
                progress = [m["params"]["progress"] for _, m in seen if m.get("method") == "notifications/progress"]
                if len(ids) != len(set(ids)) or progress != list(range(1, n + 1)):
                    with self.lock:
                        self.events_lost_or_duplicated.append(f"{rid}: ids {ids} progress {progress}")
                with self.lock:
                    self.streams += 1
                self._ok()
            except Exception as exc:  # noqa: BLE001
                self._fail(f"stream {rid} {exc!r} after {len(seen)} events")

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=40)

    def end_sessions(self) -> int:
        """DELETEs every session the load opened; how many were still there to end."""
        ended = 0
        with httpx.Client(timeout=30) as http:
            for e, sid in self.sessions:
                r = http.delete(f"{self.lb}/{e}/mcp", headers=mcp_headers(sid))
                ended += r.status_code in (200, 202, 204)
        return ended

    def snapshot(self) -> tuple[int, int]:
        with self.lock:
            return self.calls, len(self.failures)


@contextlib.contextmanager
def loaded_fleet(tmp: Path, store: str, extra: list[str] | None = None):
    """Three instances started together behind a round-robin nginx, with the load of `Load`
    running through it; yields (nodes, load) and stops them all after."""
    nodes = start_together(tmp, store, 3, extra=extra)
    lb_proc, lb = _nginx(Path(tempfile.mkdtemp(dir=tmp)), [n.port for n in nodes])
    load = None
    try:
        load = Load(lb)
        time.sleep(1.5)
        yield nodes, load
    finally:
        if load:
            load.finish()
        lb_proc.terminate()
        lb_proc.wait(timeout=10)
        for node in nodes:
            node.stop()


@pytest.mark.skipif(NGINX is None and not os.environ.get("CI"), reason="nginx is not installed")
def test_rolling_restart_under_load_fails_no_call_and_loses_no_event(tmp_path, store):
    assert NGINX, "CI must install nginx (scripts/test.sh does)"
    with loaded_fleet(tmp_path, store) as (nodes, load):
        # Each instance in turn: SIGTERM, wait for it to leave, start it again.
        for node in nodes:
            before = load.snapshot()[0]
            node.sigterm()
            assert node.wait_exit() == 0, _tail(node.log)
            node.start()
            node.wait_ready()
            time.sleep(1.0)
            assert load.snapshot()[0] > before, "no progress while rolling"
        rolled_failures = list(load.failures)
        # Then a crash: only calls in flight on the killed instance may fail.
        calls_before_kill = load.snapshot()[0]
        victim = nodes[1]
        victim.proc.send_signal(signal.SIGKILL)
        victim.wait_exit()
        time.sleep(1.0)
        victim.start()
        victim.wait_ready()
        time.sleep(1.5)
        load.finish()
        calls, _ = load.snapshot()
        assert calls > calls_before_kill, load.failures[-5:]
        assert rolled_failures == [], rolled_failures[:5]
        assert load.events_lost_or_duplicated == [], load.events_lost_or_duplicated[:3]
        assert load.streams >= 3, load.streams
        # In flight on the victim at the kill: at most one call per client thread.
        assert len(load.failures) <= len(load.threads), load.failures
        print(f"\nrolling restart on {store.split(':')[0]}: {calls} calls, {load.streams} streams, "
              f"{len(load.failures)} failed at the kill -9")


CHAOS_SECS = float(os.environ.get("FASTMCP_CHAOS_SECS", "30"))
# What may stay in Redis with no TTL once every session has ended: server secrets, API keys,
# entity configurations (kept until cleared), and the per-entity session index and log list
# (bounded, pruned lazily). Anything of a session must be gone or expiring.
REDIS_PERMANENT = (":keys:", ":apikey:", ":apikeys:", ":entitycfg:", ":idx:", ":logs:")


def _redis_residue(url: str, prefix: str) -> tuple[dict[str, int], list[str]]:
    """Keys left under `prefix`, counted by kind, and those of them with no TTL that should
    have one."""
    scan = subprocess.run(["redis-cli", "-u", url, "--scan", "--pattern", f"*{prefix}*"],
                          capture_output=True, text=True, check=True)
    keys = [k for k in scan.stdout.split() if k]
    ttls = subprocess.run(["redis-cli", "-u", url], input="".join(f"TTL {k}\n" for k in keys),
                          capture_output=True, text=True, check=True).stdout.split()
    kinds: dict[str, int] = {}
    immortal: list[str] = []
    for key, ttl in zip(keys, ttls):
        kind = key.split("}")[-1].split(":")[1] if key.startswith("{") else key.split(":")[1]
        kinds[kind] = kinds.get(kind, 0) + 1
        if ttl == "-1" and not any(p in key for p in REDIS_PERMANENT):
            immortal.append(key)
    return kinds, immortal


def _postgres_residue(url: str, entities: list[str]) -> tuple[dict[str, int], list[str]]:
    """Rows the load's entities left, by table, and sessions among them (which must be gone:
    events and replies are removed by the cleanup task after their retention)."""
    quoted = ",".join(f"'{e}'" for e in entities)
    kinds: dict[str, int] = {}
    for table in ("sessions", "events", "replies"):
        out = subprocess.run(["psql", url, "-tAc", f"SELECT count(*) FROM {table} WHERE entity_id IN ({quoted})"],
                             capture_output=True, text=True, check=True).stdout.strip()
        kinds[table] = int(out or 0)
    return kinds, [f"{kinds['sessions']} session rows"] if kinds["sessions"] else []


@pytest.mark.timeout(CHAOS_SECS + 150)
@pytest.mark.skipif(NGINX is None and not os.environ.get("CI"), reason="nginx is not installed")
def test_chaos_restarts_and_kills_in_rotation_under_load(tmp_path, store):
    """For FASTMCP_CHAOS_SECS (30 in the test command; run it longer by hand), the instances
    behind a round-robin nginx are, in turn, drained with SIGTERM and restarted, or killed with
    SIGKILL and restarted, while clients of both eras call tools and read resumable progress
    streams. Only calls in flight on a killed instance may fail; no event is lost or
    duplicated; once every session has ended, nothing of them stays in the store without a TTL."""
    assert NGINX, "CI must install nginx (scripts/test.sh does)"
    prefix = f"chaos{uuid.uuid4().hex[:8]}"
    kills = drains = 0
    with loaded_fleet(tmp_path, store, ["--key-prefix", prefix]) as (nodes, load):
        deadline = time.monotonic() + CHAOS_SECS
        step = 0
        while time.monotonic() < deadline:
            node = nodes[step % len(nodes)]
            if step % 2:
                node.proc.send_signal(signal.SIGKILL)
                node.wait_exit()
                kills += 1
            else:
                node.sigterm()
                assert node.wait_exit() == 0, _tail(node.log)
                drains += 1
            node.start()
            node.wait_ready()
            time.sleep(1.0)
            step += 1
        time.sleep(1.0)
        load.finish()
        calls, failed = load.snapshot()
        ended = load.end_sessions()
        entities = sorted({e for e, _ in load.sessions})
        if store.startswith("redis"):
            kinds, immortal = _redis_residue(store, prefix)
        else:
            kinds, immortal = _postgres_residue(store, entities)
        print(f"\nchaos on {store.split(':')[0]} for {CHAOS_SECS:.0f} s: {drains} drains, {kills} kills, "
              f"{calls} calls, {failed} failed, {load.streams} streams, "
              f"{len(load.events_lost_or_duplicated)} with events lost or duplicated, "
              f"{ended}/{len(load.sessions)} sessions ended; left in the store: {kinds}")
        assert load.events_lost_or_duplicated == [], load.events_lost_or_duplicated[:3]
        # In flight on a killed instance: at most one call per client thread per kill.
        assert failed <= kills * len(load.threads), load.failures[:5]
        assert calls > 20 * (drains + kills), calls
        assert ended == len(load.sessions), "a session was lost"
        assert immortal == [], immortal[:10]


TLS_URLS = {"redis": os.environ.get("FASTMCP_TEST_REDIS_TLS_URL"),
            "postgres": os.environ.get("FASTMCP_TEST_DATABASE_TLS_URL")}
TLS_CA = os.environ.get("FASTMCP_TEST_TLS_CA")
WRONG_CA = os.environ.get("FASTMCP_TEST_TLS_WRONG_CA")


def _start_fails(tmp: Path, store: str, extra: list[str]) -> str:
    """Runs `serve` on `store` and returns its output, asserting that it exits non-zero at once."""
    proc = subprocess.run(
        [str(_binary_path()), "serve", "--bind", f"127.0.0.1:{_free_port()}", "--store", store, *extra],
        capture_output=True, text=True, timeout=30, env=dict(os.environ, FASTMCP_MT_LOG_LEVEL="warn"),
    )
    assert proc.returncode != 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


@pytest.mark.parametrize("backend", ["redis", "postgres"])
def test_instances_share_sessions_over_tls_and_refuse_what_they_cannot_verify(tmp_path, backend):
    url = TLS_URLS[backend]
    if not (url and TLS_CA and WRONG_CA):
        if os.environ.get("CI"):
            pytest.fail("CI must set the TLS store URLs and CAs (scripts/test.sh does)")
        pytest.skip("no TLS store configured")
    ca = ["--store-ca-file", TLS_CA]
    a, b = Node(tmp_path, "a", url, extra=ca), Node(tmp_path, "b", url, extra=ca)
    e = entity()
    try:
        with httpx.Client(timeout=30) as http:
            sid = raw_initialize(http, a.url, e)
            r = raw_call(http, b.url, e, "tools/call", {"name": "echo", "arguments": {"text": "tls"}},
                         session_id=sid)
            assert jsonrpc_reply(r, 2)["result"]["content"][0]["text"] == "tls", r.text
    finally:
        a.stop()
        b.stop()
    # A server certificate from another CA: a clear start-up error, never a connection.
    out = _start_fails(tmp_path, url, ["--store-ca-file", WRONG_CA])
    assert "certificate" in out.lower(), out
    # TLS asked of a plain-text server: an error, never a silent downgrade.
    if backend == "redis":
        plain = os.environ["FASTMCP_E2E_REDIS_URL"].replace("redis://", "rediss://", 1)
        out = _start_fails(tmp_path, plain, ca)
        assert "cannot use redis" in out.lower(), out
