"""Canary and sticky A/B through a real Envoy: headers reach the router, arms reach the
client, and a user never changes arm."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from extproc.stack.up import Stack
from tests.e2e.conftest import make_stack
from tests.e2e.feedback_util import chat
from tests.helpers import EASY_PROMPT

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def ab_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = {"routing": {"rules": [
        {"type": "canary", "tier": "tier_high", "percent": 0, "force_header": "x-canary"},
        {"type": "ab", "key_header": "x-user-id", "salt": "e2e",
         "arms": {"control": {"tier": "tier_low", "weight": 50},
                  "treatment": {"tier": "tier_high", "weight": 50}}},
        {"type": "complexity"},
    ]}, "reasoning": {"tiers": {"tier_high": {"family": "qwen3", "mode": "on"},
                               "tier_low": {"family": "gpt_oss", "mode": "auto",
                                            "effort": "high"}}}}
    with make_stack(tmp_path_factory.mktemp("ab"), config) as stack:
        yield stack


def test_sticky_arms_through_envoy(ab_stack: Stack) -> None:
    arms: dict[str, str] = {}
    with httpx.Client(base_url=ab_stack.url, timeout=30) as client:
        for round_ in range(3):
            for i in range(20):
                user = f"user-{i}"
                r = client.post("/v1/chat/completions", json=chat(EASY_PROMPT),
                                headers={"x-user-id": user})
                arm = r.headers["x-route-arm"]
                expected_tier = "tier_low" if arm == "control" else "tier_high"
                assert r.headers["x-upstream-tier"] == expected_tier
                if round_ == 0:
                    arms[user] = arm
                assert arms[user] == arm, f"{user} moved between arms"
        assert set(arms.values()) == {"control", "treatment"}
        forced = client.post("/v1/chat/completions", json=chat(EASY_PROMPT),
                             headers={"x-canary": "1", "x-user-id": "user-1"})
        assert forced.headers["x-route-reason"] == "canary_forced"
        assert forced.headers["x-upstream-tier"] == "tier_high"
        anonymous = client.post("/v1/chat/completions", json=chat(EASY_PROMPT))
        assert "x-route-arm" not in anonymous.headers
        assert anonymous.headers["x-route-reason"] == "complexity_low"


def test_reasoning_switch_arrives_upstream(ab_stack: Stack) -> None:
    with httpx.Client(base_url=ab_stack.url, timeout=30) as client:
        high = client.post(
            "/v1/chat/completions", json=chat(EASY_PROMPT), headers={"x-canary": "1"}
        )
        assert high.headers["x-upstream-tier"] == "tier_high"
        assert high.headers["x-received-chat-template-kwargs"] == '{"enable_thinking":true}'
        assert int(high.headers["x-received-content-length"]) == int(
            high.headers["x-received-body-bytes"])
        low = client.post("/v1/chat/completions", json=chat(EASY_PROMPT))
        assert low.headers["x-upstream-tier"] == "tier_low"
        assert low.headers["x-received-reasoning-effort"] == "low"  # auto: simple → off
