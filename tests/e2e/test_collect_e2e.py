"""The learning loop from live traffic through a real Envoy: capture on → traffic →
`extproc-router collect` (judge on the demo stack, whose verdicts are known) → paired rows;
feedback through the control API → `collect --feedback` → single-tier rows. Both modes.
Then the whole loop: collect → train → the learned rule's model file rewritten → the router
routes the way the outcomes say."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import orjson
import pytest

from extproc.api.v1 import control_pb2, control_pb2_grpc
from extproc.stack.up import Stack
from tests.e2e.conftest import make_stack
from tests.e2e.feedback_util import chat, metric_value, metrics_text, wait_for

pytestmark = pytest.mark.e2e

HIGH_Q, LOW_Q = round(8 / 9, 4), round(1 / 9, 4)  # demo judge: 9 → 8/9, 2 → 1/9
HARD = [  # the demo judge scores tier_low's answers to these 2 (the word "theorem")
    "State the prime number theorem",
    "What does the four colour theorem say?",
    "Explain Bayes theorem with a short example",
    "Why is the theorem of Pythagoras true?",
]
EASY = [
    "Say hello to the team",
    "What is the capital of France?",
    "Write a haiku about autumn",
    "Suggest a name for a cat",
]
EMAIL = "carol.jones@example.com"


def capture_settings(path: Path) -> dict[str, Any]:
    return {"enabled": True, "path": str(path), "sample_rate": 1.0, "flush_interval_s": 0.05}


@pytest.fixture(scope="module")
def full_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Path]]:
    tmp = tmp_path_factory.mktemp("collect")
    capture = tmp / "capture" / "capture.jsonl"
    with make_stack(tmp, {"capture": capture_settings(capture)}) as stack:
        yield stack, capture


@pytest.fixture(scope="module")
def fast_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Path]]:
    tmp = tmp_path_factory.mktemp("collect-fast")
    capture = tmp / "capture.jsonl"
    config = {"mode": "fast", "capture": capture_settings(capture)}
    with make_stack(tmp, config, envoy_template="fast.yaml") as stack:
        yield stack, capture


def post(stack: Stack, prompt: str) -> httpx.Response:
    r = httpx.post(f"{stack.url}/v1/chat/completions", json=chat(prompt), timeout=30)
    assert r.status_code == 200, r.text
    return r


def captured(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def decisions(path: Path) -> dict[str, dict[str, Any]]:
    return {r["prompt"]: r for r in captured(path) if r["event"] == "decision"}


def run_cli(*argv: str) -> tuple[int, dict[str, Any], str]:
    done = subprocess.run([sys.executable, "-m", "extproc", *argv, "--json"],
                          capture_output=True, text=True, timeout=120, check=False)
    summary = orjson.loads(done.stdout) if done.stdout.strip() else {}
    return done.returncode, summary, done.stderr


def read_rows(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_traffic_is_captured_redacted_and_collected_into_known_verdicts(
    full_stack: tuple[Stack, Path], tmp_path: Path
) -> None:
    stack, capture = full_stack
    for prompt in HARD + EASY:
        post(stack, prompt)
    post(stack, f"Please forward this to {EMAIL} today")
    assert wait_for(lambda: len(decisions(capture)) >= 9, timeout_s=10)
    rows = decisions(capture)
    assert set(HARD + EASY) <= set(rows)
    for prompt in HARD + EASY:
        row = rows[prompt]
        assert row["request_id"] and row["tier"] in ("tier_low", "tier_high")
        assert row["rule"] and row["reason"]
        assert row["messages"] == [{"role": "user", "content": prompt}]
    raw = capture.read_text()
    assert EMAIL not in raw and "[REDACTED:email]" in raw

    out = tmp_path / "pairs.jsonl"
    status, summary, err = run_cli(
        "collect", str(capture), "--out", str(out), "--judge", "tier_high",
        "--endpoint", f"tier_low=http://127.0.0.1:{stack.ports.tier_low}",
        "--endpoint", f"tier_high=http://127.0.0.1:{stack.ports.tier_high}")
    assert status == 0, err
    assert summary["failures"] == {} and summary["ungraded"] == {}
    pairs = {r["prompt"]: r for r in read_rows(out)}
    for prompt in HARD:
        assert (pairs[prompt]["q_weak"], pairs[prompt]["q_strong"]) == (LOW_Q, HIGH_Q)
    for prompt in EASY:
        assert (pairs[prompt]["q_weak"], pairs[prompt]["q_strong"]) == (HIGH_Q, HIGH_Q)
    assert all(r["source"] == "collect" and r["request_id"] for r in pairs.values())

    text = metrics_text(stack)
    assert metric_value(text, "extproc_capture_rows_total", outcome="written") >= 9
    assert metric_value(text, "extproc_capture_redactions_total") >= 1


def test_feedback_scores_join_the_captured_decisions(
    full_stack: tuple[Stack, Path], tmp_path: Path
) -> None:
    stack, capture = full_stack
    prompts = ["Rate this answer please", "And rate this one too"]
    for prompt in prompts:
        post(stack, prompt)
    assert wait_for(lambda: set(prompts) <= set(decisions(capture)), timeout_s=10)
    ids = {p: decisions(capture)[p]["request_id"] for p in prompts}
    with grpc.insecure_channel(f"127.0.0.1:{stack.ports.router}") as channel:
        stub = control_pb2_grpc.RouterControlStub(channel)
        for request_id, score in ((ids[prompts[0]], 0.2), (ids[prompts[1]], 0.9),
                                  ("never-seen", 0.5), (ids[prompts[0]], 4.0)):
            stub.ReportFeedback(control_pb2.FeedbackRequest(request_id=request_id, score=score),
                                timeout=5)
    assert wait_for(lambda: sum(r["event"] == "feedback" for r in captured(capture)) >= 3,
                    timeout_s=10)
    out = tmp_path / "single.jsonl"
    status, summary, err = run_cli("collect", str(capture), "--feedback", "--out", str(out))
    assert status == 0, err
    assert summary["joined"] == 2 and summary["unmatched"] == 1
    rows = {r["prompt"]: r for r in read_rows(out)}
    assert set(rows) == set(prompts)
    assert rows[prompts[0]]["score"] == 0.2 and rows[prompts[1]]["score"] == 0.9
    tiers = decisions(capture)
    assert all(rows[p]["tier"] == tiers[p]["tier"] for p in prompts)


def test_fast_mode_traffic_is_captured_too(fast_stack: tuple[Stack, Path]) -> None:
    stack, capture = fast_stack
    post(stack, "State the prime number theorem")
    post(stack, "Say hello to the team")
    assert wait_for(lambda: len(decisions(capture)) >= 2, timeout_s=10)
    rows = decisions(capture)
    assert rows["Say hello to the team"]["tier"] == "tier_low"
    assert all(r["request_id"] for r in rows.values())


# ---- the whole loop: collect → train → reload -------------------------------------------

TOPICS = ["primes", "graphs", "triangles", "circles", "matrices", "groups", "limits", "series",
          "sets", "vectors", "polynomials", "integrals", "dice", "knots", "lattices", "fields",
          "rings", "codes", "games", "maps"]
BEFORE = ["spheres", "cubes", "tori"]  # checked before: these become training traffic too
HELD_OUT = ["cones", "prisms", "helices"]  # never seen by the model that is checked on them


def hard(topic: str) -> str:
    return f"State the main theorem about {topic}"


def easy(topic: str) -> str:
    return f"Write a short poem about {topic}"


def learned_rule_ready() -> bool:
    if importlib.util.find_spec("extproc.learn.train_cmd") is None:
        return False
    from extproc.config import model as config_model
    from extproc.decision.registry import RULE_FACTORIES

    rule = getattr(config_model, "LearnedRule", None)
    return rule is not None and rule in RULE_FACTORIES


def train(data: Path, out: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "extproc", "train", str(data), "--out", str(out),
         "--strong-share", "0.5"], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr + done.stdout


@pytest.fixture(scope="module")
def loop_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Path, Path]]:
    if not learned_rule_ready():
        pytest.skip("the learned rule and `train` are not built yet (issue 14 items 2-3)")
    tmp = tmp_path_factory.mktemp("loop")
    # the model the router starts with learned the opposite: theorem prompts are easy
    inverted = tmp / "inverted.jsonl"
    inverted.write_bytes(b"".join(orjson.dumps(row) + b"\n" for topic in TOPICS for row in (
        {"prompt": hard(topic), "q_weak": 1.0, "q_strong": 1.0},
        {"prompt": easy(topic), "q_weak": 0.0, "q_strong": 1.0})))
    model = tmp / "router-model.npz"
    train(inverted, model)
    capture = tmp / "capture.jsonl"
    config = {
        "capture": capture_settings(capture),
        "routing": {"rules": [{"type": "learned", "model": str(model),
                               "above": "tier_high", "below": "tier_low"}]},
    }
    with make_stack(tmp, config) as stack:
        yield stack, capture, model


def tier_of(stack: Stack, prompt: str) -> str:
    return post(stack, prompt).headers["x-upstream-tier"]


def test_collect_train_reload_routes_the_way_the_outcomes_say(
    loop_stack: tuple[Stack, Path, Path], tmp_path: Path
) -> None:
    stack, capture, model = loop_stack
    # before: the inverted model sends theorem prompts down and poems up
    assert [tier_of(stack, hard(t)) for t in BEFORE] == ["tier_low"] * 3
    assert [tier_of(stack, easy(t)) for t in BEFORE] == ["tier_high"] * 3

    for topic in TOPICS:
        post(stack, hard(topic))
        post(stack, easy(topic))
    assert wait_for(lambda: len(decisions(capture)) >= 2 * len(TOPICS) + 6, timeout_s=10)

    pairs = tmp_path / "pairs.jsonl"
    status, summary, err = run_cli(
        "collect", str(capture), "--out", str(pairs), "--judge", "tier_high", "--limit", "100",
        "--endpoint", f"tier_low=http://127.0.0.1:{stack.ports.tier_low}",
        "--endpoint", f"tier_high=http://127.0.0.1:{stack.ports.tier_high}")
    assert status == 0, err
    rows = read_rows(pairs)
    assert len(rows) == summary["written"] == 2 * len(TOPICS) + 6
    assert all((r["q_weak"] == LOW_Q) == ("theorem" in r["prompt"]) for r in rows)

    fresh = tmp_path / "model.npz"
    train(pairs, fresh)
    os.replace(fresh, model)  # atomic: the router sees the old file or the new one

    def routed_by_outcomes() -> bool:
        return tier_of(stack, hard(HELD_OUT[0])) == "tier_high"

    assert wait_for(routed_by_outcomes, timeout_s=10, step_s=0.2), stack.tail("router")
    assert [tier_of(stack, hard(t)) for t in HELD_OUT] == ["tier_high"] * 3
    assert [tier_of(stack, easy(t)) for t in HELD_OUT] == ["tier_low"] * 3
