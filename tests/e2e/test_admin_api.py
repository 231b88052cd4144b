"""The admin API seen from outside: Swagger UI in a real browser, and schemathesis fuzzing the
OpenAPI document against the running binary."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest

from conftest import ADMIN_TOKEN, REPO_ROOT

ARTIFACTS = Path(os.environ.get("ARTIFACTS_DIR", REPO_ROOT / "artifacts"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROME_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def test_admin_routes_need_the_token(base_url):
    assert httpx.get(f"{base_url}/admin/tools").status_code == 401
    r = httpx.get(f"{base_url}/admin/tools", headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
    assert r.status_code == 200 and any(t["name"] == "echo" for t in r.json())
    spec = httpx.get(f"{base_url}/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    assert "/tools/{name}/call" in spec["paths"]
    assert spec["components"]["securitySchemes"]["AdminToken"]["scheme"] == "bearer"


def _chromium(*args: str, out: Path | None = None) -> str:
    with tempfile.TemporaryDirectory() as profile:
        cmd = [CHROMIUM, *CHROME_FLAGS, f"--user-data-dir={profile}", *args]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr[-2000:]
        return res.stdout


def test_swagger_ui_renders_the_operations_in_chromium(base_url):
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install chromium (scripts/test.sh does)")
        pytest.skip("chromium is not installed")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    url = f"{base_url}/docs"
    dom = _chromium("--virtual-time-budget=15000", "--dump-dom", url)
    for text in ["FastMCP-MT admin API", "Call a tool for an entity", "/tools/{name}/call",
                 "List an entity's sessions", "End a session", "Authorize"]:
        assert text in dom, f"{text!r} not on the rendered page"
    shot = ARTIFACTS / "docs.png"
    shot.unlink(missing_ok=True)
    _chromium("--virtual-time-budget=15000", "--window-size=1280,2000", f"--screenshot={shot}", url)
    assert shot.exists() and shot.stat().st_size > 20_000, "screenshot missing or blank"


# The admin API has 40-odd operations since the stored catalog's routes; the fuzzer needs more
# than the per-test default (45 s) to cover them all. Its own subprocess timeout is 300 s.
@pytest.mark.timeout(280)
def test_schemathesis_finds_no_server_error_or_schema_violation(base_url):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    st = Path(sys.executable).parent / "schemathesis"
    try:
        _run_schemathesis(st, base_url)
    finally:
        # The fuzzer sets the server-wide default logging level (POST /admin/logging-level) to
        # whatever it generated last, and the server is shared with the tests that follow and
        # expect info-level logs from sessions without a level of their own.
        r = httpx.post(f"{base_url}/admin/logging-level", json={"level": "info"},
                       headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
        assert r.status_code == 200, r.text


def _run_schemathesis(st: Path, base_url: str) -> None:
    res = subprocess.run(
        [str(st), "run", f"{base_url}/openapi.json", "--url", f"{base_url}/admin",
         "-H", f"Authorization: Bearer {ADMIN_TOKEN}",
         "-c", "not_a_server_error,response_schema_conformance",
         "--phases", "examples,coverage,fuzzing", "-n", "40", "--seed", "1"],
        capture_output=True, text=True, timeout=300,
        cwd=ARTIFACTS,  # its .schemathesis cache belongs with the run's artifacts, not in the clone
    )
    tail = res.stdout[-3000:]
    assert res.returncode == 0, tail
    assert " passed" in tail and "failures" not in tail.split("SUMMARY")[-1], tail
