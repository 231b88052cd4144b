"""OpenTelemetry: the binary exports the spans of MCP requests over OTLP/HTTP (JSON here) to a
collector the test runs, in the caller's trace (W3C `traceparent` from the HTTP headers, or from
`params._meta`), with the request's method, tool, entity, session, era and outcome, and child
spans for the store calls."""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from conftest import Instance, _binary_path
from e2e_helpers import jsonrpc_reply, mcp_headers, modern_call, raw_call, raw_initialize


class Collector:
    """An OTLP/HTTP receiver: keeps every span POSTed to /v1/traces (OTLP/JSON)."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.path == "/v1/traces":
                    doc = json.loads(body)
                    with collector.lock:
                        for rs in doc.get("resourceSpans", []):
                            service = next((a["value"].get("stringValue") for a in rs.get("resource", {}).get("attributes", [])
                                            if a["key"] == "service.name"), None)
                            for ss in rs.get("scopeSpans", []):
                                for s in ss.get("spans", []):
                                    s["service"] = service
                                    collector.spans.append(s)
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, pred, timeout: float = 15) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = [s for s in self.spans if pred(s)]
            if found:
                return found
            time.sleep(0.1)
        with self.lock:
            names = sorted({s["name"] for s in self.spans})
        raise AssertionError(f"no such span among {names}")

    def by_id(self, span_id: str) -> dict[str, Any] | None:
        with self.lock:
            return next((s for s in self.spans if s["spanId"] == span_id), None)

    def close(self) -> None:
        self.server.shutdown()


def attrs(span: dict[str, Any]) -> dict[str, Any]:
    return {a["key"]: next(iter(a["value"].values()), None) for a in span.get("attributes", [])}


@pytest.fixture
def traced(tmp_path):
    collector = Collector()
    node = Instance(_binary_path(), tmp_path, "otel", None, env={
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OTEL_SERVICE_NAME": "fastmcp-e2e",
    })
    yield collector, node
    node.stop()
    collector.close()


def test_a_handshake_call_is_a_span_in_the_callers_trace_with_store_calls_under_it(traced):
    collector, node = traced
    entity = f"otel-{uuid.uuid4().hex[:8]}"
    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    with httpx.Client(timeout=10) as http:
        sid = raw_initialize(http, node.url, entity)
        headers = dict(mcp_headers(sid), traceparent=f"00-{trace_id}-{parent_id}-01")
        r = raw_call(http, node.url, entity, "tools/call", {"name": "remember", "arguments": {"key": "k", "value": "v"}},
                     session_id=sid, headers=headers)
        assert "result" in jsonrpc_reply(r, 2), r.text
    (call,) = collector.wait_for(lambda s: s["name"] == "tools/call remember")
    assert call["traceId"] == trace_id, call
    a = attrs(call)
    assert a["mcp.method.name"] == "tools/call" and a["gen_ai.tool.name"] == "remember", a
    assert a["fastmcp.entity"] == entity and a["mcp.session.id"] == sid, a
    assert a["fastmcp.era"] == "handshake" and a["fastmcp.outcome"] == "ok", a
    assert call["service"] == "fastmcp-e2e"
    # Its parent is the HTTP request's span, whose parent is the caller's span.
    edge = collector.by_id(call["parentSpanId"])
    assert edge and edge["name"] == "mcp.http" and edge["parentSpanId"] == parent_id, edge
    # The state write ran in the request: store spans under it, in the same trace.
    stores = collector.wait_for(lambda s: s["name"].startswith("store.") and s.get("parentSpanId") == call["spanId"])
    assert {s["traceId"] for s in stores} == {trace_id}
    assert {"store.load", "store.save"} <= {s["name"] for s in stores}, [s["name"] for s in stores]


def test_a_2026_call_takes_its_trace_from_meta_and_failures_say_so(traced):
    collector, node = traced
    entity = f"otel-{uuid.uuid4().hex[:8]}"
    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    header_trace = secrets.token_hex(16)
    with httpx.Client(timeout=10) as http:
        r = modern_call(http, node.url, entity, "tools/call",
                        {"name": "echo", "arguments": {"text": "t"},
                         "_meta": {"traceparent": f"00-{trace_id}-{parent_id}-01"}},
                        headers={"traceparent": f"00-{header_trace}-{secrets.token_hex(8)}-01"})
        assert jsonrpc_reply(r, 1)["result"]["content"][0]["text"] == "t", r.text
        r = modern_call(http, node.url, entity, "tools/call", {"name": "nope", "arguments": {}}, request_id=2)
        assert "error" in r.json(), r.text
    (call,) = collector.wait_for(lambda s: s["name"] == "tools/call echo")
    # `_meta` wins over the header.
    assert call["traceId"] == trace_id, call
    a = attrs(call)
    assert a["fastmcp.era"] == "2026-07-28" and "mcp.session.id" not in a, a
    (failed,) = collector.wait_for(lambda s: s["name"] == "tools/call nope")
    fa = attrs(failed)
    assert fa["fastmcp.outcome"] == "error" and str(fa["error.type"]) == "-32602", fa
    assert failed["status"].get("code") in (2, "STATUS_CODE_ERROR"), failed
