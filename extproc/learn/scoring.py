"""The score a config routes by: the first scoring rule's value and threshold.

`score --jsonl`, `eval` and `replay` call this, so offline figures come from the same code
as the live path (the rule objects themselves)."""

from __future__ import annotations

from dataclasses import dataclass

from extproc.config.model import ComplexityRule, RouterConfig
from extproc.signals.complexity import DEFAULT_THRESHOLD, ComplexityScorer


@dataclass(frozen=True, slots=True)
class ConfigScorer:
    """Scores prompt text the way the config's first scoring rule does."""

    rule: str  # "learned" or "complexity"
    threshold: float
    above: str
    below: str
    _complexity: ComplexityScorer

    def score_text(self, text: str) -> float:
        """The value the rule compares with `threshold` (higher: stronger tier)."""
        return self._complexity.score(text).score


def scorer_for(config: RouterConfig) -> ConfigScorer:
    """The first learned or complexity rule of the chain; the default complexity rule when
    the chain has neither."""
    rule = next((r for r in config.routing.rules if isinstance(r, ComplexityRule)), None)
    if rule is None:
        rule = ComplexityRule(type="complexity")
    scorer = ComplexityScorer(weights=rule.weights, max_chars=config.request.max_scored_chars)
    threshold = DEFAULT_THRESHOLD if rule.threshold is None else rule.threshold
    return ConfigScorer("complexity", threshold, rule.above, rule.below, scorer)
