"""Hostile clients against the real binary (issue 16): each test pins one way a client once
could take the server down or starve a tenant, and the answer it gets now."""

from __future__ import annotations

import time

import httpx

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
