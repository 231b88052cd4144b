"""Resources, resource templates, prompts, completions and logging/setLevel over both transports."""

from __future__ import annotations

import json

import mcp_types as types
import pytest
from mcp import MCPError

from e2e_helpers import INVALID_PARAMS, RESOURCE_NOT_FOUND, connect, log_text, mentions_field, only_text, wait_until

pytestmark = pytest.mark.anyio


async def test_list_resources(base_url, entity, transport):
    async with connect(base_url, entity, transport) as c:
        listed = await c.session.list_resources()
        by_uri = {str(r.uri): r for r in listed.resources}
        assert "demo://readme" in by_uri, list(by_uri)
        assert by_uri["demo://readme"].mime_type == "text/markdown"
        assert by_uri["demo://readme"].name


async def test_read_readme(base_url, entity, transport):
    async with connect(base_url, entity, transport) as c:
        result = await c.session.read_resource("demo://readme")
        assert len(result.contents) == 1, result.contents
        content = result.contents[0]
        assert isinstance(content, types.TextResourceContents), content
        assert str(content.uri) == "demo://readme"
        assert content.mime_type == "text/markdown"
        assert content.text.strip(), "readme text is empty"


async def test_list_resource_templates(base_url, entity, transport):
    async with connect(base_url, entity, transport) as c:
        listed = await c.session.list_resource_templates()
        by_tpl = {t.uri_template: t for t in listed.resource_templates}
        assert "demo://profile/{name}" in by_tpl, list(by_tpl)
        assert by_tpl["demo://profile/{name}"].mime_type == "application/json"


@pytest.mark.parametrize("name", ["alice", "zed", "x-y_z.1"])
async def test_read_profile_template(base_url, entity, transport, name):
    async with connect(base_url, entity, transport) as c:
        result = await c.session.read_resource(f"demo://profile/{name}")
        assert len(result.contents) == 1, result.contents
        content = result.contents[0]
        assert isinstance(content, types.TextResourceContents), content
        assert str(content.uri) == f"demo://profile/{name}"
        assert content.mime_type == "application/json"
        assert json.loads(content.text) == {"name": name, "entity_id": entity}


@pytest.mark.parametrize("uri", ["demo://nope", "other://readme", "demo://profile/alice/extra"])
async def test_read_unknown_resource(base_url, entity, transport, uri):
    async with connect(base_url, entity, transport) as c:
        with pytest.raises(MCPError) as exc:
            await c.session.read_resource(uri)
        assert exc.value.code in (RESOURCE_NOT_FOUND, INVALID_PARAMS), exc.value.error


async def test_list_prompts(base_url, entity, transport):
    async with connect(base_url, entity, transport) as c:
        listed = await c.session.list_prompts()
        by_name = {p.name: p for p in listed.prompts}
        assert "summarize" in by_name, list(by_name)
        args = {a.name: a for a in by_name["summarize"].arguments or []}
        assert set(args) == {"text", "style"}
        assert args["text"].required is True
        assert not args["style"].required


@pytest.mark.parametrize(
    ("arguments", "style"),
    [({"text": "The quick brown fox."}, "brief"), ({"text": "Line 1\nLine 2", "style": "detailed"}, "detailed"),
     ({"text": "x", "style": "brief"}, "brief")],
)
async def test_get_prompt(base_url, entity, transport, arguments, style):
    async with connect(base_url, entity, transport) as c:
        result = await c.session.get_prompt("summarize", arguments)
        assert len(result.messages) == 1, result.messages
        msg = result.messages[0]
        assert msg.role == "user"
        assert isinstance(msg.content, types.TextContent), msg.content
        assert msg.content.text == f"Summarize the following text in a {style} style:\n\n{arguments['text']}"


