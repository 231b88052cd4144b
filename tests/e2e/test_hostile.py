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
