"""Naive keyword scorer: the baseline that ``complexity.ComplexityScorer`` must beat.

It counts distinct "hard-sounding" keywords in the prompt and normalises the count to
``[0, 1]``. This is what a simple router would do; it is used only in tests and benchmarks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["HARD_KEYWORDS", "KeywordBaselineScorer", "best_threshold"]

HARD_KEYWORDS: frozenset[str] = frozenset(
    """
    prove proof derive algorithm algorithms code function implement explain analyze analyse
    analysis calculate compute solve equation integral derivative theorem optimize optimise
    complexity debug design evaluate compare reasoning logic probability matrix recursion
    python java sql database quantum physics chemistry law medical diagnosis statistics
    regression program programming architecture performance why how
    """.split()
)

_WORD_RE = re.compile(r"[a-z]+")


class KeywordBaselineScorer:
    """Score = min(1, distinct hard keywords / saturation)."""

    __slots__ = ("_saturation",)

    def __init__(self, saturation: int = 4) -> None:
        if saturation < 1:
            raise ValueError("saturation must be >= 1")
        self._saturation = saturation

    def score(self, text: str) -> float:
        """Return the normalised keyword count of ``text`` in ``[0, 1]``."""
        hits = HARD_KEYWORDS.intersection(_WORD_RE.findall(text.lower()))
        return min(1.0, len(hits) / self._saturation)


def best_threshold(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """Threshold (among observed scores) maximising accuracy of ``score >= t`` on the data."""
    if len(scores) != len(labels) or not scores:
        raise ValueError("scores and labels must be non-empty and of equal length")
    best_t, best_acc = 1.0, -1.0
    for t in sorted(set(scores)):
        acc = sum((s >= t) == y for s, y in zip(scores, labels, strict=True)) / len(scores)
        if acc > best_acc:
            best_t, best_acc = t, acc
    return best_t