async def test_get_prompt_missing_required_arg(base_url, entity, transport):
    async with connect(base_url, entity, transport) as c:
        with pytest.raises(MCPError) as exc:
            await c.session.get_prompt("summarize", {"style": "brief"})
        assert exc.value.code == INVALID_PARAMS, exc.value.error
        assert mentions_field(exc.value.message, "text"), exc.value.message


async def test_get_unknown_prompt(base_url, entity, transport):
    async with connect(base_url, entity, transport) as c:
        with pytest.raises(MCPError) as exc:
            await c.session.get_prompt("no_such_prompt", {"text": "x"})
        assert exc.value.code == INVALID_PARAMS, exc.value.error


@pytest.mark.parametrize(
    ("value", "expected"),
    [("b", ["brief"]), ("d", ["detailed"]), ("det", ["detailed"]), ("", ["brief", "detailed"]), ("x", [])],
)
async def test_complete_prompt_style(base_url, entity, transport, value, expected):
    async with connect(base_url, entity, transport) as c:
        result = await c.session.complete(
            types.PromptReference(type="ref/prompt", name="summarize"), {"name": "style", "value": value}
        )
        assert sorted(result.completion.values) == sorted(expected)
        assert len(result.completion.values) == len(expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", ["alice", "bob", "carol"]), ("c", ["carol"]), ("a", ["alice"]), ("bo", ["bob"]), ("z", [])],
)
async def test_complete_profile_name(base_url, entity, transport, value, expected):
    async with connect(base_url, entity, transport) as c:
        result = await c.session.complete(
            types.ResourceTemplateReference(type="ref/resource", uri="demo://profile/{name}"),
            {"name": "name", "value": value},
        )
        assert sorted(result.completion.values) == sorted(expected)
        assert len(result.completion.values) == len(expected)


async def test_set_logging_level_warning_silences_count(base_url, entity, transport):
    async with connect(base_url, entity, transport) as c:
        await c.session.set_logging_level("warning")
        result = await c.session.call_tool("count", {"n": 3, "delay_ms": 0})
        assert only_text(result) == "counted to 3"
        # Give stray notifications a chance to arrive before asserting there are none.
        await wait_until(lambda: bool(c.logs), timeout=0.5)
        assert [m for m in c.logs if m.level in ("debug", "info", "notice")] == [], [log_text(m) for m in c.logs]


@pytest.mark.parametrize("level", ["info", "debug"])
async def test_set_logging_level_info_emits_steps(base_url, entity, transport, level):
    async with connect(base_url, entity, transport) as c:
        await c.session.set_logging_level(level)
        result = await c.session.call_tool("count", {"n": 3, "delay_ms": 0})
        assert only_text(result) == "counted to 3"
        await wait_until(lambda: len(c.logs) >= 3)
        assert [log_text(m) for m in c.logs] == ["step 1 of 3", "step 2 of 3", "step 3 of 3"]
        assert {m.level for m in c.logs} == {"info"}


async def test_logging_level_is_per_session(base_url, entity, transport):
    async with connect(base_url, entity, transport) as quiet, connect(base_url, entity, transport) as loud:
        await quiet.session.set_logging_level("error")
        await quiet.session.call_tool("count", {"n": 2, "delay_ms": 0})
        await loud.session.call_tool("count", {"n": 2, "delay_ms": 0})
        await wait_until(lambda: len(loud.logs) >= 2)
        assert [log_text(m) for m in loud.logs] == ["step 1 of 2", "step 2 of 2"]
        assert quiet.logs == []


async def test_logging_level_can_be_raised_again(base_url, entity, transport):
    async with connect(base_url, entity, transport) as c:
        await c.session.set_logging_level("warning")
        await c.session.call_tool("count", {"n": 2, "delay_ms": 0})
        await c.session.set_logging_level("info")
        await c.session.call_tool("count", {"n": 2, "delay_ms": 0})
        await wait_until(lambda: len(c.logs) >= 2)
        assert [log_text(m) for m in c.logs] == ["step 1 of 2", "step 2 of 2"]

