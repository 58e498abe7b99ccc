"""Fast mode through a real Envoy: one ext_proc message per request, routes on dynamic
metadata, the decision visible to the client, observation through the access log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from extproc.stack.up import Stack
from tests.e2e.conftest import make_stack
from tests.e2e.feedback_util import chat, control, metric_value, metrics_text, wait_for
from tests.helpers import EASY_PROMPT, HARD_PROMPT

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def fast_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = {
        "routing": {"rewrite_model": True, "rules": [
            {"type": "latency_sla", "tier": "tier_high", "fallback": "tier_low"},
            {"type": "complexity"},
        ]},
        "tiers": {
            "tier_low": {"cluster": "tier_low", "model": "small-model", "latency_seed_ms": 20},
            "tier_high": {"cluster": "tier_high", "model": "large-model", "latency_seed_ms": 20,
                          "sla_ms": 150},
        },
        "latency": {"alpha": 0.5, "warmup_samples": 0, "recovery_half_life_s": 1.0},
    }
    with make_stack(tmp_path_factory.mktemp("fast"), config, envoy_template="fast.yaml",
                    extra_envoy_values={"ALS_FLUSH_INTERVAL": "0.05s"}) as stack:
        yield stack


def post(stack: Stack, prompt: str, **headers: str) -> httpx.Response:
    return httpx.post(f"{stack.url}/v1/chat/completions", json=chat(prompt), headers=headers,
                      timeout=60)


def test_prompts_reach_the_right_tier_with_decision_headers(fast_stack: Stack) -> None:
    low, high = post(fast_stack, EASY_PROMPT), post(fast_stack, HARD_PROMPT)
    assert low.headers["x-upstream-tier"] == "tier_low"
    assert (low.headers["x-route-tier"], low.headers["x-route-reason"]) == (
        "tier_low", "complexity_low")
    assert high.headers["x-upstream-tier"] == "tier_high"
    assert high.headers["x-route-tier"] == "tier_high"


def test_spoofed_routing_header_changes_nothing(fast_stack: Stack) -> None:
    spoofed = {"x-extproc-tier": "tier_high", "x-route-tier": "tier_high"}
    r = post(fast_stack, EASY_PROMPT, **spoofed)
    assert r.headers["x-upstream-tier"] == "tier_low"


def test_model_rewrite_keeps_content_length(fast_stack: Stack) -> None:
    r = post(fast_stack, HARD_PROMPT)
    assert r.headers["x-received-model"] == "large-model"
    assert r.headers["x-received-content-length"] == r.headers["x-received-body-bytes"]


def test_five_megabyte_body_is_routed(fast_stack: Stack) -> None:
    body = orjson.dumps(chat("Summarise: " + "lorem ipsum " * 450_000))
    assert len(body) > 5_000_000
    r = httpx.post(f"{fast_stack.url}/v1/chat/completions", content=body,
                   headers={"content-type": "application/json"}, timeout=60)
    assert r.status_code == 200
    assert r.headers["x-route-tier"] in ("tier_low", "tier_high")


def test_non_llm_paths_skip_the_router(fast_stack: Stack) -> None:
    r = httpx.get(f"{fast_stack.url}/v1/models", timeout=30)
    assert r.status_code == 200 and "x-route-tier" not in r.headers


def test_slow_tier_seen_through_access_log_moves_traffic(fast_stack: Stack) -> None:
    assert post(fast_stack, HARD_PROMPT).headers["x-upstream-tier"] == "tier_high"
    control(fast_stack, "tier_high", delay_ms=400)
    try:
        assert post(fast_stack, HARD_PROMPT).headers["x-upstream-tier"] == "tier_high"  # measured
        assert wait_for(lambda: post(fast_stack, HARD_PROMPT).headers["x-route-reason"]
                        == "sla_exceeded", timeout_s=10, step_s=0.2)
        text = metrics_text(fast_stack)
        assert metric_value(text, "extproc_access_log_entries_total", kind="routed") >= 3
    finally:
        control(fast_stack, "tier_high", delay_ms=0)


def test_stack_fixture_uses_fast_template(fast_stack: Stack, tmp_path: Path) -> None:
    rendered = (fast_stack.log_dir / "envoy.yaml").read_text()  # type: ignore[operator]
    assert "request_header_mode: SKIP" in rendered
    assert "envoy.filters.http.buffer" in rendered
