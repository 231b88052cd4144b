"""Raw HTTP behaviour of the transports (no SDK): routing, sessions, limits, errors."""

from __future__ import annotations

import json

import anyio
import httpx
import pytest

from e2e_helpers import (
    HANDSHAKE_VERSIONS,
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    UNSUPPORTED_PROTOCOL_VERSION,
    initialize_body,
    jsonrpc_messages,
    jsonrpc_reply,
    mcp_headers,
    mentions_field,
    new_entity,
    parse_sse,
    raw_call,
    raw_initialize,
)


@pytest.fixture
def http():
    with httpx.Client(timeout=10.0) as client:
        yield client


def assert_json_body(r: httpx.Response) -> object:
    ctype = r.headers.get("content-type", "")
    assert ctype.lower().startswith("application/json"), f"content-type {ctype!r}, body {r.text[:300]!r}"
    return r.json()


# ----------------------------------------------------------------------------- health


def test_health(http, base_url):
    r = http.get(f"{base_url}/health")
    assert r.status_code == 200


def test_ready(http, base_url):
    r = http.get(f"{base_url}/ready")
    assert r.status_code == 200


# ----------------------------------------------------------------------------- entity ids


@pytest.mark.parametrize("bad", ["bad%20id", "a" * 129, "bad~id", "caf%C3%A9", "semi%3Bcolon"])
def test_invalid_entity_id_streamable(http, base_url, bad):
    r = http.post(f"{base_url}/{bad}/mcp", json=initialize_body(), headers=mcp_headers(protocol_version=None))
    assert r.status_code == 400, (r.status_code, r.text[:300])
    assert_json_body(r)
    assert "mcp-session-id" not in r.headers


@pytest.mark.parametrize("bad", ["bad%20id", "a" * 129, "bad~id"])
def test_invalid_entity_id_sse(http, base_url, bad):
    r = http.get(f"{base_url}/{bad}/sse", headers={"accept": "text/event-stream"})
    assert r.status_code == 400, (r.status_code, r.text[:300])
    assert_json_body(r)


@pytest.mark.parametrize("good", ["a", "A.b-c_9", "x" * 128, "0"])
def test_valid_entity_id_edge_cases(http, base_url, good):
    # Unique suffix is impossible for the fixed-size cases, so only reuse harmless ids.
    sid = raw_initialize(http, base_url, good)
    r = raw_call(http, base_url, good, "tools/call", {"name": "whoami", "arguments": {}}, session_id=sid)
    assert r.status_code == 200, r.text[:300]
    reply = jsonrpc_reply(r, 2)
    assert reply["result"]["structuredContent"]["entity_id"] == good
    http.delete(f"{base_url}/{good}/mcp", headers=mcp_headers(sid))


# ----------------------------------------------------------------------------- sessions


def test_initialize_returns_session_header(http, base_url):
    entity = new_entity()
    r = http.post(f"{base_url}/{entity}/mcp", json=initialize_body(), headers=mcp_headers(protocol_version=None))
    assert r.status_code == 200, r.text[:300]
    assert r.headers.get("mcp-session-id")
    reply = jsonrpc_reply(r, 1)
    assert reply["jsonrpc"] == "2.0"
    assert reply["result"]["protocolVersion"] == "2025-11-25"
    assert "tools" in reply["result"]["capabilities"]
    assert reply["result"]["serverInfo"]["name"]


@pytest.mark.parametrize("offered", ["2025-06-18", "2025-03-26", "2024-11-05"])
def test_initialize_negotiates_older_versions(http, base_url, offered):
    entity = new_entity()
    r = http.post(
        f"{base_url}/{entity}/mcp", json=initialize_body(protocol_version=offered), headers=mcp_headers(protocol_version=None)
    )
    assert r.status_code == 200, r.text[:300]
    assert jsonrpc_reply(r, 1)["result"]["protocolVersion"] == offered


def test_initialize_unknown_version_counter_offers(http, base_url):
    entity = new_entity()
    r = http.post(
        f"{base_url}/{entity}/mcp",
        json=initialize_body(protocol_version="1999-01-01"),
        headers=mcp_headers(protocol_version=None),
    )
    assert r.status_code == 200, r.text[:300]
    assert jsonrpc_reply(r, 1)["result"]["protocolVersion"] in HANDSHAKE_VERSIONS


def test_request_without_session_id(http, base_url):
    entity = new_entity()
    r = raw_call(http, base_url, entity, "tools/list", {})
    assert r.status_code == 400, (r.status_code, r.text[:300])


def test_unknown_session_id(http, base_url):
    entity = new_entity()
    r = raw_call(http, base_url, entity, "tools/list", {}, session_id="definitely-not-a-session")
    assert r.status_code == 404, (r.status_code, r.text[:300])


