"""Bad bodies get the documented outcome: default tier (fail open) or a JSON 400/413."""

from __future__ import annotations

import httpx
import pytest

from extproc.stack.up import Stack

pytestmark = pytest.mark.e2e

BAD_BODIES = {
    "malformed_json": (b'{"model": "auto", "messages": [', "application/json"),
    "bad_shape": (b'{"model": "auto", "messages": "hello"}', "application/json"),
    "not_json": (b"model=auto&prompt=hi", "application/x-www-form-urlencoded"),
    "empty_body": (b"", "application/json"),
}


@pytest.mark.parametrize("kind", sorted(BAD_BODIES))
def test_bad_body_routes_to_default_tier(client: httpx.Client, kind: str) -> None:
    body, ctype = BAD_BODIES[kind]
    r = client.post("/v1/chat/completions", content=body, headers={"content-type": ctype})
    assert r.headers["x-upstream-tier"] == "tier_low"
    assert r.headers["x-route-reason"] == f"bad_request_{kind}"


@pytest.mark.parametrize("kind", sorted(BAD_BODIES))
def test_bad_body_rejected_with_json_error(strict_stack: Stack, kind: str) -> None:
    body, ctype = BAD_BODIES[kind]
    r = httpx.post(
        f"{strict_stack.url}/v1/chat/completions",
        content=body,
        headers={"content-type": ctype},
        timeout=30,
    )
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/json"
    assert r.json()["error"]["code"] == kind
    assert "x-upstream-tier" not in r.headers


def test_body_over_router_limit_rejected_413(strict_stack: Stack) -> None:
    body = b'{"model":"a","messages":[{"role":"user","content":"' + b"x" * (2 << 20) + b'"}]}'
    r = httpx.post(
        f"{strict_stack.url}/v1/chat/completions",
        content=body,
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "too_large"
