"""Dual-era behaviour: a 2026-07-28-capable SDK client against our handshake-era server.

See FINDINGS.md. `mcp.Client(url)` defaults to ``mode="auto"``: it first POSTs
``server/discover`` with ``MCP-Protocol-Version: 2026-07-28``; our server answers
HTTP 400 + JSON-RPC -32022 whose ``data.supported`` lists handshake versions, and
the client falls back to ``initialize`` (protocol 2025-11-25).
"""

from __future__ import annotations

import json

import anyio
import httpx2
import pytest
from mcp import Client, ClientSession, MCPError
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from e2e_helpers import HANDSHAKE_VERSIONS, UNSUPPORTED_PROTOCOL_VERSION, new_entity, only_text

pytestmark = pytest.mark.anyio


async def test_newcomer_client_auto_mode_falls_back(base_url):
    """What the SDK README shows: `async with Client(url)` — default mode='auto'."""
    entity = new_entity()
    with anyio.fail_after(20):
        async with Client(f"{base_url}/{entity}/mcp") as client:
            assert client.protocol_version == "2025-11-25"
            assert client.session.initialize_result is not None, "auto mode did not fall back to initialize"
            assert client.session.discover_result is None
            result = await client.call_tool("whoami", {})
            assert result.structured_content["entity_id"] == entity
            assert only_text(await client.call_tool("echo", {"text": "auto"})) == "auto"


async def test_auto_mode_wire_sequence(base_url):
    """The fallback is driven by the -32022 answer (HTTP 400), not by a timeout or a 404."""
    entity = new_entity()
    seen: list[tuple[str, dict | None, int, dict]] = []

    async def on_response(response: httpx2.Response) -> None:
        req = response.request
        body = None
        if req.method == "POST" and req.content:
            body = json.loads(req.content)
        seen.append((req.method, body, response.status_code, dict(req.headers)))

    started = anyio.current_time()
    async with httpx2.AsyncClient(event_hooks={"response": [on_response]}, timeout=30.0) as http:
        with anyio.fail_after(20):
            async with Client(streamable_http_client(f"{base_url}/{entity}/mcp", http_client=http)) as client:
                assert client.protocol_version == "2025-11-25"
                await client.list_tools()
    elapsed = anyio.current_time() - started
    assert elapsed < 5, f"connect took {elapsed:.1f}s — fallback probably came from the 10s discover timeout"

    posts = [(body, status, headers) for method, body, status, headers in seen if method == "POST"]
    assert posts[0][0]["method"] == "server/discover", posts[0]
    assert posts[0][2].get("mcp-protocol-version") == "2026-07-28"
    assert posts[0][1] == 400, f"discover answered with HTTP {posts[0][1]}"
    assert posts[1][0]["method"] == "initialize", posts[1]
    assert posts[1][1] == 200
    assert posts[1][0]["params"]["protocolVersion"] == "2025-11-25"


async def test_session_discover_raises_32022_with_handshake_versions(base_url):
    """Low-level `ClientSession.discover()` has no fallback: it surfaces -32022 to the caller."""
    entity = new_entity()
    async with streamable_http_client(f"{base_url}/{entity}/mcp") as (read, write):
        async with ClientSession(read, write, read_timeout_seconds=10) as session:
            with pytest.raises(MCPError) as exc:
                await session.discover()
            assert exc.value.code == UNSUPPORTED_PROTOCOL_VERSION, exc.value.error
            supported = exc.value.data["supported"]
            assert "2025-11-25" in supported
            assert set(supported) <= set(HANDSHAKE_VERSIONS)
            # The same connection can still do the handshake afterwards.
            init = await session.initialize()
            assert init.protocol_version == "2025-11-25"
            assert only_text(await session.call_tool("echo", {"text": "after"})) == "after"


async def test_legacy_mode_client(base_url):
    entity = new_entity()
    async with Client(f"{base_url}/{entity}/mcp", mode="legacy") as client:
        assert client.protocol_version == "2025-11-25"
        assert (await client.call_tool("add", {"a": 2, "b": 3})).structured_content == {"sum": 5}


async def test_modern_pinned_client_is_rejected(base_url):
    """mode='2026-07-28' skips the probe; every request must then be refused with -32022."""
    entity = new_entity()
    async with Client(f"{base_url}/{entity}/mcp", mode="2026-07-28") as client:
        with pytest.raises(MCPError) as exc:
            await client.list_tools(cache_mode="bypass")
        assert exc.value.code == UNSUPPORTED_PROTOCOL_VERSION, exc.value.error


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
