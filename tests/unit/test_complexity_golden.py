"""The complexity scorer reproduces its golden outputs exactly (guards speed refactors).

``tests/data/complexity_golden.json`` is written by ``scripts/gen-complexity-golden.py``;
regenerate it only when scores are meant to change.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from extproc.signals.complexity import DIMENSIONS, ComplexityScorer

DATA = Path(__file__).resolve().parents[1] / "data"
GOLDEN = DATA / "complexity_golden.json"
TOLERANCE = 1e-9


@cache
def golden() -> dict[str, Any]:
    """The parsed golden file."""
    with GOLDEN.open(encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


@cache
def scorer(max_chars: int | None = None) -> ComplexityScorer:
    """Default scorer, or one with a custom ``max_chars``."""
    return ComplexityScorer() if max_chars is None else ComplexityScorer(max_chars=max_chars)


def synthetic_prompt(entry: dict[str, Any]) -> Any:
    """An inline prompt, or a long one rebuilt from ``[[chunk, times], ...]``."""
    if "parts" in entry:
        return "".join(chunk * times for chunk, times in entry["parts"])
    return entry["prompt"]


def assert_matches(
    expected: dict[str, Any], text: Any, label: str, max_chars: int | None = None
) -> None:
    """``score(text)`` equals the golden score and dimension values within ``TOLERANCE``."""
    result = scorer(max_chars).score(text)
    assert tuple(result.dimensions) == DIMENSIONS, label
    got = [result.score, *result.dimensions.values()]
    want = [expected["score"], *expected["dimensions"]]
    names = ["score", *DIMENSIONS]
    diffs = {n: (g, w) for n, g, w in zip(names, got, want, strict=True) if abs(g - w) > TOLERANCE}
    assert not diffs, f"{label}: (got, golden) {diffs}"


def test_golden_dimension_names() -> None:
    assert tuple(golden()["dimensions"]) == DIMENSIONS


@pytest.mark.parametrize("name", ["complexity_prompts.jsonl", "replay_trace.jsonl"])
def test_golden_dataset_prompts(name: str) -> None:
    with (DATA / name).open(encoding="utf-8") as fh:
        prompts = [json.loads(line)["prompt"] for line in fh if line.strip()]
    expected = golden()["files"][name]
    assert len(prompts) == len(expected), f"{name} changed; regenerate the golden file"
    for i, (prompt, want) in enumerate(zip(prompts, expected, strict=True)):
        assert_matches(want, prompt, f"{name}[{i}]")


def test_golden_synthetic_prompts() -> None:
    entries = golden()["synthetic"]
    assert len(entries) > 300
    for i, entry in enumerate(entries):
        label = f"synthetic[{i}] {entry.get('name') or repr(entry.get('prompt'))[:60]}"
        assert_matches(entry, synthetic_prompt(entry), label, entry.get("max_chars"))