def test_session_bound_to_entity(http, base_url):
    a, b = new_entity("a"), new_entity("b")
    sid = raw_initialize(http, base_url, a)
    r = raw_call(http, base_url, b, "tools/list", {}, session_id=sid)
    assert r.status_code == 404, f"session of {a} accepted under {b}: HTTP {r.status_code} {r.text[:300]}"
    # Also via the GET stream and DELETE of the foreign entity.
    g = http.delete(f"{base_url}/{b}/mcp", headers=mcp_headers(sid))
    assert g.status_code == 404, (g.status_code, g.text[:300])
    # Still alive under its own entity, and still bound to it.
    ok = raw_call(http, base_url, a, "tools/call", {"name": "whoami", "arguments": {}}, session_id=sid)
    assert ok.status_code == 200, ok.text[:300]
    result = jsonrpc_reply(ok, 2)["result"]
    assert result["structuredContent"] == {"entity_id": a, "session_id": sid}


def test_delete_session(http, base_url):
    entity = new_entity()
    sid = raw_initialize(http, base_url, entity)
    d = http.delete(f"{base_url}/{entity}/mcp", headers=mcp_headers(sid))
    assert d.status_code in (200, 204), (d.status_code, d.text[:300])
    r = raw_call(http, base_url, entity, "tools/list", {}, session_id=sid)
    assert r.status_code == 404, (r.status_code, r.text[:300])
    d2 = http.delete(f"{base_url}/{entity}/mcp", headers=mcp_headers(sid))
    assert d2.status_code == 404, (d2.status_code, d2.text[:300])


def test_get_stream_requires_session(http, base_url):
    entity = new_entity()
    r = http.get(f"{base_url}/{entity}/mcp", headers={"accept": "text/event-stream"})
    assert r.status_code in (400, 405), (r.status_code, r.text[:300])


# ----------------------------------------------------------------------------- request hygiene


def test_foreign_origin_rejected(http, base_url):
    entity = new_entity()
    headers = mcp_headers(protocol_version=None)
    headers["origin"] = "http://evil.example.com"
    r = http.post(f"{base_url}/{entity}/mcp", json=initialize_body(), headers=headers)
    assert r.status_code == 403, (r.status_code, r.text[:300])
    assert "mcp-session-id" not in r.headers


def test_foreign_origin_rejected_sse(http, base_url):
    entity = new_entity()
    r = http.get(
        f"{base_url}/{entity}/sse",
        headers={"accept": "text/event-stream", "origin": "http://evil.example.com"},
    )
    assert r.status_code == 403, (r.status_code, r.text[:300])


def test_body_too_large(http, base_url):
    entity = new_entity()
    sid = raw_initialize(http, base_url, entity)
    big = "x" * (4 * 1024 * 1024 + 1024)
    body = json.dumps(
        {"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": big}}}
    ).encode()
    try:
        r = http.post(f"{base_url}/{entity}/mcp", content=body, headers=mcp_headers(sid))
    except httpx.HTTPError as e:  # the server may close before reading everything
        pytest.fail(f"server dropped the connection instead of answering 413: {e!r}")
    assert r.status_code == 413, (r.status_code, r.text[:300])


def test_body_just_under_limit_accepted(http, base_url):
    entity = new_entity()
    sid = raw_initialize(http, base_url, entity)
    text = "y" * (3 * 1024 * 1024)
    r = raw_call(http, base_url, entity, "tools/call", {"name": "echo", "arguments": {"text": text}}, session_id=sid)
    assert r.status_code == 200, (r.status_code, r.text[:300])
    assert jsonrpc_reply(r, 2)["result"]["content"][0]["text"] == text


def test_malformed_json(http, base_url):
    entity = new_entity()
    sid = raw_initialize(http, base_url, entity)
    r = http.post(f"{base_url}/{entity}/mcp", content=b'{"jsonrpc": "2.0", "id": 1, "method": ', headers=mcp_headers(sid))
    assert r.status_code == 400, (r.status_code, r.text[:300])
    body = assert_json_body(r)
    assert body["jsonrpc"] == "2.0"
    assert body["error"]["code"] == PARSE_ERROR, body
    assert body.get("id") is None, body


def test_malformed_json_without_session(http, base_url):
    entity = new_entity()
    r = http.post(f"{base_url}/{entity}/mcp", content=b"not json at all", headers=mcp_headers(protocol_version=None))
    assert r.status_code == 400, (r.status_code, r.text[:300])
    body = assert_json_body(r)
    assert body["error"]["code"] == PARSE_ERROR, body


