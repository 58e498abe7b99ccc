"""The learning loop from live traffic through a real Envoy: capture on → traffic →
`extproc-router collect` (judge on the demo stack, whose verdicts are known) → paired rows;
feedback through the control API → `collect --feedback` → single-tier rows. Both modes."""

from __future__ import annotations

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
