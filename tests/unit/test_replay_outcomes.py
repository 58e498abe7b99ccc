"""Replay on outcome rows: the routing curve comes from what the models got right, not from
outcomes drawn from the scorer's own labels."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from extproc.cli import main
from extproc.config import RouterConfig
from extproc.replay.cli import add_replay_parser
from extproc.replay.engine import ReplayOptions, run_replay
from extproc.replay.trace import load_trace

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "replay_trace.jsonl"

ROWS: list[dict[str, Any]] = [
    {"prompt": "hi", "q_weak": 1.0, "q_strong": 1.0, "source": "chat"},
    {"prompt": "Name a colour.", "q_weak": 0.8, "q_strong": 0.9, "source": "chat"},
    {"prompt": "Prove that the square root of 2 is irrational, step by step.",
     "q_weak": 0.2, "q_strong": 1.0, "source": "math"},
    {"prompt": "What is 7 times 6?", "q_weak": 1.0, "q_strong": 1.0, "source": "math"},
    {"prompt": "Implement a thread-safe LRU cache in Rust and analyse its complexity.",
     "q_weak": 0.3, "q_strong": 0.9, "source": "code"},
    {"prompt": "Reverse a list in Python.", "q_weak": 0.9, "q_strong": 0.6, "source": "code"},
]


def write(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="extproc-router")
    add_replay_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["replay", *argv])
    return int(args.func(args))


def report_of(tmp_path: Path, *argv: str) -> dict[str, Any]:
    out = tmp_path / "r.json"
    assert run_cli(*argv, "--quiet", "--json", str(out)) == 0
    data: dict[str, Any] = json.loads(out.read_text())
    return data


def test_outcome_rows_become_judged_requests(tmp_path: Path) -> None:
    path = write(tmp_path / "o.jsonl", ROWS)
    data = report_of(tmp_path, "--outcomes", str(path))
    assert data["trace"]["requests"] == len(ROWS) and data["auc"]["judged"] == len(ROWS)
    policies = {p["name"]: p for p in data["policies"]}
    mean = lambda key: sum(r[key] for r in ROWS) / len(ROWS)  # noqa: E731
    assert policies["always-low"]["mean_quality"] == pytest.approx(mean("q_weak"))
    assert policies["always-high"]["mean_quality"] == pytest.approx(mean("q_strong"))
    best = sum(max(r["q_weak"], r["q_strong"]) for r in ROWS) / len(ROWS)
    assert policies["oracle"]["mean_quality"] == pytest.approx(best)
    routing = data["routing"]
    assert [g["group"] for g in routing["groups"]] == ["ALL", "chat", "code", "math"]
    assert routing["groups"][0]["n"] == len(ROWS) and routing["threshold"] == 0.5
    assert not any("author label" in note for note in data["notes"])


def test_replay_and_eval_report_the_same_curve(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "o.jsonl", ROWS)
    replayed = report_of(tmp_path, "--outcomes", str(path))["routing"]
    capsys.readouterr()
    assert main(["eval", str(path), "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    for ours, theirs in zip(replayed["groups"], evaluated["groups"], strict=True):
        assert ours == theirs  # same scorer, same rows, same code: identical figures


def test_paired_file_is_detected_as_the_trace(tmp_path: Path) -> None:
    path = write(tmp_path / "o.jsonl", ["", *ROWS])
    detected = report_of(tmp_path, str(path))
    explicit = report_of(tmp_path, "--outcomes", str(path))
    for key in ("trace", "policies", "auc", "routing"):
        assert detected[key] == explicit[key]


def test_single_tier_rows_are_noted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [*ROWS, {"prompt": "thanks!", "tier": "tier_low", "score": 1.0}]
    path = write(tmp_path / "o.jsonl", rows)
    assert run_cli("--outcomes", str(path)) == 0
    out = capsys.readouterr().out
    assert "1 single-tier outcome rows skipped" in out
    assert "routing curve of default's complexity rule" in out and "APGR" in out


def test_bad_outcome_rows_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "o.jsonl", [ROWS[0], {"prompt": "x", "q_weak": 2, "q_strong": 1}])
    assert run_cli("--outcomes", str(path)) == 2
    assert f"{path}:2: q_weak must be a number in [0, 1], got 2" in capsys.readouterr().err
    assert run_cli(str(path)) == 2  # detected from the first row: validated the same way
    assert run_cli("--outcomes", str(tmp_path / "none.jsonl")) == 2
    assert run_cli(str(SAMPLE), "--outcomes", str(path)) == 2
    assert "not both" in capsys.readouterr().err


def test_synthetic_trace_is_marked_circular() -> None:
    result = run_replay(load_trace(SAMPLE), [("p", RouterConfig())], ReplayOptions())
    report = result.report
    assert report.routing is not None and report.routing.rows[0].n == 300
    assert any("300 of the 300 requests" in n and "author label" in n for n in report.notes)
    # synthetic lines carry a source: the curve is broken down by it
    assert len(report.routing.rows) > 2


def test_trace_without_both_tiers_has_no_curve(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", [
        {"prompt": "a b c", "outcomes": {"tier_low": {"quality": 0.5}}},
        {"prompt": "d e f", "source": "s", "outcomes": {"tier_high": {"quality": 0.5}}},
    ])
    result = run_replay(load_trace(path), [("p", RouterConfig())], ReplayOptions())
    assert result.report.routing is None and result.report.to_dict()["routing"] is None


def test_trace_lines_with_outcomes_keep_their_shape(tmp_path: Path) -> None:
    # a trace line with `outcomes` is a trace even when it also has q_weak / q_strong
    line = {"prompt": "hello", "q_weak": 0.1, "q_strong": 0.2,
            "outcomes": {"tier_low": {"quality": 0.9}, "tier_high": {"quality": 0.4}}}
    data = report_of(tmp_path, str(write(tmp_path / "t.jsonl", [line])))
    low = next(p for p in data["policies"] if p["name"] == "always-low")
    assert low["mean_quality"] == 0.9
    assert data["routing"]["groups"][0]["apgr"] is None  # the strong tier gains nothing
