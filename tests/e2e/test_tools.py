"""Demo tools over both transports, driven by the official MCP Python SDK."""

from __future__ import annotations

import json

import anyio

import mcp_types as types
import pytest
from mcp import MCPError

from e2e_helpers import INVALID_PARAMS, connect, log_text, mentions_field, new_entity, only_text, wait_until

pytestmark = pytest.mark.anyio

DEMO_TOOLS = {"echo", "add", "whoami", "count", "fail", "remember", "recall"}


async def test_list_tools(base_url, entity, transport):
    async with connect(base_url, entity, transport) as c:
        listed = await c.session.list_tools()
        by_name = {t.name: t for t in listed.tools}
        assert DEMO_TOOLS <= set(by_name), f"missing tools: {DEMO_TOOLS - set(by_name)}"
        for tool in by_name.values():
            assert tool.input_schema.get("type") == "object", (tool.name, tool.input_schema)
        assert set(by_name["echo"].input_schema.get("required", [])) == {"text"}
        assert set(by_name["add"].input_schema.get("required", [])) >= {"a", "b"}
        assert by_name["add"].output_schema is not None, "add must declare an outputSchema"
        assert "sum" in by_name["add"].output_schema.get("properties", {}), by_name["add"].output_schema
        count_props = by_name["count"].input_schema.get("properties", {})
        assert {"n", "delay_ms"} <= set(count_props), count_props
        assert "n" in by_name["count"].input_schema.get("required", [])


async def test_initialize_result(base_url, entity, transport):
    async with connect(base_url, entity, transport, initialize=False) as c:
        init = await c.session.initialize()
        assert init.protocol_version == "2025-11-25"
        assert init.server_info.name
        caps = init.capabilities
        assert caps.tools is not None
        assert caps.resources is not None
        assert caps.prompts is not None
        assert caps.logging is not None
        assert caps.completions is not None


@pytest.mark.parametrize("text", ["hello", "", "ünïcödé ✓ \n\t \"quoted\""])
async def test_echo(base_url, entity, transport, text):
    async with connect(base_url, entity, transport) as c:
        result = await c.session.call_tool("echo", {"text": text})
        assert not result.is_error
        assert only_text(result) == text


@pytest.mark.parametrize(
    ("a", "b", "text", "total"),
    [(2, 3, "5", 5), (1.5, 1, "2.5", 2.5), (-1, 0.25, "-0.75", -0.75), (0, 0, "0", 0)],
)
async def test_add(base_url, entity, transport, a, b, text, total):
    async with connect(base_url, entity, transport) as c:
        result = await c.session.call_tool("add", {"a": a, "b": b})
        assert not result.is_error
        assert only_text(result) == text
        assert result.structured_content == {"sum": total}


async def test_whoami(base_url, entity, transport):
    async with connect(base_url, entity, transport) as c:
        result = await c.session.call_tool("whoami", {})
        assert not result.is_error
        sc = result.structured_content
        assert sc is not None
        assert sc["entity_id"] == entity
        assert isinstance(sc["session_id"], str) and sc["session_id"]
        assert c.session_id is not None, "transport never saw a session id"
        assert sc["session_id"] == c.session_id
        assert json.loads(only_text(result)) == sc


async def test_whoami_differs_per_session(base_url, entity, transport):
    async with connect(base_url, entity, transport) as c1, connect(base_url, entity, transport) as c2:
        r1 = (await c1.session.call_tool("whoami", {})).structured_content
        r2 = (await c2.session.call_tool("whoami", {})).structured_content
        assert r1["entity_id"] == r2["entity_id"] == entity
        assert r1["session_id"] != r2["session_id"]


async def test_count_progress_and_logging(base_url, entity, transport):
    progress: list[tuple[float, float | None]] = []

    async def on_progress(p: float, total: float | None, message: str | None) -> None:
        progress.append((p, total))

    async with connect(base_url, entity, transport) as c:
        result = await c.session.call_tool("count", {"n": 4, "delay_ms": 0}, progress_callback=on_progress)
        assert not result.is_error
        assert only_text(result) == "counted to 4"
        await wait_until(lambda: len(progress) >= 4 and len(c.logs) >= 4)
        assert progress == [(1, 4), (2, 4), (3, 4), (4, 4)]
        assert [log_text(m) for m in c.logs] == [f"step {i} of 4" for i in range(1, 5)]
        assert all(m.level == "info" for m in c.logs), [m.level for m in c.logs]


async def test_count_default_delay_and_no_progress_token(base_url, entity, transport):
    # No progress callback => no progressToken; the call must still succeed (default delay_ms=10).
    async with connect(base_url, entity, transport) as c:
        result = await c.session.call_tool("count", {"n": 3})
        assert not result.is_error
        assert only_text(result) == "counted to 3"
        await wait_until(lambda: len(c.logs) >= 3)
        assert [log_text(m) for m in c.logs] == ["step 1 of 3", "step 2 of 3", "step 3 of 3"]


@pytest.mark.parametrize("args", [{"n": 0}, {"n": 101}, {"n": 3, "delay_ms": 1001}, {"n": 3, "delay_ms": -1}])
async def test_count_out_of_range(base_url, entity, transport, args):
    async with connect(base_url, entity, transport) as c:
        with pytest.raises(MCPError) as exc:
            await c.session.call_tool("count", args)
        assert exc.value.code == INVALID_PARAMS, exc.value.error
        field = "delay_ms" if "delay_ms" in args else "n"
        assert mentions_field(exc.value.message, field), exc.value.message


