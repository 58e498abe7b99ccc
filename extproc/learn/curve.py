"""The routing-quality metric: PGR against the share sent to the strong tier, and its area.

Route the rows with score >= t to the strong tier. At strong share s = #{score >= t} / n,
Q(s) is the mean quality delivered and PGR(s) = (Q(s) - Q_weak_all) / (Q_strong_all -
Q_weak_all): 0 is all-weak, 1 is all-strong. Thresholds run over the distinct scores,
highest first, so tied rows switch together and row order never matters; the curve is
piecewise linear from (0, 0) to (1, 1), which is exactly the expected PGR of routing a tied
block at random. APGR is its area (random routing: 0.5). A group whose Q_strong_all -
Q_weak_all <= 1e-12 has no PGR (None): there is nothing to gain by sending anything up.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

POINTS = (0.2, 0.5, 0.8)
MIN_GAP = 1e-12
SMALL_N = 30  # groups this small get a "(small n)" mark in the table
ALL = "ALL"

FloatArray = NDArray[np.float64]


def _vector(values: ArrayLike, what: str) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{what} must be one-dimensional")
    if np.isnan(array).any():
        raise ValueError(f"{what} contains NaN")
    return array


@dataclass(frozen=True, slots=True, eq=False)
class Curve:
    """PGR against strong share; `shares` rise strictly from 0 to 1, one point per
    distinct score."""

    shares: FloatArray
    pgr: FloatArray
    q_weak_all: float
    q_strong_all: float

    @property
    def apgr(self) -> float:
        """Area under the piecewise-linear curve on [0, 1] (trapezoids)."""
        s, p = self.shares, self.pgr
        return float(np.sum(np.diff(s) * (p[:-1] + p[1:])) / 2.0)

    def pgr_at(self, share: float) -> float:
        """PGR at strong share `share` in [0, 1], read off the curve (linear in between)."""
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"share must be in [0, 1], got {share}")
        return float(np.interp(share, self.shares, self.pgr))


def routing_curve(scores: ArrayLike, q_weak: ArrayLike, q_strong: ArrayLike) -> Curve | None:
    """The curve of routing by `scores` (higher: strong tier); None when there are no rows
    or the strong tier gains nothing on average (gap <= 1e-12)."""
    x = _vector(scores, "scores")
    weak = _vector(q_weak, "q_weak")
    strong = _vector(q_strong, "q_strong")
    n = x.size
    if weak.size != n or strong.size != n:
        raise ValueError(f"length mismatch: {n} scores, {weak.size} q_weak, {strong.size} q_strong")
    if n == 0:
        return None
    qw, qs = float(weak.mean()), float(strong.mean())
    gap = qs - qw
    if not gap > MIN_GAP:
        return None
    order = np.argsort(-x, kind="stable")
    ranked = x[order]
    gain = np.cumsum(strong[order] - weak[order])
    # the last row of each block of equal scores (the block switches as one)
    ends = np.flatnonzero(np.append(ranked[1:] != ranked[:-1], True))
    shares = np.concatenate(([0.0], (ends + 1) / n))
    pgr = np.concatenate(([0.0], gain[ends] / n / gap))
    return Curve(shares, pgr, qw, qs)


def share_at_threshold(scores: ArrayLike, threshold: float) -> float:
    """Fraction of rows a rule sends up at `threshold` (score >= threshold)."""
    x = _vector(scores, "scores")
    if x.size == 0:
        raise ValueError("no scores")
    return float(np.count_nonzero(x >= threshold)) / x.size


def length_scores(prompts: Sequence[str]) -> FloatArray:
    """The length rule's score: the prompt's length in characters."""
    return np.fromiter((len(p) for p in prompts), dtype=np.float64, count=len(prompts))


def oracle_scores(q_weak: ArrayLike, q_strong: ArrayLike) -> FloatArray:
    """The oracle's score: what the strong tier gains on the row."""
    return _vector(q_strong, "q_strong") - _vector(q_weak, "q_weak")


def _apgr(curve: Curve | None) -> float | None:
    return None if curve is None else curve.apgr


def _at(curve: Curve | None, points: Sequence[float]) -> dict[float, float | None]:
    return {s: None if curve is None else curve.pgr_at(s) for s in points}


@dataclass(frozen=True, slots=True)
class GroupRow:
    """Routing figures for one group of rows (ALL, or one source)."""

    group: str
    n: int
    q_weak_all: float
    q_strong_all: float
    apgr: float | None
    pgr: dict[float, float | None]
    random: float | None
    length: float | None
    oracle: float | None
    length_pgr: dict[float, float | None]
    strong_share: float | None = None  # at the report's threshold
    pgr_at_threshold: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "n": self.n,
            "q_weak_all": self.q_weak_all,
            "q_strong_all": self.q_strong_all,
            "apgr": self.apgr,
            "pgr": {str(s): v for s, v in self.pgr.items()},
            "strong_share": self.strong_share,
            "pgr_at_threshold": self.pgr_at_threshold,
            "apgr_random": self.random,
            "apgr_length": self.length,
            "apgr_oracle": self.oracle,
            "pgr_length": {str(s): v for s, v in self.length_pgr.items()},
        }


