"""Authentication with the real binary (`--auth api-key`) and the official Python SDK in both
eras: keys minted through the admin API, sent as a bearer token by the SDK's HTTP client."""

from __future__ import annotations

import os
import subprocess
import time
from typing import Iterator

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from conftest import ADMIN_TOKEN, REPO_ROOT, _binary_path, _free_port, _tail
from e2e_helpers import new_entity, only_text

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def secured(tmp_path_factory) -> Iterator[str]:
    port = _free_port()
    log = tmp_path_factory.mktemp("auth") / "server.log"
    env = dict(os.environ, FASTMCP_MT_LOG_LEVEL="warn", FASTMCP_MT_ADMIN_TOKEN=ADMIN_TOKEN)
    proc = subprocess.Popen(
        [str(_binary_path()), "serve", "--bind", f"127.0.0.1:{port}", "--auth", "api-key",
         "--api-key-cache-secs", "0", "--auth-servers", "https://auth.example.com"],
        stdout=log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=str(REPO_ROOT), env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            pytest.fail(f"server exited: {_tail(log)}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"server not ready: {_tail(log)}")
        time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


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
