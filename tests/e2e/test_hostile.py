"""Hostile clients against the real binary (issue 16): each test pins one way a client once
could take the server down or starve a tenant, and the answer it gets now."""

from __future__ import annotations

import json
import os
import socket
import time

import httpx
import pytest

from conftest import Instance, _binary_path
from e2e_helpers import initialize_body, mcp_headers, new_entity


def _batch_session(http: httpx.Client, base: str, entity: str) -> str:
    """A 2025-03-26 session: the one revision that allows JSON-RPC batches."""
    r = http.post(f"{base}/{entity}/mcp", json=initialize_body(protocol_version="2025-03-26"),
                  headers=mcp_headers(protocol_version=None))
    assert r.status_code == 200, r.text
    return r.headers["mcp-session-id"]


def test_a_huge_batch_is_refused_before_any_work(base_url):
    """10,000 `tools/list` calls in one body once made a 36 MB answer (89,153 made 306 MB and a
    3.6 GiB peak). Now the batch is refused with 400 -32600 naming the cap, at once, and a batch
    within the cap is still served."""
    entity = new_entity("hostile")
    with httpx.Client(timeout=30) as http:
        sid = _batch_session(http, base_url, entity)
        headers = mcp_headers(sid, protocol_version="2025-03-26")
        huge = [{"jsonrpc": "2.0", "id": i, "method": "tools/list"} for i in range(10_000)]
        started = time.monotonic()
        r = http.post(f"{base_url}/{entity}/mcp", json=huge, headers=headers)
        elapsed = time.monotonic() - started
        assert r.status_code == 400, r.text[:300]
        assert len(r.content) < 1000, len(r.content)
        err = r.json()["error"]
        assert err["code"] == -32600 and "at most 32" in err["message"], err
        assert elapsed < 5, elapsed
        ok = [{"jsonrpc": "2.0", "id": i, "method": "tools/list"} for i in range(32)]
        r = http.post(f"{base_url}/{entity}/mcp", json=ok, headers=headers)
        assert r.status_code == 200, r.text[:300]
        assert len(r.json()) == 32


