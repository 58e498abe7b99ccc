"""One replay: score once, run every policy, evaluate, sweep, and assemble the report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from extproc.config.model import ComplexityRule, RouterConfig
from extproc.learn.scoring import scorer_for
from extproc.replay.outcomes import curve_report
from extproc.replay.report import (
    PolicyResult,
    Report,
    SweepPoint,
    curve_auc,
    evaluate,
    kept,
    lift,
    mark_pareto,
    routing_aucs,
)
from extproc.replay.runner import (
    Choices,
    LearnMode,
    always,
    cheap_order,
    complexity_rule_index,
    length_at_share,
    oracle,
    random_at_share,
    run_config,
    with_threshold,
)
from extproc.replay.scoring import ScoreCache, scorer_key
from extproc.replay.trace import Trace


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    sweep: Sequence[float] | None = None  # thresholds for the first config's complexity rule
    oracle_epsilon: float = 0.0
    seed: int = 0  # random baseline
    learn: LearnMode = "both"
    weak: str | None = None  # default: the first complexity rule's `below`
    strong: str | None = None  # default: its `above`
    workers: int = 1
    baselines: bool = True


@dataclass(slots=True)
class ReplayResult:
    report: Report
    curves: dict[str, list[tuple[float, float]]]


def weak_strong(config: RouterConfig, options: ReplayOptions) -> tuple[str, str]:
    """The two tiers the share, sweep and baselines are about."""
    rule = next((r for r in config.routing.rules if isinstance(r, ComplexityRule)), None)
    order = cheap_order(config)
    weak = options.weak or (rule.below if rule else None)
    strong = options.strong or (rule.above if rule else None)
    weak = weak or ("tier_low" if "tier_low" in config.tiers else order[0])
    strong = strong or ("tier_high" if "tier_high" in config.tiers else order[-1])
    for tier in (weak, strong):
        if tier not in config.tiers:
            raise ValueError(f"unknown tier {tier!r} (known: {sorted(config.tiers)})")
    return weak, strong


def _sweep_curve(points: Sequence[SweepPoint], low: PolicyResult,
                 high: PolicyResult) -> list[tuple[float, float]]:
    pts = [(p.strong_share, p.mean_quality) for p in points if p.mean_quality is not None]
    if low.mean_quality is not None:
        pts.append((0.0, low.mean_quality))
    if high.mean_quality is not None:
        pts.append((1.0, high.mean_quality))
    return sorted(pts)


def _scorer_name(name: str, config: RouterConfig) -> str:
    scorer = scorer_for(config)
    return f"{name}'s {scorer.rule} rule (threshold {scorer.threshold:g})"


def run_replay(
    trace: Trace, configs: Sequence[tuple[str, RouterConfig]], options: ReplayOptions
) -> ReplayResult:
    """Replay `trace` through each named config and the baselines."""
    if not configs:
        raise ValueError("at least one config is needed")
    records = trace.records
    n = len(records)
    primary_name, primary = configs[0]
    weak, strong = weak_strong(primary, options)
    tiers = list(primary.tiers)
    cache = ScoreCache(workers=options.workers)
    texts = [r.chat.text for r in records]
    primary_scores = cache.scores_for(scorer_key(primary), texts)
    notes: list[str] = []

    runs: list[Choices] = [
        run_config(name, cfg, records, cache, learn=options.learn) for name, cfg in configs
    ]
    decisions = n * len(runs)
    decide_s = sum(c.decide_s for c in runs)
    if options.baselines:
        runs += [always("always-low", n, weak), always("always-high", n, strong)]
        for position, (name, _) in enumerate(configs):
            share = runs[position].tiers.count(strong) / n if n else 0.0
            suffix = "" if len(configs) == 1 else f"@{name}"
            runs.append(random_at_share(f"random{suffix}", n, share, weak, strong, options.seed))
            runs.append(length_at_share(f"length{suffix}", records, share, weak, strong))
        runs.append(oracle("oracle", records, cheap_order(primary), options.oracle_epsilon))
    results = [evaluate(c, records, tiers, strong) for c in runs]
    # by position, not name: a config file may be called "oracle.yaml"
    low_high = (results[len(configs)], results[len(configs) + 1]) if options.baselines else None
    reference = low_high[1].mean_quality if low_high else None
    for result in results:
        result.quality_kept = kept(result.mean_quality, reference)

    sweep: dict[str, Any] | None = None
    points: list[SweepPoint] = []
    sweep_decisions, sweep_s = 0, 0.0
    if options.sweep:
        index = complexity_rule_index(primary)
        if index is None:
            notes.append(f"--sweep ignored: config {primary_name!r} has no complexity rule")
        else:
            for threshold in options.sweep:
                cfg = with_threshold(primary, index, threshold)
                choices = run_config(f"t={threshold}", cfg, records, cache, learn=options.learn,
                                     kind="sweep")
                sweep_decisions += n
                sweep_s += choices.decide_s
                r = evaluate(choices, records, tiers, strong)
                points.append(SweepPoint(threshold, r.strong_share, r.mean_quality,
                                         kept(r.mean_quality, reference), r.total_cost,
                                         r.mean_cost))
            mark_pareto(points)
            sweep = {"config": primary_name, "rule_index": index, "points": points}

    areas, curves, judged = routing_aucs(
        records, weak, strong,
        {"scorer": lambda i, _r: primary_scores[i].score,
         "length": lambda _i, r: float(len(r.chat.text))},
    )
    if sweep is not None and low_high is not None:
        curves["scorer_sweep"] = _sweep_curve(points, *low_high)
        areas["scorer_sweep"] = curve_auc(curves["scorer_sweep"])
    auc = {
        "judged": judged,
        "area": areas,
        "lift": {k: lift(v, areas.get("random"), areas.get("oracle")) for k, v in areas.items()},
    }
    routing, labelled = curve_report(records, weak, strong, primary)
    if labelled:
        notes.append(
            f"{labelled} of the {judged} requests judged on both tiers carry an author label "
            "(a synthetic trace): their outcomes were drawn from the labels the complexity "
            "scorer was fitted to, so its curves here flatter it; replay outcome rows "
            "(--outcomes DATA.jsonl) for figures that mean something"
        )
    if n == 0:
        notes.append("the trace has no usable requests")
    end_to_end_s = cache.seconds + decide_s
    speed = {
        "decisions": decisions,
        "decide_s": decide_s,
        "decisions_per_s": decisions / decide_s if decide_s > 0 else 0.0,
        "per_policy": {
            c.name: {"decide_s": c.decide_s,
                     "decisions_per_s": n / c.decide_s if c.decide_s > 0 else 0.0}
            for c in runs
            if c.kind == "config"
        },
        "sweep_decisions": sweep_decisions,
        "sweep_s": sweep_s,
        "scoring": {
            "texts_scored": cache.scored,
            "seconds": cache.seconds,
            "us_per_text": 1e6 * cache.seconds / cache.scored if cache.scored else 0.0,
            "workers": options.workers,
        },
        "end_to_end_per_s": decisions / end_to_end_s if end_to_end_s > 0 else 0.0,
    }
    report = Report(
        trace={
            "source": trace.source,
            "requests": n,
            "unique_prompts": len(set(texts)),
            "skipped_count": trace.skipped_count,
            "skipped": [asdict(s) for s in trace.skipped],
        },
        weak=weak,
        strong=strong,
        policies=results,
        sweep=sweep,
        auc=auc,
        speed=speed,
        notes=notes,
        routing=routing,
        routing_scorer=_scorer_name(primary_name, primary),
    )
    return ReplayResult(report, curves)