def test_unknown_method(http, base_url):
    entity = new_entity()
    sid = raw_initialize(http, base_url, entity)
    r = raw_call(http, base_url, entity, "frobnicate/now", {}, session_id=sid, request_id=77)
    reply = jsonrpc_reply(r, 77)
    assert reply["error"]["code"] == METHOD_NOT_FOUND, reply


def test_invalid_params_raw(http, base_url):
    entity = new_entity()
    sid = raw_initialize(http, base_url, entity)
    r = raw_call(http, base_url, entity, "tools/call", {"name": "add", "arguments": {"a": 1, "b": "two"}}, session_id=sid)
    reply = jsonrpc_reply(r, 2)
    assert reply["error"]["code"] == INVALID_PARAMS, reply
    assert mentions_field(reply["error"]["message"], "b"), reply


def test_set_logging_level_invalid_level(http, base_url):
    entity = new_entity()
    sid = raw_initialize(http, base_url, entity)
    r = raw_call(http, base_url, entity, "logging/setLevel", {"level": "loud"}, session_id=sid)
    reply = jsonrpc_reply(r, 2)
    assert reply["error"]["code"] == INVALID_PARAMS, reply


def test_notification_gets_202(http, base_url):
    entity = new_entity()
    sid = raw_initialize(http, base_url, entity)
    r = http.post(
        f"{base_url}/{entity}/mcp",
        json={"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 12345}},
        headers=mcp_headers(sid),
    )
    assert r.status_code == 202, (r.status_code, r.text[:300])


# ----------------------------------------------------------------------------- 2026-07-28 era probe


def _discover(http: httpx.Client, base_url: str, entity: str) -> httpx.Response:
    body = {
        "jsonrpc": "2.0",
        "id": 5,
        "method": "server/discover",
        "params": {
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "0"},
                "io.modelcontextprotocol/clientCapabilities": {},
            }
        },
    }
    headers = mcp_headers(protocol_version="2026-07-28")
    headers["mcp-method"] = "server/discover"
    return http.post(f"{base_url}/{entity}/mcp", json=body, headers=headers)


def test_discover_answers_without_a_session(http, base_url):
    entity = new_entity()
    r = _discover(http, base_url, entity)
    assert r.status_code == 200, (r.status_code, r.text[:300])
    result = assert_json_body(r)["result"]
    assert "2026-07-28" in result["supportedVersions"]
    assert set(HANDSHAKE_VERSIONS) <= set(result["supportedVersions"])
    assert result["resultType"] == "complete" and isinstance(result["ttlMs"], int)
    assert "mcp-session-id" not in r.headers


def test_unknown_modern_version_is_refused_with_32022_naming_it(http, base_url):
    # `requested` and `supported` are required members of UnsupportedProtocolVersionErrorData.
    entity = new_entity()
    body = {"jsonrpc": "2.0", "id": 6, "method": "server/discover", "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": "v999.0.0", "io.modelcontextprotocol/clientCapabilities": {}}}}
    headers = mcp_headers(protocol_version="v999.0.0")
    headers["mcp-method"] = "server/discover"
    r = http.post(f"{base_url}/{entity}/mcp", json=body, headers=headers)
    assert r.status_code == 400, (r.status_code, r.text[:300])
    err = assert_json_body(r)["error"]
    assert err["code"] == UNSUPPORTED_PROTOCOL_VERSION
    assert err["data"]["requested"] == "v999.0.0"
    assert "2026-07-28" in err["data"]["supported"] and "2025-11-25" in err["data"]["supported"]


def test_modern_request_without_client_capabilities_is_invalid(http, base_url):
    entity = new_entity()
    headers = mcp_headers(protocol_version="2026-07-28")
    headers["mcp-method"] = "tools/list"
    r = http.post(
        f"{base_url}/{entity}/mcp",
        json={
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/list",
            "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}},
        },
        headers=headers,
    )
    assert r.status_code == 400, (r.status_code, r.text[:300])
    body = assert_json_body(r)
    assert body["error"]["code"] == INVALID_PARAMS and body["id"] == 3


def test_discover_does_not_break_later_initialize(http, base_url):
    entity = new_entity()
    assert _discover(http, base_url, entity).status_code == 200
    sid = raw_initialize(http, base_url, entity)
    assert sid


# ----------------------------------------------------------------------------- legacy HTTP+SSE


async def _open_sse(client: httpx.AsyncClient, url: str):
    """Open a legacy SSE stream; returns (response, async line iterator)."""
    req = client.build_request("GET", url, headers={"accept": "text/event-stream"})
    resp = await client.send(req, stream=True)
    return resp, resp.aiter_lines()


async def _next_event(lines) -> dict[str, str]:
    buf: list[str] = []
    async for line in lines:
        if line == "":
            if buf:
                events = parse_sse("\n".join(buf) + "\n\n")
                if events:
                    return events[0]
                buf = []
            continue
        buf.append(line)
    raise AssertionError("SSE stream ended before an event arrived")


