"""Scale-out: several real `fastmcp` processes sharing one Redis serve one set of sessions.

Needs ``FASTMCP_E2E_REDIS_URL`` (scripts/test.sh starts a redis-server and sets it) and a binary
built with the ``storage-redis`` feature; every test that takes the ``store`` fixture runs again on
PostgreSQL (``FASTMCP_E2E_DATABASE_URL``) and on a Redis Cluster
(``FASTMCP_E2E_REDIS_CLUSTER_URL``). Without the variable the module is skipped, except
under CI, where that is a failure.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import tempfile
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from conftest import REPO_ROOT, Instance, _binary_path, _free_port, _tail
from e2e_helpers import jsonrpc_reply, mcp_headers, modern_call, raw_call, raw_initialize

REDIS_URL = os.environ.get("FASTMCP_E2E_REDIS_URL")
DATABASE_URL = os.environ.get("FASTMCP_E2E_DATABASE_URL")
# A Redis Cluster (scripts/redis-cluster.sh): 3 masters with a replica each.
REDIS_CLUSTER_URL = os.environ.get("FASTMCP_E2E_REDIS_CLUSTER_URL")
if os.environ.get("CI") and not (REDIS_URL and DATABASE_URL and REDIS_CLUSTER_URL):
    raise RuntimeError(
        "CI must set FASTMCP_E2E_REDIS_URL, FASTMCP_E2E_DATABASE_URL and FASTMCP_E2E_REDIS_CLUSTER_URL"
    )
BACKENDS = {
    name: url
    for name, url in (("redis", REDIS_URL), ("postgres", DATABASE_URL), ("redis-cluster", REDIS_CLUSTER_URL))
    if url
}
if not BACKENDS:
    pytest.skip("neither FASTMCP_E2E_REDIS_URL nor FASTMCP_E2E_DATABASE_URL is set", allow_module_level=True)

CONFORMANCE_BIN = REPO_ROOT / "target/debug/examples/conformance"


@pytest.fixture(scope="module", params=sorted(BACKENDS))
def store(request) -> str:
    """The shared store URL; every scale-out test runs once per configured backend."""
    return BACKENDS[request.param]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, store) -> Iterator[list[Instance]]:
    tmp = tmp_path_factory.mktemp("cluster")
    nodes = [Instance(_binary_path(), tmp, n, store) for n in ("a", "b", "c")]
    yield nodes
    for n in nodes:
        n.stop()


class SseReader:
    """Reads an SSE response in a thread; events (dicts with id/event/data) arrive on a queue."""

    def __init__(self, method: str, url: str, headers: dict[str, str], body: Any = None):
        self.events: queue.Queue[dict[str, str] | None] = queue.Queue()
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self._ready = threading.Event()
        self._client = httpx.Client(timeout=httpx.Timeout(30, read=30))
        self._thread = threading.Thread(target=self._run, args=(method, url, headers, body), daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "no response headers"

    def _run(self, method, url, headers, body) -> None:
        try:
            with self._client.stream(method, url, headers=headers, json=body) as r:
                self.status = r.status_code
                self.headers = dict(r.headers)
                self._ready.set()
                ev: dict[str, str] = {}
                data: list[str] = []
                for line in r.iter_lines():
                    if line == "":
                        if data or ev:
                            ev["data"] = "\n".join(data)
                            self.events.put(ev)
                        ev, data = {}, []
                    elif line.startswith(":"):
                        continue
                    else:
                        k, _, v = line.partition(":")
                        v = v[1:] if v.startswith(" ") else v
                        if k == "data":
                            data.append(v)
                        else:
                            ev[k] = v
        except httpx.HTTPError:
            pass
        finally:
            self._ready.set()
            self.events.put(None)

    def next_message(self, timeout: float = 10) -> tuple[str | None, dict[str, Any]]:
        """The next event with JSON data: (event id, message). Skips priming/empty events."""
        deadline = time.monotonic() + timeout
        while True:
            ev = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            if ev is None:
                raise EOFError("stream ended")
            if ev.get("data", "").strip():
                if ev.get("event", "message") != "message":
                    continue
                return ev.get("id"), json.loads(ev["data"])

    def next_raw(self, timeout: float = 10) -> dict[str, str] | None:
        return self.events.get(timeout=timeout)

    def close(self) -> None:
        self._client.close()


def entity() -> str:
    return f"scale-{uuid.uuid4().hex[:8]}"


def text_of(reply: dict[str, Any]) -> str:
    return reply["result"]["content"][0]["text"]


def read_until_result(reader: SseReader, rid: int, seen: list) -> None:
    """Appends `reader`'s events to `seen` through the response to request `rid`, then closes it."""
    try:
        while True:
            ev_id, msg = reader.next_message(timeout=15)
            seen.append((ev_id, msg))
            if msg.get("id") == rid:
                return
    finally:
        reader.close()


