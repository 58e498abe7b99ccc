"""`extproc-router eval`: the routing curve of the config's scorer on outcome rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from extproc.cli import main
from extproc.config import RouterConfig, load_config
from extproc.learn.curve import routing_curve
from extproc.learn.scoring import scorer_for

PROMPTS = [
    "hi",
    "What is 2 + 2?",
    "Say hello in French.",
    "Name one colour.",  # every prompt a different length: the default scores by length
    "Prove that there are infinitely many primes, then derive a bound on the gap between "
    "consecutive primes and analyse the asymptotic complexity of a sieve that finds them.",
    "Design a distributed consensus protocol tolerant to Byzantine faults; prove safety and "
    "liveness step by step, and implement the leader election in Python with unit tests.",
    "Write a function that reverses a string.",
    "Explain, with a formal proof, why the halting problem is undecidable, and compare it "
    "with Rice's theorem; then optimise a reduction and estimate its time complexity.",
]


def write(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def scores(prompts: list[str], config: RouterConfig | None = None) -> list[float]:
    scorer = scorer_for(config or RouterConfig())
    return [scorer.score_text(p) for p in prompts]


def paired(gains: list[float], source: str | None = None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for prompt, gain in zip(PROMPTS, gains, strict=True):
        row: dict[str, Any] = {"prompt": prompt, "q_weak": 1.0 - gain, "q_strong": 1.0}
        if source:
            row["source"] = source
        rows.append(row)
    return rows


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main(["eval", *argv, "--json"]) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return out


# The author-label fit the default carried before its outcome refit, as configured weights: it
# orders PROMPTS differently from their length.
LABEL_FIT_CONFIG = (
    "routing:\n  rules:\n  - type: complexity\n    weights: {math: 2.75, code: 2.0, "
    "reasoning: 3.75, length: 1.5, entities: 0.25, constraints: 1.75, multi_step: 0.25, "
    "technical: 2.75, quantities: 2.25, simple_intent: -1.75, creative: -1.0, "
    "multiple_choice: -1.25}\n"
)


@pytest.mark.parametrize("weighted", [False, True], ids=["default", "weighted"])
def test_prompts_are_spread_by_the_scorer(tmp_path: Path, weighted: bool) -> None:
    config = None
    if weighted:
        (tmp_path / "c.yaml").write_text(LABEL_FIT_CONFIG, encoding="utf-8")
        config = load_config(str(tmp_path / "c.yaml"))
    values = scores(PROMPTS, config)
    assert len(set(values)) == len(values)  # no ties: mirrored data mirrors the area


@pytest.mark.parametrize("weighted", [False, True], ids=["default", "weighted"])
def test_eval_follows_the_scorer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], weighted: bool
) -> None:
    argv: list[str] = []
    config = None
    if weighted:
        (tmp_path / "c.yaml").write_text(LABEL_FIT_CONFIG, encoding="utf-8")
        config = load_config(str(tmp_path / "c.yaml"))
        argv = ["--config", str(tmp_path / "c.yaml")]
    values = np.array(scores(PROMPTS, config))
    rank = values.argsort().argsort() / (len(values) - 1)
    agree = write(tmp_path / "agree.jsonl", paired(list(rank)))  # gain grows with the score
    against = write(tmp_path / "against.jsonl", paired(list(1.0 - rank)))
    up = run_json(capsys, str(agree), *argv)["groups"][0]
    down = run_json(capsys, str(against), *argv)["groups"][0]
    # the scorer orders `agree` exactly as its oracle does
    assert up["apgr"] == pytest.approx(up["apgr_oracle"]) and up["apgr"] > 0.6
    assert down["apgr"] == pytest.approx(1.0 - up["apgr"])
    assert up["apgr_random"] == 0.5 and up["n"] == len(PROMPTS)
    weak, strong = 1.0 - rank, np.ones_like(rank)
    by_length = routing_curve([len(p) for p in PROMPTS], weak, strong)
    assert by_length is not None and up["apgr_length"] == pytest.approx(by_length.apgr)
    if weighted:  # eval follows the configured scorer, not the prompt length
        assert up["apgr"] > up["apgr_length"] + 0.01
    else:  # the default is a length rule: it orders prompts exactly as length does
        assert up["apgr"] == pytest.approx(up["apgr_length"])
    assert up["strong_share"] == pytest.approx(float(np.mean(values >= 0.5)))


def test_table_per_source_and_skipped_single_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = paired([0, 0, 0, 0, 1, 1, 0, 1], "code")[:4] + paired([0, 0, 0, 0, 1, 1, 0, 1])[4:]
    rows.append({"prompt": "feedback only", "tier": "tier_low", "score": 0.4})
    path = write(tmp_path / "d.jsonl", rows)
    assert main(["eval", str(path)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "8 paired rows, 1 single-tier rows skipped" in lines[0]
    body = [line.split()[0] for line in lines if "|" in line]
    assert body == ["group", "ALL", "all", "code"]
    assert "PGR@0.2/0.5/0.8" in out and "threshold 0.5" in out
    assert "note: 1 single-tier rows skipped" in out
    data = run_json(capsys, str(path))
    assert data["data"]["single_skipped"] == 1 and data["data"]["paired"] == 8
    code = next(g for g in data["groups"] if g["group"] == "code")
    assert code["n"] == 4 and code["apgr"] is None  # no gain in that source: no PGR


def test_config_threshold(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("routing:\n  rules:\n  - {type: complexity, threshold: 0.2, "
                      "above: tier_high, below: tier_low}\n", encoding="utf-8")
    path = write(tmp_path / "d.jsonl", paired([0, 0, 0, 0, 1, 1, 0, 1]))
    data = run_json(capsys, str(path), "--config", str(config))
    assert data["threshold"] == 0.2 and data["scorer"]["threshold"] == 0.2
    values = np.array(scores(PROMPTS, load_config(str(config))))
    assert data["groups"][0]["strong_share"] == pytest.approx(float(np.mean(values >= 0.2)))


@pytest.mark.parametrize(("rows", "message"), [
    ([{"prompt": "a", "q_weak": 0, "q_strong": 1}, {"prompt": "b", "q_weak": "x", "q_strong": 1}],
     'd.jsonl:2: q_weak must be a number in [0, 1], got "x"'),
    (["{broken"], "d.jsonl:1: invalid JSON"),
    ([], "d.jsonl: no outcome rows"),
    ([{"prompt": "a", "tier": "tier_low", "score": 1}], "no paired rows"),
])
def test_bad_data_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                          rows: list[Any], message: str) -> None:
    path = write(tmp_path / "d.jsonl", rows)
    assert main(["eval", str(path)]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""


def test_missing_file_and_bad_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(tmp_path / "none.jsonl")]) == 2
    assert "none.jsonl: cannot read" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("tiers: {}\n", encoding="utf-8")
    path = write(tmp_path / "d.jsonl", paired([0, 0, 0, 0, 1, 1, 0, 1]))
    assert main(["eval", str(path), "--config", str(bad)]) == 2
    assert "config error" in capsys.readouterr().err
