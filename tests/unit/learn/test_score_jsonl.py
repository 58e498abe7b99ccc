"""`extproc-router score --jsonl`: one {"score", "tier"} line per input line, scored as the
config's first scoring rule scores it on the live path; bad lines answered in place."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from extproc.cli import main
from extproc.config import parse_config
from extproc.learn.model import load_model
from extproc.parse.openai import ChatRequest, parse_body
from extproc.signals.complexity import DEFAULT_THRESHOLD, ComplexityScorer
from tests.unit.learn.learned_data import (
    FAST,
    marker_rows,
    run_cli,
    split_prompts,
    train,
    write_jsonl,
)

SIMPLE = "Hi! How are you today?"
COMPLEX = ("Prove that there are infinitely many primes, then write a Python function that "
           "returns the first n primes using a segmented sieve and analyse its complexity. ") * 5
# (the default scorer goes by length: a long prompt is the one it sends up)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], list[str]]:
    tmp = tmp_path_factory.mktemp("score")
    rows = marker_rows(120)
    path = tmp / "m.npz"
    train(write_jsonl(tmp / "d.jsonl", rows), path, *FAST, "--strong-share", "0.5")
    marked, plain = split_prompts(rows)
    return path, marked, plain


def learned_config(tmp: Path, model_path: Path, **rule: Any) -> Path:
    path = tmp / "router.yaml"
    path.write_text(yaml.safe_dump(
        {"routing": {"rules": [{"type": "learned", "model": str(model_path), **rule}]}}))
    return path


def score(*argv: str) -> tuple[int, list[dict[str, Any]], str]:
    rc, out, err = run_cli("score", "--jsonl", *argv)
    return rc, [json.loads(line) for line in out.splitlines()], err


def live_text(body: dict[str, Any]) -> str:
    """The text the router scores for a body (the live parser)."""
    parsed = parse_body(json.dumps(body).encode(), "auto", 1 << 26)
    assert isinstance(parsed, ChatRequest)
    return parsed.text


def test_default_config_scores_by_complexity(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", [{"prompt": SIMPLE}, {"prompt": COMPLEX}])
    rc, lines, err = score(str(data))
    assert rc == 0, err
    scorer = ComplexityScorer()
    expected = [scorer.score(t).score for t in (SIMPLE, COMPLEX)]
    assert [line["score"] for line in lines] == pytest.approx(expected)
    assert [line["tier"] for line in lines] == [
        "tier_high" if s >= DEFAULT_THRESHOLD else "tier_low" for s in expected]
    assert [line["tier"] for line in lines] == ["tier_low", "tier_high"]
    assert all(set(line) == {"score", "tier"} for line in lines)


def test_complexity_rule_with_its_own_threshold(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"routing": {"rules": [
        {"type": "complexity", "threshold": 0.0, "above": "tier_low", "below": "tier_high"}]}}))
    data = write_jsonl(tmp_path / "in.jsonl", [{"prompt": SIMPLE}])
    rc, lines, _ = score(str(data), "--config", str(cfg))
    assert rc == 0 and lines[0]["tier"] == "tier_low"  # every score ≥ 0 → `above`


def test_learned_config_scores_by_the_model(tmp_path: Path,
                                            model: tuple[Path, list[str], list[str]]) -> None:
    path, marked, plain = model
    cfg = learned_config(tmp_path, path)
    texts = marked + plain
    data = write_jsonl(tmp_path / "in.jsonl", [{"prompt": t} for t in texts])
    rc, lines, err = score(str(data), "--config", str(cfg))
    assert rc == 0, err
    scorer = load_model(path)
    assert [line["score"] for line in lines] == [scorer.score(t) for t in texts]  # same code
    for line in lines:
        assert line["tier"] == ("tier_high" if line["score"] >= scorer.threshold else "tier_low")
    assert [line["tier"] for line in lines] == ["tier_high"] * len(marked) + ["tier_low"] * len(
        plain)


def test_learned_config_with_explicit_threshold_and_tiers(
        tmp_path: Path, model: tuple[Path, list[str], list[str]]) -> None:
    path, marked, plain = model
    cfg = learned_config(tmp_path, path, threshold=-1e9, above="tier_low", below="tier_high")
    data = write_jsonl(tmp_path / "in.jsonl", [{"prompt": t} for t in marked + plain])
    rc, lines, _ = score(str(data), "--config", str(cfg))
    assert rc == 0 and {line["tier"] for line in lines} == {"tier_low"}


def test_the_first_scoring_rule_is_used(tmp_path: Path,
                                        model: tuple[Path, list[str], list[str]]) -> None:
    path, marked, _ = model
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"routing": {"rules": [
        {"type": "split", "weights": {"tier_low": 1}},
        {"type": "learned", "model": str(path)},
        {"type": "complexity"},
    ]}}))
    data = write_jsonl(tmp_path / "in.jsonl", [{"prompt": marked[0]}])
    rc, lines, _ = score(str(data), "--config", str(cfg))
    assert rc == 0 and lines[0]["score"] == load_model(path).score(marked[0])


def test_chat_and_completion_bodies(tmp_path: Path,
                                    model: tuple[Path, list[str], list[str]]) -> None:
    path, marked, plain = model
    bodies: list[dict[str, Any]] = [
        {"model": "auto", "messages": [{"role": "user", "content": marked[0]}]},
        {"model": "auto", "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": [{"type": "text", "text": plain[0]}]},
        ]},
        {"model": "auto", "prompt": marked[1], "max_tokens": 5},
        {"model": "auto", "prompt": [plain[1], plain[2]]},
        {"prompt": marked[2], "source": "extra keys are ignored"},
    ]
    data = write_jsonl(tmp_path / "in.jsonl", bodies)
    rc, lines, err = score(str(data), "--config", str(learned_config(tmp_path, path)))
    assert rc == 0, err
    scorer = load_model(path)
    assert [line["score"] for line in lines] == [scorer.score(live_text(b)) for b in bodies]
    assert lines[0]["tier"] == "tier_high" and lines[2]["tier"] == "tier_high"


def test_bad_lines_are_answered_in_place(tmp_path: Path) -> None:
    rows: list[Any] = [
        {"prompt": SIMPLE},                # 1
        "{not json",                       # 2
        "",                                # 3: blank, skipped (no output line)
        '["a", "list"]',                   # 4
        {"messages": "not a list"},        # 5
        {"messages": []},                  # 6
        {"text": "no prompt"},             # 7
        {"prompt": 42},                    # 8
        {"model": 3, "prompt": "x"},       # 9
        {"prompt": COMPLEX},               # 10
    ]
    data = write_jsonl(tmp_path / "in.jsonl", rows)
    rc, lines, _ = score(str(data))
    assert rc == 1
    assert [line.get("line") for line in lines] == [None, 2, 4, 5, 6, 7, 8, 9, None]
    for line in lines:
        if "line" in line:
            assert set(line) == {"line", "error"} and line["error"]
    assert lines[0]["tier"] == "tier_low" and lines[-1]["tier"] == "tier_high"


def test_invalid_utf8_line(tmp_path: Path) -> None:
    data = tmp_path / "in.jsonl"
    data.write_bytes(b'{"prompt": "ok"}\n{"prompt": "\xff\xfe"}\n')
    rc, lines, _ = score(str(data))
    assert rc == 1 and lines[1]["line"] == 2 and "score" in lines[0]


def test_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    payload = b'{"prompt": "hello"}\n\n{"messages": [{"role": "user", "content": "hi"}]}\n'
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(payload)))
    assert main(["score", "--jsonl", "-"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    scorer = ComplexityScorer()
    assert [line["score"] for line in lines] == pytest.approx(
        [scorer.score("hello").score, scorer.score(live_text(
            {"messages": [{"role": "user", "content": "hi"}]})).score])


def test_empty_input(tmp_path: Path) -> None:
    data = tmp_path / "in.jsonl"
    data.write_text("\n\n")
    assert score(str(data))[:2] == (0, [])


def test_missing_input(tmp_path: Path) -> None:
    rc, lines, err = score(str(tmp_path / "none.jsonl"))
    assert rc == 2 and lines == [] and "cannot read" in err


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_a_config_with_a_bad_model(tmp_path: Path, damage: str) -> None:
    model_path = tmp_path / "m.npz"
    if damage == "corrupt":
        model_path.write_bytes(b"PK\x03\x04 not really")
    cfg = learned_config(tmp_path, model_path)
    data = write_jsonl(tmp_path / "in.jsonl", [{"prompt": SIMPLE}])
    rc, lines, err = score(str(data), "--config", str(cfg))
    assert rc == 2 and lines == [] and str(model_path) in err


def test_a_bad_config(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("routing: {rules: [{type: learned}]}\n")  # no model
    data = write_jsonl(tmp_path / "in.jsonl", [{"prompt": SIMPLE}])
    rc, lines, err = score(str(data), "--config", str(cfg))
    assert rc == 2 and lines == [] and "model" in err


def test_a_multi_megabyte_prompt(tmp_path: Path,
                                 model: tuple[Path, list[str], list[str]]) -> None:
    path, _, _ = model
    huge = "step " * 700_000
    data = write_jsonl(tmp_path / "in.jsonl", [{"prompt": huge}, {"prompt": SIMPLE}])
    rc, lines, _ = score(str(data), "--config", str(learned_config(tmp_path, path)))
    assert rc == 0 and len(lines) == 2
    assert lines[0]["score"] == load_model(path).score(huge)


def test_scores_match_the_live_rule(tmp_path: Path,
                                    model: tuple[Path, list[str], list[str]]) -> None:
    """The batch score is the value the Router's learned rule routes by."""
    from extproc.decision.model import RequestFacts
    from extproc.decision.signals import Signals
    from extproc.router import Router

    path, marked, plain = model
    cfg_path = learned_config(tmp_path, path)
    router = Router(parse_config(yaml.safe_load(cfg_path.read_text())))
    bodies = [{"messages": [{"role": "user", "content": t}]} for t in marked[:2] + plain[:2]]
    data = write_jsonl(tmp_path / "in.jsonl", bodies)
    rc, lines, _ = score(str(data), "--config", str(cfg_path))
    assert rc == 0
    for body, line in zip(bodies, lines, strict=True):
        parsed = parse_body(json.dumps(body).encode(), "chat", 1 << 20)
        assert isinstance(parsed, ChatRequest)
        facts = RequestFacts("/v1/chat/completions", "POST", "r", None, parsed)
        decision = router.pipeline.decide(Signals(facts, router.scorer, router.backend))
        assert (decision.score, decision.tier) == (line["score"], line["tier"])
