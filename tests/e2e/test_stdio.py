"""`fastmcp serve --stdio` with the official Python SDK's stdio client: the demo's tools,
progress, logging, resources, prompts and elicitation over one local session, with nothing but
JSON-RPC on stdout."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from mcp import ClientSession, types
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.shared.exceptions import MCPError

from conftest import REPO_ROOT, _binary_path

pytestmark = pytest.mark.anyio


def _params(entity: str = "desk") -> StdioServerParameters:
    return StdioServerParameters(command=str(_binary_path()), args=["serve", "--stdio", "--entity", entity],
                                 env={**os.environ, "FASTMCP_MT_LOG_LEVEL": "info"})


async def test_the_sdk_stdio_client_uses_the_demo():
    async def on_elicit(_ctx, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="accept", content={"name": "Ada"})

    with open(os.devnull, "w") as errlog:
        async with stdio_client(_params(), errlog=errlog) as (read, write):
            async with ClientSession(read, write, elicitation_callback=on_elicit) as session:
                init = await session.initialize()
                assert init.server_info.name
                names = {t.name for t in (await session.list_tools()).tools}
                assert {"echo", "count", "whoami", "greet"} <= names, names
                r = await session.call_tool("echo", {"text": "over stdio"})
                assert r.content[0].text == "over stdio"
                who = await session.call_tool("whoami", {})
                assert "desk" in who.content[0].text, who
                seen: list[float] = []

                async def on_progress(progress: float, total: float | None, message: str | None) -> None:
                    seen.append(progress)

                r = await session.call_tool("count", {"n": 3, "delay_ms": 10}, progress_callback=on_progress)
                assert not r.is_error, r
                assert seen == [1, 2, 3], seen
                greet = await session.call_tool("greet", {})
                assert "Ada" in greet.content[0].text, greet
                readme = await session.read_resource("demo://readme")
                assert "desk" in readme.contents[0].text
                prompt = await session.get_prompt("summarize", {"text": "t", "style": "brief"})
                assert prompt.messages
                with pytest.raises(MCPError, match="no-such-tool"):
                    await session.call_tool("no-such-tool", {})


def test_stdout_carries_only_json_rpc_and_bad_lines_get_errors():
    """Raw: every stdout line is JSON-RPC (logs go to stderr), unparsable and oversized lines
    get an error each, and the session ends when stdin closes."""
    lines = [
        json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}}),
        "{not json",
        json.dumps({"jsonrpc": "2.0", "id": 2, "method": "ping"}),
        json.dumps({"jsonrpc": "2.0", "id": 4, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "again", "version": "1"}}}),
        json.dumps({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "x" * 2_000}}}),
    ]
    proc = subprocess.run([str(_binary_path()), "serve", "--stdio", "--entity", "raw", "--body-limit", "1024"],
                          input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=30,
                          env={**os.environ, "FASTMCP_MT_LOG_LEVEL": "info"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    by_id = {m.get("id"): m for m in out}
    assert by_id[1]["result"]["protocolVersion"] == "2025-11-25"
    assert by_id[2]["result"] == {}
    assert by_id[4]["error"]["code"] == -32600 and "already initialized" in by_id[4]["error"]["message"]
    errors = [m["error"] for m in out if m.get("id") is None and "error" in m]
    assert {e["code"] for e in errors} == {-32700, -32600}, errors
    assert any("exceeds 1024 bytes" in e["message"] for e in errors), errors


INSPECTOR_DIR = REPO_ROOT / "tests/inspector"
INSPECTOR = INSPECTOR_DIR / "node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js"
NODE = INSPECTOR_DIR / "node_modules/.bin/node"


def _inspector(tmp_path, *args: str) -> dict:
    """Runs the official MCP Inspector in CLI mode against `fastmcp --stdio` and returns the
    JSON it prints."""
    if not INSPECTOR.exists():
        if os.environ.get("CI"):
            raise AssertionError("scripts/test.sh installs the Inspector into tests/inspector")
        pytest.skip("the Inspector is not installed (npm install in tests/inspector)")
    out = subprocess.run(
        [str(NODE), str(INSPECTOR), "--cli", str(_binary_path()), "serve", "--stdio", "--entity", "insp", *args],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "MCP_CATALOG_PATH": str(tmp_path / "catalog.json"), "FASTMCP_MT_LOG_LEVEL": "warn"},
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout)


def test_the_inspector_cli_lists_and_calls_tools_reads_and_renders(tmp_path):
    tools = _inspector(tmp_path, "--method", "tools/list")
    assert {"echo", "add", "whoami"} <= {t["name"] for t in tools["tools"]}, tools
    add = _inspector(tmp_path, "--method", "tools/call", "--tool-name", "add", "--tool-arg", "a=2", "b=3")
    assert add["structuredContent"] == {"sum": 5}, add
    who = _inspector(tmp_path, "--method", "tools/call", "--tool-name", "whoami")
    assert who["structuredContent"]["entity_id"] == "insp", who
    readme = _inspector(tmp_path, "--method", "resources/read", "--uri", "demo://readme")
    assert "insp" in readme["contents"][0]["text"], readme
    prompt = _inspector(tmp_path, "--method", "prompts/get", "--prompt-name", "summarize",
                        "--prompt-args", "text=hello")
    assert "hello" in prompt["messages"][0]["content"]["text"], prompt
