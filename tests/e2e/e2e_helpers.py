"""Shared helpers for the FastMCP-MT end-to-end tests."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
import httpx2
import mcp_types as types
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

TRANSPORTS = ("streamable", "sse")
HANDSHAKE_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
LATEST_HANDSHAKE = "2025-11-25"
ACCEPT = "application/json, text/event-stream"

INVALID_PARAMS = -32602
METHOD_NOT_FOUND = -32601
PARSE_ERROR = -32700
RESOURCE_NOT_FOUND = -32002
UNSUPPORTED_PROTOCOL_VERSION = -32022

LoggingCallback = Callable[[types.LoggingMessageNotificationParams], Awaitable[None]]


def new_entity(prefix: str = "e2e") -> str:
    """A fresh, valid entity id (so tests never share tenant state)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@dataclass
class Conn:
    """An initialized SDK session plus what the transport learned about it."""

    session: ClientSession
    entity: str
    transport: str
    logs: list[types.LoggingMessageNotificationParams]
    _ids: dict[str, str] = field(default_factory=dict)
    http_log: list[tuple[str, str, int]] = field(default_factory=list)

    @property
    def session_id(self) -> str | None:
        """Transport-level session id (Mcp-Session-Id header, or the SSE endpoint's session_id)."""
        return self._ids.get("sid")


@asynccontextmanager
async def connect(
    base: str,
    entity: str,
    transport: str,
    *,
    logging_callback: LoggingCallback | None = None,
    initialize: bool = True,
    read_timeout: float = 15.0,
    message_handler: Callable[[Any], Awaitable[None]] | None = None,
) -> AsyncIterator[Conn]:
    """Open an SDK ClientSession to ``entity`` over ``transport`` and (by default) initialize it."""
    logs: list[types.LoggingMessageNotificationParams] = []
    ids: dict[str, str] = {}

    async def _log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append(params)
        if logging_callback is not None:
            await logging_callback(params)

    if transport == "streamable":
        http_log: list[tuple[str, str, int]] = []

        async def on_response(response: httpx2.Response) -> None:
            sid = response.headers.get("mcp-session-id")
            if sid and "sid" not in ids:
                ids["sid"] = sid
            http_log.append((response.request.method, str(response.request.url), response.status_code))

        http = httpx2.AsyncClient(
            timeout=httpx2.Timeout(30.0, read=300.0), event_hooks={"response": [on_response]}
        )
        async with http:
            async with streamable_http_client(f"{base}/{entity}/mcp", http_client=http) as (read, write):
                async with ClientSession(
                    read, write, read_timeout_seconds=read_timeout, logging_callback=_log,
                    message_handler=message_handler,
                ) as session:
                    if initialize:
                        await session.initialize()
                    yield Conn(session, entity, transport, logs, ids, http_log)
    elif transport == "sse":

        def on_session_created(sid: str) -> None:
            ids["sid"] = sid

        async with sse_client(
            f"{base}/{entity}/sse", timeout=10.0, on_session_created=on_session_created
        ) as (read, write):
            async with ClientSession(
                read, write, read_timeout_seconds=read_timeout, logging_callback=_log,
                message_handler=message_handler,
            ) as session:
                if initialize:
                    await session.initialize()
                yield Conn(session, entity, transport, logs, ids)
    else:  # pragma: no cover - programming error
        raise ValueError(f"unknown transport {transport!r}")


def only_text(result: types.CallToolResult | types.GetPromptResult | Any) -> str:
    """The text of a result whose content is exactly one TextContent block."""
    content = result.content
    assert len(content) == 1, f"expected exactly one content block, got {content!r}"
    block = content[0]
    assert isinstance(block, types.TextContent), f"expected TextContent, got {block!r}"
    return block.text


def log_text(params: types.LoggingMessageNotificationParams) -> str:
    """The human-readable text of a log notification (data as string, or {"message": ...})."""
    data = params.data
    if isinstance(data, str):
        return data
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return data["message"]
    raise AssertionError(f"log notification data is neither a string nor {{'message': str}}: {data!r}")


async def wait_until(predicate: Callable[[], bool], timeout: float = 2.0) -> bool:
    """Poll ``predicate`` until true or ``timeout`` elapses (for notifications racing a result)."""
    with anyio.move_on_after(timeout):
        while not predicate():
            await anyio.sleep(0.02)
    return predicate()


# --------------------------------------------------------------------------- raw HTTP


def parse_sse(text: str) -> list[dict[str, str]]:
    """Parse a complete text/event-stream body into a list of {event, data, id} dicts."""
    events: list[dict[str, str]] = []
    current: dict[str, list[str] | str] = {}
    data_lines: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if line == "":
            if data_lines or current:
                ev = {k: v for k, v in current.items() if isinstance(v, str)}
                ev["data"] = "\n".join(data_lines)
                ev.setdefault("event", "message")
                events.append(ev)
            current, data_lines = {}, []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            data_lines.append(value)
        elif name in ("event", "id", "retry"):
            current[name] = value
    if data_lines:
        ev = {k: v for k, v in current.items() if isinstance(v, str)}
        ev["data"] = "\n".join(data_lines)
        ev.setdefault("event", "message")
        events.append(ev)
    return events


