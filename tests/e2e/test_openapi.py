"""OpenAPI documents imported as tools, end to end with real documents and the official Python
SDK as the MCP client:

- an independent service (a FastAPI application started here, OpenAPI 3.1 with `$ref`s and
  `anyOf` nullables): imported by URL, its operations listed and called with path, query,
  header and body arguments, its error statuses returned as error results, and the operations
  it cannot express (an XML body, a required cookie) reported and skipped;
- FastMCP-MT's own `/openapi.json`, imported for one entity, whose admin API then lists another
  entity's live sessions through MCP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from conftest import Instance, _binary_path, _free_port, _tail
from e2e_helpers import connect, only_text

TOKEN = "openapi-e2e-token"
APPS = Path(__file__).parent / "apps"
pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Iterator[str]:
    """The FastAPI service under uvicorn, on a free loopback port."""
    port = _free_port()
    log = tmp_path_factory.mktemp("shop") / "uvicorn.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "shop_api:app", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning"],
        cwd=APPS, stdout=log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env=dict(os.environ, PYTHONPATH=str(APPS)),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/openapi.json", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the FastAPI service did not start: {_tail(log)}")
        time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def node(tmp_path_factory) -> Iterator[Instance]:
    tmp = tmp_path_factory.mktemp("openapi")
    n = Instance(_binary_path(), tmp, "openapi", None,
                 extra=["--admin-token", TOKEN, "--http-tools-allow", "127.0.0.1,::1"])
    yield n
    n.stop()


def admin(node: Instance, method: str, path: str, body: Any = None) -> httpx.Response:
    with httpx.Client(timeout=30) as http:
        return http.request(method, f"{node.url}/admin{path}", json=body,
                            headers={"authorization": f"Bearer {TOKEN}"})


async def test_an_independent_service_is_imported_and_called(node, shop):
    r = admin(node, "POST", "/entities/shop-e2e/catalog/openapi", {
        "name": "shop", "url": f"{shop}/openapi.json",
        "headers": [{"name": "X-Token", "value": "let-me", "secret": True}],
    })
    assert r.status_code == 200, r.text
    report = r.json()
    assert sorted(report["tools"]) == ["createItem", "deleteItem", "getItem"], report
    skipped = {s["operation_id"]: s["reason"] for s in report["skipped"]}
    assert set(skipped) == {"importXml", "whoAmI"}, report
    assert "application/xml" in skipped["importXml"] and "cookie" in skipped["whoAmI"], skipped
    # The secret is stored but never shown.
    shown = admin(node, "GET", "/entities/shop-e2e/catalog/tools/deleteItem").json()
    assert shown["source"] == "openapi:shop" and "let-me" not in json.dumps(shown), shown

    async with connect(node.url, "shop-e2e", "streamable") as conn:
        tools = {t.name: t for t in (await conn.session.list_tools()).tools}
        assert {"createItem", "deleteItem", "getItem"} <= set(tools)
        assert tools["getItem"].description == "Get one item"
        assert tools["getItem"].input_schema["required"] == ["item_id"]
        assert tools["createItem"].input_schema["properties"]["name"]["description"] == "What it is called"

        # Path and an exploded array query.
        got = await conn.session.call_tool("getItem", {"item_id": 1, "fields": ["name", "price"]})
        assert not got.is_error, got
        assert json.loads(only_text(got)) == {"item": {"name": "pen", "price": 1.5}, "verbose": False}
        # A body from flattened properties ($ref resolved), an absent nullable left out.
        got = await conn.session.call_tool("createItem", {"name": "ink", "price": 2.25, "tags": ["a"]})
        assert not got.is_error, got
        created = json.loads(only_text(got))
        assert created["name"] == "ink" and created["description"] is None
        # The service's own validation error (price must be > 0) would be a 422; the tool's
        # schema refuses it first, before any request.
        with pytest.raises(Exception) as refused:
            await conn.session.call_tool("createItem", {"name": "bad", "price": 0})
        assert "price" in str(refused.value) or "exclusiveMinimum" in str(refused.value)
        # A header parameter filled from the shared secret header, and an error status.
        got = await conn.session.call_tool("deleteItem", {"item_id": created["id"]})
        assert not got.is_error and json.loads(only_text(got)) == {"deleted": created["id"]}, got
        got = await conn.session.call_tool("deleteItem", {"item_id": created["id"]})
        assert got.is_error and "404" in only_text(got) and "no item" in only_text(got), got

    # Another entity sees none of it.
    async with connect(node.url, "other-e2e", "streamable") as conn:
        names = {t.name for t in (await conn.session.list_tools()).tools}
        assert "getItem" not in names

    r = admin(node, "DELETE", "/entities/shop-e2e/catalog/openapi/shop")
    assert r.status_code == 204
    assert admin(node, "GET", "/entities/shop-e2e/catalog/tools").json() == []


async def test_the_servers_own_document_drives_its_admin_api(node):
    r = admin(node, "POST", "/entities/ops-e2e/catalog/openapi", {
        "name": "self", "url": f"{node.url}/openapi.json",
        "headers": [{"name": "Authorization", "value": f"Bearer {TOKEN}", "secret": True}],
        "routes": [{"tags": ["Sessions"], "action": "include"}, {"action": "exclude"}],
    })
    assert r.status_code == 200, r.text
    assert r.json()["skipped"] == [] and "get_sessions" in r.json()["tools"], r.json()

    async with connect(node.url, "acme-e2e", "streamable") as watched:
        sid = watched.session_id
        async with connect(node.url, "ops-e2e", "streamable") as ops:
            got = await ops.session.call_tool("get_sessions", {"entity_id": "acme-e2e"})
            assert not got.is_error, got
            listed = [s["id"] for s in json.loads(only_text(got))["sessions"]]
            assert sid in listed, listed
            got = await ops.session.call_tool("get_sessions_id", {"id": "00000000-0000-4000-8000-000000000000",
                                                               "entity_id": "acme-e2e"})
            assert got.is_error and "404" in only_text(got), got
