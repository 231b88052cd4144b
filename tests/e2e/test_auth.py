"""Authentication with the real binary (`--auth api-key`) and the official Python SDK in both
eras: keys minted through the admin API, sent as a bearer token by the SDK's HTTP client."""

from __future__ import annotations

from typing import Iterator

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from conftest import ADMIN_TOKEN, Instance, _binary_path
from e2e_helpers import new_entity, only_text

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def secured(tmp_path_factory) -> Iterator[str]:
    server = Instance(_binary_path(), tmp_path_factory.mktemp("auth"), "auth", None,
                      ["--auth", "api-key", "--api-key-cache-secs", "0",
                       "--auth-servers", "https://auth.example.com"],
                      env={"FASTMCP_MT_ADMIN_TOKEN": ADMIN_TOKEN})
    yield server.url
    server.stop()


def mint(url: str, entity: str) -> dict:
    r = httpx.post(f"{url}/admin/api-keys", headers={"authorization": f"Bearer {ADMIN_TOKEN}"},
                   json={"entity_id": entity, "name": "e2e", "scopes": []})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_sdk_client_with_an_api_key_in_both_eras(secured, mode):
    entity = new_entity()
    key = mint(secured, entity)["key"]
    async with httpx2.AsyncClient(headers={"authorization": f"Bearer {key}"}, timeout=30) as http:
        async with Client(streamable_http_client(f"{secured}/{entity}/mcp", http_client=http), mode=mode) as client:
            assert client.protocol_version == ("2026-07-28" if mode == "auto" else "2025-11-25")
            assert only_text(await client.call_tool("echo", {"text": "secured"})) == "secured"


def test_missing_wrong_and_foreign_credentials(secured):
    entity, other = new_entity(), new_entity()
    key = mint(secured, entity)
    body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
    h = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
    r = httpx.post(f"{secured}/{entity}/mcp", json=body, headers=h)
    assert r.status_code == 401
    challenge = r.headers["www-authenticate"]
    assert f"/.well-known/oauth-protected-resource/{entity}/mcp" in challenge
    meta_url = challenge.split('resource_metadata="', 1)[1].split('"', 1)[0]
    meta = httpx.get(meta_url).json()
    assert meta["resource"].endswith(f"/{entity}/mcp")
    assert meta["authorization_servers"] == ["https://auth.example.com"]
    r = httpx.post(f"{secured}/{entity}/mcp", json=body, headers={**h, "authorization": "Bearer fmk_x_y"})
    assert r.status_code == 401 and "invalid_token" in r.headers["www-authenticate"]
    r = httpx.post(f"{secured}/{other}/mcp", json=body, headers={**h, "authorization": f"Bearer {key['key']}"})
    assert r.status_code == 403
    # Revoked: refused at once (cache disabled for this server).
    revoke = httpx.delete(f"{secured}/admin/api-keys/{key['api_key']['id']}", params={"entity_id": entity},
                          headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
    assert revoke.status_code == 200
    r = httpx.post(f"{secured}/{entity}/mcp", json=body, headers={**h, "authorization": f"Bearer {key['key']}"})
    assert r.status_code == 401