def jsonrpc_messages(response: httpx.Response) -> list[dict[str, Any]]:
    """All JSON-RPC messages in a response body (JSON or SSE)."""
    ctype = response.headers.get("content-type", "").lower()
    if ctype.startswith("text/event-stream"):
        return [json.loads(ev["data"]) for ev in parse_sse(response.text) if ev["data"].strip()]
    if ctype.startswith("application/json"):
        body = response.json()
        return body if isinstance(body, list) else [body]
    raise AssertionError(f"unexpected content-type {ctype!r} (status {response.status_code}): {response.text[:500]!r}")


def jsonrpc_reply(response: httpx.Response, request_id: Any) -> dict[str, Any]:
    """The JSON-RPC response (result or error) to ``request_id`` contained in ``response``."""
    for msg in jsonrpc_messages(response):
        if "id" in msg and ("result" in msg or "error" in msg) and msg["id"] == request_id:
            return msg
    raise AssertionError(f"no JSON-RPC reply with id {request_id!r} in body: {response.text[:1000]!r}")


def mcp_headers(session_id: str | None = None, protocol_version: str | None = LATEST_HANDSHAKE) -> dict[str, str]:
    headers = {"accept": ACCEPT, "content-type": "application/json"}
    if session_id is not None:
        headers["mcp-session-id"] = session_id
    if protocol_version is not None:
        headers["mcp-protocol-version"] = protocol_version
    return headers


def initialize_body(request_id: int = 1, protocol_version: str = LATEST_HANDSHAKE) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "initialize",
        "params": {
            "protocolVersion": protocol_version,
            "capabilities": {},
            "clientInfo": {"name": "fastmcp-e2e-raw", "version": "0.0.1"},
        },
    }


def raw_initialize(client: httpx.Client, base: str, entity: str) -> str:
    """Initialize a Streamable HTTP session with plain HTTP; returns the Mcp-Session-Id."""
    r = client.post(f"{base}/{entity}/mcp", json=initialize_body(), headers=mcp_headers(protocol_version=None))
    assert r.status_code == 200, f"initialize: HTTP {r.status_code}: {r.text[:500]}"
    sid = r.headers.get("mcp-session-id")
    assert sid, f"initialize response carries no Mcp-Session-Id header: {dict(r.headers)}"
    reply = jsonrpc_reply(r, 1)
    assert "result" in reply, reply
    assert reply["result"]["protocolVersion"] in HANDSHAKE_VERSIONS, reply
    n = client.post(
        f"{base}/{entity}/mcp",
        json={"jsonrpc": "2.0", "method": "notifications/initialized"},
        headers=mcp_headers(sid),
    )
    assert n.status_code == 202, f"notifications/initialized: HTTP {n.status_code}: {n.text[:500]}"
    return sid


def raw_call(
    client: httpx.Client,
    base: str,
    entity: str,
    method: str,
    params: dict[str, Any] | None = None,
    *,
    session_id: str | None = None,
    request_id: int = 2,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        body["params"] = params
    h = mcp_headers(session_id)
    if headers:
        h.update(headers)
    return client.post(f"{base}/{entity}/mcp", json=body, headers=h)


def mentions_field(message: str, field: str) -> bool:
    """Whether an error message names ``field`` as a field (not just contains its letters).

    Accepts quoted/backticked names (`'a'`, `"a"`, `` `a` ``), JSON-pointer/path forms (`/a`, `.a`,
    `[a]`), `a:` and phrases like "field a" / "argument a" / "parameter a" / "property a".
    Fields of 3+ characters may also appear as a plain word.
    """
    f = re.escape(field)
    patterns = [
        rf"['\"`]{f}['\"`]",
        rf"[/.\[]{f}(?![A-Za-z0-9_])",
        rf"(?<![A-Za-z0-9_]){f}(?:\]|:)",
        rf"(?i:field|argument|arg|param|parameter|property|key)s?\s+{f}(?![A-Za-z0-9_])",
    ]
    if len(field) >= 3:
        patterns.append(rf"(?<![A-Za-z0-9_]){f}(?![A-Za-z0-9_])")
    return any(re.search(p, message) for p in patterns)


MODERN = "2026-07-28"
HEADER_MISMATCH = -32020
MISSING_CLIENT_CAPABILITY = -32021
NAME_PARAMS = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}


def modern_request(
    base: str,
    entity: str,
    method: str,
    params: dict[str, Any] | None = None,
    *,
    request_id: int = 1,
    capabilities: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One 2026-07-28 request by hand, as `httpx` arguments (url, json, headers): the `_meta`
    envelope plus matching routing headers."""
    params = dict(params or {})
    params["_meta"] = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": capabilities if capabilities is not None else {"elicitation": {}},
        "io.modelcontextprotocol/clientInfo": {"name": "e2e-raw", "version": "1"},
        **params.get("_meta", {}),
    }
    h = {"accept": ACCEPT, "content-type": "application/json", "mcp-protocol-version": MODERN, "mcp-method": method}
    if method in NAME_PARAMS and isinstance(params.get(NAME_PARAMS[method]), str):
        h["mcp-name"] = params[NAME_PARAMS[method]]
    h.update(headers or {})
    body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
    return {"url": f"{base}/{entity}/mcp", "json": body, "headers": h}


def modern_call(client: httpx.Client, base: str, entity: str, method: str,
                params: dict[str, Any] | None = None, **kw: Any) -> httpx.Response:
    """[`modern_request`], sent."""
    return client.post(**modern_request(base, entity, method, params, **kw))
