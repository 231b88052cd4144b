#!/usr/bin/env python3
"""Bounded memory under churn (issue 16): does an instance give memory back once clients go?

Starts the server (FASTMCP_BIN, default target/release/fastmcp) on the memory store, or on the
store given with --store, and measures its resident memory (RSS, /proc) at the base, at the
peak and after each phase:

1. sessions: --sessions (100,000) sessions created (initialize) and deleted (DELETE), by
   --workers concurrent clients on keep-alive connections;
2. streams: --streams (10,000) legacy SSE streams opened and closed in waves of --wave (1,000).

Prints one line per phase and a verdict: "near its base" means within max(25%, 16 MiB) of the
base taken after a warm-up (the allocator keeps some pages; a leak grows with the churn).
Stdlib only; run it with the e2e venv's Python or any Python 3.10+.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Client:
    """One keep-alive HTTP/1.1 connection with just enough parsing for our answers."""

    def __init__(self, port: int):
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def request(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None):
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}", f"Content-Length: {len(body)}"]
        for k, v in (headers or {}).items():
            lines.append(f"{k}: {v}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        while b"\r\n\r\n" not in self.buf:
            self.buf += self._recv()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status = int(head.split(b" ", 2)[1])
        hdrs = {}
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            hdrs[k.strip().lower().decode()] = v.strip().decode()
        if "content-length" in hdrs:
            n = int(hdrs["content-length"])
            while len(self.buf) < n:
                self.buf += self._recv()
            data, self.buf = self.buf[:n], self.buf[n:]
        else:  # chunked
            data = b""
            while True:
                while b"\r\n" not in self.buf:
                    self.buf += self._recv()
                size_line, self.buf = self.buf.split(b"\r\n", 1)
                n = int(size_line, 16)
                while len(self.buf) < n + 2:
                    self.buf += self._recv()
                data += self.buf[:n]
                self.buf = self.buf[n + 2:]
                if n == 0:
                    break
        return status, hdrs, data

    def _recv(self) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        return chunk


INIT = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "churn", "version": "1"}}}).encode()
MCP = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


def session_churn(port: int, n: int, workers: int) -> int:
    errors = [0]
    per = n // workers

    def work(w: int) -> None:
        c = Client(port)
        for i in range(per):
            entity = f"churn{(w * per + i) % 500}"
            status, hdrs, _ = c.request("POST", f"/{entity}/mcp", INIT, MCP)
            sid = hdrs.get("mcp-session-id")
            if status != 200 or not sid:
                errors[0] += 1
                continue
            status, _, _ = c.request("DELETE", f"/{entity}/mcp", b"", {"Mcp-Session-Id": sid,
                                                                   "MCP-Protocol-Version": "2025-11-25"})
            if status not in (200, 202, 204):
                errors[0] += 1

    threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors[0]


def stream_churn(port: int, pid: int, n: int, wave: int) -> tuple[int, int, int]:
    """Opens and closes `n` streams in waves; returns the peak RSS, the RSS after the first
    wave, and how many streams were refused."""
    peak = 0
    first = 0
    refused = 0
    for start in range(0, n, wave):
        socks = []
        for i in range(start, min(n, start + wave)):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(f"GET /churn{i % 500}/sse HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n\r\n".encode())
            socks.append(s)
        for s in socks:
            head = s.recv(4096)
            if not head.startswith(b"HTTP/1.1 200"):
                refused += 1
        peak = max(peak, rss_kib(pid))
        for s in socks:
            s.close()
        time.sleep(0.5)
        first = first or rss_kib(pid)
    return peak, first, refused


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=100_000)
    ap.add_argument("--streams", type=int, default=10_000)
    ap.add_argument("--wave", type=int, default=1_000)
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--store", default=None, help="redis://… or postgres://… (default: memory)")
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    binary = os.environ.get("FASTMCP_BIN", os.path.join(root, "target/release/fastmcp"))
    port = free_port()
    cmd = [binary, "serve", "--bind", f"127.0.0.1:{port}", "--max-streams-per-entity", "0"]
    if args.store:
        cmd += ["--store", args.store]
    env = dict(os.environ, FASTMCP_MT_LOG_LEVEL="warn")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        # Warm-up: the allocator's and the runtime's working set, then the base.
        session_churn(port, 2_000, args.workers)
        stream_churn(port, proc.pid, 200, 200)
        time.sleep(1)
        base = rss_kib(proc.pid)
        store = args.store.split(":")[0] if args.store else "memory"
        print(f"store {store}: base RSS {base / 1024:.1f} MiB after a warm-up")

        started = time.monotonic()
        errors = session_churn(port, args.sessions, args.workers)
        took = time.monotonic() - started
        time.sleep(2)
        after_sessions = rss_kib(proc.pid)
        print(f"sessions: {args.sessions} created and deleted in {took:.1f} s ({errors} errors); "
              f"RSS after {after_sessions / 1024:.1f} MiB ({after_sessions / base:.2f}x base)")

        peak, first, refused = stream_churn(port, proc.pid, args.streams, args.wave)
        time.sleep(2)
        after_streams = rss_kib(proc.pid)
        print(f"streams: {args.streams} legacy SSE streams opened and closed in waves of {args.wave} "
              f"({refused} refused); peak {peak / 1024:.1f} MiB, after the first wave "
              f"{first / 1024:.1f} MiB, after the last {after_streams / 1024:.1f} MiB "
              f"({after_streams / base:.2f}x base)")
        slack = max(base * 0.25, 16 * 1024)
        # A leak grows with the churn; an allocator that keeps freed pages for reuse does not.
        no_leak = errors == 0 and refused == 0 and after_sessions <= base + slack \
            and after_streams <= first + slack
        near = after_streams <= base + slack
        print("verdict: " + ("no growth with churn" if no_leak else "GROWS with churn (or errors)") + "; "
              + ("back near its base" if near else
                 "freed pages still mapped (mimalloc purges them lazily: MIMALLOC_PURGE_DELAY=0 returns them at once)"))
        return 0 if no_leak else 1
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    sys.exit(main())
