"""The semantic layer through a real Envoy: cache hits without the upstream (JSON and SSE),
routing by meaning, the guard keeping a card number on the private tier."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import httpx
import orjson
import pytest

from extproc.stack.up import Stack
from tests.e2e.conftest import make_stack
from tests.e2e.feedback_util import chat, metric_value, metrics_text

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        importlib.util.find_spec("sentence_transformers") is None,
        reason="semantic extra not installed (pip install -e '.[semantic]')",
    ),
]

LEGAL = [
    "Review this contract clause for liability risks.",
    "Is this non-compete agreement enforceable in my state?",
    "What are my rights as a tenant if the landlord keeps the deposit?",
    "Explain the indemnification section of this services agreement.",
]
SMALLTALK = [
    "Hi, how are you doing today?",
    "Tell me a fun fact about cats.",
    "What's a good name for a goldfish?",
]


@pytest.fixture(scope="module")
def semantic_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = {
        "tiers": {
            "tier_low": {"cluster": "tier_low", "model": "small-model", "private": True},
            "tier_high": {"cluster": "tier_high", "model": "large-model"},
        },
        "classifier": {"enabled": True, "categories": {"legal": LEGAL, "smalltalk": SMALLTALK},
                       "routes": {"legal": "tier_high"}, "threshold": 0.45,
                       "budget_ms": 2000},
        "cache": {"enabled": True, "min_similarity": 0.85, "budget_ms": 2000},
        "guard": {"enabled": True, "pii_action": "private", "secret_action": "block"},
        "routing": {"rules": [{"type": "category"}, {"type": "complexity"}]},
    }
    with make_stack(tmp_path_factory.mktemp("semantic"), config) as stack:
        yield stack


def upstream_requests(stack: Stack, tier: str) -> int:
    port = stack.ports.tier_low if tier == "tier_low" else stack.ports.tier_high
    return int(httpx.get(f"http://127.0.0.1:{port}/_demo/control", timeout=5).json()["completions"])


def test_paraphrase_hits_cache_without_upstream(semantic_stack: Stack) -> None:
    url = f"{semantic_stack.url}/v1/chat/completions"
    first = httpx.post(url, json=chat("What is the capital city of France?"), timeout=60)
    assert first.status_code == 200 and first.headers.get("x-cache") is None
    answer = first.json()["choices"][0]["message"]["content"]
    before = upstream_requests(semantic_stack, "tier_low") + upstream_requests(
        semantic_stack, "tier_high")
    again = httpx.post(url, json=chat("Which city is the capital of France?"), timeout=60)
    assert again.status_code == 200
    assert again.headers["x-cache"] == "hit-semantic"
    assert again.json()["choices"][0]["message"]["content"] == answer
    # a streaming client gets the cached answer as a valid SSE stream
    with httpx.stream("POST", url, json=chat("what's the capital of france", stream=True),
                      timeout=60) as r:
        assert r.headers["content-type"] == "text/event-stream"
        assert r.headers["x-cache"].startswith("hit-")
        raw = b"".join(r.iter_bytes()).decode()
    events = [e for e in raw.split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    streamed = "".join(
        orjson.loads(e[6:])["choices"][0].get("delta", {}).get("content", "")
        for e in events[:-1] if orjson.loads(e[6:])["choices"]
    )
    assert streamed == answer
    after = upstream_requests(semantic_stack, "tier_low") + upstream_requests(
        semantic_stack, "tier_high")
    assert after == before, "cache hits must not reach an upstream"
    text = metrics_text(semantic_stack)
    assert metric_value(text, "extproc_cache_hits_total", kind="semantic") >= 2


def test_category_routes_by_meaning(semantic_stack: Stack) -> None:
    prompt = "Could my landlord legally keep my whole security deposit for a small stain?"
    from extproc.signals.complexity import DEFAULT_THRESHOLD, ComplexityScorer

    assert ComplexityScorer().score(prompt).score < DEFAULT_THRESHOLD  # rules alone: tier_low
    r = httpx.post(f"{semantic_stack.url}/v1/chat/completions", json=chat(prompt),
                   headers={"x-cache-bypass": "1"}, timeout=60)
    assert r.headers["x-route-reason"] == "category"
    assert r.headers["x-upstream-tier"] == "tier_high"


def test_card_number_stays_on_private_tier(semantic_stack: Stack) -> None:
    prompt = ("Prove that my card 4111 1111 1111 1111 was double charged: derive the total "
              "from these 14 transactions step by step and explain the algorithm you use. "
              "The statement lists each transaction with a date, a merchant, an amount in "
              "euros and a reference; two of them share the same reference and amount but are "
              "a day apart, and a third was refunded later under a different reference. Show "
              "how you match refunds to charges, how you treat currency conversion fees, and "
              "which totals I should quote when I dispute the charge with my bank.")
    from extproc.signals.complexity import DEFAULT_THRESHOLD, ComplexityScorer

    # long: the rules alone would send it to tier_high, so only the guard keeps it private
    assert ComplexityScorer().score(prompt).score >= DEFAULT_THRESHOLD
    r = httpx.post(f"{semantic_stack.url}/v1/chat/completions", json=chat(prompt), timeout=60)
    assert r.status_code == 200
    assert r.headers["x-upstream-tier"] == "tier_low"  # the private tier, never tier_high
    assert r.headers["x-route-reason"] == "guard_private"
    secret = httpx.post(f"{semantic_stack.url}/v1/chat/completions",
                        json=chat("my key is AKIAIOSFODNN7EXAMPLE, is it valid?"), timeout=60)
    assert secret.status_code == 400
    assert secret.json()["error"]["code"] == "prompt_blocked"
