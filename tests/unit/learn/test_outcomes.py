"""Outcome data: both row shapes, and a clear file:line error for every kind of bad row."""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from extproc.learn.outcomes import (
    OutcomeDataError,
    PairedOutcome,
    TierOutcome,
    load_outcomes,
    paired_arrays,
    parse_row,
)


def write(path: Path, lines: list[Any]) -> Path:
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def test_both_shapes_in_file_order(tmp_path: Path) -> None:
    path = write(tmp_path / "d.jsonl", [
        {"prompt": "add 2 and 2", "q_weak": 1, "q_strong": 1.0, "source": "math", "id": 7},
        "",
        "   ",
        {"prompt": "write a sonnet", "tier": "tier_low", "score": 0.25},
        {"prompt": "prove it", "q_weak": 0.0, "q_strong": 0.75},
        # both shapes' keys: paired wins
        {"prompt": "both", "q_weak": 0.5, "q_strong": 0.5, "tier": "tier_high", "score": 0.1},
    ])
    data = load_outcomes(path)
    assert data.paired == (
        PairedOutcome("add 2 and 2", 1.0, 1.0, "math"),
        PairedOutcome("prove it", 0.0, 0.75, "all"),
        PairedOutcome("both", 0.5, 0.5, "all"),
    )
    assert data.single == (TierOutcome("write a sonnet", "tier_low", 0.25, "all"),)
    assert data.rows == 4 and data.path == str(path)
    assert data.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert data.sources == ["all", "math"]
    assert isinstance(data.paired[0].q_weak, float)


def test_rows_are_frozen(tmp_path: Path) -> None:
    row = PairedOutcome("p", 0.1, 0.2)
    with pytest.raises(AttributeError):
        row.q_weak = 0.5  # type: ignore[misc]
    assert not hasattr(row, "__dict__")


def test_paired_arrays() -> None:
    rows = [PairedOutcome("a", 0.25, 1.0, "x"), PairedOutcome("bb", 0.5, 0.0, "y")]
    prompts, weak, strong, sources = paired_arrays(rows)
    assert prompts == ["a", "bb"] and sources == ["x", "y"]
    assert weak.dtype == np.float64 and weak.tolist() == [0.25, 0.5]
    assert strong.tolist() == [1.0, 0.0]
    empty = paired_arrays([])
    assert empty[0] == [] and empty[1].shape == (0,)


GOOD = {"prompt": "fine", "q_weak": 0.5, "q_strong": 0.5}

BAD: list[tuple[Any, str]] = [
    ("{not json", "invalid JSON"),
    ('{"prompt": "x", "q_weak": NaN, "q_strong": 1}', "invalid JSON"),
    ('{"prompt": "x", "q_weak": 1e999, "q_strong": 1}', "invalid JSON"),
    ("[1, 2]", "expected a JSON object, got [1,2]"),
    ('"just a string"', "expected a JSON object"),
    ({"q_weak": 0.1, "q_strong": 0.2}, "prompt is missing"),
    ({"prompt": "", "q_weak": 0.1, "q_strong": 0.2}, "prompt is empty"),
    ({"prompt": "  \n", "q_weak": 0.1, "q_strong": 0.2}, "prompt is empty"),
    ({"prompt": 12, "q_weak": 0.1, "q_strong": 0.2}, "prompt must be a string, got 12"),
    ({"prompt": "p", "q_weak": "x", "q_strong": 0.2},
     'q_weak must be a number in [0, 1], got "x"'),
    ({"prompt": "p", "q_weak": True, "q_strong": 0.2},
     "q_weak must be a number in [0, 1], got true"),
    ({"prompt": "p", "q_weak": 0.2, "q_strong": 1.5},
     "q_strong must be a number in [0, 1], got 1.5"),
    ({"prompt": "p", "q_weak": -0.1, "q_strong": 0.5}, "q_weak must be a number in [0, 1]"),
    ({"prompt": "p", "q_weak": None, "q_strong": 0.5},
     "q_weak must be a number in [0, 1], got null"),
    ({"prompt": "p", "q_weak": 0.1}, "without q_strong"),
    ({"prompt": "p", "q_strong": 0.1}, "without q_weak"),
    ({"prompt": "p", "tier": "tier_low"}, "without score"),
    ({"prompt": "p", "score": 0.3}, "without tier"),
    ({"prompt": "p", "tier": "", "score": 0.3}, "tier must be a non-empty string"),
    ({"prompt": "p", "tier": 3, "score": 0.3}, "tier must be a non-empty string, got 3"),
    ({"prompt": "p", "tier": "tier_low", "score": 2}, "score must be a number in [0, 1], got 2"),
    ({"prompt": "p", "quality": 0.3}, "unknown row shape"),
    ({"prompt": "p", "q_weak": 0.1, "q_strong": 0.2, "source": 5}, "source must be"),
]


