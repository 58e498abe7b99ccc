"""Aggregate policy choices against trace outcomes: per-policy stats, the threshold sweep
with its Pareto frontier, routing curves and their areas; table, JSON, CSV and PNG output."""

from __future__ import annotations

import csv
import importlib
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson

from extproc.learn.curve import RoutingReport
from extproc.learn.curve import format_table as format_curve
from extproc.replay.runner import Choices
from extproc.replay.trace import TraceRecord


@dataclass(slots=True)
class PolicyResult:
    name: str
    kind: str
    requests: int
    share: dict[str, float]  # tier → fraction of requests (sums to 1)
    strong_share: float
    mean_quality: float | None  # over requests whose chosen tier has a judged outcome
    quality_kept: float | None  # mean_quality / always-high's mean_quality
    total_cost: float
    mean_cost: float | None
    latency_mean_ms: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    no_outcome: int  # chosen tier has no outcome in the trace
    no_quality: int  # outcome present but not judged (quality null)
    failed: int  # outcome ok=false
    reasons: dict[str, int] = field(default_factory=dict)
    rule_errors: int = 0


@dataclass(slots=True)
class SweepPoint:
    threshold: float
    strong_share: float
    mean_quality: float | None
    quality_kept: float | None
    total_cost: float
    mean_cost: float | None
    pareto: bool = False