@dataclass(frozen=True, slots=True)
class RoutingReport:
    """ALL first, then one row per source (sorted)."""

    rows: tuple[GroupRow, ...]
    points: tuple[float, ...] = POINTS
    threshold: float | None = None
    notes: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "points": list(self.points),
            "groups": [row.to_json() for row in self.rows],
            "notes": list(self.notes),
        }


def group_row(
    group: str,
    prompts: Sequence[str],
    scores: FloatArray,
    q_weak: FloatArray,
    q_strong: FloatArray,
    *,
    threshold: float | None = None,
    points: Sequence[float] = POINTS,
) -> GroupRow:
    """Figures for one group: the scores' curve and the three baselines beside it."""
    curve = routing_curve(scores, q_weak, q_strong)
    by_length = routing_curve(length_scores(prompts), q_weak, q_strong)
    by_oracle = routing_curve(oracle_scores(q_weak, q_strong), q_weak, q_strong)
    share = at_threshold = None
    if threshold is not None and scores.size:
        share = share_at_threshold(scores, threshold)
        # threshold routing moves whole tie blocks, so its share is a vertex of the curve
        at_threshold = None if curve is None else curve.pgr_at(share)
    n = scores.size
    return GroupRow(
        group=group,
        n=n,
        q_weak_all=float(q_weak.mean()) if n else math.nan,
        q_strong_all=float(q_strong.mean()) if n else math.nan,
        apgr=_apgr(curve),
        pgr=_at(curve, points),
        random=None if curve is None else 0.5,
        length=_apgr(by_length),
        oracle=_apgr(by_oracle),
        length_pgr=_at(by_length, points),
        strong_share=share,
        pgr_at_threshold=at_threshold,
    )


def routing_report(
    prompts: Sequence[str],
    scores: ArrayLike,
    q_weak: ArrayLike,
    q_strong: ArrayLike,
    sources: Sequence[str] | None = None,
    *,
    threshold: float | None = None,
    points: Sequence[float] = POINTS,
    notes: Sequence[str] = (),
) -> RoutingReport:
    """The routing figures over all rows, then per source (when `sources` is given)."""
    x = _vector(scores, "scores")
    weak = _vector(q_weak, "q_weak")
    strong = _vector(q_strong, "q_strong")
    n = len(prompts)
    if not (x.size == weak.size == strong.size == n) or (sources and len(sources) != n):
        raise ValueError("prompts, scores, q_weak, q_strong and sources must have equal lengths")
    rows = [group_row(ALL, prompts, x, weak, strong, threshold=threshold, points=points)]
    if sources:
        labels = np.asarray(sources, dtype=object)
        for source in sorted(set(sources)):
            idx = np.flatnonzero(labels == source)
            rows.append(
                group_row(
                    source,
                    [prompts[i] for i in idx.tolist()],
                    x[idx],
                    weak[idx],
                    strong[idx],
                    threshold=threshold,
                    points=points,
                )
            )
    return RoutingReport(tuple(rows), tuple(points), threshold, tuple(notes))


def _f(value: float | None) -> str:
    return "  n/a" if value is None else f"{value:5.3f}"


def format_table(report: RoutingReport) -> str:
    """An aligned text table: ALL first, then each source."""
    width = max([len("group"), *(len(r.group) for r in report.rows)])
    pts = "/".join(f"{s:g}" for s in report.points)
    show_t = report.threshold is not None
    head = (
        f"{'group':<{width}} {'n':>6}  {'Qweak':>6} {'Qstrng':>6} | {'APGR':>5} "
        f"{'rand':>5} {'len':>5} {'orac':>5} | PGR@{pts} (scores) | PGR@{pts} (len)"
        + (f" | {'share@t':>7} {'PGR@t':>5}" if show_t else "")
    )
    lines = [head, "-" * len(head)]
    for r in report.rows:
        pgr = "/".join(_f(r.pgr[s]) for s in report.points)
        length_pgr = "/".join(_f(r.length_pgr[s]) for s in report.points)
        line = (
            f"{r.group:<{width}} {r.n:>6}  {r.q_weak_all:6.3f} {r.q_strong_all:6.3f} | "
            f"{_f(r.apgr)} {_f(r.random)} {_f(r.length)} {_f(r.oracle)} | "
            f"{pgr:<{len(f'PGR@{pts} (scores)')}} | {length_pgr:<{len(f'PGR@{pts} (len)')}}"
        )
        if show_t:
            share = "    n/a" if r.strong_share is None else f"{r.strong_share:7.1%}"
            line += f" | {share} {_f(r.pgr_at_threshold)}"
        if r.n < SMALL_N:
            line += "  (small n)"
        lines.append(line.rstrip())
    lines.append(
        "APGR: area under PGR vs strong share (rand = random routing, len = longest prompts "
        "first, orac = by q_strong - q_weak); random's PGR@s is s; n/a: the strong tier gains "
        "nothing there."
    )
    if show_t:
        lines.append(f"share@t / PGR@t: what the rule does at its threshold {report.threshold:g}.")
    lines += [f"note: {n}" for n in report.notes]
    return "\n".join(lines)
