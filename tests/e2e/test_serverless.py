"""Serverless: the Vercel function of examples/vercel, run the way Vercel's Rust runtime runs it.

On Vercel, the platform's bridge starts the function binary with `VERCEL_DEV_PORT` and
forwards each request to `127.0.0.1:$VERCEL_DEV_PORT` (`vercel_runtime`, fluid compute); `vc dev`
does the same locally. These tests start the built binary (`target/debug/mcp`) that way, two
processes on one Redis, and drive them with the official Python SDK over both transports.

Needs ``FASTMCP_E2E_REDIS_URL`` (scripts/test.sh sets it); without it the module is skipped,
except under CI.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import REPO_ROOT, _free_port, _tail
from e2e_helpers import connect, mcp_headers, only_text, raw_initialize
from test_scale_out import SseReader

REDIS_URL = os.environ.get("FASTMCP_E2E_REDIS_URL")
if not REDIS_URL:
    if os.environ.get("CI"):
        raise RuntimeError("CI must set FASTMCP_E2E_REDIS_URL")
    pytest.skip("FASTMCP_E2E_REDIS_URL is not set", allow_module_level=True)

VERCEL_BIN = Path(os.environ.get("FASTMCP_VERCEL_BIN", REPO_ROOT / "target/debug/mcp"))


class Function:
    """One function process, as the Vercel runtime starts it."""

    def __init__(self, tmp: Path, name: str, env: dict[str, str] | None = None):
        assert VERCEL_BIN.exists(), f"build the example first: cargo build -p fastmcp-vercel-example ({VERCEL_BIN})"
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / f"vercel-{name}.log"
        self.proc = subprocess.Popen(
            [str(VERCEL_BIN)],
            stdout=self.log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "VERCEL_DEV_PORT": str(self.port), "REDIS_URL": REDIS_URL,
                 "FASTMCP_MT_ALLOW_UNAUTHENTICATED": "true", "FASTMCP_MT_LOG_LEVEL": "info",
                 "FASTMCP_MT_ADMIN_TOKEN": "t0ken", **(env or {})},
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/_vercel/ping", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert self.proc.poll() is None, f"the function exited: {_tail(self.log)}"
            time.sleep(0.05)
        raise AssertionError(f"the function never listened: {_tail(self.log)}")

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def functions(tmp_path):
    """Two function processes started together on one Redis."""
    fns = [Function(tmp_path, n) for n in ("a", "b")]
    for f in fns:
        f.wait_ready()
    yield fns
    for f in fns:
        f.stop()


@pytest.mark.anyio
@pytest.mark.parametrize("transport", ["streamable", "sse"])
async def test_the_sdk_calls_tools_on_the_function_over_both_transports(functions, transport):
    a, _ = functions
    entity = f"vercel-{uuid.uuid4().hex[:8]}"
    async with connect(a.url, entity, transport) as conn:
        names = {t.name for t in (await conn.session.list_tools()).tools}
        assert {"hello", "echo", "count"} <= names, names
        result = await conn.session.call_tool("hello", {"name": "Ada"})
        assert only_text(result) == f"Hello Ada from {entity}!"
        progress: list[float] = []

        async def on_progress(p: float, total: float | None, message: str | None) -> None:
            progress.append(p)

        result = await conn.session.call_tool("count", {"n": 3, "delay_ms": 20}, progress_callback=on_progress)
        assert only_text(result) == "counted to 3"
        assert progress == [1, 2, 3], progress


def test_a_session_made_on_one_function_is_served_by_the_other(functions):
    a, b = functions
    entity = f"vercel-{uuid.uuid4().hex[:8]}"
    with httpx.Client(timeout=10) as http:
        sid = raw_initialize(http, a.url, entity)
        body = {"jsonrpc": "2.0", "id": 5, "method": "tools/call",
                "params": {"name": "hello", "arguments": {"name": "Bob"}}}
        r = http.post(f"{b.url}/{entity}/mcp", json=body, headers=mcp_headers(sid))
        assert r.status_code == 200, r.text
        assert f"Hello Bob from {entity}!" in r.text
        # Another entity cannot use it, on either function.
        r = http.post(f"{b.url}/other-{entity}/mcp", json=body, headers=mcp_headers(sid))
        assert r.status_code == 404, r.text


def test_a_function_killed_mid_stream_loses_no_event_and_the_client_resumes_on_the_other(functions):
    a, b = functions
    entity = f"vercel-{uuid.uuid4().hex[:8]}"
    with httpx.Client(timeout=10) as http:
        sid = raw_initialize(http, a.url, entity)
    n = 10
    call = {"jsonrpc": "2.0", "id": 9, "method": "tools/call",
            "params": {"name": "count", "arguments": {"n": n, "delay_ms": 150}, "_meta": {"progressToken": "p"}}}
    seen: list[tuple[str, dict[str, Any]]] = []
    # The call runs on `a`; the client reads two events there, then its connection drops.
    post = SseReader("POST", f"{a.url}/{entity}/mcp", mcp_headers(sid), call)
    seen += [post.next_message(), post.next_message()]
    post.close()
    # It resumes on `b`, which is killed mid-stream…
    hdr = dict(mcp_headers(sid), **{"last-event-id": seen[-1][0], "accept": "text/event-stream"})
    on_b = SseReader("GET", f"{b.url}/{entity}/mcp", hdr)
    assert on_b.status == 200
    seen += [on_b.next_message(), on_b.next_message()]
    b.kill9()
    on_b.close()
    # …and resumes again on `a`, from the last event it saw, through to the result.
    hdr["last-event-id"] = seen[-1][0]
    rest = SseReader("GET", f"{a.url}/{entity}/mcp", hdr)
    try:
        while True:
            ev_id, msg = rest.next_message(timeout=15)
            seen.append((ev_id, msg))
            if msg.get("id") == 9:
                break
    finally:
        rest.close()
    ids = [i for i, _ in seen]
    assert len(ids) == len(set(ids)), f"duplicate events: {ids}"
    progress = [m["params"]["progress"] for _, m in seen if m.get("method") == "notifications/progress"]
    assert progress == list(range(1, n + 1)), progress
    assert seen[-1][1]["result"]["content"][0]["text"] == f"counted to {n}"


def test_the_function_refuses_to_serve_unauthenticated_unless_told(tmp_path):
    """A function is public: with no authentication configured it does not start, and says why."""
    f = Function(tmp_path, "strict", env={"FASTMCP_MT_ALLOW_UNAUTHENTICATED": "false"})
    try:
        assert f.proc.wait(timeout=30) != 0
        assert "without authentication" in f.log.read_text(), _tail(f.log)
    finally:
        f.stop()
