"""`GET /metrics`, parsed by the official Prometheus Python client's text parser."""

from __future__ import annotations

import httpx
import pytest
from mcp import Client
from prometheus_client.parser import text_string_to_metric_families

from conftest import ADMIN_TOKEN
from e2e_helpers import new_entity

pytestmark = pytest.mark.anyio


def scrape(base_url: str) -> dict[str, list]:
    r = httpx.get(f"{base_url}/metrics", headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {f.name: f.samples for f in text_string_to_metric_families(r.text)}


def value(samples, name: str, **labels) -> float:
    return sum(s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


async def test_tool_calls_requests_and_latency_are_counted_per_entity(base_url):
    entity = new_entity("metrics")
    async with Client(f"{base_url}/{entity}/mcp", mode="legacy") as client:
        for _ in range(3):
            await client.call_tool("echo", {"text": "m"})
        await client.call_tool("fail", {"message": "x"})
        live = scrape(base_url)
        assert value(live["fastmcp_live_sessions"], "fastmcp_live_sessions", entity=entity) == 1
        assert value(live["fastmcp_store_up"], "fastmcp_store_up") == 1
    families = scrape(base_url)
    # The client ended its session (DELETE) on leaving.
    assert value(families["fastmcp_live_sessions"], "fastmcp_live_sessions", entity=entity) == 0
    calls = families["fastmcp_tool_calls"]
    assert value(calls, "fastmcp_tool_calls_total", entity=entity, tool="echo", outcome="ok") == 3
    assert value(calls, "fastmcp_tool_calls_total", entity=entity, tool="fail", outcome="tool_error") == 1
    requests = families["fastmcp_requests"]
    assert value(requests, "fastmcp_requests_total", entity=entity, endpoint="mcp", status="200") >= 5
    latency = families["fastmcp_request_duration_seconds"]
    count = value(latency, "fastmcp_request_duration_seconds_count", entity=entity)
    inf = value(latency, "fastmcp_request_duration_seconds_bucket", entity=entity, le="+Inf")
    assert count >= 5 and inf == count
    # The server's Timing middleware: one observation per tool call, in its handler.
    handlers = families["fastmcp_handler_duration_seconds"]
    timed = value(handlers, "fastmcp_handler_duration_seconds_count", entity=entity, method="tools/call")
    assert timed == 4, timed
    assert value(handlers, "fastmcp_handler_duration_seconds_bucket", entity=entity, method="tools/call", le="+Inf") == 4
    opened = families["fastmcp_sessions_opened"]
    assert value(opened, "fastmcp_sessions_opened_total", entity=entity) == 1


def test_metrics_need_the_admin_token(base_url):
    r = httpx.get(f"{base_url}/metrics")
    assert r.status_code == 401 and "www-authenticate" in r.headers
