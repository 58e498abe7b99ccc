"""The routing curve: hand-computed cases, properties, and a numerical cross-check against
the reference script in ../shared/data/routing-dev/ when that directory exists."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extproc.learn.curve import (
    ALL,
    format_table,
    routing_curve,
    routing_report,
    share_at_threshold,
)
from extproc.learn.outcomes import load_outcomes, paired_arrays

# ../shared/data/routing-dev beside the repository; absent on a clean clone (CI)
DEV = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "routing-dev"


def apgr_of(scores: Any, q_weak: Any, q_strong: Any) -> float:
    curve = routing_curve(scores, q_weak, q_strong)
    assert curve is not None
    return curve.apgr


# ---- hand-computed ------------------------------------------------------------------------


def test_ties_switch_together() -> None:
    # block {0, 1} first (gain 1 of 2), then row 2 (gain 1); gap = 2/3
    curve = routing_curve([0.5, 0.5, 0.1], [0, 0, 0], [1, 0, 1])
    assert curve is not None
    assert curve.shares.tolist() == pytest.approx([0, 2 / 3, 1])
    assert curve.pgr.tolist() == pytest.approx([0, 0.5, 1])
    assert curve.apgr == pytest.approx(2 / 3 * 0.25 + 1 / 3 * 0.75)  # 5/12
    assert curve.q_weak_all == 0.0 and curve.q_strong_all == pytest.approx(2 / 3)
    assert curve.pgr_at(0.5) == pytest.approx(0.375)  # on the segment of slope 0.75
    assert curve.pgr_at(2 / 3) == pytest.approx(0.5)
    assert curve.pgr_at(0.0) == 0.0 and curve.pgr_at(1.0) == pytest.approx(1.0)


def test_order_and_its_reverse() -> None:
    weak, strong = [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]  # only row 0 gains
    # row 0 has the lowest score: it goes up last
    assert apgr_of([1, 2, 3], weak, strong) == pytest.approx(1 / 6)
    # reversed: it goes up first
    assert apgr_of([3, 2, 1], weak, strong) == pytest.approx(5 / 6)


def test_constant_scores_are_random() -> None:
    curve = routing_curve([0.3] * 5, [0.1, 0.9, 0.2, 0.0, 0.4], [0.9, 0.9, 0.8, 1.0, 0.3])
    assert curve is not None
    assert curve.shares.tolist() == [0.0, 1.0]
    assert curve.apgr == pytest.approx(0.5)
    assert curve.pgr_at(0.2) == pytest.approx(0.2)


def test_oracle_and_losing_rows() -> None:
    weak = [0.0, 1.0, 0.0, 0.5]
    strong = [1.0, 0.0, 1.0, 0.5]  # row 1 loses by going up
    gain = np.subtract(strong, weak)
    curve = routing_curve(gain, weak, strong)
    assert curve is not None
    # gap = (1 - 1 + 1 + 0) / 4 = 0.25; blocks: {0, 2} gain 2, {3} 0, {1} -1
    assert curve.pgr.tolist() == pytest.approx([0, 2.0, 2.0, 1.0])
    assert curve.apgr == pytest.approx(0.5 * 1.0 + 0.25 * 2.0 + 0.25 * 1.5)


@pytest.mark.parametrize(("weak", "strong"), [
    ([0.5, 0.5], [0.5, 0.5]),
    ([1.0, 0.0], [0.0, 1.0]),  # gains cancel: gap 0
    ([0.9, 0.8], [0.1, 0.2]),  # strong worse
])
def test_no_gap_no_curve(weak: list[float], strong: list[float]) -> None:
    assert routing_curve([0.1, 0.2], weak, strong) is None


def test_bad_inputs() -> None:
    assert routing_curve([], [], []) is None
    with pytest.raises(ValueError, match="length mismatch"):
        routing_curve([0.1], [0.1, 0.2], [0.3, 0.4])
    with pytest.raises(ValueError, match="NaN"):
        routing_curve([float("nan")], [0.0], [1.0])
    curve = routing_curve([1.0], [0.0], [1.0])
    assert curve is not None
    with pytest.raises(ValueError):
        curve.pgr_at(1.5)


def test_share_at_threshold() -> None:
    assert share_at_threshold([0.1, 0.5, 0.5, 0.9], 0.5) == 0.75
    assert share_at_threshold([0.1, 0.5], 0.95) == 0.0
    assert share_at_threshold([0.1, 0.5], 0.0) == 1.0
    with pytest.raises(ValueError):
        share_at_threshold([], 0.5)


def test_report_groups_baselines_and_table() -> None:
    prompts = ["a", "bbbb", "cc", "ddd", "e", "ffffff"]
    scores = [0.9, 0.1, 0.6, 0.4, 0.2, 0.3]
    weak = [0.0, 1.0, 0.0, 0.5, 0.5, 0.2]
    strong = [1.0, 1.0, 1.0, 0.5, 0.5, 0.2]  # source y: no gain anywhere
    sources = ["x", "x", "x", "y", "y", "y"]
    report = routing_report(prompts, scores, weak, strong, sources, threshold=0.5)
    assert [r.group for r in report.rows] == [ALL, "x", "y"]
    everything, x, y = report.rows
    assert (everything.n, x.n, y.n) == (6, 3, 3)
    # x: the scorer sends the two gaining rows (0.9, 0.6) first: perfect, like the oracle
    assert x.apgr == pytest.approx(x.oracle) and x.random == 0.5
    # x by length: "bbbb" (no gain) first, then "cc", then "a"; gap 2/3, so PGR 0, 0.5, 1
    assert x.length == pytest.approx(1 / 3 * 0.0 + 1 / 3 * 0.25 + 1 / 3 * 0.75)
    assert x.strong_share == pytest.approx(2 / 3) and x.pgr_at_threshold == pytest.approx(1.0)
    assert everything.strong_share == pytest.approx(2 / 6)
    assert y.apgr is None and y.random is None and y.pgr[0.5] is None
    assert y.strong_share == 0.0 and y.pgr_at_threshold is None
    data = report.to_json()
    json.dumps(data)  # plain data
    assert data["threshold"] == 0.5 and data["points"] == [0.2, 0.5, 0.8]
    assert [g["group"] for g in data["groups"]] == ["ALL", "x", "y"]
    assert set(data["groups"][0]) >= {"n", "apgr", "pgr", "strong_share", "apgr_random",
                                      "apgr_length", "apgr_oracle"}
    assert data["groups"][1]["pgr"]["0.5"] == pytest.approx(x.pgr[0.5])
    table = format_table(report)
    lines = table.splitlines()
    assert lines[2].startswith("ALL") and lines[3].startswith("x ") and lines[4].startswith("y ")
    assert "n/a" in lines[4] and "(small n)" in lines[2]
    assert len({len(line) for line in lines[:2]}) == 1  # header and rule line up
    assert lines[0].index("|") == lines[2].index("|") == lines[4].index("|")


def test_report_without_sources_or_threshold() -> None:
    report = routing_report(["a", "b"], [1, 0], [0, 0], [1, 0])
    assert len(report.rows) == 1 and report.rows[0].strong_share is None
    assert "share@t" not in format_table(report)
    with pytest.raises(ValueError):
        routing_report(["a"], [1, 0], [0, 0], [1, 0])


# ---- properties ---------------------------------------------------------------------------

quality = st.floats(0.0, 1.0, allow_nan=False)
rows = st.lists(st.tuples(st.integers(-5, 5), quality, quality), min_size=1, max_size=40)


def columns(data: list[tuple[int, float, float]]) -> tuple[np.ndarray, ...]:
    x, w, s = (np.array(c, dtype=np.float64) for c in zip(*data, strict=True))
    return x, w, s


def definition(x: np.ndarray, w: np.ndarray, s: np.ndarray) -> list[tuple[float, float]]:
    """PGR at each distinct threshold straight from the definition (no sorting tricks)."""
    gap = s.mean() - w.mean()
    points = [(0.0, 0.0)]
    for t in sorted(set(x.tolist()), reverse=True):
        up = x >= t
        points.append((up.mean(), (np.where(up, s, w).mean() - w.mean()) / gap))
    return points


@settings(max_examples=200, deadline=None)
@given(rows)
def test_vertices_match_the_definition(data: list[tuple[int, float, float]]) -> None:
    x, w, s = columns(data)
    curve = routing_curve(x, w, s)
    if s.mean() - w.mean() <= 1e-9:
        return  # gap ~ 0: definition is ill-conditioned
    assert curve is not None
    expected = definition(x, w, s)
    assert curve.shares.tolist() == pytest.approx([p for p, _ in expected])
    assert curve.pgr.tolist() == pytest.approx([q for _, q in expected], abs=1e-6)
    assert np.all(np.diff(curve.shares) > 0)
    assert curve.pgr[-1] == pytest.approx(1.0)


@settings(max_examples=200, deadline=None)
@given(rows, st.randoms(use_true_random=False))
def test_permutation_invariance(data: list[tuple[int, float, float]], rnd: Any) -> None:
    x, w, s = columns(data)
    perm = np.array(rnd.sample(range(len(data)), len(data)))
    first, second = routing_curve(x, w, s), routing_curve(x[perm], w[perm], s[perm])
    assert (first is None) == (second is None)
    if first is not None and second is not None:
        assert second.apgr == pytest.approx(first.apgr, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(rows)
def test_reversed_scores_mirror_the_area(data: list[tuple[int, float, float]]) -> None:
    x, w, s = columns(data)
    curve, mirrored = routing_curve(x, w, s), routing_curve(-x, w, s)
    if curve is not None and mirrored is not None:
        assert mirrored.apgr == pytest.approx(1.0 - curve.apgr, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(rows)
def test_monotone_transform_and_oracle_bound(data: list[tuple[int, float, float]]) -> None:
    x, w, s = columns(data)
    curve = routing_curve(x, w, s)
    if curve is None:
        return
    stretched = routing_curve(np.exp(x) * 3.0 + 1.0, w, s)
    assert stretched is not None and stretched.apgr == pytest.approx(curve.apgr, abs=1e-9)
    oracle = routing_curve(s - w, w, s)
    assert oracle is not None
    assert oracle.apgr >= curve.apgr - 1e-9 and oracle.apgr >= 0.5 - 1e-9


# ---- the reference script (../shared/data/routing-dev/apgr.py), when present -------------

needs_dev = pytest.mark.skipif(not (DEV / "apgr.py").exists(), reason="routing-dev data absent")


def reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location("routing_dev_apgr", DEV / "apgr.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def close(ours: float | None, theirs: float | None) -> bool:
    return (ours is None and theirs is None) or (
        ours is not None and theirs is not None and abs(ours - theirs) <= 1e-9
    )


@needs_dev
@pytest.mark.parametrize("name", sorted(p.name for p in DEV.glob("*.jsonl")) or ["none"])
def test_matches_reference_on_dev_files(name: str) -> None:
    ref = reference()
    data = load_outcomes(DEV / name)
    prompts, weak, strong, sources = paired_arrays(data.paired)
    rng = np.random.default_rng(7)
    score_sets = {
        "coarse (many ties)": rng.integers(0, 7, len(prompts)).astype(float),
        "fine": rng.random(len(prompts)),
        "words": np.array([float(len(p.split())) for p in prompts]),
    }
    raw = [json.loads(line) for line in (DEV / name).read_text().splitlines() if line.strip()]
    for label, scores in score_sets.items():
        report = routing_report(prompts, scores, weak, strong, sources)
        for row in report.rows:
            idx = [i for i, src in enumerate(sources) if row.group in (ALL, src)]
            sub = [dict(raw[i], q_weak=float(raw[i]["q_weak"]),
                        q_strong=float(raw[i]["q_strong"])) for i in idx]
            theirs = ref.evaluate(sub, [float(scores[i]) for i in idx])
            assert close(row.apgr, theirs["apgr"]), (label, row.group)
            assert close(row.length, theirs["apgr_length_rule"]), (label, row.group)
            assert close(row.oracle, theirs["apgr_oracle"]), (label, row.group)
            assert row.random == theirs["apgr_random"]
            assert row.q_weak_all == pytest.approx(theirs["q_weak_all"])
            for s in (0.2, 0.5, 0.8):
                assert close(row.pgr[s], theirs["pgr"][str(s)]), (label, row.group, s)
                assert close(row.length_pgr[s], theirs["pgr_length_rule"][str(s)])


@needs_dev
@settings(max_examples=300, deadline=None)
@given(rows, st.floats(0.0, 1.0))
def test_matches_reference_on_random_rows(data: list[tuple[int, float, float]],
                                          share: float) -> None:
    ref = reference()
    x, w, s = columns(data)
    points, qw, qs = ref.pgr_curve(x.tolist(), w.tolist(), s.tolist())
    curve = routing_curve(x, w, s)
    assert (curve is None) == (points is None)
    if curve is None:
        return
    assert curve.q_weak_all == pytest.approx(qw) and curve.q_strong_all == pytest.approx(qs)
    assert curve.apgr == pytest.approx(ref.area(points), abs=1e-7)
    assert curve.pgr_at(share) == pytest.approx(ref.pgr_at(points, share), abs=1e-7)
