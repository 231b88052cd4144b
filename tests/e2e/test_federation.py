"""Federation end to end: upstream MCP servers mounted into an entity through the admin API of
the real binary, driven by the official Python SDK as the downstream client.

Upstreams, all started here: the official Python SDK's own server (`MCPServer`) over Streamable
HTTP and over the legacy SSE transport, and FastMCP-MT's demo on another port, mounted in both
protocol eras. Covered: namespaced listings; calls; progress and log messages relayed;
elicitation relayed on the stream (handshake era) and as input rounds (2026-07-28);
cancellation reaching the upstream; an upstream killed mid-run failing only its own items, and
served again once it is back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import anyio
import httpx
import httpx2
import mcp_types as types
import pytest
from mcp import Client, ClientSession
from mcp.client.streamable_http import streamable_http_client

from conftest import Instance, _binary_path, _free_port, _tail, wait_ready
from e2e_helpers import new_entity, only_text

TOKEN = "federation-e2e-token"
APPS = Path(__file__).parent / "apps"
pytestmark = pytest.mark.anyio


def _python_upstream(tmp: Path, transport: str) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    log = tmp / f"py-{transport}-{port}.log"
    proc = subprocess.Popen(
        [sys.executable, str(APPS / "py_upstream.py"), "--port", str(port), "--transport", transport],
        stdout=log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    path = "/mcp" if transport == "streamable-http" else "/sse"
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket_probe(port):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Python upstream did not start: {_tail(log)}")
            time.sleep(0.1)
    return proc, f"http://127.0.0.1:{port}{path}"


class socket_probe:
    def __init__(self, port: int):
        import socket
        self.s = socket.create_connection(("127.0.0.1", port), timeout=0.5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.s.close()


class Upstream:
    """The FastMCP-MT demo on a fixed port, so it can be killed and started again there."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        log = self.tmp / f"demo-upstream-{self.port}-{time.monotonic_ns()}.log"
        self.proc = subprocess.Popen(
            [str(_binary_path()), "serve", "--bind", f"127.0.0.1:{self.port}", "--admin-token", TOKEN],
            stdout=log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=dict(os.environ, FASTMCP_MT_LOG_LEVEL="warn"),
        )
        wait_ready("demo upstream", self.proc, self.url, log)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("federation")
    py_http, py_http_url = _python_upstream(tmp, "streamable-http")
    py_sse, py_sse_url = _python_upstream(tmp, "sse")
    demo = Upstream(tmp)
    proxy = Instance(_binary_path(), tmp, "proxy", None,
                     extra=["--admin-token", TOKEN, "--http-tools-allow", "127.0.0.1,::1"])
    yield {"py_http": py_http_url, "py_sse": py_sse_url, "demo": demo, "proxy": proxy}
    proxy.stop()
    demo.stop()
    for p in (py_http, py_sse):
        p.terminate()
        p.wait(timeout=10)