def assert_counted_once(seen: list, n: int) -> None:
    """`seen` holds the whole of a `count` call to `n`: every event once, every step in order,
    and the result."""
    ids = [i for i, _ in seen]
    assert len(ids) == len(set(ids)), f"duplicate events: {ids}"
    progress = [m["params"]["progress"] for _, m in seen if m.get("method") == "notifications/progress"]
    assert progress == list(range(1, n + 1)), progress
    assert seen[-1][1]["result"]["content"][0]["text"] == f"counted to {n}"


def test_session_state_follows_the_session_across_instances(cluster):
    a, b, c = cluster
    e = entity()
    with httpx.Client(timeout=10) as http:
        sid = raw_initialize(http, a.url, e)
        r = raw_call(http, a.url, e, "tools/call", {"name": "remember", "arguments": {"key": "k", "value": "v1"}}, session_id=sid)
        assert text_of(jsonrpc_reply(r, 2)) == "ok"
        r = raw_call(http, b.url, e, "tools/call", {"name": "recall", "arguments": {"key": "k"}}, session_id=sid, request_id=3)
        assert text_of(jsonrpc_reply(r, 3)) == "v1"
        r = raw_call(http, c.url, e, "tools/call", {"name": "whoami", "arguments": {}}, session_id=sid, request_id=4)
        who = jsonrpc_reply(r, 4)["result"]["structuredContent"]
        assert who == {"entity_id": e, "session_id": sid}
        # setLevel on one instance takes effect on another.
        r = raw_call(http, b.url, e, "logging/setLevel", {"level": "warning"}, session_id=sid, request_id=5)
        assert jsonrpc_reply(r, 5)["result"] == {}
        r = raw_call(http, c.url, e, "tools/call", {"name": "count", "arguments": {"n": 2, "delay_ms": 0}}, session_id=sid, request_id=6)
        assert r.headers["content-type"].startswith("application/json"), "no info logs at warning"
        # Another entity cannot use it on any instance.
        r = raw_call(http, c.url, entity(), "tools/call", {"name": "recall", "arguments": {"key": "k"}}, session_id=sid, request_id=7)
        assert r.status_code == 404
        # DELETE on one instance ends it everywhere.
        d = http.delete(f"{b.url}/{e}/mcp", headers=mcp_headers(sid))
        assert d.status_code == 200
        for node in (a, c):
            r = raw_call(http, node.url, e, "ping", None, session_id=sid, request_id=8)
            assert r.status_code == 404


def test_a_cancellation_posted_to_another_instance_stops_the_call(cluster):
    """A 5 s call runs on A; the client's `notifications/cancelled` lands on B; A stops it."""
    a, b, _ = cluster
    e = entity()
    with httpx.Client(timeout=30) as http:
        sid = raw_initialize(http, a.url, e)
        done: dict[str, Any] = {}

        def slow() -> None:
            started = time.monotonic()
            r = raw_call(http, a.url, e, "tools/call", {"name": "count", "arguments": {"n": 20, "delay_ms": 250}},
                         session_id=sid, request_id=41)
            done.update(r=r, took=time.monotonic() - started)

        t = threading.Thread(target=slow)
        t.start()
        time.sleep(1.5)
        note = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 41, "reason": "e2e"}}
        assert http.post(f"{b.url}/{e}/mcp", json=note, headers=mcp_headers(sid)).status_code == 202
        t.join(10)
        assert done["took"] < 3.5, done
        assert jsonrpc_reply(done["r"], 41)["error"]["code"] == -32800


