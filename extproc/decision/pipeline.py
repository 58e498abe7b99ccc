"""The decision pipeline: run rules in order; the first verdict wins; else the default tier."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from extproc.config.model import RouterConfig
from extproc.decision.model import Decision, Verdict
from extproc.decision.registry import build_rules
from extproc.decision.rules import Rule
from extproc.decision.signals import Signals

log = logging.getLogger("extproc.decision")


def _fallback_order(config: RouterConfig) -> dict[str, tuple[str, ...]]:
    """Per tier: where to go when it is unavailable (its `fallback` first, then the rest)."""
    names = list(config.tiers)
    order = {}
    for name, tier in config.tiers.items():
        rest = [n for n in names if n != name]
        if tier.fallback is not None:
            rest.remove(tier.fallback)
            rest.insert(0, tier.fallback)
        order[name] = tuple(rest)
    return order


class DecisionPipeline:
    """Ordered rule chain, then an availability check.

    The first rule with a verdict decides. If the chosen tier is unavailable (circuit open,
    failing active health check), the decision moves along the tier's fallback order to the
    first available tier, reason `<unavailability>` (e.g. `circuit_open`); if none is
    available the original verdict stands (Envoy's retries and failover get their chance).
    A rule that raises is skipped (logged, counted).
    """

    def __init__(self, rules: Sequence[Rule], config: RouterConfig) -> None:
        self.rules = tuple(rules)
        self._tiers = {name: (t.cluster, t.model) for name, t in config.tiers.items()}
        self._fallbacks = _fallback_order(config)
        self.default_tier = config.routing.default_tier
        self.rule_errors = 0
        self.moved_off: dict[tuple[str, str], int] = {}  # (tier, reason) → count, bounded

    def decision_for(self, verdict: Verdict, rule: str, signals: Signals | None) -> Decision:
        cluster, model = self._tiers[verdict.tier]
        score = None if signals is None else signals.computed_score
        return Decision(
            verdict.tier, cluster, model, rule, verdict.reason, score, verdict.arm,
            verdict.features,
        )

    def default(self, reason: str, signals: Signals | None = None) -> Decision:
        return self.decision_for(Verdict(self.default_tier, reason), "default", signals)

    def decide(self, signals: Signals) -> Decision:
        for rule in self.rules:
            try:
                verdict = rule.evaluate(signals)
            except Exception:
                self.rule_errors += 1
                log.exception("rule %s failed; skipping it", rule.name)
                continue
            if verdict is not None:
                if verdict.tier not in self._tiers:
                    self.rule_errors += 1
                    log.error("rule %s chose unknown tier %r; skipping", rule.name, verdict.tier)
                    continue
                return self._available(verdict, rule.name, signals)
        return self._available(Verdict(self.default_tier, "no_rule_decided"), "default", signals)

    def _available(self, verdict: Verdict, rule: str, signals: Signals) -> Decision:
        health = signals.backend.health
        why = health.available(verdict.tier)
        if why is None:
            return self.decision_for(verdict, rule, signals)
        key = (verdict.tier, why)
        if key in self.moved_off or len(self.moved_off) < 1024:
            self.moved_off[key] = self.moved_off.get(key, 0) + 1
        for tier in self._fallbacks[verdict.tier]:
            if health.available(tier) is None:
                moved = Verdict(tier, why, verdict.arm, verdict.features)
                return self.decision_for(moved, "availability", signals)
        return self.decision_for(verdict, rule, signals)


def build_pipeline(config: RouterConfig) -> DecisionPipeline:
    return DecisionPipeline(build_rules(config), config)
