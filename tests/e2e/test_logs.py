"""The server's own log lines, as an operator configures them: `--log-format json` (one JSON
object per line on stdout; stderr in stdio mode, where stdout is the protocol),
`FASTMCP_MT_LOG_LEVEL` and `FASTMCP_MT_DEBUG`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import httpx

from conftest import _binary_path, _free_port, wait_ready
from e2e_helpers import raw_call, raw_initialize


def _serve(tmp_path: Path, extra: list[str], env: dict[str, str]) -> tuple[list[str], str]:
    """Runs the binary over HTTP, calls `count` (which logs through `ctx`), stops it with SIGTERM;
    returns stdout's lines and stderr."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    out, err = tmp_path / "out.log", tmp_path / "err.log"
    base_env = {k: v for k, v in os.environ.items() if k not in ("FASTMCP_MT_LOG_LEVEL", "FASTMCP_MT_DEBUG", "RUST_LOG")}
    proc = subprocess.Popen([str(_binary_path()), "serve", "--bind", f"127.0.0.1:{port}", *extra],
                            stdout=out.open("wb"), stderr=err.open("wb"), stdin=subprocess.DEVNULL,
                            env={**base_env, **env})
    try:
        wait_ready("logs", proc, url, out)
        with httpx.Client(timeout=10) as client:
            sid = raw_initialize(client, url, "ops")
            r = raw_call(client, url, "ops", "tools/call", {"name": "count", "arguments": {"n": 2, "delay_ms": 0}},
                         session_id=sid)
            assert r.status_code == 200, r.text
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    return out.read_text().splitlines(), err.read_text()


def test_json_lines_with_the_level_from_the_environment(tmp_path):
    lines, stderr = _serve(tmp_path, ["--log-format", "json"], {"FASTMCP_MT_LOG_LEVEL": "debug"})
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert records, stderr
    assert all({"timestamp", "level", "fields", "target"} <= r.keys() for r in records), records[:3]
    messages = [r["fields"].get("message", "") for r in records]
    assert any(m.startswith("serving MCP at") for m in messages), messages
    assert any(m == "drained; stopping" for m in messages), messages
    # The handler's `ctx.info` is written to the server's log at debug, with its entity.
    steps = [r for r in records if "step 1 of 2" in json.dumps(r)]
    assert steps and steps[0]["level"] == "DEBUG", records
    assert "ops" in json.dumps(steps[0]), steps[0]
    # The admin token is shown to the person at the terminal (stderr), never in the collected log.
    assert "admin API token" in stderr and "admin API token" not in "\n".join(lines)


def test_debug_switch_and_the_default_level(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    debug, _ = _serve(tmp_path / "a", [], {"FASTMCP_MT_DEBUG": "1"})
    assert any("DEBUG" in line and "step 1 of 2" in line for line in debug), debug
    assert not any(line.lstrip().startswith("{") for line in debug), "text is the default format"
    default, _ = _serve(tmp_path / "b", [], {})
    assert default and not any("DEBUG" in line for line in default), default
    assert any("INFO" in line for line in default), default


def test_stdio_json_logs_go_to_stderr_only():
    lines = [
        json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}}),
        json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json.dumps({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "count", "arguments": {"n": 1, "delay_ms": 0}}}),
    ]
    proc = subprocess.run([str(_binary_path()), "serve", "--stdio", "--entity", "desk"],
                          input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=30,
                          env={**os.environ, "FASTMCP_MT_LOG_LEVEL": "debug", "FASTMCP_MT_LOG_FORMAT": "json"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    replies = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [m["id"] for m in replies if "id" in m] == [1, 2], replies
    logs = [json.loads(line) for line in proc.stderr.splitlines() if line.strip()]
    assert logs and all("level" in r for r in logs), proc.stderr
    assert any("step 1 of 1" in json.dumps(r) for r in logs), logs