def test_legacy_sse_stream_on_one_instance_receives_answers_to_posts_on_others(cluster):
    a, b, c = cluster
    e = entity()
    stream = SseReader("GET", f"{a.url}/{e}/sse", {"accept": "text/event-stream"})
    try:
        first = stream.next_raw()
        assert first and first.get("event") == "endpoint", first
        endpoint = first["data"]
        assert endpoint.startswith(f"/{e}/messages?session_id=")
        with httpx.Client(timeout=10) as http:
            init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
            assert http.post(f"{b.url}{endpoint}", json=init).status_code == 202
            _, msg = stream.next_message()
            assert msg["id"] == 1 and msg["result"]["protocolVersion"] == "2024-11-05"
            http.post(f"{c.url}{endpoint}", json={"jsonrpc": "2.0", "method": "notifications/initialized"})
            call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "via c"}}}
            assert http.post(f"{c.url}{endpoint}", json=call).status_code == 202
            _, msg = stream.next_message()
            assert msg == {"jsonrpc": "2.0", "id": 2, "result": {"content": [{"type": "text", "text": "via c"}]}}
            # The messages endpoint of another entity does not know the session.
            assert http.post(f"{b.url}/{entity()}/messages?{endpoint.split('?', 1)[1]}", json=call).status_code == 404
    finally:
        stream.close()


def test_client_answer_reaches_the_instance_awaiting_it(tmp_path, store):
    if not CONFORMANCE_BIN.exists():
        pytest.fail(f"{CONFORMANCE_BIN} is missing (cargo build --examples --all-features)")
    a, b = Instance(CONFORMANCE_BIN, tmp_path, "ca", store), Instance(CONFORMANCE_BIN, tmp_path, "cb", store)
    e = entity()
    try:
        with httpx.Client(timeout=10) as http:
            init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {"elicitation": {}, "sampling": {}},
                "clientInfo": {"name": "t", "version": "1"}}}
            r = http.post(f"{a.url}/{e}/mcp", json=init, headers=mcp_headers(protocol_version=None))
            sid = r.headers["mcp-session-id"]
            for tool, args, answer, expect in [
                ("test_elicitation", {"message": "who?"},
                 {"action": "accept", "content": {"username": "testuser", "email": "t@example.com"}}, "testuser"),
                ("test_sampling", {"prompt": "hi"},
                 {"role": "assistant", "content": {"type": "text", "text": "from the client"}, "model": "m"},
                 "LLM response: from the client"),
            ]:
                call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": tool, "arguments": args}}
                stream = SseReader("POST", f"{a.url}/{e}/mcp", mcp_headers(sid), call)
                try:
                    _, req = stream.next_message()
                    assert req["method"] in ("elicitation/create", "sampling/createMessage"), req
                    reply = {"jsonrpc": "2.0", "id": req["id"], "result": answer}
                    assert http.post(f"{b.url}/{e}/mcp", json=reply, headers=mcp_headers(sid)).status_code == 202
                    _, result = stream.next_message()
                    assert result["id"] == 2 and expect in result["result"]["content"][0]["text"], result
                finally:
                    stream.close()
    finally:
        a.stop()
        b.stop()


