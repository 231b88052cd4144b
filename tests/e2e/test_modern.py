"""MCP 2026-07-28 against the demo server: the official Python SDK's modern path
(`Client(url)` in auto mode discovers, then speaks sessionless requests), plus raw HTTP for the
edges the SDK never sends (tampered state, wrong headers, foreign tenants).
"""

from __future__ import annotations

import base64
import json
import time

import anyio
import httpx
import mcp_types as types
import pytest
from mcp import Client, MCPError

from conftest import Instance, _binary_path
from e2e_helpers import (
    HEADER_MISMATCH,
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    MISSING_CLIENT_CAPABILITY,
    MODERN,
    jsonrpc_reply,
    modern_call,
    modern_request,
    new_entity,
    only_text,
)

pytestmark = pytest.mark.anyio


def answer_name(name: str | None):
    async def callback(_ctx, params: types.ElicitRequestParams):
        assert params.message == "What is your name?"
        if name is None:
            return types.ElicitResult(action="decline")
        return types.ElicitResult(action="accept", content={"name": name})

    return callback


async def test_auto_mode_speaks_2026_with_every_demo_feature(base_url):
    entity = new_entity()
    logs: list[types.LoggingMessageNotificationParams] = []

    async def on_log(params):
        logs.append(params)

    async with Client(f"{base_url}/{entity}/mcp", elicitation_callback=answer_name("Ada")) as client:
        assert client.protocol_version == MODERN
        assert client.session.initialize_result is None
        discovered = client.session.discover_result
        assert discovered is not None and MODERN in discovered.supported_versions
        assert "2025-11-25" in discovered.supported_versions

        tools = {t.name for t in (await client.list_tools()).tools}
        assert {"echo", "add", "whoami", "count", "fail", "remember", "recall", "greet", "announce_change"} <= tools
        assert only_text(await client.call_tool("echo", {"text": "modern"})) == "modern"
        assert (await client.call_tool("add", {"a": 2, "b": 3.5})).structured_content == {"sum": 5.5}
        who = (await client.call_tool("whoami", {})).structured_content
        assert who == {"entity_id": entity, "session_id": ""}, "no session at 2026-07-28"
        failed = await client.call_tool("fail", {"message": "boom"})
        assert failed.is_error and only_text(failed) == "boom"
        # Session state needs a session: a clear tool error, not a crash.
        stateful = await client.call_tool("remember", {"key": "k", "value": "v"})
        assert stateful.is_error and "session" in only_text(stateful)
        # Elicitation is a multi-round trip the SDK drives with our callback.
        assert only_text(await client.call_tool("greet", {})) == "Hello, Ada!"

        resources = {r.uri for r in (await client.list_resources()).resources}
        assert "demo://readme" in resources
        readme = await client.read_resource("demo://readme")
        assert f"entity `{entity}`" in readme.contents[0].text
        templates = (await client.list_resource_templates()).resource_templates
        assert templates[0].uri_template == "demo://profile/{name}"
        profile = await client.read_resource("demo://profile/bob")
        assert json.loads(profile.contents[0].text) == {"name": "bob", "entity_id": entity}
        with pytest.raises(MCPError) as exc:
            await client.read_resource("demo://nope")
        assert exc.value.code == INVALID_PARAMS and exc.value.data == {"uri": "demo://nope"}

        prompt = await client.get_prompt("summarize", {"text": "abc", "style": "detailed"})
        assert "detailed style" in prompt.messages[0].content.text
        done = await client.complete(types.PromptReference(type="ref/prompt", name="summarize"), {"name": "style", "value": "b"})
        assert done.completion.values == ["brief"]
        done = await client.complete(
            types.ResourceTemplateReference(type="ref/resource", uri="demo://profile/{name}"), {"name": "name", "value": "ca"}
        )
        assert done.completion.values == ["carol"]


