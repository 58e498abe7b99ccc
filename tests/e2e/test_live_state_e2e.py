"""Live backend state changes decisions, end to end through a real Envoy."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from extproc.stack.up import Stack
from tests.e2e.conftest import make_stack
from tests.e2e.feedback_util import (
    chat,
    control,
    metric_value,
    metrics_server,
    metrics_text,
    wait_for,
)
from tests.helpers import EASY_PROMPT, HARD_PROMPT

pytestmark = pytest.mark.e2e


def post(stack: Stack, prompt: str, **extra: object) -> httpx.Response:
    return httpx.post(f"{stack.url}/v1/chat/completions", json=chat(prompt, **extra), timeout=30)


@pytest.fixture()
def sla_stack(tmp_path: Path) -> Iterator[Stack]:
    config = {
        "latency": {"alpha": 0.5, "warmup_samples": 0, "recovery_half_life_s": 0.4},
        "tiers": {
            "tier_low": {"cluster": "tier_low", "model": "small-model", "latency_seed_ms": 20},
            "tier_high": {
                "cluster": "tier_high",
                "model": "large-model",
                "latency_seed_ms": 20,
                "sla_ms": 150,
            },
        },
        "routing": {
            "rules": [
                {"type": "latency_sla", "tier": "tier_high", "fallback": "tier_low"},
                {"type": "complexity"},
            ]
        },
    }
    with make_stack(tmp_path, config) as stack:
        yield stack


def test_slow_tier_trips_sla_then_recovers(sla_stack: Stack) -> None:
    assert post(sla_stack, HARD_PROMPT).headers["x-route-tier"] == "tier_high"
    control(sla_stack, "tier_high", delay_ms=400)
    slow = post(sla_stack, HARD_PROMPT)
    assert slow.headers["x-route-tier"] == "tier_high"  # this one measures the slowness
    moved = post(sla_stack, HARD_PROMPT)
    assert moved.headers["x-upstream-tier"] == "tier_low"
    assert moved.headers["x-route-reason"] == "sla_exceeded"
    control(sla_stack, "tier_high", delay_ms=0)
    # the avoided tier's EMA relaxes toward its seed; the next request re-measures it
    assert wait_for(
        lambda: post(sla_stack, HARD_PROMPT).headers["x-upstream-tier"] == "tier_high",
        timeout_s=10,
        step_s=0.3,
    )
    assert post(sla_stack, HARD_PROMPT).headers["x-upstream-tier"] == "tier_high"


@pytest.fixture()
def circuit_stack(tmp_path: Path) -> Iterator[Stack]:
    config = {
        "health": {
            "circuit": {"consecutive_failures": 2, "open_s": 1.0},
            "snapshot_interval_ms": 50,
        },
        "routing": {"rules": [{"type": "complexity"}]},
    }
    with make_stack(tmp_path, config) as stack:
        yield stack


def test_failing_tier_opens_circuit_and_traffic_moves(circuit_stack: Stack) -> None:
    control(circuit_stack, "tier_high", fail_status=503)
    for _ in range(2):
        r = post(circuit_stack, HARD_PROMPT)
        assert r.status_code == 503 and r.headers["x-route-tier"] == "tier_high"
    moved = post(circuit_stack, HARD_PROMPT)
    assert moved.status_code == 200
    assert moved.headers["x-upstream-tier"] == "tier_low"
    assert moved.headers["x-route-reason"] == "circuit_open"
    text = metrics_text(circuit_stack)
    assert metric_value(text, "extproc_tier_outcomes_total", tier="tier_high", outcome="error") == 2
    control(circuit_stack, "tier_high", fail_status=0)
    time.sleep(1.1)  # cool-down → half-open: one probe goes through and closes the circuit
    probe = post(circuit_stack, HARD_PROMPT)
    assert probe.headers["x-upstream-tier"] == "tier_high" and probe.status_code == 200
    assert post(circuit_stack, HARD_PROMPT).headers["x-route-reason"] == "complexity_high"


def test_sse_stream_byte_identical_and_observed(stack: Stack) -> None:
    body = orjson.dumps(chat(EASY_PROMPT, stream=True) | {"model": "small-model"})
    headers = {"content-type": "application/json"}
    direct = httpx.post(
        f"http://127.0.0.1:{stack.ports.tier_low}/v1/chat/completions",
        content=body,
        headers=headers,
        timeout=30,
    ).content
    before = metrics_text(stack)
    with httpx.stream(
        "POST", f"{stack.url}/v1/chat/completions", content=body, headers=headers, timeout=30
    ) as r:
        assert r.headers["x-route-tier"] == "tier_low"
        routed = b"".join(r.iter_bytes())
    assert routed == direct
    labels = {"tier": "tier_low", "model": "small-model"}

    def ttft_counted() -> bool:
        after = metrics_text(stack)
        return metric_value(after, "extproc_ttft_seconds_count", **labels) > metric_value(
            before, "extproc_ttft_seconds_count", **labels
        )

    assert wait_for(ttft_counted, timeout_s=5)


def test_usage_and_cost_recorded_from_json_and_sse(tmp_path: Path) -> None:
    config = {
        "observe": {"inject_stream_usage": True, "response_body": "all"},
        "tiers": {
            "tier_low": {
                "cluster": "tier_low",
                "model": "small-model",
                "prices": {"input_per_1m": 1.0, "output_per_1m": 2.0},
            },
            "tier_high": {"cluster": "tier_high", "model": "large-model"},
        },
    }
    with make_stack(tmp_path, config) as stack:
        assert post(stack, EASY_PROMPT).status_code == 200  # JSON: usage from the body
        with httpx.stream(
            "POST", f"{stack.url}/v1/chat/completions", json=chat(EASY_PROMPT, stream=True),
            timeout=30,
        ) as r:
            events = b"".join(r.iter_bytes()).decode().split("\n\n")
        usage_events = [e for e in events if '"usage"' in e]
        assert usage_events, "include_usage was injected, so the stream carries usage"
        labels = {"tier": "tier_low", "model": "small-model"}

        def recorded() -> bool:
            text = metrics_text(stack)
            prompt = metric_value(text, "extproc_tokens_total", kind="prompt", **labels)
            cost = metric_value(text, "extproc_cost_total", **labels)
            return prompt == 20 and cost > 0

        assert wait_for(recorded, timeout_s=5), metrics_text(stack)[-3000:]


def test_scraped_vllm_and_dcgm_metrics_change_decisions(tmp_path: Path) -> None:
    with (
        metrics_server("vllm", '{"kv_cache_usage": 0.2}') as vllm,
        metrics_server("dcgm", '{"fb_free_mib": [60000], "fb_used_mib": [20000]}') as dcgm,
    ):
        config = {
            "scrape": {"interval_ms": 100, "timeout_ms": 500},
            "tiers": {
                "tier_low": {
                    "cluster": "tier_low",
                    "model": "small-model",
                    "metrics_urls": [f"{vllm}/metrics", f"{dcgm}/metrics"],
                    "gpu": {"source": "scrape"},
                },
                "tier_high": {"cluster": "tier_high", "model": "large-model"},
            },
            "routing": {
                "rules": [
                    {
                        "type": "vram",
                        "tier": "tier_low",
                        "fallback": "tier_high",
                        "min_free_fraction": 0.1,
                        "max_age_ms": 3000,
                    },
                    {
                        "type": "load",
                        "tier": "tier_low",
                        "fallback": "tier_high",
                        "max_kv_cache_usage": 0.9,
                        "max_age_ms": 3000,
                    },
                    {"type": "complexity"},
                ]
            },
        }
        with make_stack(tmp_path, config) as stack:

            def reason() -> str:
                return post(stack, EASY_PROMPT).headers["x-route-reason"]

            assert wait_for(lambda: reason() == "complexity_low", timeout_s=5)
            httpx.post(f"{vllm}/set", json={"kv_cache_usage": 0.97}, timeout=5)
            assert wait_for(lambda: reason() == "kv_cache_full", timeout_s=5)
            httpx.post(f"{vllm}/set", json={"kv_cache_usage": 0.1}, timeout=5)
            assert wait_for(lambda: reason() == "complexity_low", timeout_s=5)
            httpx.post(
                f"{dcgm}/set", json={"fb_free_mib": [1000], "fb_used_mib": [79000]}, timeout=5
            )
            assert wait_for(lambda: reason() == "vram_headroom_low", timeout_s=5)
            httpx.post(f"{dcgm}/fail", timeout=5)  # stale data abstains, never decides
            assert wait_for(lambda: reason() == "complexity_low", timeout_s=8)
