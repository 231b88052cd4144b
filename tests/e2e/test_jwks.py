"""JWT bearer tokens verified with keys from a JWKS URL (`--auth jwt --jwt-jwks-url`), against
the real binary: an authorization server stand-in publishes RS256 and ES256 keys over HTTP,
rotates and withdraws them, and goes down; the official SDK client sends the tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import httpx
import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from conftest import Instance, _binary_path, _free_port
from e2e_helpers import initialize_body, mcp_headers, new_entity, only_text

pytestmark = pytest.mark.anyio

AUDIENCE = "https://mcp.test"
ISSUER = "https://issuer.test"
CACHE_SECS = 1


class Issuer:
    """Publishes a JWKS document at /jwks.json and signs tokens with its private keys."""

    def __init__(self) -> None:
        self.keys: dict[str, tuple[str, Any]] = {}
        self.published: list[str] = []
        self.down = False
        self.fetches = 0
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                issuer.fetches += 1
                if issuer.down or self.path != "/jwks.json":
                    self.send_response(503 if issuer.down else 404)
                    self.end_headers()
                    return
                body = json.dumps({"keys": [issuer.jwk(kid) for kid in issuer.published]}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", _free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, kid: str, alg: str) -> None:
        key = rsa.generate_private_key(65537, 2048) if alg == "RS256" else ec.generate_private_key(ec.SECP256R1())
        self.keys[kid] = (alg, key)
        self.published.append(kid)

    def jwk(self, kid: str) -> dict:
        alg, key = self.keys[kid]
        algo = jwt.algorithms.RSAAlgorithm if alg == "RS256" else jwt.algorithms.ECAlgorithm
        return {**algo.to_jwk(key.public_key(), as_dict=True), "kid": kid, "use": "sig", "alg": alg}

    def token(self, kid: str, entity: str, **claims: Any) -> str:
        alg, key = self.keys[kid]
        body = {"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 600,
                "entities": [entity], "scope": "tools:call", "jti": new_entity("t"), **claims}
        return jwt.encode(body, key, algorithm=alg, headers={"kid": kid})


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    iss = Issuer()
    iss.add("rsa-1", "RS256")
    iss.add("ec-1", "ES256")
    yield iss
    iss.server.shutdown()


@pytest.fixture(scope="module")
def server(issuer, tmp_path_factory) -> Iterator[str]:
    inst = Instance(_binary_path(), tmp_path_factory.mktemp("jwks"), "jwks", None,
                    ["--auth", "jwt", "--jwt-jwks-url", issuer.url, "--jwks-cache-secs", str(CACHE_SECS),
                     "--jwt-audience", AUDIENCE, "--jwt-issuer", ISSUER])
    yield inst.url
    inst.stop()


def post_initialize(url: str, entity: str, token: str) -> httpx.Response:
    return httpx.post(f"{url}/{entity}/mcp", json=initialize_body(),
                      headers={**mcp_headers(), "authorization": f"Bearer {token}"})


@pytest.mark.parametrize("kid", ["rsa-1", "ec-1"])
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_sdk_client_with_rs256_and_es256_tokens(server, issuer, kid, mode):
    entity = new_entity()
    token = issuer.token(kid, entity)
    async with httpx2.AsyncClient(headers={"authorization": f"Bearer {token}"}, timeout=30) as http:
        async with Client(streamable_http_client(f"{server}/{entity}/mcp", http_client=http), mode=mode) as client:
            assert only_text(await client.call_tool("echo", {"text": kid})) == kid


def test_rotation_withdrawal_and_forged_tokens(server, issuer):
    entity = new_entity()
    # The issuer starts signing with a key published after the server fetched the set: the
    # server learns it from the token's unknown kid, without a restart.
    issuer.add("rsa-2", "RS256")
    time.sleep(CACHE_SECS + 0.2)
    assert post_initialize(server, entity, issuer.token("rsa-2", entity)).status_code == 200

    # Withdrawn: within the cache time plus one background refresh, its tokens stop working.
    issuer.published.remove("rsa-1")
    deadline = time.monotonic() + 10
    while post_initialize(server, entity, issuer.token("rsa-1", entity)).status_code == 200:
        assert time.monotonic() < deadline, "a withdrawn key still verifies"
        time.sleep(0.2)
    r = post_initialize(server, entity, issuer.token("rsa-1", entity))
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"]

    # Wrong claims, wrong entity, forged algorithms.
    assert post_initialize(server, entity, issuer.token("ec-1", entity, aud="https://other")).status_code == 401
    assert post_initialize(server, entity, issuer.token("ec-1", entity, iss="https://evil")).status_code == 401
    assert post_initialize(server, entity, issuer.token("ec-1", entity, exp=int(time.time()) - 60)).status_code == 401
    assert post_initialize(server, entity, issuer.token("ec-1", new_entity())).status_code == 403
    public_pem = issuer.keys["rsa-2"][1].public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    for header, key in (({"alg": "HS256", "kid": "rsa-2"}, public_pem), ({"alg": "none", "kid": "rsa-2"}, b"")):
        b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()  # noqa: E731
        claims = {"sub": "mallory", "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 600, "entities": [entity]}
        signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
        sig = hmac.new(key, signing_input.encode(), hashlib.sha256).digest() if key else b""
        r = post_initialize(server, entity, f"{signing_input}.{b64(sig)}")
        assert r.status_code == 401, (header, r.text)


def test_metadata_names_the_issuer_as_authorization_server(server):
    entity = new_entity()
    r = httpx.post(f"{server}/{entity}/mcp", json=initialize_body(), headers=mcp_headers())
    assert r.status_code == 401
    meta_url = r.headers["www-authenticate"].split('resource_metadata="', 1)[1].split('"', 1)[0]
    assert httpx.get(meta_url).json()["authorization_servers"] == [ISSUER]


def test_issuer_outage_keeps_known_keys_and_refuses_unknown_ones(server, issuer):
    entity = new_entity()
    assert post_initialize(server, entity, issuer.token("ec-1", entity)).status_code == 200
    issuer.down = True
    try:
        issuer.add("rsa-3", "RS256")
        time.sleep(CACHE_SECS + 0.2)
        assert post_initialize(server, entity, issuer.token("ec-1", entity)).status_code == 200
        assert post_initialize(server, entity, issuer.token("rsa-3", entity)).status_code == 401
    finally:
        issuer.down = False


def test_no_keys_yet_is_503_never_a_pass(tmp_path):
    dead = f"http://127.0.0.1:{_free_port()}/jwks.json"
    inst = Instance(_binary_path(), tmp_path, "nojwks", None, ["--auth", "jwt", "--jwt-jwks-url", dead])
    try:
        iss = Issuer()
        iss.add("k", "RS256")
        entity = new_entity()
        r = post_initialize(inst.url, entity, iss.token("k", entity))
        assert r.status_code == 503, r.text
        iss.server.shutdown()
    finally:
        inst.stop()


def test_plain_http_jwks_off_loopback_is_refused_at_start(tmp_path):
    import subprocess
    out = subprocess.run([str(_binary_path()), "serve", "--bind", f"127.0.0.1:{_free_port()}", "--auth", "jwt",
                          "--jwt-jwks-url", "http://issuer.example/jwks.json"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and "https" in out.stderr, out.stderr
