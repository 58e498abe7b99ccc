"""`extproc-router up`: the one-command stack starts, routes, and stops every child."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from extproc.stack.up import StackPorts

pytestmark = pytest.mark.e2e


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_up_routes_and_stops_children_on_sigterm() -> None:
    p = StackPorts.free()
    proc = subprocess.Popen(
        [sys.executable, "-m", "extproc", "up", "--port", str(p.listen),
         "--envoy-admin-port", str(p.envoy_admin), "--router-port", str(p.router),
         "--router-admin-port", str(p.router_admin), "--low-port", str(p.tier_low),
         "--high-port", str(p.tier_high)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        output = b""
        deadline = time.monotonic() + 60
        while b"Ctrl-C stops everything" not in output and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 0.5)
            if ready:
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                output += chunk
        text = output.decode()
        assert f"http://127.0.0.1:{p.listen}" in text, text
        body = {"model": "auto", "messages": [{"role": "user", "content": "Hi there!"}]}
        r = httpx.post(f"http://127.0.0.1:{p.listen}/v1/chat/completions", json=body, timeout=30)
        assert r.headers["x-route-tier"] == "tier_low"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        for port in (p.listen, p.router, p.tier_low, p.tier_high):
            assert not _port_open(port), f"port {port} still open after up exited"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