@pytest.mark.parametrize(("line", "message"), BAD)
def test_bad_row_names_file_and_line(tmp_path: Path, line: Any, message: str) -> None:
    path = write(tmp_path / "data.jsonl", [GOOD, "", line, GOOD])
    with pytest.raises(OutcomeDataError) as exc:
        load_outcomes(path)
    assert str(exc.value).startswith(f"{path}:3: ")
    assert message in str(exc.value)
    assert isinstance(exc.value, ValueError)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_quality_is_refused(value: float) -> None:
    # orjson never yields these from a file; callers building rows from Python can
    with pytest.raises(ValueError, match="q_strong must be a number in"):
        parse_row({"prompt": "p", "q_weak": 0.1, "q_strong": value})


def test_bad_value_is_quoted_short() -> None:
    with pytest.raises(ValueError) as exc:
        parse_row({"prompt": "p", "q_weak": "x" * 5000, "q_strong": 0.1})
    assert len(str(exc.value)) < 200 and str(exc.value).endswith("…")


def test_empty_file(tmp_path: Path) -> None:
    for name, text in (("empty.jsonl", ""), ("blank.jsonl", "\n  \n\n")):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        with pytest.raises(OutcomeDataError, match=f"^{re.escape(str(path))}: no outcome rows$"):
            load_outcomes(path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(OutcomeDataError, match=r"nope\.jsonl: cannot read"):
        load_outcomes(tmp_path / "nope.jsonl")
    with pytest.raises(OutcomeDataError, match="cannot read"):
        load_outcomes(tmp_path)


def test_non_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"prompt": "ok", "q_weak": 0, "q_strong": 1}\n'
                     b'{"prompt": "caf\xe9", "q_weak": 0, "q_strong": 1}\n')
    with pytest.raises(OutcomeDataError, match=r"latin1.jsonl:2: not valid UTF-8"):
        load_outcomes(path)


def test_bom_and_crlf_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"prompt": "a", "q_weak": 0, "q_strong": 1}\r\n'
                     b'{"prompt": "b", "tier": "tier_high", "score": 1}\r\n')
    data = load_outcomes(path)
    assert [r.prompt for r in data.paired] == ["a"] and data.single[0].tier == "tier_high"
    assert data.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_multi_megabyte_prompts_are_kept_whole(tmp_path: Path) -> None:
    big = "why " * 1_000_000  # 4 MB
    path = write(tmp_path / "big.jsonl", [
        {"prompt": big, "q_weak": 0.0, "q_strong": 1.0},
        {"prompt": "é" + big, "tier": "tier_low", "score": 0.5},
        GOOD,
    ])
    started = time.perf_counter()
    data = load_outcomes(path)
    assert time.perf_counter() - started < 5.0
    assert data.paired[0].prompt == big and data.single[0].prompt == "é" + big
    assert data.rows == 3


def test_error_on_a_big_bad_line_stays_short(tmp_path: Path) -> None:
    path = write(tmp_path / "big.jsonl", [{"prompt": "p", "q_weak": "z" * 3_000_000,
                                           "q_strong": 1.0}])
    with pytest.raises(OutcomeDataError) as exc:
        load_outcomes(path)
    assert str(exc.value).startswith(f"{path}:1: q_weak") and len(str(exc.value)) < 300