@dataclass(slots=True)
class Report:
    trace: dict[str, Any]
    weak: str
    strong: str
    policies: list[PolicyResult]
    sweep: dict[str, Any] | None
    auc: dict[str, Any]
    speed: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    # the first config's scorer on the requests judged on both tiers (extproc/learn/curve.py)
    routing: RoutingReport | None = None
    routing_scorer: str = ""  # which scorer and config, for the table's heading

    def to_dict(self, *, timing: bool = True) -> dict[str, Any]:
        """Plain data; `timing=False` drops the (machine-dependent) speed section."""
        data = asdict(self)
        data["routing"] = self.routing.to_json() if self.routing is not None else None
        if not timing:
            data.pop("speed")
        return data


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of an already sorted sequence."""
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[index]


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def evaluate(
    choices: Choices, records: Sequence[TraceRecord], tiers: Sequence[str], strong: str
) -> PolicyResult:
    """Per-policy statistics of `choices` against the recorded outcomes."""
    n = len(records)
    counts = Counter(choices.tiers)
    quality: list[float] = []
    costs: list[float] = []
    latency: list[float] = []
    no_outcome = no_quality = failed = 0
    for record, tier in zip(records, choices.tiers, strict=True):
        outcome = record.outcomes.get(tier)
        if outcome is None:
            no_outcome += 1
            continue
        if outcome.quality is None:
            no_quality += 1
        else:
            quality.append(outcome.quality)
        if outcome.cost is not None:
            costs.append(outcome.cost)
        if outcome.latency_ms is not None:
            latency.append(outcome.latency_ms)
        failed += not outcome.ok
    latency.sort()
    names = list(tiers) + sorted(t for t in counts if t not in tiers)
    return PolicyResult(
        name=choices.name,
        kind=choices.kind,
        requests=n,
        share={t: counts.get(t, 0) / n if n else 0.0 for t in names},
        strong_share=counts.get(strong, 0) / n if n else 0.0,
        mean_quality=_mean(quality),
        quality_kept=None,
        total_cost=sum(costs),
        mean_cost=_mean(costs),
        latency_mean_ms=_mean(latency),
        latency_p50_ms=percentile(latency, 0.50),
        latency_p95_ms=percentile(latency, 0.95),
        no_outcome=no_outcome,
        no_quality=no_quality,
        failed=failed,
        reasons=dict(Counter(choices.reasons).most_common()),
        rule_errors=choices.rule_errors,
    )


def kept(quality: float | None, reference: float | None) -> float | None:
    if quality is None or not reference:
        return None
    return quality / reference


def mark_pareto(points: Sequence[SweepPoint]) -> None:
    """Mark points not dominated on (higher quality, lower total cost)."""
    judged = [p for p in points if p.mean_quality is not None]
    for p in judged:
        pq = p.mean_quality or 0.0
        p.pareto = not any(
            (q.mean_quality or 0.0) >= pq
            and q.total_cost <= p.total_cost
            and ((q.mean_quality or 0.0) > pq or q.total_cost < p.total_cost)
            for q in judged
        )


# ---- routing curves: quality vs share sent to the strong tier ----------------------------


def _trapezoid(points: Sequence[tuple[float, float]]) -> float:
    return sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in pairwise(points))


def routing_curve(
    low: Sequence[float], high: Sequence[float], key: Sequence[float]
) -> list[tuple[float, float]]:
    """(strong share, mean quality) when requests are sent up in decreasing `key` order.
    Requests with equal keys move together (a straight segment), so ties are not ordered
    by luck."""
    m = len(low)
    if m == 0:
        return []
    quality = sum(low)
    points = [(0.0, quality / m)]
    order = sorted(range(m), key=lambda i: -key[i])
    i = 0
    while i < m:
        j = i
        while j < m and key[order[j]] == key[order[i]]:
            quality += high[order[j]] - low[order[j]]
            j += 1
        points.append((j / m, quality / m))
        i = j
    return points


def curve_auc(points: Sequence[tuple[float, float]]) -> float | None:
    return _trapezoid(points) if len(points) >= 2 else None


def routing_aucs(
    records: Sequence[TraceRecord],
    weak: str,
    strong: str,
    keys: dict[str, Callable[[int, TraceRecord], float]],
) -> tuple[dict[str, float | None], dict[str, list[tuple[float, float]]], int]:
    """Area under quality-vs-strong-share for each ordering in `keys`, plus `random` (the
    straight line) and `oracle` (by quality gain); over requests judged on both tiers."""
    low: list[float] = []
    high: list[float] = []
    index: list[int] = []
    for i, record in enumerate(records):
        lo, hi = record.outcomes.get(weak), record.outcomes.get(strong)
        if lo is not None and hi is not None and lo.quality is not None and hi.quality is not None:
            low.append(lo.quality)
            high.append(hi.quality)
            index.append(i)
    curves = {
        name: routing_curve(low, high, [key(i, records[i]) for i in index])
        for name, key in keys.items()
    }
    curves["oracle"] = routing_curve(low, high, [h - lo for lo, h in zip(low, high, strict=True)])
    if low:
        curves["random"] = [(0.0, sum(low) / len(low)), (1.0, sum(high) / len(high))]
    return {name: curve_auc(points) for name, points in curves.items()}, curves, len(low)


def lift(auc: float | None, random_auc: float | None, oracle_auc: float | None) -> float | None:
    """Where `auc` sits between random (0) and oracle (1)."""
    if auc is None or random_auc is None or oracle_auc is None or oracle_auc <= random_auc:
        return None
    return (auc - random_auc) / (oracle_auc - random_auc)


# ---- output -------------------------------------------------------------------------------


def _f(value: float | None, spec: str, none: str = "-") -> str:
    return none if value is None else format(value, spec)


def format_table(report: Report) -> str:
    """The human-readable report."""
    tiers = list(report.policies[0].share) if report.policies else []
    width = max([len("policy"), *(len(p.name) for p in report.policies)])
    head = (
        f"{'policy':<{width}}  {'reqs':>6}  "
        + "  ".join(f"{t:>9}" for t in tiers)
        + f"  {'quality':>7}  {'kept':>6}  {'cost':>10}  {'cost/req':>10}"
        + f"  {'lat_ms':>7}  {'p50':>7}  {'p95':>7}  {'no_out':>6}"
    )
    lines = [f"trace {report.trace['source']}: {report.trace['requests']} requests, "
             f"{report.trace['skipped_count']} lines skipped; weak={report.weak}, "
             f"strong={report.strong}", "", head, "-" * len(head)]
    for p in report.policies:
        lines.append(
            f"{p.name:<{width}}  {p.requests:>6}  "
            + "  ".join(f"{p.share.get(t, 0.0):>9.1%}" for t in tiers)
            + f"  {_f(p.mean_quality, '.4f'):>7}  {_f(p.quality_kept, '.1%'):>6}"
            + f"  {p.total_cost:>10.4f}  {_f(p.mean_cost, '.2e'):>10}"
            + f"  {_f(p.latency_mean_ms, '.0f'):>7}  {_f(p.latency_p50_ms, '.0f'):>7}"
            + f"  {_f(p.latency_p95_ms, '.0f'):>7}  {p.no_outcome:>6}"
        )
    if report.sweep is not None:
        lines += ["", f"threshold sweep ({report.sweep['config']}, rule "
                  f"{report.sweep['rule_index']}); * = Pareto (quality up, cost down)",
                  f"{'threshold':>9}  {'strong':>7}  {'quality':>7}  {'kept':>6}  {'cost':>10}"]
        for pt in report.sweep["points"]:
            lines.append(
                f"{pt.threshold:>9.3f}  {pt.strong_share:>7.1%}  {_f(pt.mean_quality, '.4f'):>7}"
                f"  {_f(pt.quality_kept, '.1%'):>6}  {pt.total_cost:>10.4f}"
                f"{'  *' if pt.pareto else ''}"
            )
    auc = report.auc
    if auc.get("judged"):
        lines += ["", f"area under quality vs strong share ({auc['judged']} requests judged "
                  "on both tiers; higher is better):"]
        for name in ("oracle", "scorer", "scorer_sweep", "length", "random"):
            if auc["area"].get(name) is not None:
                lift_value = auc["lift"].get(name)
                lines.append(
                    f"  {name:<13} {auc['area'][name]:.4f}"
                    + ("" if lift_value is None else f"   lift {lift_value:+.3f}")
                )
        lines.append("  (lift: 0 = random, 1 = oracle)")
    if report.routing is not None:
        lines += ["", f"routing curve of {report.routing_scorer} on the outcomes "
                  f"({report.routing.rows[0].n} requests judged on {report.weak} and "
                  f"{report.strong}):", format_curve(report.routing)]
    speed = report.speed
    if speed:
        scoring = speed["scoring"]
        lines += ["", f"speed (complexity precomputed): {speed['decisions']} decisions in "
                  f"{speed['decide_s']:.3f} s = {speed['decisions_per_s']:,.0f}/s"]
        if len(speed["per_policy"]) > 1:
            lines += [f"  {name}: {v['decisions_per_s']:,.0f}/s"
                      for name, v in speed["per_policy"].items()]
        lines.append(
            f"scoring: {scoring['texts_scored']} distinct prompts in {scoring['seconds']:.3f} s "
            f"({scoring['us_per_text']:.0f} µs each, {scoring['workers']} worker(s)); end to end "
            f"(scoring + decisions) {speed['end_to_end_per_s']:,.0f} decisions/s"
        )
    skipped = report.trace["skipped"]
    if skipped:
        lines += ["", f"skipped lines ({report.trace['skipped_count']}):"]
        lines += [f"  line {s['line']}: {s['reason']}" for s in skipped[:20]]
        if report.trace["skipped_count"] > 20:
            lines.append(f"  … {report.trace['skipped_count'] - 20} more (see --json)")
    if report.notes:
        lines += ["", *(f"note: {n}" for n in report.notes)]
    return "\n".join(lines)


def _json_default(value: Any) -> Any:
    if isinstance(value, SweepPoint | PolicyResult):
        return asdict(value)
    raise TypeError(type(value).__name__)


def write_json(report: Report, path: str | Path) -> None:
    Path(path).write_bytes(
        orjson.dumps(report.to_dict(), default=_json_default, option=orjson.OPT_INDENT_2)
    )


CSV_FIELDS = (
    "kind", "name", "threshold", "requests", "strong_share", "mean_quality", "quality_kept",
    "total_cost", "mean_cost", "latency_mean_ms", "latency_p50_ms", "latency_p95_ms",
    "no_outcome", "pareto",
)


def write_csv(report: Report, path: str | Path) -> None:
    """One row per policy, then one per sweep point (kind `sweep`), shares as share_<tier>."""
    tiers = list(report.policies[0].share) if report.policies else []
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, [*CSV_FIELDS, *(f"share_{t}" for t in tiers)])
        writer.writeheader()
        for p in report.policies:
            row = {k: v for k, v in asdict(p).items() if k in CSV_FIELDS}
            writer.writerow(row | {f"share_{t}": p.share.get(t, 0.0) for t in tiers})
        for pt in (report.sweep or {}).get("points", []):
            name = report.sweep["config"] if report.sweep else ""
            row = {k: v for k, v in asdict(pt).items() if k in CSV_FIELDS}
            writer.writerow(row | {"kind": "sweep", "name": name,
                                   f"share_{report.strong}": pt.strong_share})


def write_png(report: Report, curves: dict[str, list[tuple[float, float]]],
              path: str | Path) -> str:
    """Quality vs strong share; returns a message (matplotlib is optional)."""
    try:
        matplotlib: Any = importlib.import_module("matplotlib")
        matplotlib.use("Agg")
        plt: Any = importlib.import_module("matplotlib.pyplot")
    except ImportError:
        return f"matplotlib is not installed; --png {path} skipped"
    fig, ax = plt.subplots(figsize=(7, 5))
    for name, points in curves.items():
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, label=name, linestyle="--" if name == "random" else "-")
    for p in report.policies:
        if p.mean_quality is not None:
            ax.scatter([p.strong_share], [p.mean_quality], s=18)
            ax.annotate(p.name, (p.strong_share, p.mean_quality), fontsize=7)
    ax.set_xlabel(f"share sent to {report.strong}")
    ax.set_ylabel("mean quality")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return f"wrote {path}"
