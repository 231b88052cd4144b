"""The stored catalog across a fleet: three instances started together on one shared store
(Redis, then PostgreSQL). Items added through instance A's admin API reach clients connected
through B and C (the official Python SDK, both protocol eras): list-changed notifications,
listings, a rendered prompt, read resources, and a delete. Another entity sees none of it."""

from __future__ import annotations

import json
import os
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import anyio
import httpx
import pytest
from mcp import Client

from conftest import Instance, _binary_path
from e2e_helpers import connect, only_text, wait_until
from test_fleet import Node, start_together

REDIS_URL = os.environ.get("FASTMCP_E2E_REDIS_URL")
DATABASE_URL = os.environ.get("FASTMCP_E2E_DATABASE_URL")
BACKENDS = {name: url for name, url in (("redis", REDIS_URL), ("postgres", DATABASE_URL)) if url}
if not BACKENDS:
    pytest.skip("no shared store configured", allow_module_level=True)

TOKEN = "catalog-e2e-token"
pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module", params=sorted(BACKENDS))
def fleet(request, tmp_path_factory) -> Iterator[list[Node]]:
    tmp: Path = tmp_path_factory.mktemp(f"catalog-{request.param}")
    nodes = start_together(tmp, BACKENDS[request.param], 3,
                           extra=["--admin-token", TOKEN, "--catalog-refresh-ms", "250",
                                  "--http-tools-allow", "127.0.0.1,::1"])
    yield nodes
    for n in nodes:
        n.stop()


def admin(node: Node, method: str, path: str, body: Any = None) -> httpx.Response:
    with httpx.Client(timeout=10) as http:
        return http.request(method, f"{node.url}/admin{path}", json=body,
                            headers={"authorization": f"Bearer {TOKEN}"})


def _method_of(message) -> str | None:
    for m in (message, getattr(message, "root", None)):
        method = getattr(m, "method", None)
        if isinstance(method, str):
            return method
    return None


class _Weather(BaseHTTPRequestHandler):
    """A real HTTP service for HTTP tools: `GET /forecast/{city}?days=N` answers JSON that
    echoes what it received (the secret header included, to prove it was sent)."""

    def do_GET(self):  # noqa: N802 - the stdlib's name
        if not self.path.startswith("/forecast/"):
            self.send_response(404)
            self.end_headers()
            self.wfile.write(b"unknown forecast")
            return
        city, _, query = self.path[len("/forecast/"):].partition("?")
        body = json.dumps({"city": city, "query": query, "auth": self.headers.get("authorization")}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture(scope="module")
def weather() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Weather)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


def weather_tool(name: str, url: str) -> dict[str, Any]:
    return {
        "name": name, "description": "The forecast for a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                         "required": ["city"]},
        "request": {"url": url, "headers": [{"name": "Authorization", "value": "Bearer e2e-secret", "secret": True}]},
    }


PROMPT = {
    "name": "triage", "description": "Triage an incident",
    "arguments": [{"name": "service", "required": True}, {"name": "severity", "suggestions": ["sev1", "sev2"]}],
    "messages": [{"role": "user", "text": "Triage {service} at {severity}."}],
}
RESOURCE = {"uri": "runbook://oncall", "name": "oncall", "mime_type": "text/markdown", "text": "# Page the owner"}


