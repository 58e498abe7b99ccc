"""With the router down, Envoy follows failure_mode_allow."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from extproc.stack.up import Stack, StackPorts

pytestmark = pytest.mark.e2e

BODY = {"model": "auto", "messages": [{"role": "user", "content": "hello"}]}


def _stack_without_router(tmp: Path, allow: bool) -> Stack:
    stack = Stack(ports=StackPorts.free(), failure_mode_allow=allow, log_dir=tmp)
    stack.start_upstreams()
    stack.start_envoy()
    stack.wait_ready(router=False)
    return stack


@pytest.fixture()
def open_stack(tmp_path: Path) -> Iterator[Stack]:
    stack = _stack_without_router(tmp_path, allow=True)
    yield stack
    stack.stop()


@pytest.fixture()
def closed_stack(tmp_path: Path) -> Iterator[Stack]:
    stack = _stack_without_router(tmp_path, allow=False)
    yield stack
    stack.stop()


def test_router_down_fail_open_reaches_default_tier(open_stack: Stack) -> None:
    r = httpx.post(f"{open_stack.url}/v1/chat/completions", json=BODY, timeout=30)
    assert r.status_code == 200
    assert r.headers["x-upstream-tier"] == "tier_low"
    assert "x-route-tier" not in r.headers


def test_router_down_fail_closed_errors(closed_stack: Stack) -> None:
    r = httpx.post(f"{closed_stack.url}/v1/chat/completions", json=BODY, timeout=30)
    assert r.status_code >= 500
    assert "x-upstream-tier" not in r.headers


def test_router_comes_back(open_stack: Stack) -> None:
    """Start the router after Envoy: routing resumes without restarting Envoy."""
    open_stack.start_router()
    open_stack.wait_ready()
    hard = "Prove that sqrt(2) is irrational, then derive a general proof for sqrt(p), p prime."
    body = {"model": "auto", "messages": [{"role": "user", "content": hard}]}
    r = httpx.post(f"{open_stack.url}/v1/chat/completions", json=body, timeout=30)
    assert r.headers.get("x-route-tier") in ("tier_low", "tier_high")


def test_router_down_spoofed_header_cannot_pick_tier(open_stack: Stack) -> None:
    r = httpx.post(
        f"{open_stack.url}/v1/chat/completions",
        json=BODY,
        headers={"x-extproc-tier": "tier_high"},
        timeout=30,
    )
    assert r.status_code == 200
    assert r.headers["x-upstream-tier"] == "tier_low"
    assert r.headers["x-received-route-header"] == "none"
