"""Run policies over a trace: config rule chains through the router's own pipeline, and
the baselines (always-low/high, random and length at a matched share, oracle).

A config policy builds `Router(config)` and calls `router.pipeline.decide(Signals(...))` per
request, exactly as a stream does; no network, no background tasks, live state is the
router's initial state (latency seeds, no GPU data, every tier healthy). Learning policies
are fed each request's recorded outcome for the tier they chose.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from extproc.config.model import ComplexityRule, RouterConfig
from extproc.decision.model import Outcome, RequestFacts
from extproc.decision.signals import Signals
from extproc.replay.scoring import ScoreCache, scorer_key
from extproc.replay.trace import TraceRecord
from extproc.router import Router

LearnMode = Literal["both", "outcome", "quality", "none"]
MAX_SWEEP_POINTS = 1001


@dataclass(slots=True)
class Choices:
    """One policy's choice per request (same order as the trace)."""

    name: str
    kind: Literal["config", "baseline", "sweep"]
    tiers: list[str]
    reasons: list[str]
    decide_s: float = 0.0
    rule_errors: int = 0


def _facts(records: Sequence[TraceRecord], override_header: str | None) -> list[RequestFacts]:
    return [
        RequestFacts(
            r.path,
            "POST",
            r.request_id,
            r.headers.get(override_header) if override_header else None,
            r.chat,
            r.headers,
        )
        for r in records
    ]


def run_config(
    name: str,
    config: RouterConfig,
    records: Sequence[TraceRecord],
    cache: ScoreCache,
    *,
    learn: LearnMode = "both",
    kind: Literal["config", "sweep"] = "config",
) -> Choices:
    """Decide every request with the config's pipeline (complexity precomputed, cached)."""
    router = Router(config)
    try:
        scores = cache.scores_for(scorer_key(config), (r.chat.text for r in records))
        facts = _facts(records, config.routing.trusted_override_header)
        decide = router.pipeline.decide
        scorer, backend = router.scorer, router.backend
        learners = router.learners if learn != "none" else {}
        tiers: list[str] = []
        reasons: list[str] = []
        started = time.perf_counter()
        if not learners:
            for fact, score in zip(facts, scores, strict=True):
                decision = decide(Signals(fact, scorer, backend, score))
                tiers.append(decision.tier)
                reasons.append(decision.reason)
        else:
            for record, fact, score in zip(records, facts, scores, strict=True):
                decision = decide(Signals(fact, scorer, backend, score))
                tiers.append(decision.tier)
                reasons.append(decision.reason)
                learner = learners.get(decision.rule)
                outcome = record.outcomes.get(decision.tier)
                if learner is None or outcome is None:
                    continue
                if learn in ("both", "outcome"):
                    observed = Outcome(outcome.ok, outcome.latency_ms or 0.0, outcome.cost or 0.0)
                    learner.learn(decision, learner.reward_for(observed))
                weights = getattr(getattr(learner, "cfg", None), "reward", None)
                if (
                    learn in ("both", "quality")
                    and outcome.quality is not None
                    and (weights is None or weights.feedback > 0)
                ):
                    learner.learn(decision, outcome.quality)
        elapsed = time.perf_counter() - started
        return Choices(name, kind, tiers, reasons, elapsed, router.pipeline.rule_errors)
    finally:
        router.stop()
        router.detach_metrics()


# ---- baselines ----------------------------------------------------------------------------


def always(name: str, n: int, tier: str) -> Choices:
    return Choices(name, "baseline", [tier] * n, [name] * n)


def _top_k(n: int, share: float) -> int:
    return min(n, max(0, round(share * n)))


def random_at_share(
    name: str, n: int, share: float, weak: str, strong: str, seed: int
) -> Choices:
    """Exactly round(share·n) requests, drawn uniformly (seeded), go to `strong`."""
    chosen = set(random.Random(seed).sample(range(n), _top_k(n, share)))
    tiers = [strong if i in chosen else weak for i in range(n)]
    return Choices(name, "baseline", tiers, ["random"] * n)


def length_at_share(
    name: str, records: Sequence[TraceRecord], share: float, weak: str, strong: str
) -> Choices:
    """The longest round(share·n) prompts (scored text length; ties by trace order) go up."""
    n = len(records)
    order = sorted(range(n), key=lambda i: (-len(records[i].chat.text), i))
    chosen = set(order[: _top_k(n, share)])
    tiers = [strong if i in chosen else weak for i in range(n)]
    return Choices(name, "baseline", tiers, ["length"] * n)


def oracle(
    name: str, records: Sequence[TraceRecord], cheap_order: Sequence[str], epsilon: float
) -> Choices:
    """Per request: the cheapest tier whose quality is within `epsilon` of the best tier's.
    Cost decides among those (missing cost counts as dearest), then `cheap_order`."""
    rank = {tier: i for i, tier in enumerate(cheap_order)}
    tiers: list[str] = []
    for record in records:
        judged = [
            (t, o) for t in cheap_order if (o := record.outcomes.get(t)) and o.quality is not None
        ]
        if not judged:
            tiers.append(cheap_order[0])
            continue
        best = max(o.quality or 0.0 for _, o in judged)
        pool = [(t, o) for t, o in judged if (o.quality or 0.0) >= best - epsilon]
        tier, _ = min(
            pool, key=lambda p: (p[1].cost if p[1].cost is not None else math.inf, rank[p[0]])
        )
        tiers.append(tier)
    return Choices(name, "baseline", tiers, ["oracle"] * len(records))


def cheap_order(config: RouterConfig) -> list[str]:
    """Tiers by configured price (input + output per 1M), then config order."""
    names = list(config.tiers)
    return sorted(
        names,
        key=lambda t: (
            config.tiers[t].prices.input_per_1m + config.tiers[t].prices.output_per_1m,
            names.index(t),
        ),
    )


# ---- threshold sweep ---------------------------------------------------------------------


def parse_sweep(spec: str) -> list[float]:
    """'lo:hi:step' → thresholds lo, lo+step, …, hi (inclusive), within [0, 1]."""
    try:
        lo, hi, step = (float(part) for part in spec.split(":"))
    except ValueError:
        raise ValueError(f"--sweep {spec!r}: expected LO:HI:STEP, e.g. 0:1:0.05") from None
    if not (0.0 <= lo <= hi <= 1.0) or not step > 0:
        raise ValueError(f"--sweep {spec!r}: need 0 <= LO <= HI <= 1 and STEP > 0")
    count = math.floor((hi - lo) / step + 1e-9) + 1
    if count > MAX_SWEEP_POINTS:
        raise ValueError(f"--sweep {spec!r}: {count} points; at most {MAX_SWEEP_POINTS}")
    return [round(lo + i * step, 10) for i in range(count)]


def complexity_rule_index(config: RouterConfig) -> int | None:
    return next(
        (i for i, r in enumerate(config.routing.rules) if isinstance(r, ComplexityRule)), None
    )


def with_threshold(config: RouterConfig, index: int, threshold: float) -> RouterConfig:
    """A validated copy of `config` whose rule `index` (a complexity rule) has `threshold`."""
    data = config.model_dump()
    data["routing"]["rules"][index]["threshold"] = threshold
    return RouterConfig.model_validate(data)