async def test_handshake_clients_on_another_instance_hear_and_see_changes(fleet, weather):
    a, b, _ = fleet
    entity, other = f"cat-{uuid.uuid4().hex[:8]}", f"cat-{uuid.uuid4().hex[:8]}"
    seen: dict[str, list[str]] = {"mine": [], "other": []}

    def recorder(key: str):
        async def handle(message) -> None:
            method = _method_of(message)
            if method:
                seen[key].append(method)
        return handle

    async with connect(b.url, entity, "streamable", message_handler=recorder("mine")) as conn, \
            connect(b.url, other, "streamable", message_handler=recorder("other")) as stranger:
        await anyio.sleep(0.3)  # the SDK opens its GET stream after initialize
        before = [p.name for p in (await conn.session.list_prompts()).prompts]
        assert "triage" not in before

        r = admin(a, "POST", f"/entities/{entity}/catalog/prompts", PROMPT)
        assert r.status_code == 201, r.text
        r = admin(a, "POST", f"/entities/{entity}/catalog/resources", RESOURCE)
        assert r.status_code == 201, r.text
        r = admin(a, "POST", f"/entities/{entity}/catalog/tools",
                  weather_tool("forecast", f"http://127.0.0.1:{weather}/forecast/{{city}}?days={{days}}"))
        assert r.status_code == 201, r.text
        assert "e2e-secret" not in r.text

        want = {"notifications/prompts/list_changed", "notifications/resources/list_changed",
                "notifications/tools/list_changed"}
        assert await wait_until(lambda: want <= set(seen["mine"]), 5.0), seen
        # On hearing it, the client lists through B, which serves the change by then.
        prompts = (await conn.session.list_prompts()).prompts
        triage = next(p for p in prompts if p.name == "triage")
        assert triage.description == "Triage an incident"
        assert [(x.name, x.required) for x in triage.arguments] == [("service", True), ("severity", False)]
        got = await conn.session.get_prompt("triage", {"service": "api", "severity": "sev1"})
        assert got.messages[0].content.text == "Triage api at sev1."
        contents = (await conn.session.read_resource("runbook://oncall")).contents
        assert contents[0].text == "# Page the owner" and contents[0].mime_type == "text/markdown"
        tools = {t.name: t for t in (await conn.session.list_tools()).tools}
        assert tools["forecast"].description == "The forecast for a city"
        assert tools["forecast"].input_schema["required"] == ["city"]
        result = await conn.session.call_tool("forecast", {"city": "Lisbon", "days": 2})
        assert not result.is_error, result
        answer = json.loads(only_text(result))
        assert answer == {"city": "Lisbon", "query": "days=2", "auth": "Bearer e2e-secret"}

        # The other entity heard nothing and sees nothing.
        assert not (want & set(seen["other"])), seen
        assert "triage" not in [p.name for p in (await stranger.session.list_prompts()).prompts]
        assert "runbook://oncall" not in [str(r.uri) for r in (await stranger.session.list_resources()).resources]
        assert "forecast" not in [t.name for t in (await stranger.session.list_tools()).tools]

        seen["mine"].clear()
        r = admin(a, "DELETE", f"/entities/{entity}/catalog/prompts/triage")
        assert r.status_code == 204, r.text
        assert await wait_until(lambda: "notifications/prompts/list_changed" in seen["mine"], 5.0), seen
        assert "triage" not in [p.name for p in (await conn.session.list_prompts()).prompts]

        seen["mine"].clear()
        r = admin(a, "DELETE", f"/entities/{entity}/catalog/tools/forecast")
        assert r.status_code == 204, r.text
        assert await wait_until(lambda: "notifications/tools/list_changed" in seen["mine"], 5.0), seen
        assert "forecast" not in [t.name for t in (await conn.session.list_tools()).tools]


async def test_2026_clients_listen_and_see_changes_from_any_instance(fleet):
    a, _, c = fleet
    entity = f"cat-{uuid.uuid4().hex[:8]}"
    async with Client(f"{c.url}/{entity}/mcp") as client:
        async with client.listen(prompts_list_changed=True, resources_list_changed=True) as sub:
            template = {"uri_template": "runbook://{service}/status", "name": "status",
                        "text": "{service} is fine", "completions": {"service": ["api", "auth"]}}
            r = admin(a, "POST", f"/entities/{entity}/catalog/resource-templates", template)
            assert r.status_code == 201, r.text
            with anyio.fail_after(5):
                event = await sub.__anext__()
            assert type(event).__name__ == "ResourcesListChanged", event
            templates = (await client.list_resource_templates()).resource_templates
            assert [t.uri_template for t in templates if t.name == "status"] == ["runbook://{service}/status"]
            contents = (await client.read_resource("runbook://auth/status")).contents
            assert contents[0].text == "auth is fine"

            r = admin(a, "POST", f"/entities/{entity}/catalog/prompts", PROMPT)
            assert r.status_code == 201, r.text
            with anyio.fail_after(5):
                event = await sub.__anext__()
            assert type(event).__name__ == "PromptsListChanged", event
            got = await client.get_prompt("triage", {"service": "db"})
            assert got.messages[0].content.text == "Triage db at ."