def _raw_post(base: str, path: str, body: bytes, headers: list[tuple[str, str]]) -> tuple[int, bytes]:
    """A POST with the path and headers exactly as given (no normalisation, repeats kept)."""
    import http.client
    from urllib.parse import urlparse

    u = urlparse(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        conn.putrequest("POST", path, skip_accept_encoding=True)
        for k, v in [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                     ("Accept", "application/json, text/event-stream"), *headers]:
            conn.putheader(k, v)
        conn.endheaders(body)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def test_one_spelling_per_tenant(base_url):
    """Dots-only ids and percent-encoded spellings of an id are refused (400), so a proxy rule
    written for `/acme/` cannot be walked around; the plain spelling works."""
    import json

    body = json.dumps(initialize_body()).encode()
    for path in ["/../mcp", "/./mcp", "/.../mcp", "/%2e%2e/mcp", "/%61cme/mcp", "/ac%6De/mcp"]:
        status, text = _raw_post(base_url, path, body, [])
        assert status == 400, (path, status, text[:200])
    status, _ = _raw_post(base_url, "/acme/mcp", body, [])
    assert status == 200


def test_one_spelling_per_session_and_one_value_per_identity_header(base_url):
    """A session id in another case or form names no session (404); two `Mcp-Session-Id` or
    two `Authorization` headers are refused (400); `application/jsonx` is not JSON (415)."""
    import json

    entity = new_entity("hostile")
    with httpx.Client(timeout=10) as http:
        r = http.post(f"{base_url}/{entity}/mcp", json=initialize_body(), headers=mcp_headers(protocol_version=None))
        sid = r.headers["mcp-session-id"]
        ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
        assert http.post(f"{base_url}/{entity}/mcp", json=ping, headers=mcp_headers(sid)).status_code == 200
        for other in [sid.upper(), "{" + sid + "}", sid.replace("-", ""), "urn:uuid:" + sid]:
            r = http.post(f"{base_url}/{entity}/mcp", json=ping, headers=mcp_headers(other))
            assert r.status_code == 404, (other, r.status_code)
    body = json.dumps({"jsonrpc": "2.0", "id": 3, "method": "ping"}).encode()
    for name, value in [("Mcp-Session-Id", sid), ("Authorization", "Bearer x")]:
        status, text = _raw_post(base_url, f"/{entity}/mcp", body,
                                 [("Mcp-Session-Id", sid), ("MCP-Protocol-Version", "2025-11-25"), (name, value)]
                                 + ([("Authorization", "Bearer y")] if name == "Authorization" else []))
        assert status == 400, (name, status, text[:200])
    status, _ = _raw_post(base_url, f"/{entity}/mcp", body, [("Mcp-Session-Id", sid)])
    assert status == 200
    r = httpx.post(f"{base_url}/{entity}/mcp", content=body,
                   headers={**mcp_headers(sid), "content-type": "application/jsonx"}, timeout=10)
    assert r.status_code == 415, r.status_code


@pytest.fixture(scope="module")
def strict(tmp_path_factory):
    """An instance of its own (its descriptors are counted) with short connection deadlines."""
    inst = Instance(_binary_path(), tmp_path_factory.mktemp("hostile"), "hostile", None,
                    ["--header-timeout-secs", "1", "--body-timeout-secs", "1", "--idle-timeout-secs", "3",
                     "--sse-keep-alive-secs", "15"])
    yield inst
    inst.stop()


def _open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _raw(port: int, head: bytes) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(head)
    return s


def _closed_within(s: socket.socket, seconds: float) -> tuple[float, bytes]:
    """Reads until the server closes; how long that took and what it sent."""
    s.settimeout(seconds)
    started, got = time.monotonic(), b""
    try:
        while chunk := s.recv(65536):
            got += chunk
    except OSError:
        pass
    return time.monotonic() - started, got


def _head(port: int, method: str, path: str, headers: list[str], body: bytes = b"",
          length: int | None = None) -> bytes:
    length = len(body) if length is None else length
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", *headers, f"Content-Length: {length}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_a_closed_stream_lets_go_of_its_socket_at_once(strict):
    """Clients that close SSE streams (GET /mcp and legacy /sse) with a FIN once held their
    descriptors until the second keep-alive write, about 30 s; now within 2 s."""
    port, pid = strict.port, strict.proc.pid
    base = _open_fds(pid)
    streams = []
    for i in range(20):
        init = json.dumps(initialize_body()).encode()
        s = _raw(port, _head(port, "POST", "/acme/mcp",
                             ["Content-Type: application/json", "Accept: application/json, text/event-stream"], init))
        reply = s.recv(65536).decode()
        s.close()
        sid = next(l.split(":", 1)[1].strip() for l in reply.split("\r\n") if l.lower().startswith("mcp-session-id"))
        get = _raw(port, _head(port, "GET", "/acme/mcp", ["Accept: text/event-stream", f"Mcp-Session-Id: {sid}",
                                                          "MCP-Protocol-Version: 2025-11-25"]))
        legacy = _raw(port, _head(port, "GET", "/acme/sse", ["Accept: text/event-stream"]))
        for s in (get, legacy):
            assert s.recv(4096).startswith(b"HTTP/1.1 200"), i
            streams.append(s)
    time.sleep(0.3)
    assert _open_fds(pid) >= base + 38  # 40 streams, give or take a pooled connection
    for s in streams:
        s.close()
    deadline = time.monotonic() + 2
    while _open_fds(pid) > base + 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _open_fds(pid) <= base + 2, (base, _open_fds(pid))
    assert httpx.get(f"{strict.url}/health", timeout=2).status_code == 200


def test_slow_and_oversized_requests_are_cut_off(strict):
    """Slow heads and bodies, idle connections, a huge Content-Length announced but never sent,
    and a 200 KB header: each once held a connection for as long as the client liked."""
    port = strict.port
    # 100 slow-header connections: closed at the 1 s header timeout.
    slow = [_raw(port, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n") for _ in range(100)]
    started = time.monotonic()
    for s in slow:
        took, got = _closed_within(s, 5)
        assert got == b"", got[:100]
    assert time.monotonic() - started < 3
    # A body that never finishes: 408 at the 1 s body timeout.
    mcp = ["Content-Type: application/json", "Accept: application/json, text/event-stream"]
    s = _raw(port, _head(port, "POST", "/acme/mcp", mcp, b"{", length=100))
    took, got = _closed_within(s, 5)
    assert got.startswith(b"HTTP/1.1 408"), got[:200]
    assert 0.9 < took < 3, took
    # A Content-Length over the body limit, no body sent: 413 at once.
    s = _raw(port, _head(port, "POST", "/acme/mcp", mcp, length=999_999_999))
    took, got = _closed_within(s, 5)
    assert got.startswith(b"HTTP/1.1 413"), got[:200]
    assert took < 0.5, took
    # A 200 KB header: 431.
    s = _raw(port, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n")
    took, got = _closed_within(s, 5)
    assert got.startswith(b"HTTP/1.1 431"), got[:200]
    # Idle after a request: closed at the 3 s idle timeout, not at the 1 s header timeout.
    s = _raw(port, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    took, got = _closed_within(s, 10)
    assert got.startswith(b"HTTP/1.1 200"), got[:200]
    assert 2.5 < took < 5, took


def _sse(port: int, entity: str) -> tuple[socket.socket, bytes]:
    """A legacy SSE stream: the socket and the start of the answer."""
    s = _raw(port, _head(port, "GET", f"/{entity}/sse", ["Accept: text/event-stream"]))
    return s, s.recv(4096)


def test_streams_are_capped_per_entity_and_per_instance(tmp_path):
    """Streams once had no cap: one tenant could hold every descriptor. Now an entity gets 429
    past its share, the instance 503 (Retry-After) past its own, and the others still stream."""
    from conftest import ADMIN_TOKEN

    inst = Instance(_binary_path(), tmp_path, "streams", None,
                    ["--max-streams", "6", "--max-streams-per-entity", "3"], env={"FASTMCP_MT_ADMIN_TOKEN": ADMIN_TOKEN})
    try:
        held = []
        for _ in range(3):
            s, head = _sse(inst.port, "acme")
            assert head.startswith(b"HTTP/1.1 200"), head[:200]
            held.append(s)
        s, head = _sse(inst.port, "acme")
        assert head.startswith(b"HTTP/1.1 429"), head[:200]
        assert b"--max-streams-per-entity" in head
        for _ in range(3):
            s, head = _sse(inst.port, "globex")
            assert head.startswith(b"HTTP/1.1 200"), head[:200]
            held.append(s)
        s, head = _sse(inst.port, "initech")
        assert head.startswith(b"HTTP/1.1 503"), head[:200]
        assert b"retry-after: 1" in head.lower()
        assert httpx.get(f"{inst.url}/health", timeout=2).status_code == 200
        held.pop(0).close()  # one of acme's: a place frees up at once
        deadline = time.monotonic() + 2
        while True:
            s, head = _sse(inst.port, "initech")
            if head.startswith(b"HTTP/1.1 200") or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert head.startswith(b"HTTP/1.1 200"), head[:200]
        held.append(s)
        metrics = httpx.get(f"{inst.url}/metrics", timeout=2, headers={"authorization": f"Bearer {ADMIN_TOKEN}"}).text
        assert 'fastmcp_rate_limited_total{entity="acme",kind="streams"} 1' in metrics, metrics
        assert 'kind="streams_instance"} ' in metrics
        for s in held:
            s.close()
    finally:
        inst.stop()


def test_health_answers_at_the_descriptor_limit(tmp_path):
    """With `ulimit -n 128` a few hundred streams once took every descriptor and `/health`
    timed out. The caps now fit the limit: streams beyond it get 503 and `/health` answers."""
    inst = Instance(_binary_path(), tmp_path, "nofile", None, nofile=128)
    try:
        held, refused = [], 0
        for _ in range(150):
            s, head = _sse(inst.port, new_entity("fd"))
            if head.startswith(b"HTTP/1.1 200"):
                held.append(s)
            else:
                assert head.startswith(b"HTTP/1.1 503"), head[:200]
                refused += 1
                s.close()
        assert held and refused, (len(held), refused)
        for _ in range(5):
            assert httpx.get(f"{inst.url}/health", timeout=2).status_code == 200
        for s in held:
            s.close()
    finally:
        inst.stop()


def test_what_a_client_makes_us_keep_is_capped(base_url):
    """A 1 MB clientInfo, 3.5 MB state values and 3.5 MB failure messages were all kept whole:
    +275 MiB for 16 `remember` calls, and echo on that session went from 0.4 to 15 ms. Now the
    first two are refused with -32602 naming the cap, and failures are kept cut down."""
    from conftest import ADMIN_TOKEN
    from e2e_helpers import jsonrpc_reply, raw_call, raw_initialize

    entity = new_entity("hostile")
    with httpx.Client(timeout=30) as http:
        body = initialize_body()
        body["params"]["clientInfo"] = {"name": "x", "version": "1", "blob": "x" * 1_000_000}
        r = http.post(f"{base_url}/{entity}/mcp", json=body, headers=mcp_headers(protocol_version=None))
        err = jsonrpc_reply(r, 1)["error"]
        assert err["code"] == -32602 and "16384 bytes" in err["message"], err
        assert "mcp-session-id" not in r.headers

        sid = raw_initialize(http, base_url, entity)
        big = "v" * 3_500_000
        r = raw_call(http, base_url, entity, "tools/call", {"name": "remember", "arguments": {"key": "k", "value": big}},
                     session_id=sid)
        reply = jsonrpc_reply(r, 2)
        assert reply.get("error", {}).get("code") == -32602, str(reply)[:300]
        assert "65536 bytes" in reply["error"]["message"], reply["error"]
        # Values within the per-value cap add up to the per-session cap, and no further.
        value = "w" * 60_000
        refused_at = None
        for i in range(8):
            r = raw_call(http, base_url, entity, "tools/call",
                         {"name": "remember", "arguments": {"key": f"k{i}", "value": value}}, session_id=sid)
            reply = jsonrpc_reply(r, 2)
            if "error" in reply:
                assert reply["error"]["code"] == -32602 and "262144 bytes" in reply["error"]["message"], reply
                refused_at = i
                break
        assert refused_at == 4, refused_at
        r = raw_call(http, base_url, entity, "tools/call", {"name": "recall", "arguments": {"key": "k3"}}, session_id=sid)
        assert jsonrpc_reply(r, 2)["result"]["content"][0]["text"] == value

        for _ in range(5):
            r = raw_call(http, base_url, entity, "tools/call", {"name": "fail", "arguments": {"message": big}},
                         session_id=sid)
            assert jsonrpc_reply(r, 2)["result"]["isError"] is True
        logs = http.get(f"{base_url}/admin/entities/{entity}/logs", headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
        assert logs.status_code == 200, logs.text[:300]
        assert len(logs.content) < 200_000, len(logs.content)
        records = logs.json()
        records = records.get("records", records) if isinstance(records, dict) else records
        assert any("cut" in json.dumps(rec) for rec in records), str(records)[:500]