async def test_declined_elicitation_and_progress(base_url):
    entity = new_entity()
    async with Client(f"{base_url}/{entity}/mcp", elicitation_callback=answer_name(None)) as client:
        assert only_text(await client.call_tool("greet", {})) == "No name given (decline)"
        seen: list[float] = []

        async def progress(p: float, total: float | None, message: str | None) -> None:
            seen.append(p)

        result = await client.call_tool("count", {"n": 3, "delay_ms": 10}, progress_callback=progress)
        assert only_text(result) == "counted to 3"
        assert seen == [1.0, 2.0, 3.0]


async def test_listen_delivers_changes_and_honours_the_filter(base_url):
    entity = new_entity()
    async with Client(f"{base_url}/{entity}/mcp") as client:
        async with client.listen(tools_list_changed=True) as tools_sub, client.listen(prompts_list_changed=True) as prompts_sub:
            assert tools_sub.honored.tools_list_changed and not prompts_sub.honored.tools_list_changed
            await client.call_tool("announce_change", {})
            with anyio.fail_after(5):
                event = await tools_sub.__anext__()
            assert type(event).__name__ == "ToolsListChanged"
            # The prompts-only stream must stay quiet.
            with anyio.move_on_after(0.5) as quiet:
                await prompts_sub.__anext__()
            assert quiet.cancelled_caught, "a prompts-only listener got a tools change"


async def test_changes_stay_within_their_entity(base_url):
    mine, other = new_entity(), new_entity()
    async with Client(f"{base_url}/{mine}/mcp") as listener, Client(f"{base_url}/{other}/mcp") as trigger:
        async with listener.listen(tools_list_changed=True) as sub:
            await trigger.call_tool("announce_change", {})
            with anyio.move_on_after(0.7) as quiet:
                await sub.__anext__()
            assert quiet.cancelled_caught, "another entity's change reached this listener"


def test_requests_are_sessionless_and_validated(base_url):
    e = new_entity()
    with httpx.Client(timeout=10) as http:
        r = modern_call(http, base_url, e, "server/discover")
        assert r.status_code == 200 and "mcp-session-id" not in r.headers
        result = jsonrpc_reply(r, 1)["result"]
        assert result["resultType"] == "complete" and result["cacheScope"] in ("public", "private")
        # A session id on a 2026-07-28 request is ignored, not looked up.
        r = modern_call(http, base_url, e, "tools/call", {"name": "echo", "arguments": {"text": "s"}},
                        headers={"mcp-session-id": "00000000-0000-4000-8000-000000000000"})
        assert r.status_code == 200 and jsonrpc_reply(r, 1)["result"]["content"][0]["text"] == "s"
        assert result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"]
        # Envelope missing -> 400 -32602; header disagreeing -> 400 -32020; unknown version -> -32022.
        r = http.post(f"{base_url}/{e}/mcp", json={"jsonrpc": "2.0", "id": 5, "method": "tools/list", "params": {}},
                      headers={"content-type": "application/json", "accept": "application/json", "mcp-protocol-version": MODERN, "mcp-method": "tools/list"})
        assert r.status_code == 400 and r.json()["error"]["code"] == INVALID_PARAMS and r.json()["id"] == 5
        r = modern_call(http, base_url, e, "tools/list", headers={"mcp-method": "prompts/list"})
        assert r.status_code == 400 and r.json()["error"]["code"] == HEADER_MISMATCH
        r = modern_call(http, base_url, e, "tools/call", {"name": "echo", "arguments": {"text": "x"}}, headers={"mcp-name": "add"})
        assert r.status_code == 400 and r.json()["error"]["code"] == HEADER_MISMATCH
        encoded = "=?base64?" + base64.b64encode(b"echo").decode() + "?="
        r = modern_call(http, base_url, e, "tools/call", {"name": "echo", "arguments": {"text": "x"}}, headers={"mcp-name": encoded})
        assert jsonrpc_reply(r, 1)["result"]["content"][0]["text"] == "x"
        # Handshake-only methods are gone at this revision: 404 + -32601.
        for method in ("initialize", "ping", "logging/setLevel", "resources/subscribe", "no/such"):
            r = modern_call(http, base_url, e, method)
            assert r.status_code == 404 and r.json()["error"]["code"] == METHOD_NOT_FOUND, method
        # GET and DELETE have no meaning without a session.
        for verb in ("GET", "DELETE"):
            r = http.request(verb, f"{base_url}/{e}/mcp", headers={"accept": "text/event-stream", "mcp-protocol-version": MODERN})
            assert r.status_code == 405, verb
        # Elicitation without the capability: -32021 naming it.
        r = modern_call(http, base_url, e, "tools/call", {"name": "greet", "arguments": {}}, capabilities={})
        err = r.json()["error"]
        assert r.status_code == 400 and err["code"] == MISSING_CLIENT_CAPABILITY
        assert err["data"] == {"requiredCapabilities": {"elicitation": {}}}


