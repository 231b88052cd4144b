"""Fixtures for the FastMCP-MT end-to-end suite.

Starts the real `fastmcp` binary once per test session on a free local port and
hands the tests its base URL. Set ``FASTMCP_BIN`` to use another binary (a
relative path is resolved against the repository root). Set ``FASTMCP_E2E_URL``
to run the suite against an already-running server instead.
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = "target/debug/fastmcp"
STARTUP_TIMEOUT_S = 30.0
PER_TEST_TIMEOUT_S = 45
ADMIN_TOKEN = "e2e-admin-token"


def _binary_path() -> Path:
    raw = os.environ.get("FASTMCP_BIN", DEFAULT_BIN)
    path = Path(raw)
    if not path.is_absolute():
        path = REPO_ROOT / path
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "<no output>"
    return "\n".join(text.splitlines()[-lines:]) or "<empty>"


def wait_ready(name: str, proc: subprocess.Popen, url: str, log: Path, timeout: float = 30) -> None:
    """Waits until `url`/ready answers 200; fails with the log's tail if `proc` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}: {_tail(log)}")
        try:
            if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{name} not ready: {_tail(log)}")


class Instance:
    """One server process on its own port (on `store` when given, else in memory), ready when
    constructed."""

    def __init__(self, binary: Path, tmp: Path, name: str, store: str | None, extra: list[str] | None = None,
                 env: dict[str, str] | None = None, nofile: int | None = None):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / f"{name}-{self.port}.log"
        env = dict(os.environ, FASTMCP_MT_LOG_LEVEL="warn", **(env or {}))
        store_args = ["--store", store] if store else []
        self.proc = subprocess.Popen(
            [str(binary), "serve", "--bind", f"127.0.0.1:{self.port}", *store_args, *(extra or [])],
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            # `ulimit -n`, soft and hard, so the server cannot raise it.
            preexec_fn=(lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))) if nofile else None,
        )
        wait_ready(name, self.proc, self.url, self.log)

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def pytest_configure(config):
    # The 2026-07-28 SDK flags handshake-era logging/setLevel as deprecated; we test it on purpose.
    config.addinivalue_line("filterwarnings", "ignore::mcp.MCPDeprecationWarning")


def pytest_collection_modifyitems(config, items):  # noqa: ARG001
    # A hung SDK call must fail the test, not the whole run.
    for item in items:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(PER_TEST_TIMEOUT_S))


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="session")
def base_url(request):
    external = os.environ.get("FASTMCP_E2E_URL")
    if external:
        yield external.rstrip("/")
        return

    binary = _binary_path()
    if not binary.exists():
        pytest.fail(f"fastmcp binary not found at {binary} (build it or set FASTMCP_BIN)", pytrace=False)

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    env["FASTMCP_MT_LOG_LEVEL"] = "warn"
    env["FASTMCP_MT_ADMIN_TOKEN"] = ADMIN_TOKEN
    # The suite makes hundreds of entities; label them all so per-entity assertions hold
    # (the cardinality guard itself is unit-tested).
    env["FASTMCP_MT_METRICS_MAX_ENTITIES"] = "100000"
    # Kept with the run's artifacts (scripts/test.sh sets ARTIFACTS_DIR), never in the system temp.
    artifacts = Path(os.environ.get("ARTIFACTS_DIR", REPO_ROOT / "artifacts")) / "e2e"
    artifacts.mkdir(parents=True, exist_ok=True)
    log_dir = Path(tempfile.mkdtemp(prefix="server-", dir=artifacts))
    stdout_path = log_dir / "stdout.log"
    stderr_path = log_dir / "stderr.log"
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        proc = subprocess.Popen(
            [str(binary), "serve", "--bind", f"127.0.0.1:{port}"],
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            cwd=str(REPO_ROOT),
            env=env,
        )

    failed = False
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        last_error: object = None
        while True:
            if proc.poll() is not None:
                failed = True
                pytest.fail(
                    f"fastmcp exited with code {proc.returncode} during startup\n"
                    f"--- stderr tail ---\n{_tail(stderr_path)}",
                    pytrace=False,
                )
            try:
                r = httpx.get(f"{url}/health", timeout=1.0)
                if r.status_code == 200:
                    break
                last_error = f"HTTP {r.status_code}"
            except httpx.HTTPError as e:
                last_error = e
            if time.monotonic() > deadline:
                failed = True
                pytest.fail(
                    f"fastmcp did not answer GET /health with 200 within {STARTUP_TIMEOUT_S}s "
                    f"(last: {last_error!r})\n--- stderr tail ---\n{_tail(stderr_path)}",
                    pytrace=False,
                )
            time.sleep(0.1)

        yield url

        if proc.poll() is not None:
            failed = True
            print(
                f"\nfastmcp exited early with code {proc.returncode}\n--- stderr tail ---\n{_tail(stderr_path)}",
                file=sys.__stderr__,
            )
    except BaseException:
        failed = True
        raise
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        if failed or request.session.testsfailed or os.environ.get("FASTMCP_E2E_SHOW_LOGS"):
            print(f"\n--- fastmcp stderr tail ({stderr_path}) ---\n{_tail(stderr_path)}", file=sys.__stderr__)


@pytest.fixture(params=["streamable", "sse"])
def transport(request) -> str:
    """Run a test over Streamable HTTP (`/{entity}/mcp`) and legacy HTTP+SSE (`/{entity}/sse`)."""
    return request.param


@pytest.fixture
def entity() -> str:
    from e2e_helpers import new_entity

    return new_entity()
