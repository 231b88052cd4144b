"""Redis Cluster failover: a master killed under load, its replica promoted, its sessions kept.

The test makes a Redis Cluster of its own with scripts/redis-cluster.sh (3 masters with a
replica each; node timeout 2 s), so that killing a master does not weaken the cluster the other
tests share. Three instances behind a round-robin nginx run the fleet load of test_fleet.py
(clients of both eras calling tools, a client reading resumable progress streams); the master
serving the first session's slot is then killed with SIGKILL.

Needs redis-server and redis-cli (scripts/test.sh installs them) and nginx.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from conftest import REPO_ROOT
from e2e_helpers import jsonrpc_reply, raw_call
from test_fleet import NGINX, loaded_fleet

if not shutil.which("redis-server") or not shutil.which("redis-cli"):
    if os.environ.get("CI"):
        raise RuntimeError("CI must install redis-server (scripts/test.sh does)")
    pytest.skip("redis-server is not installed", allow_module_level=True)

# Failures are allowed from the kill until this long after the replica takes over: the
# cluster client's slot refresh and the load's own retries.
SETTLE_SECS = 3.0


class Cluster:
    def __init__(self, tmp: Path):
        self.dir = tmp
        out = subprocess.run(["bash", str(REPO_ROOT / "scripts/redis-cluster.sh"), str(tmp)],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr
        self.url = out.stdout.strip().splitlines()[-1]
        self.ports = [int(p) for p in (tmp / "ports").read_text().split()]

    def cli(self, port: int, *args: str) -> str:
        return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True,
                              timeout=10).stdout

    def master_of(self, key: str) -> tuple[int, int]:
        """(port of the master serving `key`'s slot, port of its replica)."""
        slot = int(self.cli(self.ports[0], "cluster", "keyslot", key).strip())
        masters: dict[str, int] = {}
        replicas: dict[str, int] = {}
        for line in self.cli(self.ports[0], "cluster", "nodes").splitlines():
            f = line.split()
            node_id, port = f[0], int(f[1].split("@")[0].rsplit(":", 1)[1])
            if "master" in f[2]:
                for r in f[8:]:
                    lo, _, hi = r.partition("-")
                    if int(lo) <= slot <= int(hi or lo):
                        masters[node_id] = port
            elif "slave" in f[2]:
                replicas[f[3]] = port
        ((node_id, port),) = masters.items()
        return port, replicas[node_id]

    def kill(self, port: int) -> None:
        pid = int((self.dir / str(port) / "pid").read_text())
        os.kill(pid, signal.SIGKILL)

    def is_master(self, port: int) -> bool:
        return "role:master" in self.cli(port, "info", "replication")

    def stop(self) -> None:
        subprocess.run(["bash", str(REPO_ROOT / "scripts/redis-cluster.sh"), str(self.dir), "stop"],
                       capture_output=True, timeout=30)


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path / "redis-cluster")
    yield c
    c.stop()


@pytest.mark.timeout(180)
@pytest.mark.skipif(NGINX is None and not os.environ.get("CI"), reason="nginx is not installed")
def test_a_killed_master_fails_over_and_its_sessions_keep_working(tmp_path, cluster):
    assert NGINX, "CI must install nginx (scripts/test.sh does)"
    with loaded_fleet(tmp_path, cluster.url) as (nodes, load):
        time.sleep(1.0)
        entity, sid = load.sessions[0]
        victim, replica = cluster.master_of(f"{{fastmcp:{entity}:{sid}}}:session")
        calls_before, failed_before = load.snapshot()
        assert failed_before == 0, load.failures[:5]
        killed = time.monotonic()
        cluster.kill(victim)
        deadline = killed + 30
        while not cluster.is_master(replica):
            assert time.monotonic() < deadline, "the replica was never promoted"
            time.sleep(0.1)
        promoted = time.monotonic()
        time.sleep(SETTLE_SECS + 4.0)
        load.finish()
        calls, failed = load.snapshot()
        # The sessions on the killed master's slots answer through the balancer, from every
        # instance in turn.
        with httpx.Client(timeout=10) as http:
            for i in range(len(nodes)):
                r = raw_call(http, nodes[i].url, entity, "tools/call",
                             {"name": "echo", "arguments": {"text": f"after{i}"}}, session_id=sid,
                             request_id=1000 + i)
                assert jsonrpc_reply(r, 1000 + i)["result"]["content"][0]["text"] == f"after{i}", r.text
        window = (max(load.failure_times) - killed) if load.failure_times else 0.0
        late = [t for t in load.failure_times if t > promoted + SETTLE_SECS]
        print(f"\nredis cluster failover: replica promoted {promoted - killed:.1f} s after the kill; "
              f"{failed} of {calls - calls_before + failed} calls failed, the last {window:.1f} s after "
              f"the kill; {len(load.events_lost_or_duplicated)} streams lost or repeated an event; "
              f"{calls - calls_before} calls succeeded after the kill")
        print("failures:", [(round(t - killed, 1), f[:300]) for t, f in zip(load.failure_times, load.failures)])
        assert late == [], load.failures[-5:]
        assert calls > calls_before + 20, "no progress after the failover"