def test_every_instance_serves_a_change_within_a_second(fleet):
    """Written through A, then listed through B and C until both show it: the refresh interval
    (250 ms) plus one read, measured."""
    import time

    a, b, c = fleet
    entity = f"cat-{uuid.uuid4().hex[:8]}"

    def listed(node: Node) -> list[str]:
        body = {"jsonrpc": "2.0", "id": 1, "method": "prompts/list", "params": {"_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {}}}}
        with httpx.Client(timeout=10) as http:
            r = http.post(f"{node.url}/{entity}/mcp", json=body, headers={
                "accept": "application/json, text/event-stream", "mcp-protocol-version": "2026-07-28",
                "mcp-method": "prompts/list"})
        return [p["name"] for p in r.json()["result"]["prompts"]]

    assert "triage" not in listed(b) and "triage" not in listed(c)  # both hold the old catalog
    t0 = time.monotonic()
    r = admin(a, "POST", f"/entities/{entity}/catalog/prompts", PROMPT)
    assert r.status_code == 201, r.text
    assert "triage" in listed(a), "the writing instance serves it at once"
    took = {}
    while len(took) < 2 and time.monotonic() - t0 < 10:
        for node in (b, c):
            if node.url not in took and "triage" in listed(node):
                took[node.url] = time.monotonic() - t0
    assert len(took) == 2, "a change never reached every instance"
    print(f"change served by every instance after {max(took.values()) * 1000:.0f} ms")


def test_http_tools_reach_loopback_only_when_the_operator_allows_it(tmp_path, weather):
    """The SSRF guard end to end: `127.0.0.1` and `localhost` are refused by an instance with no
    allow-list, before any connection, and served by one whose allow-list names them."""
    closed = Instance(_binary_path(), tmp_path, "closed", None, extra=["--admin-token", TOKEN])
    opened = Instance(_binary_path(), tmp_path, "open", None,
                      extra=["--admin-token", TOKEN, "--http-tools-allow", "127.0.0.1,::1"])
    try:
        for node, refused in ((closed, True), (opened, False)):
            for host in ("127.0.0.1", "localhost"):
                name = "via_" + host.replace(".", "_")
                r = admin(node, "POST", "/entities/ssrf/catalog/tools",
                          weather_tool(name, f"http://{host}:{weather}/forecast/{{city}}"))
                assert r.status_code == 201, r.text
                body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
                    "name": name, "arguments": {"city": "Oslo"}, "_meta": {
                        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                        "io.modelcontextprotocol/clientCapabilities": {}}}}
                with httpx.Client(timeout=10) as http:
                    reply = http.post(f"{node.url}/ssrf/mcp", json=body, headers={
                        "accept": "application/json, text/event-stream", "mcp-protocol-version": "2026-07-28",
                        "mcp-method": "tools/call", "mcp-name": name}).json()
                result = reply["result"]
                text = result["content"][0]["text"]
                if refused:
                    assert result.get("isError") is True and "destination refused" in text, (host, text)
                    assert "loopback" in text, text
                else:
                    assert not result.get("isError"), (host, text)
                    assert json.loads(text)["city"] == "Oslo"
    finally:
        closed.stop()
        opened.stop()
