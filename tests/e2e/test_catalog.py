"""The stored catalog across a fleet: three instances started together on one shared store
(Redis, then PostgreSQL). Items added through instance A's admin API reach clients connected
through B and C (the official Python SDK, both protocol eras): list-changed notifications,
listings, a rendered prompt, read resources, and a delete. Another entity sees none of it."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any, Iterator

import anyio
import httpx
import pytest
from mcp import Client

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
                           extra=["--admin-token", TOKEN, "--catalog-refresh-ms", "250"])
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


PROMPT = {
    "name": "triage", "description": "Triage an incident",
    "arguments": [{"name": "service", "required": True}, {"name": "severity", "suggestions": ["sev1", "sev2"]}],
    "messages": [{"role": "user", "text": "Triage {service} at {severity}."}],
}
RESOURCE = {"uri": "runbook://oncall", "name": "oncall", "mime_type": "text/markdown", "text": "# Page the owner"}


async def test_handshake_clients_on_another_instance_hear_and_see_changes(fleet):
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

        want = {"notifications/prompts/list_changed", "notifications/resources/list_changed"}
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

        # The other entity heard nothing and sees nothing.
        assert not (want & set(seen["other"])), seen
        assert "triage" not in [p.name for p in (await stranger.session.list_prompts()).prompts]
        assert "runbook://oncall" not in [str(r.uri) for r in (await stranger.session.list_resources()).resources]

        seen["mine"].clear()
        r = admin(a, "DELETE", f"/entities/{entity}/catalog/prompts/triage")
        assert r.status_code == 204, r.text
        assert await wait_until(lambda: "notifications/prompts/list_changed" in seen["mine"], 5.0), seen
        assert "triage" not in [p.name for p in (await conn.session.list_prompts()).prompts]


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