async def test_fail(base_url, entity, transport):
    async with connect(base_url, entity, transport) as c:
        result = await c.session.call_tool("fail", {"message": "boom: it broke"})
        assert result.is_error is True
        assert only_text(result) == "boom: it broke"


async def test_remember_recall(base_url, entity, transport):
    async with connect(base_url, entity, transport) as c:
        r = await c.session.call_tool("remember", {"key": "color", "value": "teal"})
        assert not r.is_error
        assert only_text(r) == "ok"
        r = await c.session.call_tool("recall", {"key": "color"})
        assert not r.is_error
        assert only_text(r) == "teal"
        # Overwrite.
        await c.session.call_tool("remember", {"key": "color", "value": "plum"})
        assert only_text(await c.session.call_tool("recall", {"key": "color"})) == "plum"
        missing = await c.session.call_tool("recall", {"key": "shape"})
        assert missing.is_error is True
        assert only_text(missing) == "no value for shape"


async def test_state_is_per_session(base_url, entity, transport):
    async with connect(base_url, entity, transport) as c1, connect(base_url, entity, transport) as c2:
        await c1.session.call_tool("remember", {"key": "k", "value": "from-c1"})
        other = await c2.session.call_tool("recall", {"key": "k"})
        assert other.is_error is True, "session state leaked to another session of the same entity"
        assert only_text(other) == "no value for k"
        assert only_text(await c1.session.call_tool("recall", {"key": "k"})) == "from-c1"


async def test_state_is_per_entity(base_url, transport):
    e1, e2 = new_entity(), new_entity()
    async with connect(base_url, e1, transport) as c1, connect(base_url, e2, transport) as c2:
        await c1.session.call_tool("remember", {"key": "k", "value": "v1"})
        r = await c2.session.call_tool("recall", {"key": "k"})
        assert r.is_error is True
        assert only_text(r) == "no value for k"


@pytest.mark.parametrize(
    ("tool", "args", "field"),
    [
        ("echo", {"text": 5}, "text"),
        ("echo", {}, "text"),
        ("add", {"a": "x", "b": 1}, "a"),
        ("add", {"a": 1}, "b"),
        ("count", {"n": "three"}, "n"),
        ("remember", {"key": "k"}, "value"),
    ],
)
async def test_invalid_arguments(base_url, entity, transport, tool, args, field):
    async with connect(base_url, entity, transport) as c:
        with pytest.raises(MCPError) as exc:
            await c.session.call_tool(tool, args)
        assert exc.value.code == INVALID_PARAMS, exc.value.error
        assert mentions_field(exc.value.message, field), f"error message does not name {field!r}: {exc.value.message!r}"


async def test_unknown_tool(base_url, entity, transport):
    async with connect(base_url, entity, transport) as c:
        with pytest.raises(MCPError) as exc:
            await c.session.call_tool("no_such_tool", {})
        assert exc.value.code == INVALID_PARAMS, exc.value.error
        assert "no_such_tool" in exc.value.message, exc.value.message
        # The session survives the error.
        assert only_text(await c.session.call_tool("echo", {"text": "still alive"})) == "still alive"


async def test_ping(base_url, entity, transport):
    async with connect(base_url, entity, transport) as c:
        result = await c.session.send_ping()
        assert isinstance(result, types.EmptyResult)


async def test_cancelled_count_stops(base_url, entity, transport):
    """Cancelling an in-flight call (SDK sends notifications/cancelled) stops the server-side work."""
    progress: list[float] = []

    async def on_progress(p: float, total: float | None, message: str | None) -> None:
        progress.append(p)

    async with connect(base_url, entity, transport) as c:
        with anyio.move_on_after(0.5):
            await c.session.call_tool("count", {"n": 100, "delay_ms": 50}, progress_callback=on_progress)
        assert 0 < len(progress) < 100, progress
        seen_logs = len(c.logs)
        await anyio.sleep(0.6)
        # At most one step already in flight may still land; a running loop would add ~12 more.
        assert len(c.logs) <= seen_logs + 1, f"count kept running after cancellation: {len(c.logs) - seen_logs} more logs"
        # The session is still usable.
        assert only_text(await c.session.call_tool("echo", {"text": "after-cancel"})) == "after-cancel"


def _method_of(message) -> str | None:
    """The method of a server notification as the SDK hands it to a message handler."""
    for m in (message, getattr(message, "root", None)):
        method = getattr(m, "method", None)
        if isinstance(method, str):
            return method
    return None


async def test_list_changes_reach_handshake_sessions_on_both_transports(base_url):
    """`ctx.notify_tools_changed()` (the demo's `announce_change`) reaches every handshake-era
    session of the entity, over Streamable HTTP (GET stream) and legacy SSE alike, and no session
    of another entity."""
    entity, other = new_entity(), new_entity()
    seen: dict[str, list[str]] = {"streamable": [], "sse": [], "other": []}

    def recorder(key: str):
        async def handle(message) -> None:
            method = _method_of(message)
            if method:
                seen[key].append(method)
        return handle

    async with connect(base_url, entity, "streamable", message_handler=recorder("streamable")), \
            connect(base_url, entity, "sse", message_handler=recorder("sse")), \
            connect(base_url, other, "streamable", message_handler=recorder("other")), \
            connect(base_url, entity, "streamable") as trigger:
        await anyio.sleep(0.3)  # the SDK opens its GET stream after initialize
        result = await trigger.session.call_tool("announce_change", {})
        assert only_text(result) == "listeners notified"
        want = "notifications/tools/list_changed"
        assert await wait_until(lambda: want in seen["streamable"] and want in seen["sse"], 5.0), seen
        await anyio.sleep(0.3)
        assert want not in seen["other"], seen
