"""Dual-era behaviour: one URL serves every client generation.

See FINDINGS.md. `mcp.Client(url)` defaults to ``mode="auto"``: it first POSTs
``server/discover`` with ``MCP-Protocol-Version: 2026-07-28``; our server answers it and the
client stays on the sessionless revision. ``mode="legacy"`` (and every handshake-era client)
gets sessions as before; over HTTP+SSE, which has no 2026 form, auto mode falls back.
"""

from __future__ import annotations

import json

import anyio
import httpx2
import pytest
from mcp import Client, ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from e2e_helpers import HANDSHAKE_VERSIONS, new_entity, only_text

pytestmark = pytest.mark.anyio


async def test_newcomer_client_auto_mode_speaks_2026(base_url):
    """What the SDK README shows: `async with Client(url)` (mode='auto') discovers and stays modern."""
    entity = new_entity()
    with anyio.fail_after(20):
        async with Client(f"{base_url}/{entity}/mcp") as client:
            assert client.protocol_version == "2026-07-28"
            assert client.session.discover_result is not None
            assert client.session.initialize_result is None
            result = await client.call_tool("whoami", {})
            assert result.structured_content["entity_id"] == entity
            assert only_text(await client.call_tool("echo", {"text": "auto"})) == "auto"


async def test_auto_mode_wire_sequence(base_url):
    """One discover POST, then sessionless POSTs carrying the routing headers; no session is minted."""
    entity = new_entity()
    seen: list[tuple[str, dict | None, int, dict, dict]] = []

    async def on_response(response: httpx2.Response) -> None:
        req = response.request
        body = None
        if req.method == "POST" and req.content:
            body = json.loads(req.content)
        seen.append((req.method, body, response.status_code, dict(req.headers), dict(response.headers)))

    async with httpx2.AsyncClient(event_hooks={"response": [on_response]}, timeout=30.0) as http:
        with anyio.fail_after(20):
            async with Client(streamable_http_client(f"{base_url}/{entity}/mcp", http_client=http)) as client:
                assert client.protocol_version == "2026-07-28"
                await client.call_tool("echo", {"text": "x"})

    posts = [(body, status, req_h, resp_h) for method, body, status, req_h, resp_h in seen if method == "POST"]
    assert posts[0][0]["method"] == "server/discover" and posts[0][1] == 200, posts[0]
    assert all(b["method"] != "initialize" for b, *_ in posts)
    for body, status, req_h, resp_h in posts:
        assert status == 200, (body, status)
        assert "mcp-session-id" not in resp_h and "mcp-session-id" not in req_h
        assert req_h.get("mcp-method") == body["method"]
    call = next(p for p in posts if p[0]["method"] == "tools/call")
    assert call[2].get("mcp-name") == "echo"


async def test_session_discover_lists_both_eras(base_url):
    """Low-level `ClientSession.discover()`: one server, every revision it speaks."""
    entity = new_entity()
    async with streamable_http_client(f"{base_url}/{entity}/mcp") as (read, write):
        async with ClientSession(read, write, read_timeout_seconds=10) as session:
            result = await session.discover()
            assert set(HANDSHAKE_VERSIONS) | {"2026-07-28"} == set(result.supported_versions)
            assert result.capabilities.tools is not None


async def test_legacy_mode_client(base_url):
    entity = new_entity()
    async with Client(f"{base_url}/{entity}/mcp", mode="legacy") as client:
        assert client.protocol_version == "2025-11-25"
        assert (await client.call_tool("add", {"a": 2, "b": 3})).structured_content == {"sum": 5}


async def test_modern_pinned_client_works_without_a_probe(base_url):
    """mode='2026-07-28' skips discover and goes straight to sessionless requests."""
    entity = new_entity()
    async with Client(f"{base_url}/{entity}/mcp", mode="2026-07-28") as client:
        tools = await client.list_tools(cache_mode="bypass")
        assert "echo" in {t.name for t in tools.tools}


async def test_auto_mode_over_legacy_sse(base_url):
    """`Client(sse_client(url))` in auto mode must also settle on the handshake quickly.

    Over HTTP+SSE the discover probe travels as a plain message; the server has to answer it
    on the stream (error) — a 4xx on the POST kills the SDK's SSE writer, and silence costs
    the 10 s probe timeout.
    """
    entity = new_entity()
    with anyio.fail_after(8):
        async with Client(sse_client(f"{base_url}/{entity}/sse")) as client:
            assert client.protocol_version in HANDSHAKE_VERSIONS
            assert client.session.initialize_result is not None
            result = await client.call_tool("whoami", {})
            assert result.structured_content["entity_id"] == entity