def test_kill_9_of_the_stream_holder_loses_no_event(cluster, tmp_path, store):
    worker, resumer = cluster[0], cluster[1]
    victim = Instance(_binary_path(), tmp_path, "victim", store)
    e = entity()
    try:
        with httpx.Client(timeout=10) as http:
            sid = raw_initialize(http, worker.url, e)
        n = 12
        call = {"jsonrpc": "2.0", "id": 9, "method": "tools/call",
                "params": {"name": "count", "arguments": {"n": n, "delay_ms": 150}, "_meta": {"progressToken": "p"}}}
        seen: list[tuple[str, dict[str, Any]]] = []

        # The handler runs on `worker`; the client reads two events there, then drops the connection.
        post = SseReader("POST", f"{worker.url}/{e}/mcp", mcp_headers(sid), call)
        seen += [post.next_message(), post.next_message()]
        post.close()
        # Resumes on the victim, reads a little more, and the victim is killed mid-stream.
        hdr = dict(mcp_headers(sid), **{"last-event-id": seen[-1][0]})
        hdr["accept"] = "text/event-stream"
        on_victim = SseReader("GET", f"{victim.url}/{e}/mcp", hdr)
        assert on_victim.status == 200
        seen += [on_victim.next_message(), on_victim.next_message()]
        victim.kill9()
        on_victim.close()
        # Resumes on a third instance from the last event it saw, through to the result.
        hdr["last-event-id"] = seen[-1][0]
        read_until_result(SseReader("GET", f"{resumer.url}/{e}/mcp", hdr), 9, seen)
        assert_counted_once(seen, n)
        logs = [m["params"]["data"] for _, m in seen if m.get("method") == "notifications/message"]
        assert logs == [f"step {i} of {n}" for i in range(1, n + 1)], logs
    finally:
        victim.stop()


def _redis(port: int, workdir: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir),
         "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
        stdout=(workdir / "redis.log").open("ab"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).stdout.strip() == b"PONG":
            return proc
        time.sleep(0.05)
    raise RuntimeError("redis did not start")


def _serve(url: str, tmp: Path) -> tuple[subprocess.Popen, str, Path]:
    env = dict(os.environ, FASTMCP_MT_LOG_LEVEL="error")
    port = _free_port()
    log = tmp / f"srv-{port}.log"
    proc = subprocess.Popen([str(_binary_path()), "--bind", f"127.0.0.1:{port}", "--store", url],
                            stdout=log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                return proc, base, log
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError(f"server not ready: {_tail(log)}")


def _outage_and_recovery(base: str, log: Path, proc: subprocess.Popen, stop, start) -> None:
    """State acknowledged before the store goes down survives; requests fail fast with 503
    while it is down; the same process serves again once it is back."""
    e = entity()
    with httpx.Client(timeout=15) as http:
        sid = raw_initialize(http, base, e)
        r = raw_call(http, base, e, "tools/call", {"name": "remember", "arguments": {"key": "k", "value": "kept"}}, session_id=sid)
        assert text_of(jsonrpc_reply(r, 2)) == "ok"
        stop()
        started = time.monotonic()
        r = raw_call(http, base, e, "tools/call", {"name": "recall", "arguments": {"key": "k"}}, session_id=sid, request_id=3)
        took = time.monotonic() - started
        assert r.status_code == 503, (r.status_code, r.text)
        assert r.json()["error"]["message"], r.text
        assert took < 10, f"failing took {took:.1f}s"
        assert httpx.get(f"{base}/ready", timeout=10).status_code == 503
        start()
        deadline = time.monotonic() + 30
        while True:
            r = raw_call(http, base, e, "tools/call", {"name": "recall", "arguments": {"key": "k"}}, session_id=sid, request_id=4)
            if r.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert r.status_code == 200, (r.status_code, r.text, _tail(log))
        assert text_of(jsonrpc_reply(r, 4)) == "kept"
        assert proc.poll() is None, "the server was not restarted"


PG_BIN = Path("/usr/lib/postgresql/15/bin")


@pytest.mark.skipif("postgres" not in BACKENDS, reason="no PostgreSQL configured")
def test_postgres_restart_fails_fast_then_recovers_without_losing_acknowledged_state(tmp_path):
    # A throwaway cluster of its own, so stopping it disturbs no other test.
    # Not under pytest's tmp_path, nor $TMPDIR (the test command points it into the clone): the
    # postgres user cannot traverse root's private folders. Removed at the end.
    data = Path(tempfile.mkdtemp(prefix="fastmcp-pg-", dir="/tmp"))
    shutil.chown(data, "postgres")
    port = _free_port()
    as_pg = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_pg, str(PG_BIN / "initdb"), "-D", str(data / "d"), "-A", "trust", "-U", "postgres"],
                   check=True, capture_output=True, cwd="/")
    opts = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
    ctl = [*as_pg, str(PG_BIN / "pg_ctl"), "-D", str(data / "d"), "-l", str(data / "log"), "-w"]
    start = lambda: subprocess.run([*ctl, "-o", opts, "start"], check=True, capture_output=True, cwd="/")  # noqa: E731
    stop = lambda: subprocess.run([*ctl, "-m", "fast", "stop"], check=True, capture_output=True, cwd="/")  # noqa: E731
    start()
    proc, base, log = _serve(f"postgres://postgres@127.0.0.1:{port}/postgres", tmp_path)
    try:
        _outage_and_recovery(base, log, proc, stop, start)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        subprocess.run([*ctl, "-m", "immediate", "stop"], capture_output=True, cwd="/")
        shutil.rmtree(data, ignore_errors=True)