def test_request_state_is_bound_to_its_tenant_and_integrity_checked(base_url):
    mine, other = new_entity(), new_entity()
    with httpx.Client(timeout=10) as http:
        r1 = jsonrpc_reply(modern_call(http, base_url, mine, "tools/call", {"name": "greet", "arguments": {}}), 1)["result"]
        assert r1["resultType"] == "input_required"
        assert r1["inputRequests"]["name"]["method"] == "elicitation/create"
        state = r1["requestState"]
        answer = {"name": {"action": "accept", "content": {"name": "Lin"}}}
        retry = {"name": "greet", "arguments": {}, "inputResponses": answer, "requestState": state}
        ok = jsonrpc_reply(modern_call(http, base_url, mine, "tools/call", retry, request_id=2), 2)
        assert ok["result"]["content"][0]["text"] == "Hello, Lin!"
        for bad_state, entity in ((state + "x", mine), (state[:-4] + "AAAA", mine), (state, other)):
            bad = dict(retry, requestState=bad_state)
            reply = jsonrpc_reply(modern_call(http, base_url, entity, "tools/call", bad, request_id=3), 3)
            assert reply["error"]["code"] == INVALID_PARAMS, (bad_state[-6:], entity, reply)
        # A state minted for one tool is no good for another.
        other_tool = {"name": "echo", "arguments": {"text": "t"}, "requestState": state}
        reply = jsonrpc_reply(modern_call(http, base_url, mine, "tools/call", other_tool, request_id=4), 4)
        assert reply["error"]["code"] == INVALID_PARAMS
        # Malformed answers are refused, not crashed on.
        junk = {"name": "greet", "arguments": {}, "inputResponses": {"name": 12345}}
        reply = jsonrpc_reply(modern_call(http, base_url, mine, "tools/call", junk, request_id=5), 5)
        assert reply["error"]["code"] == INVALID_PARAMS


def test_closing_a_slow_call_cancels_it(tmp_path):
    """2026-07-28 cancels by closing the POST. A call still running after one keep-alive
    interval moves from plain JSON to a stream, so the close is noticed and the handler stops;
    a quick call still answers in plain JSON."""
    inst = Instance(_binary_path(), tmp_path, "close", None, ["--sse-keep-alive-secs", "1", "--admin-token", "ka"])
    try:
        e = new_entity()
        with httpx.Client(timeout=10) as http:
            r = modern_call(http, inst.url, e, "tools/call", {"name": "echo", "arguments": {"text": "x"}})
            assert r.headers["content-type"].startswith("application/json"), r.headers
            slow = modern_request(inst.url, e, "tools/call", {"name": "count", "arguments": {"n": 10, "delay_ms": 500}})
            with http.stream("POST", **slow) as r:
                assert r.headers["content-type"].startswith("text/event-stream"), r.headers
            # Leaving the block closed the connection, about 1 s into a 5 s call.
            time.sleep(6)
            logs = http.get(f"{inst.url}/admin/entities/{e}/logs", headers={"authorization": "Bearer ka"}).json()
        steps = [x["message"] for x in logs if x["kind"] == "log"]
        assert 1 <= len(steps) < 10, steps
    finally:
        inst.stop()
