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
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import REPO_ROOT, _free_port, _tail
from e2e_helpers import connect, mcp_headers, only_text, raw_initialize
from test_scale_out import SseReader, assert_counted_once, read_until_result

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
    read_until_result(SseReader("GET", f"{a.url}/{entity}/mcp", hdr), 9, seen)
    assert_counted_once(seen, n)


def test_the_function_refuses_to_serve_unauthenticated_unless_told(tmp_path):
    """A function is public: with no authentication configured it does not start, and says why."""
    f = Function(tmp_path, "strict", env={"FASTMCP_MT_ALLOW_UNAUTHENTICATED": "false"})
    try:
        assert f.proc.wait(timeout=30) != 0
        assert "without authentication" in f.log.read_text(), _tail(f.log)
    finally:
        f.stop()


# --- AWS Lambda: examples/lambda under `cargo lambda watch` -------------------------------------

LAMBDA_BIN = Path(os.environ.get("FASTMCP_LAMBDA_BIN", REPO_ROOT / "target/debug/fastmcp-lambda"))


def _cargo_lambda() -> str | None:
    """`cargo-lambda` from the test venv (requirements.txt installs it from PyPI)."""
    import shutil
    import sys

    here = Path(sys.executable).parent / "cargo-lambda"
    return str(here) if here.exists() else shutil.which("cargo-lambda")


