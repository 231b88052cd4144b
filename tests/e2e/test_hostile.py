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
