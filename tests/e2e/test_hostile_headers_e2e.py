"""Header spoofing through the real Envoy: a client cannot set any header the router reads
as trusted or sets itself."""

from __future__ import annotations

import httpx
import pytest

from extproc.stack.up import Stack
from tests.e2e.feedback_util import chat
from tests.helpers import EASY_PROMPT

pytestmark = pytest.mark.e2e

SPOOFED = {
    "x-extproc-tier": "tier_high",      # the routing header
    "x-extproc-guard": "none",          # what the guard tells the upstream
    "x-route-tier": "tier_high",        # response headers the router sets
    "x-route-reason": "override_header",
    "x-route-arm": "treatment",
    "x-route-override": "nonexistent",  # trusted override naming an unknown tier
}


def test_spoofed_headers_change_nothing(stack: Stack) -> None:
    r = httpx.post(f"{stack.url}/v1/chat/completions", json=chat(EASY_PROMPT), headers=SPOOFED,
                   timeout=30)
    assert r.status_code == 200
    assert r.headers["x-upstream-tier"] == "tier_low"
    assert r.headers["x-received-route-header"] == "tier_low"  # the router's value
    assert r.headers["x-received-guard"] == "none"  # absent upstream (demo prints "none")
    assert r.headers["x-route-tier"] == "tier_low"
    assert r.headers["x-route-reason"] == "complexity_low"
    assert "x-route-arm" not in r.headers


def test_client_guard_header_never_reaches_upstream(stack: Stack) -> None:
    r = httpx.post(f"{stack.url}/v1/chat/completions", json=chat(EASY_PROMPT),
                   headers={"x-extproc-guard": "pii-checked-ok"}, timeout=30)
    assert r.headers["x-received-guard"] == "none"
    passthrough = httpx.get(f"{stack.url}/v1/models", headers={"x-extproc-guard": "x"},
                            timeout=30)
    assert passthrough.headers["x-received-guard"] == "none"