class LambdaFunction:
    """`cargo lambda watch --only-lambda-apis` (the Lambda runtime API and function URLs,
    emulated) with one process of the prebuilt function polling it, as Lambda runs it."""

    def __init__(self, tmp: Path, name: str, streaming: bool):
        tool = _cargo_lambda()
        assert tool, "install cargo-lambda (tests/e2e/requirements.txt)"
        assert LAMBDA_BIN.exists(), f"build the example first: cargo build -p fastmcp-lambda-example ({LAMBDA_BIN})"
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / f"lambda-{name}.log"
        out = self.log.open("wb")
        self.emulator = subprocess.Popen(
            [tool, "lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1", "-P", str(self.port)],
            cwd=REPO_ROOT / "examples/lambda", stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        # The function polls the runtime API from its first moment: the emulator goes first.
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                assert self.emulator.poll() is None, f"cargo lambda exited: {_tail(self.log)}"
                assert time.monotonic() < deadline, f"cargo lambda never listened: {_tail(self.log)}"
                time.sleep(0.1)
        env = {**os.environ, "AWS_LAMBDA_FUNCTION_NAME": "_", "AWS_LAMBDA_FUNCTION_VERSION": "1",
               "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
               "AWS_LAMBDA_RUNTIME_API": f"http://127.0.0.1:{self.port}/.rt",
               "REDIS_URL": REDIS_URL, "FASTMCP_MT_ALLOW_UNAUTHENTICATED": "true",
               "FASTMCP_MT_CLIENT_REQUEST_TIMEOUT": "30",
               "FASTMCP_MT_LAMBDA_STREAMING": "true" if streaming else "false"}
        self.proc = subprocess.Popen([str(LAMBDA_BIN)], stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert self.proc.poll() is None, f"the function exited: {_tail(self.log)}"
            assert self.emulator.poll() is None, f"cargo lambda exited: {_tail(self.log)}"
            time.sleep(0.1)
        raise AssertionError(f"the function never answered: {_tail(self.log)}")

    def stop(self) -> None:
        for p in (self.proc, self.emulator):
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)


@pytest.fixture
def buffered(tmp_path):
    """Two buffered function processes (API Gateway style), each behind its own emulator, on
    one Redis."""
    fns = [LambdaFunction(tmp_path, n, streaming=False) for n in ("a", "b")]
    yield fns
    for f in fns:
        f.stop()


@pytest.mark.anyio
async def test_lambda_2026_era_with_the_sdk_including_elicitation(buffered):
    import anyio
    import mcp_types as types
    from mcp import Client

    a, _ = buffered
    entity = f"lambda-{uuid.uuid4().hex[:8]}"

    async def answer(_ctx, params: types.ElicitRequestParams):
        return types.ElicitResult(action="accept", content={"name": "Ada"})

    with anyio.fail_after(60):
        async with Client(f"{a.url}/{entity}/mcp", elicitation_callback=answer) as client:
            assert client.protocol_version == "2026-07-28"
            assert only_text(await client.call_tool("hello", {"name": "Ada"})) == f"Hello Ada from {entity}!"
            # The elicitation is a round of InputRequiredResult: no stream needed.
            assert "Ada" in only_text(await client.call_tool("greet", {}))


@pytest.mark.anyio
async def test_lambda_handshake_era_answers_in_json_and_refuses_what_needs_a_stream(buffered):
    import anyio

    a, _ = buffered
    entity = f"lambda-{uuid.uuid4().hex[:8]}"
    with anyio.fail_after(60):
        async with connect(a.url, entity, "streamable") as conn:
            assert only_text(await conn.session.call_tool("hello", {"name": "Bo"})) == f"Hello Bo from {entity}!"
            # Progress cannot stream back; the result still comes, in JSON.
            assert only_text(await conn.session.call_tool("count", {"n": 2, "delay_ms": 10})) == "counted to 2"
            statuses = {(m, s) for m, _, s in conn.http_log}
            assert all(s != 200 for m, s in statuses if m == "GET"), statuses
    with httpx.Client(timeout=10) as http:
        # Elicitation mid-call needs a stream: refused at once (the client-request timeout is
        # 30 s here), not after waiting for an answer that could never come.
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {"protocolVersion": "2025-06-18", "capabilities": {"elicitation": {}},
                           "clientInfo": {"name": "e2e", "version": "1"}}}
        r = http.post(f"{a.url}/{entity}/mcp", json=init, headers=mcp_headers(protocol_version=None))
        esid = r.headers["mcp-session-id"]
        started = time.monotonic()
        r = http.post(f"{a.url}/{entity}/mcp", headers=mcp_headers(esid),
                      json={"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "greet", "arguments": {}}})
        assert time.monotonic() - started < 5
        assert r.status_code == 200 and "cannot hold a stream" in r.text, r.text
        r = http.get(f"{a.url}/{entity}/sse", headers={"accept": "text/event-stream"})
        assert r.status_code == 501 and "Streamable HTTP" in r.text, (r.status_code, r.text)
        sid = raw_initialize(http, a.url, entity)
        r = http.get(f"{a.url}/{entity}/mcp", headers=dict(mcp_headers(sid), accept="text/event-stream"))
        assert r.status_code == 405 and "cannot hold a stream" in r.text, (r.status_code, r.text)


def test_lambda_two_function_processes_share_sessions_through_redis(buffered):
    a, b = buffered
    entity = f"lambda-{uuid.uuid4().hex[:8]}"
    with httpx.Client(timeout=20) as http:
        sid = raw_initialize(http, a.url, entity)
        body = {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                "params": {"name": "remember", "arguments": {"key": "k", "value": "on a"}}}
        assert http.post(f"{a.url}/{entity}/mcp", json=body, headers=mcp_headers(sid)).status_code == 200
        body = {"jsonrpc": "2.0", "id": 4, "method": "tools/call",
                "params": {"name": "recall", "arguments": {"key": "k"}}}
        r = http.post(f"{b.url}/{entity}/mcp", json=body, headers=mcp_headers(sid))
        assert r.status_code == 200 and "on a" in r.text, r.text


def test_lambda_streaming_function_url_streams_progress(tmp_path):
    f = LambdaFunction(tmp_path, "streaming", streaming=True)
    try:
        entity = f"lambda-{uuid.uuid4().hex[:8]}"
        with httpx.Client(timeout=10) as http:
            sid = raw_initialize(http, f.url, entity)
        call = {"jsonrpc": "2.0", "id": 9, "method": "tools/call",
                "params": {"name": "count", "arguments": {"n": 3, "delay_ms": 300}, "_meta": {"progressToken": "p"}}}
        reader = SseReader("POST", f"{f.url}/{entity}/mcp", mcp_headers(sid), call)
        try:
            first = reader.next_message(timeout=10)
            got_first = time.monotonic()
            seen = [first]
            while seen[-1][1].get("id") != 9:
                seen.append(reader.next_message(timeout=10))
            # The first progress event arrived before the call ended: streamed, not buffered.
            assert time.monotonic() - got_first > 0.4, seen
        finally:
            reader.close()
        progress = [m["params"]["progress"] for _, m in seen if m.get("method") == "notifications/progress"]
        assert progress == [1, 2, 3], progress
    finally:
        f.stop()