@pytest.mark.anyio
async def test_legacy_sse_endpoint_event(base_url):
    entity = new_entity()
    async with httpx.AsyncClient(timeout=10.0) as client:
        resp, lines = await _open_sse(client, f"{base_url}/{entity}/sse")
        try:
            assert resp.status_code == 200
            assert resp.headers["content-type"].startswith("text/event-stream")
            with anyio.fail_after(5):
                ev = await _next_event(lines)
            assert ev["event"] == "endpoint", ev
            prefix = f"/{entity}/messages?session_id="
            assert ev["data"].startswith(prefix), ev
            assert len(ev["data"]) > len(prefix), ev
        finally:
            await resp.aclose()


@pytest.mark.anyio
async def test_legacy_sse_round_trip_and_entity_binding(base_url):
    entity, other = new_entity("a"), new_entity("b")
    async with httpx.AsyncClient(timeout=10.0) as client:
        resp, lines = await _open_sse(client, f"{base_url}/{entity}/sse")
        try:
            with anyio.fail_after(5):
                ev = await _next_event(lines)
            endpoint = ev["data"]
            query = endpoint.split("?", 1)[1]

            # The same session id under another entity is unknown there.
            foreign = await client.post(f"{base_url}/{other}/messages?{query}", json=initialize_body())
            assert foreign.status_code == 404, (foreign.status_code, foreign.text[:300])

            # Unknown session id under the right entity.
            unknown = await client.post(f"{base_url}/{entity}/messages?session_id=nope", json=initialize_body())
            assert unknown.status_code == 404, (unknown.status_code, unknown.text[:300])

            # The real endpoint accepts the message and answers on the stream.
            ok = await client.post(f"{base_url}{endpoint}", json=initialize_body(request_id=41))
            assert ok.status_code == 202, (ok.status_code, ok.text[:300])
            with anyio.fail_after(5):
                while True:
                    msg_ev = await _next_event(lines)
                    if msg_ev["event"] == "message" and msg_ev["data"].strip():
                        msg = json.loads(msg_ev["data"])
                        if msg.get("id") == 41:
                            break
            assert msg["result"]["protocolVersion"] == "2025-11-25", msg

            # Malformed JSON on the messages endpoint is rejected with 400.
            bad = await client.post(
                f"{base_url}{endpoint}", content=b"{oops", headers={"content-type": "application/json"}
            )
            assert bad.status_code == 400, (bad.status_code, bad.text[:300])
        finally:
            await resp.aclose()


def test_legacy_messages_without_session(http, base_url):
    entity = new_entity()
    r = http.post(f"{base_url}/{entity}/messages", json=initialize_body())
    assert r.status_code in (400, 404), (r.status_code, r.text[:300])


# ----------------------------------------------------------------------------- misc


def test_unknown_path_404(http, base_url):
    r = http.get(f"{base_url}/{new_entity()}/nothing-here")
    assert r.status_code == 404, (r.status_code, r.text[:300])


def test_jsonrpc_messages_helper_sanity():
    # Guard the helper used by every raw test: it must find replies in JSON and SSE bodies.
    sse = httpx.Response(
        200,
        headers={"content-type": "text/event-stream"},
        text='event: message\ndata: {"jsonrpc":"2.0","method":"x"}\n\nevent: message\ndata: {"jsonrpc":"2.0","id":2,"result":{}}\n\n',
    )
    assert jsonrpc_reply(sse, 2) == {"jsonrpc": "2.0", "id": 2, "result": {}}
    js = httpx.Response(200, headers={"content-type": "application/json"}, json={"jsonrpc": "2.0", "id": 3, "error": {"code": 1, "message": "m"}})
    assert jsonrpc_messages(js)[0]["error"]["code"] == 1


@pytest.mark.anyio
async def test_legacy_session_ends_with_its_stream(base_url):
    entity = new_entity()
    async with httpx.AsyncClient(timeout=10.0) as client:
        resp, lines = await _open_sse(client, f"{base_url}/{entity}/sse")
        with anyio.fail_after(5):
            endpoint = (await _next_event(lines))["data"]
        ok = await client.post(f"{base_url}{endpoint}", json=initialize_body())
        assert ok.status_code == 202
        await resp.aclose()
        # Closing the stream ends the session; give the server a moment to notice.
        status = None
        with anyio.move_on_after(3):
            while True:
                r = await client.post(f"{base_url}{endpoint}", json={"jsonrpc": "2.0", "id": 2, "method": "ping"})
                status = r.status_code
                if status == 404:
                    break
                await anyio.sleep(0.1)
        assert status == 404, f"messages endpoint still answers {status} after its SSE stream closed"
