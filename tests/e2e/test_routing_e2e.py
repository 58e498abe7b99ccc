"""Requests through a real Envoy land on the tier the router chose."""

from __future__ import annotations

import httpx
import orjson
import pytest

from extproc.stack.up import Stack
from tests.helpers import EASY_PROMPT, HARD_PROMPT

pytestmark = pytest.mark.e2e



def chat(prompt: str, **extra: object) -> dict[str, object]:
    return {"model": "auto", "messages": [{"role": "user", "content": prompt}], **extra}


def test_simple_prompt_goes_low(client: httpx.Client) -> None:
    r = client.post("/v1/chat/completions", json=chat(EASY_PROMPT))
    assert r.status_code == 200, r.text
    assert r.headers["x-upstream-tier"] == "tier_low"
    assert r.headers["x-route-tier"] == "tier_low"
    assert r.headers["x-route-reason"] == "complexity_low"
    assert r.json()["tier"] == "tier_low"


def test_complex_prompt_goes_high(client: httpx.Client) -> None:
    r = client.post("/v1/chat/completions", json=chat(HARD_PROMPT))
    assert r.status_code == 200, r.text
    assert r.headers["x-upstream-tier"] == "tier_high"
    assert r.headers["x-route-reason"] == "complexity_high"


def test_legacy_completions_path_is_routed(client: httpx.Client) -> None:
    r = client.post("/v1/completions", json={"model": "auto", "prompt": HARD_PROMPT})
    assert r.status_code == 200, r.text
    assert r.headers["x-upstream-tier"] == "tier_high"


def test_spoofed_routing_header_is_ignored(client: httpx.Client) -> None:
    r = client.post(
        "/v1/chat/completions", json=chat(EASY_PROMPT), headers={"x-extproc-tier": "tier_high"}
    )
    assert r.headers["x-upstream-tier"] == "tier_low"
    assert r.headers["x-received-route-header"] == "tier_low"


def test_spoofed_header_on_passthrough_path_is_stripped(client: httpx.Client) -> None:
    r = client.get("/v1/models", headers={"x-extproc-tier": "tier_high"})
    assert r.status_code == 200
    assert r.headers["x-upstream-tier"] == "tier_low"  # default route
    assert r.headers["x-received-route-header"] == "none"
    assert "x-route-tier" not in r.headers  # untouched by the router


def test_trusted_override_header_picks_tier(client: httpx.Client) -> None:
    r = client.post(
        "/v1/chat/completions", json=chat(EASY_PROMPT), headers={"x-route-override": "tier_high"}
    )
    assert r.headers["x-upstream-tier"] == "tier_high"
    assert r.headers["x-route-reason"] == "override_header"
    unknown = client.post(
        "/v1/chat/completions", json=chat(EASY_PROMPT), headers={"x-route-override": "nope"}
    )
    assert unknown.headers["x-upstream-tier"] == "tier_low"


def test_model_rewrite_arrives_with_correct_content_length(client: httpx.Client) -> None:
    body = orjson.dumps(chat(HARD_PROMPT, temperature=0.2, metadata={"k": "v"}))
    r = client.post(
        "/v1/chat/completions", content=body, headers={"content-type": "application/json"}
    )
    assert r.headers["x-upstream-tier"] == "tier_high"
    assert r.headers["x-received-model"] == "large-model"
    received = int(r.headers["x-received-body-bytes"])
    assert r.headers["x-received-content-length"] == str(received)
    assert received != len(body)  # the body really changed ("auto" → "large-model")


def test_sse_stream_arrives_intact(client: httpx.Client) -> None:
    with client.stream("POST", "/v1/chat/completions", json=chat(EASY_PROMPT, stream=True)) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["x-route-tier"] == "tier_low"
        raw = b"".join(r.iter_bytes())
    events = [e for e in raw.decode().split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    text = "".join(
        orjson.loads(e[6:])["choices"][0]["delta"].get("content", "") for e in events[:-1]
    )
    assert text == "Hello from tier_low (small-model)."


def test_multi_megabyte_body_is_routed(client: httpx.Client) -> None:
    big = "Summarise this log in one line. " + ("lorem ipsum dolor sit amet " * 200_000)
    body = orjson.dumps(chat(big))
    assert len(body) > 5_000_000
    r = client.post(
        "/v1/chat/completions", content=body, headers={"content-type": "application/json"}
    )
    assert r.status_code == 200, r.text[:300]
    assert r.headers["x-route-tier"] in ("tier_low", "tier_high")
    assert int(r.headers["x-received-body-bytes"]) > 5_000_000


def test_body_over_envoy_limit_gets_413(client: httpx.Client) -> None:
    body = b'{"model":"auto","messages":[{"role":"user","content":"' + b"a" * (17 << 20) + b'"}]}'
    r = client.post(
        "/v1/chat/completions", content=body, headers={"content-type": "application/json"}
    )
    assert r.status_code == 413


def test_non_llm_path_passes_through(client: httpx.Client) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json()["tier"] == "tier_low"


def test_router_metrics_count_decisions(client: httpx.Client, stack: Stack) -> None:
    client.post("/v1/chat/completions", json=chat(EASY_PROMPT))
    metrics = httpx.get(f"http://127.0.0.1:{stack.ports.router_admin}/metrics").text
    assert 'extproc_decisions_total{reason="complexity_low",tier="tier_low"}' in metrics
    assert "extproc_tier_latency_ema_seconds" in metrics
