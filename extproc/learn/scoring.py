"""The score a config routes by: the first scoring rule's value and threshold.

`score --jsonl`, `eval` and `replay` call this, so offline figures come from the same code
as the live path: the learned rule's own model object, or the complexity scorer built with
the rule's weights and the request's `max_scored_chars`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from extproc.config.model import ComplexityRule, LearnedRule, RouterConfig
from extproc.signals.complexity import DEFAULT_THRESHOLD, ComplexityScorer


@dataclass(frozen=True, slots=True)
class ConfigScorer:
    """Scores prompt text the way the config's first scoring rule does."""

    rule: str  # "learned" or "complexity"
    threshold: float
    above: str
    below: str
    _score: Callable[[str], float]

    def score_text(self, text: str) -> float:
        """The value the rule compares with `threshold` (higher: stronger tier)."""
        return self._score(text)


def _complexity(rule: ComplexityRule, config: RouterConfig) -> ConfigScorer:
    scorer = ComplexityScorer(weights=rule.weights, max_chars=config.request.max_scored_chars)
    threshold = DEFAULT_THRESHOLD if rule.threshold is None else rule.threshold
    return ConfigScorer("complexity", threshold, rule.above, rule.below,
                        lambda text: scorer.score(text).score)


def _learned(rule: LearnedRule, config: RouterConfig) -> ConfigScorer:
    from extproc.decision.learned import LearnedThresholdRule

    # ModelFileError (a ValueError) for a bad file or an embedder that doesn't match
    live = LearnedThresholdRule(rule, config.classifier.model)
    model = live.handle.model
    score: Callable[[str], float] = model.score
    if model.needs_vector:
        from extproc.learn.embedding import embedder_for

        try:
            embedder = embedder_for(model.spec.embedding)
        except RuntimeError as exc:  # SemanticUnavailable
            raise ValueError(f"learned model needs embeddings: {exc}") from None

        def score(text: str) -> float:
            return model.score(text, embedder.embed([text])[0])

    return ConfigScorer("learned", live.threshold, rule.above, rule.below, score)


def scorer_for(config: RouterConfig) -> ConfigScorer:
    """The first learned or complexity rule of the chain; the default complexity rule when
    the chain has neither."""
    for rule in config.routing.rules:
        if isinstance(rule, LearnedRule):
            return _learned(rule, config)
        if isinstance(rule, ComplexityRule):
            return _complexity(rule, config)
    return _complexity(ComplexityRule(type="complexity"), config)