@pytest.mark.skipif("redis" not in BACKENDS, reason="no Redis configured")
def test_redis_restart_fails_fast_then_recovers_without_losing_acknowledged_state(tmp_path):
    port = _free_port()
    redis = [_redis(port, tmp_path)]

    def stop():
        redis[0].send_signal(signal.SIGTERM)  # a clean stop: the AOF has everything acknowledged
        redis[0].wait(timeout=10)

    def start():
        redis[0] = _redis(port, tmp_path)

    proc, base, log = _serve(f"redis://127.0.0.1:{port}", tmp_path)
    try:
        _outage_and_recovery(base, log, proc, stop, start)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        redis[0].terminate()
        redis[0].wait(timeout=10)


@pytest.mark.skipif("postgres" not in BACKENDS, reason="no PostgreSQL configured")
def test_postgres_keeps_log_rows_queryable_by_session_and_entity(tmp_path):
    proc, base, log = _serve(DATABASE_URL, tmp_path)
    e = entity()
    try:
        with httpx.Client(timeout=15) as http:
            sid = raw_initialize(http, base, e)
            r = raw_call(http, base, e, "tools/call", {"name": "count", "arguments": {"n": 3, "delay_ms": 0}}, session_id=sid)
            assert jsonrpc_reply(r, 2)["result"]["content"][0]["text"] == "counted to 3"

        def sql(query: str) -> str:
            out = subprocess.run(["psql", DATABASE_URL, "-At", "-c", query], capture_output=True, text=True, check=True)
            return out.stdout.strip()

        by_session = sql(f"SELECT string_agg(message, '|' ORDER BY id) FROM logs WHERE entity_id = '{e}' "
                         f"AND session_id = '{sid}' AND kind = 'log'")
        assert by_session == "step 1 of 3|step 2 of 3|step 3 of 3", by_session
        assert sql(f"SELECT count(*) FROM logs WHERE entity_id = '{e}' AND kind = 'progress'") == "3"
        assert sql(f"SELECT count(*) FROM sessions WHERE entity_id = '{e}' AND id = '{sid}'") == "1"
        assert sql("SELECT count(*) FROM tools WHERE scope = 'code:fastmcp-mt-demo' AND name = 'count'") == "1"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_modern_elicitation_retry_completes_on_another_instance(cluster):
    """2026-07-28: round 1 on A ends with input_required; the retry with the answer and the signed
    requestState lands on B (keys shared through the store) and on C for a tampered copy."""
    a, b, c = cluster
    e = entity()
    with httpx.Client(timeout=10) as http:
        first = jsonrpc_reply(modern_call(http, a.url, e, "tools/call", {"name": "greet", "arguments": {}}), 1)["result"]
        assert first["resultType"] == "input_required", first
        retry = {
            "name": "greet",
            "arguments": {},
            "inputResponses": {"name": {"action": "accept", "content": {"name": "Grace"}}},
            "requestState": first["requestState"],
        }
        done = jsonrpc_reply(modern_call(http, b.url, e, "tools/call", retry, request_id=2), 2)
        assert done["result"]["content"][0]["text"] == "Hello, Grace!", done
        tampered = dict(retry, requestState=first["requestState"] + "-TAMPERED")
        refused = jsonrpc_reply(modern_call(http, c.url, e, "tools/call", tampered, request_id=3), 3)
        assert refused["error"]["code"] == -32602, refused


