"""The decision pipeline: run rules in order; the first verdict wins; else the default tier."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from extproc.config.model import RouterConfig
from extproc.decision.model import Decision, Verdict
from extproc.decision.rules import Rule, build_rule
from extproc.decision.signals import Signals

log = logging.getLogger("extproc.decision")


class DecisionPipeline:
    """Ordered rule chain. A rule that raises is skipped (logged, counted by the caller)."""

    def __init__(self, rules: Sequence[Rule], config: RouterConfig) -> None:
        self.rules = tuple(rules)
        self._tiers = {name: (t.cluster, t.model) for name, t in config.tiers.items()}
        self.default_tier = config.routing.default_tier
        self.rule_errors = 0

    def decision_for(self, verdict: Verdict, rule: str, signals: Signals | None) -> Decision:
        cluster, model = self._tiers[verdict.tier]
        score = None if signals is None else signals.computed_score
        return Decision(verdict.tier, cluster, model, rule, verdict.reason, score)

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
                return self.decision_for(verdict, rule.name, signals)
        return self.default("no_rule_decided", signals)


def build_pipeline(config: RouterConfig) -> DecisionPipeline:
    tiers = frozenset(config.tiers)
    sla = {name: t.sla_ms for name, t in config.tiers.items()}
    rules = [build_rule(rule_cfg, tiers, sla) for rule_cfg in config.routing.rules]
    return DecisionPipeline(rules, config)
