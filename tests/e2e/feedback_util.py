"""Helpers for the live-state end-to-end tests."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx

from extproc.stack.up import Stack, free_port


def chat(prompt: str, **extra: object) -> dict[str, object]:
    return {"model": "auto", "messages": [{"role": "user", "content": prompt}], **extra}


def control(stack: Stack, tier: str, **settings: object) -> None:
    port = stack.ports.tier_high if tier == "tier_high" else stack.ports.tier_low
    r = httpx.post(f"http://127.0.0.1:{port}/_demo/control", json=settings, timeout=5)
    r.raise_for_status()


def metrics_text(stack: Stack) -> str:
    return httpx.get(f"http://127.0.0.1:{stack.ports.router_admin}/metrics", timeout=5).text


def metric_value(text: str, name: str, **labels: str) -> float:
    """Value of one sample (labels matched exactly, in any order); 0 when absent."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and line.split(" ")[0] != name:
            continue
        head, _, value = line.rpartition(" ")
        found = dict(
            part.split("=", 1) for part in head[len(name) + 1 : -1].split(",") if "=" in part
        )
        if {k: v.strip('"') for k, v in found.items()} == labels:
            return float(value)
    return 0.0


def wait_for(check: Callable[[], bool], timeout_s: float = 10.0, step_s: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step_s)
    return check()


@contextmanager
def metrics_server(style: str, values: str = "{}") -> Iterator[str]:
    """A demo Prometheus endpoint (vLLM/DCGM style) as a subprocess; yields its base URL."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "extproc.demo.metrics_server",
            "--port",
            str(port),
            "--style",
            style,
            "--values",
            values,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        ok = wait_for(lambda: _get_ok(f"{base}/health"), timeout_s=15)
        assert ok, "metrics server did not start"
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


def _get_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