def mount(proxy: Instance, entity: str, definition: dict[str, Any]) -> None:
    r = httpx.post(f"{proxy.url}/admin/entities/{entity}/catalog/mcp-servers", json=definition,
                   headers={"authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert r.status_code == 201, r.text


def status(proxy: Instance, entity: str, name: str) -> dict[str, Any]:
    r = httpx.get(f"{proxy.url}/admin/entities/{entity}/catalog/mcp-servers/{name}/status",
                  headers={"authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


async def sample(_ctx, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
    asked = params.messages[0].content.text
    return types.CreateMessageResult(role="assistant", model="test-model",
                                     content=types.TextContent(type="text", text=f"({asked}) leaves fall"))


def answer(name: str):
    async def callback(_ctx, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="accept", content={"name": name})

    return callback


async def handshake_session(url: str, **callbacks: Any):
    """A handshake-era SDK session (initialize, then a session) over Streamable HTTP."""
    http = httpx2.AsyncClient(timeout=httpx2.Timeout(30.0, read=120.0))
    stack = []

    class _Ctx:
        async def __aenter__(self):
            stack.append(await http.__aenter__())
            self.t = streamable_http_client(url, http_client=http)
            read, write = await self.t.__aenter__()
            self.s = ClientSession(read, write, read_timeout_seconds=60, **callbacks)
            session = await self.s.__aenter__()
            await session.initialize()
            return session

        async def __aexit__(self, *exc):
            await self.s.__aexit__(*exc)
            await self.t.__aexit__(*exc)
            await http.__aexit__(*exc)

    return _Ctx()


async def test_python_sdk_upstreams_over_streamable_http_and_sse(world):
    proxy, entity = world["proxy"], new_entity("fed-py")
    mount(proxy, entity, {"name": "pyh", "url": world["py_http"]})
    mount(proxy, entity, {"name": "pys", "url": world["py_sse"], "transport": "sse"})
    for name in ("pyh", "pys"):
        assert status(proxy, entity, name)["up"] is True

    # The 2026-07-28 era downstream (the SDK's auto mode): elicitation as input rounds.
    async with Client(f"{proxy.url}/{entity}/mcp", elicitation_callback=answer("Grace"),
                      sampling_callback=sample) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        assert {"pyh_multiply", "pyh_steps", "pyh_ask_name", "pyh_haiku", "pys_multiply", "pys_steps",
                "pys_ask_name", "pys_haiku"} <= tools
        for m in ("pyh", "pys"):
            got = await client.call_tool(f"{m}_multiply", {"a": 6, "b": 7})
            assert not got.is_error and only_text(got) == "42.0", got
            assert only_text(await client.call_tool(f"{m}_ask_name", {})) == "Hi, Grace"
            # Sampling: the upstream asks the client's model, through the proxy.
            assert only_text(await client.call_tool(f"{m}_haiku", {"topic": "autumn"})) == "(A haiku about autumn) leaves fall"
            seen: list[float] = []

            async def progress(p: float, total: float | None, message: str | None) -> None:
                seen.append(p)

            done = await client.call_tool(f"{m}_steps", {"n": 3}, progress_callback=progress)
            assert only_text(done) == "3 steps" and seen == [1.0, 2.0, 3.0], (m, seen)
        # Cancellation reaches the upstream: its handler is cancelled, as it reports.
        with anyio.move_on_after(1.0):
            await client.call_tool("pyh_wait", {"seconds": 60})
        deadline = time.monotonic() + 10
        while (await client.call_tool("pyh_cancelled", {})).structured_content.get("result", 0) < 1:
            assert time.monotonic() < deadline, "the upstream call was not cancelled"
            await anyio.sleep(0.2)
        motto = await client.read_resource("py://motto")
        assert motto.contents[0].text == "federated, not fragmented"
        prompt = await client.get_prompt("pys_review", {"code": "x = 1"})
        assert "x = 1" in prompt.messages[0].content.text

    # The handshake era downstream: elicitation on the stream, log messages relayed.
    logs: list[types.LoggingMessageNotificationParams] = []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append(params)

    async with await handshake_session(f"{proxy.url}/{entity}/mcp", elicitation_callback=answer("Alan"),
                                       sampling_callback=sample, logging_callback=on_log) as s:
        await s.set_logging_level("debug")
        for m in ("pyh", "pys"):
            assert only_text(await s.call_tool(f"{m}_ask_name", {})) == "Hi, Alan"
            assert only_text(await s.call_tool(f"{m}_haiku", {"topic": "rain"})) == "(A haiku about rain) leaves fall"
            logs.clear()
            assert only_text(await s.call_tool(f"{m}_steps", {"n": 2})) == "2 steps"
            with anyio.fail_after(5):
                while len(logs) < 2:
                    await anyio.sleep(0.05)
            assert "step 1" in str(logs[0].data), logs


async def test_fastmcp_mt_upstream_in_both_eras_with_cancellation(world):
    proxy, demo, entity = world["proxy"], world["demo"], new_entity("fed-demo")
    up_entity = new_entity("up")
    mount(proxy, entity, {"name": "hs", "url": f"{demo.url}/{up_entity}/mcp"})
    mount(proxy, entity, {"name": "modern", "url": f"{demo.url}/{up_entity}/mcp", "era": "2026-07-28"})

    async with await handshake_session(f"{proxy.url}/{entity}/mcp", elicitation_callback=answer("Ada")) as s:
        for m in ("hs", "modern"):
            seen: list[float] = []

            async def progress(p: float, total: float | None, message: str | None) -> None:
                seen.append(p)

            got = await s.call_tool(f"{m}_count", {"n": 3, "delay_ms": 10}, progress_callback=progress)
            assert only_text(got) == "counted to 3" and seen == [1.0, 2.0, 3.0], (m, seen)
            assert only_text(await s.call_tool(f"{m}_greet", {})) == "Hello, Ada!"
        # The upstream session is this client's own: `whoami` sees one session throughout.
        first = (await s.call_tool("hs_whoami", {})).structured_content
        again = (await s.call_tool("hs_whoami", {})).structured_content
        assert first["entity_id"] == up_entity and first["session_id"] and first == again
        upstream_session = first["session_id"]
        assert upstream_session_exists(demo, up_entity, upstream_session)

        # Cancellation: the downstream gives up; the call ends at once, long before its 100 s.
        started = time.monotonic()
        with anyio.move_on_after(1.0):
            await s.call_tool("hs_count", {"n": 100, "delay_ms": 1000})
        assert time.monotonic() - started < 3
        assert only_text(await s.call_tool("hs_echo", {"text": "still here"})) == "still here"

    # The downstream session ended (the SDK sent DELETE): so did its upstream session.
    deadline = time.monotonic() + 10
    while upstream_session_exists(demo, up_entity, upstream_session):
        assert time.monotonic() < deadline, "the upstream session outlived the downstream one"
        time.sleep(0.2)

    async with Client(f"{proxy.url}/{entity}/mcp", elicitation_callback=answer("Edsger")) as client:
        for m in ("hs", "modern"):
            assert only_text(await client.call_tool(f"{m}_greet", {})) == "Hello, Edsger!"


def upstream_session_exists(demo: "Upstream", entity: str, session: str) -> bool:
    r = httpx.get(f"{demo.url}/admin/sessions/{session}", params={"entity_id": entity},
                  headers={"authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert r.status_code in (200, 404), r.text
    return r.status_code == 200


async def test_an_upstream_list_change_reaches_the_entitys_clients(world):
    proxy, demo, entity = world["proxy"], world["demo"], new_entity("fed-change")
    mount(proxy, entity, {"name": "hs", "url": f"{demo.url}/{new_entity('up')}/mcp"})
    heard: list[str] = []

    async def on_message(message: Any) -> None:
        for m in (message, getattr(message, "root", None)):
            method = getattr(m, "method", None)
            if isinstance(method, str):
                heard.append(method)
                return

    async with await handshake_session(f"{proxy.url}/{entity}/mcp", message_handler=on_message) as s:
        assert "hs_announce_change" in {t.name for t in (await s.list_tools()).tools}
        await anyio.sleep(0.5)  # the standalone streams (ours, and ours upstream) are open
        # The upstream tells its sessions its tools changed; the proxy hears it on its stream
        # with the upstream, lists again, and tells this entity's clients.
        assert only_text(await s.call_tool("hs_announce_change", {})) == "listeners notified"
        with anyio.fail_after(10):
            while "notifications/tools/list_changed" not in heard:
                await anyio.sleep(0.1)


async def test_an_upstream_killed_mid_run_fails_its_items_only_and_comes_back(world):
    proxy, demo, entity = world["proxy"], world["demo"], new_entity("fed-kill")
    mount(proxy, entity, {"name": "demo", "url": f"{demo.url}/{new_entity('up')}/mcp", "timeout_ms": 3000})
    mount(proxy, entity, {"name": "py", "url": world["py_http"], "sessions": "shared"})
    async with Client(f"{proxy.url}/{entity}/mcp") as client:
        assert only_text(await client.call_tool("demo_echo", {"text": "before"})) == "before"
        demo.kill9()
        try:
            started = time.monotonic()
            failed = await client.call_tool("demo_echo", {"text": "during"})
            assert failed.is_error and "unreachable" in only_text(failed), failed
            assert time.monotonic() - started < 5, "a dead upstream must fail fast"
            # The other mount, and the list, are unaffected.
            assert only_text(await client.call_tool("py_multiply", {"a": 2, "b": 2})) == "4.0"
            tools = {t.name for t in (await client.list_tools()).tools}
            assert "py_multiply" in tools
            assert status(proxy, entity, "demo")["up"] is False
        finally:
            demo.start()
        # Back on its port with no memory of the old session: served again without help.
        deadline = time.monotonic() + 20
        while True:
            got = await client.call_tool("demo_echo", {"text": "after"})
            if not got.is_error:
                assert only_text(got) == "after"
                break
            assert time.monotonic() < deadline, only_text(got)
            await anyio.sleep(0.5)
        assert status(proxy, entity, "demo")["up"] is True


REDIS_URL = os.environ.get("FASTMCP_E2E_REDIS_URL")


@pytest.mark.skipif(not REDIS_URL, reason="no Redis configured")
def test_a_fleet_shares_each_clients_upstream_session_and_survives_a_kill(world, tmp_path):
    """Three proxies on one Redis, started together: a mount made through one is served by all;
    a client's upstream session (kept in its session's state) is the same whichever instance
    serves the request, also after the instance that opened it is killed; ending the client's
    session through another instance ends the upstream one."""
    from e2e_helpers import jsonrpc_reply, raw_call, raw_initialize
    from test_fleet import start_together

    demo, entity, up_entity = world["demo"], new_entity("fed-fleet"), new_entity("up")
    nodes = start_together(tmp_path, REDIS_URL, 3,
                           extra=["--admin-token", TOKEN, "--http-tools-allow", "127.0.0.1,::1",
                                  "--catalog-refresh-ms", "250"])
    try:
        mount(nodes[0], entity, {"name": "hs", "url": f"{demo.url}/{up_entity}/mcp"})
        with httpx.Client(timeout=30) as http:
            deadline = time.monotonic() + 10
            for n in nodes:
                while True:
                    sid = raw_initialize(http, n.url, entity)
                    listed = jsonrpc_reply(raw_call(http, n.url, entity, "tools/list", {}, session_id=sid), 2)
                    if any(t["name"] == "hs_whoami" for t in listed["result"]["tools"]):
                        break
                    assert time.monotonic() < deadline, f"{n.name} never served the mount"
                    time.sleep(0.2)
            sid = raw_initialize(http, nodes[0].url, entity)

            def whoami(node, rid: int) -> str:
                r = raw_call(http, node.url, entity, "tools/call", {"name": "hs_whoami", "arguments": {}},
                             session_id=sid, request_id=rid)
                reply = jsonrpc_reply(r, rid)
                assert "result" in reply and not reply["result"].get("isError"), reply
                return reply["result"]["structuredContent"]["session_id"]

            upstream = whoami(nodes[0], 10)
            assert whoami(nodes[1], 11) == upstream and whoami(nodes[2], 12) == upstream
            nodes[0].proc.send_signal(signal.SIGKILL)
            nodes[0].proc.wait(timeout=10)
            assert whoami(nodes[1], 13) == upstream
            assert upstream_session_exists(demo, up_entity, upstream)
            r = http.delete(f"{nodes[2].url}/{entity}/mcp",
                            headers={"mcp-session-id": sid, "mcp-protocol-version": "2025-11-25"})
            assert r.status_code in (200, 202, 204), r.text
            deadline = time.monotonic() + 10
            while upstream_session_exists(demo, up_entity, upstream):
                assert time.monotonic() < deadline, "the upstream session outlived the client's"
                time.sleep(0.2)
    finally:
        for n in nodes:
            n.stop()


async def test_a_2026_upstreams_list_change_reaches_a_2026_client(world):
    proxy, demo, entity = world["proxy"], world["demo"], new_entity("fed-listen")
    mount(proxy, entity, {"name": "modern", "url": f"{demo.url}/{new_entity('up')}/mcp", "era": "2026-07-28",
                          "sessions": "shared"})
    async with Client(f"{proxy.url}/{entity}/mcp") as client:
        assert "modern_announce_change" in {t.name for t in (await client.list_tools()).tools}
        async with client.listen(tools_list_changed=True) as sub:
            await anyio.sleep(0.5)  # the proxy's own listen stream upstream is open
            await client.call_tool("modern_announce_change", {})
            with anyio.fail_after(10):
                event = await sub.__anext__()
            assert type(event).__name__ == "ToolsListChanged"