def test_modern_listen_on_one_instance_hears_a_change_made_on_another(cluster):
    a, b, _ = cluster
    e = entity()
    body = {"jsonrpc": "2.0", "id": 77, "method": "subscriptions/listen", "params": {
        "notifications": {"toolsListChanged": True},
        "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}}}
    headers = {"accept": "text/event-stream, application/json", "content-type": "application/json",
               "mcp-protocol-version": "2026-07-28", "mcp-method": "subscriptions/listen"}
    stream = SseReader("POST", f"{b.url}/{e}/mcp", headers, body)
    try:
        _, ack = stream.next_message()
        assert ack["method"] == "notifications/subscriptions/acknowledged", ack
        assert ack["params"]["notifications"] == {"toolsListChanged": True}
        with httpx.Client(timeout=10) as http:
            r = modern_call(http, a.url, e, "tools/call", {"name": "announce_change", "arguments": {}})
            assert jsonrpc_reply(r, 1)["result"]["content"][0]["text"] == "listeners notified"
        _, change = stream.next_message()
        assert change["method"] == "notifications/tools/list_changed", change
        assert change["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == 77
    finally:
        stream.close()


@pytest.mark.anyio
async def test_sdk_modern_client_round_robin_across_instances(cluster):
    """The official SDK's modern path with every POST sent to the next instance in turn: the
    elicitation's retry lands on another instance than its first round, and still completes."""
    import httpx2
    import mcp_types as types
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    a, b, c = cluster
    e = entity()
    ports = [a.port, b.port, c.port]
    served: list[tuple[str, int]] = []

    async def round_robin(request: httpx2.Request) -> None:
        port = ports[len(served) % len(ports)]
        body = json.loads(request.content) if request.content else {}
        served.append((body.get("method", ""), port))
        request.url = request.url.copy_with(port=port)

    async def answer(_ctx, params: types.ElicitRequestParams):
        return types.ElicitResult(action="accept", content={"name": "Ada"})

    async with httpx2.AsyncClient(event_hooks={"request": [round_robin]}, timeout=30.0) as http:
        transport = streamable_http_client(f"{a.url}/{e}/mcp", http_client=http)
        async with Client(transport, elicitation_callback=answer) as client:
            assert client.protocol_version == "2026-07-28"
            result = await client.call_tool("greet", {})
            assert result.content[0].text == "Hello, Ada!"
    calls = [port for method, port in served if method == "tools/call"]
    assert len(calls) == 2 and calls[0] != calls[1], served


def test_entity_limits_hold_across_instances(tmp_path, store):
    """One entity's rate and concurrent-call limits are shared by two instances on one store, and
    an entity's own limits, set through one instance's admin API, are applied by the other."""
    args = ["--rate-limit-rps", "6", "--max-concurrent-calls", "1", "--admin-token", "scale-admin"]
    nodes = [Instance(_binary_path(), tmp_path, n, store, args) for n in ("la", "lb")]
    try:
        a, b = nodes
        e = entity()
        with httpx.Client(timeout=10) as http:
            # Concurrency: a slow call holds the only slot; a call on the other instance is refused.
            sid = raw_initialize(http, a.url, e)
            slow = {"name": "count", "arguments": {"n": 4, "delay_ms": 250}}
            result: dict[str, Any] = {}
            t = threading.Thread(target=lambda: result.update(r=raw_call(http, a.url, e, "tools/call", slow, session_id=sid)))
            t.start()
            time.sleep(0.4)
            r = raw_call(http, b.url, e, "tools/call", {"name": "echo", "arguments": {"text": "x"}}, session_id=sid, request_id=3)
            assert r.status_code == 429, r.text
            assert r.json()["error"]["code"] == -32029 and r.headers["retry-after"]
            t.join(10)
            assert result["r"].status_code == 200
            time.sleep(0.3)  # the slot is released in the background
            r = raw_call(http, b.url, e, "tools/call", {"name": "echo", "arguments": {"text": "x"}}, session_id=sid, request_id=4)
            assert r.status_code == 200, r.text
            # Rate: a burst spread over both instances gets at most two windows' worth through.
            time.sleep(1.0)
            other = entity()
            codes = [raw_call(http, (a, b)[i % 2].url, other, "tools/list", None, session_id="x", request_id=i).status_code
                     for i in range(20)]
            passed = sum(c != 429 for c in codes)
            assert 6 <= passed <= 12, codes
            assert 429 in codes[0::2] or 429 in codes[1::2], codes
            # An override stored through A: 2 rps for one entity, no rate limit for another.
            strict, free = entity(), entity()
            for ent, rps in ((strict, 2), (free, 0)):
                put = http.put(f"{a.url}/admin/entities/{ent}/config", headers={"authorization": "Bearer scale-admin"},
                               json={"limits": {"requests_per_second": rps}})
                assert put.status_code == 200, put.text
            for ent, lo, hi in ((strict, 2, 4), (free, 20, 20)):
                codes = [raw_call(http, (a, b)[i % 2].url, ent, "tools/list", None, session_id="x", request_id=i).status_code
                         for i in range(20)]
                assert lo <= sum(c != 429 for c in codes) <= hi, (ent, codes)
    finally:
        for n in nodes:
            n.stop()


def test_a_session_is_unusable_by_another_principal_on_any_instance(tmp_path, store):
    """Keys of two principals of one entity, three instances: B's requests with A's session id
    get 404 on every endpoint and instance, in random order; A's session is untouched."""
    import random

    args = ["--auth", "api-key", "--api-key-cache-secs", "0", "--admin-token", "scale-admin"]
    nodes = [Instance(_binary_path(), tmp_path, n, store, args) for n in ("pa", "pb", "pc")]
    try:
        e = entity()
        admin = {"authorization": "Bearer scale-admin"}
        with httpx.Client(timeout=10) as http:
            keys = [http.post(f"{nodes[i].url}/admin/api-keys", headers=admin,
                              json={"entity_id": e, "name": n}).json()["key"] for i, n in ((0, "a"), (1, "b"))]
            auth = [{"authorization": f"Bearer {k}"} for k in keys]
            r = http.post(f"{nodes[0].url}/{e}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "a", "version": "1"}}},
                headers={**mcp_headers(None), **auth[0]})
            sid = r.headers["mcp-session-id"]
            r = raw_call(http, nodes[1].url, e, "tools/call", {"name": "remember", "arguments": {"key": "k", "value": "a"}},
                         session_id=sid, headers=auth[0])
            assert r.status_code == 200, r.text
            rng = random.Random(7)
            for i in range(30):
                node = rng.choice(nodes)
                kind = rng.randrange(4)
                if kind == 0:
                    r = raw_call(http, node.url, e, "tools/call", {"name": "remember", "arguments": {"key": "k", "value": "b"}},
                                 session_id=sid, request_id=10 + i, headers=auth[1])
                elif kind == 1:
                    r = raw_call(http, node.url, e, "tools/call", {"name": "recall", "arguments": {"key": "k"}},
                                 session_id=sid, request_id=10 + i, headers=auth[1])
                elif kind == 2:
                    r = http.delete(f"{node.url}/{e}/mcp", headers={**mcp_headers(sid), **auth[1]})
                else:
                    r = http.post(f"{node.url}/{e}/messages?session_id={sid}", headers=auth[1],
                                  json={"jsonrpc": "2.0", "id": 99, "method": "ping"})
                assert r.status_code == 404, (i, node.url, kind, r.status_code, r.text[:200])
            for node in nodes:
                r = raw_call(http, node.url, e, "tools/call", {"name": "recall", "arguments": {"key": "k"}},
                             session_id=sid, request_id=99, headers=auth[0])
                assert text_of(jsonrpc_reply(r, 99)) == "a"
    finally:
        for n in nodes:
            n.stop()
