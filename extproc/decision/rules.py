"""Built-in rules. A rule decides (returns a Verdict) or abstains (returns None).

Plugin interface, version 1 (`RULE_API_VERSION`): a rule is any object with a `name: str`
attribute and `evaluate(signals: Signals) -> Verdict | None`. Custom rules are classes
loaded by import path and constructed as `cls(params: dict, tiers: frozenset[str])`.
`evaluate` runs on the event loop for every request: keep it to microseconds, never block.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol, runtime_checkable

from extproc.config.model import (
    ComplexityRule,
    CustomRule,
    LatencySlaRule,
    LoadRule,
    VramRule,
)
from extproc.decision.model import Decision, Outcome, Verdict
from extproc.decision.signals import Signals
from extproc.signals.complexity import DEFAULT_THRESHOLD

RULE_API_VERSION = 1


@runtime_checkable
class Rule(Protocol):
    name: str

    def evaluate(self, signals: Signals) -> Verdict | None: ...


@runtime_checkable
class LearningRule(Rule, Protocol):
    """A rule that learns from outcomes: `learns = True`, `reward_for`, `learn`."""

    learns: bool

    def reward_for(self, outcome: Outcome) -> float: ...

    def learn(self, decision: Decision, reward: float) -> None: ...


class OverrideTierRule:
    """The trusted override header names a known tier."""

    name = "override"

    def __init__(self, tiers: frozenset[str]) -> None:
        self._tiers = tiers

    def evaluate(self, signals: Signals) -> Verdict | None:
        wanted = signals.facts.override
        if wanted and wanted in self._tiers:
            return Verdict(wanted, "override_header")
        return None


class ComplexityThresholdRule:
    """Score ≥ threshold → `above`; otherwise `below`. Abstains without a prompt."""

    name = "complexity"

    def __init__(self, cfg: ComplexityRule) -> None:
        self.threshold = DEFAULT_THRESHOLD if cfg.threshold is None else cfg.threshold
        self._high = Verdict(cfg.above, "complexity_high")
        self._low = Verdict(cfg.below, "complexity_low")

    def evaluate(self, signals: Signals) -> Verdict | None:
        result = signals.complexity()
        if result is None:
            return None
        return self._high if result.score >= self.threshold else self._low


class VramHeadroomRule:
    """The tier's GPUs lack free memory → the fallback tier. Unknown/stale data abstains."""

    name = "vram"

    def __init__(self, cfg: VramRule) -> None:
        self._cfg = cfg
        self._max_age_s = cfg.max_age_ms / 1000.0
        self._verdict = Verdict(cfg.fallback, "vram_headroom_low")

    def evaluate(self, signals: Signals) -> Verdict | None:
        view = signals.backend.gpu.get(self._cfg.tier)
        if view is None:
            return None
        headroom = view.headroom(self._max_age_s)
        if headroom is None:
            return None
        free_bytes, free_fraction = headroom
        cfg = self._cfg
        if cfg.min_free_bytes is not None and free_bytes < cfg.min_free_bytes:
            return self._verdict
        if cfg.min_free_fraction is not None and free_fraction < cfg.min_free_fraction:
            return self._verdict
        return None


class LatencySlaRuleImpl:
    """The tier's latency EMA is above its SLA → the fallback tier."""

    name = "latency_sla"

    def __init__(self, cfg: LatencySlaRule, sla_ms: float | None) -> None:
        self._tier = cfg.tier
        self._max_ms = cfg.max_ms if cfg.max_ms is not None else sla_ms
        self._stat = cfg.stat
        self._min_samples = cfg.min_samples
        self._verdict = Verdict(cfg.fallback, "sla_exceeded" if cfg.stat == "ema" else "sla_p95")

    def _observed_ms(self, signals: Signals) -> float | None:
        backend = signals.backend
        shared = backend.merged().get(self._tier)  # includes peer replicas when sharing
        if self._stat == "p95":
            if shared is not None and shared.requests >= self._min_samples:
                return shared.p95_ms
            stats = backend.health.stats.get(self._tier)
            if stats is None or stats.requests < self._min_samples:
                return None
            return stats.p95_ms
        if shared is not None and shared.ema_ms is not None:
            return shared.ema_ms
        return backend.latency.ema_ms(self._tier)

    def evaluate(self, signals: Signals) -> Verdict | None:
        if self._max_ms is None:
            return None
        observed = self._observed_ms(signals)
        if observed is not None and observed > self._max_ms:
            return self._verdict
        return None


class SaturationRule:
    """`tier` is saturated → `fallback`: scraped KV cache or queue over the limit (fresh data
    only), or this replica's in-flight count over the limit."""

    name = "load"

    def __init__(self, cfg: LoadRule) -> None:
        self._cfg = cfg
        self._max_age_s = cfg.max_age_ms / 1000.0
        self._kv = Verdict(cfg.fallback, "kv_cache_full")
        self._queue = Verdict(cfg.fallback, "queue_long")
        self._in_flight = Verdict(cfg.fallback, "in_flight_limit")

    def evaluate(self, signals: Signals) -> Verdict | None:
        cfg = self._cfg
        backend = signals.backend
        if cfg.max_in_flight is not None:
            health = backend.health.tiers.get(cfg.tier)
            if health is not None and health.in_flight >= cfg.max_in_flight:
                return self._in_flight
        load = backend.load(cfg.tier)
        if load is None or not load.is_fresh(self._max_age_s):
            return None
        usage = load.kv_cache_usage
        if cfg.max_kv_cache_usage is not None and usage is not None and (
            usage >= cfg.max_kv_cache_usage
        ):
            return self._kv
        waiting = load.requests_waiting
        if cfg.max_waiting is not None and waiting is not None and waiting > cfg.max_waiting:
            return self._queue
        return None


class CategoryRouteRule:
    """The semantic classifier's category → tier; abstains without a category."""

    name = "category"

    def __init__(self, routes: dict[str, str]) -> None:
        self._verdicts = {category: Verdict(tier, "category") for category, tier in routes.items()}

    def evaluate(self, signals: Signals) -> Verdict | None:
        category = signals.category
        return None if category is None else self._verdicts.get(category)


def load_custom_rule(cfg: CustomRule, tiers: frozenset[str]) -> Rule:
    """Import 'module:Class' and build it; errors name the import path."""
    module_name, _, attr = cfg.import_path.partition(":")
    try:
        module = importlib.import_module(module_name)
        factory: Any = getattr(module, attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(
            f"custom rule {cfg.name!r}: cannot import {cfg.import_path}: {exc}"
        ) from exc
    api = getattr(factory, "api_version", RULE_API_VERSION)
    if api != RULE_API_VERSION:
        raise ValueError(
            f"custom rule {cfg.name!r}: api_version {api} unsupported (router speaks "
            f"{RULE_API_VERSION})"
        )
    rule = factory(dict(cfg.params), tiers)
    if not callable(getattr(rule, "evaluate", None)):
        raise ValueError(f"custom rule {cfg.name!r}: {cfg.import_path} has no evaluate()")
    rule.name = cfg.name
    return rule  # type: ignore[no-any-return]
