"""Complexity scores for a trace: each distinct prompt text is scored once per scorer.

With `workers > 1` the distinct texts are scored in worker processes (forked where the
platform allows: the scorer is pure Python and replay starts no threads; spawned elsewhere);
results are identical to scoring in-process.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from extproc.signals.complexity import ComplexityScore, ComplexityScorer

if TYPE_CHECKING:  # workers import this module: keep it free of pydantic and the router
    from extproc.config.model import RouterConfig

ScorerKey = tuple[tuple[tuple[str, float], ...], int]
_CHUNK = 512
_START_METHOD = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
_worker_scorer: ComplexityScorer | None = None


def scorer_key(config: RouterConfig) -> ScorerKey:
    """What makes the router's scorer (weights of the first weighted complexity rule, and
    request.max_scored_chars): two configs with the same key score identically."""
    from extproc.config.model import ComplexityRule

    weights = next(
        (r.weights for r in config.routing.rules if isinstance(r, ComplexityRule) and r.weights),
        None,
    )
    return tuple(sorted((weights or {}).items())), config.request.max_scored_chars


def _init_worker(weights: Mapping[str, float], max_chars: int) -> None:
    global _worker_scorer
    _worker_scorer = ComplexityScorer(weights=weights, max_chars=max_chars)


def _score_chunk(texts: Sequence[str]) -> list[tuple[float, tuple[float, ...]]]:
    scorer = _worker_scorer
    assert scorer is not None, "worker not initialised"
    out = []
    for text in texts:
        result = scorer.score(text)
        out.append((result.score, result.values))
    return out


def _rebuild(score: float, values: tuple[float, ...]) -> ComplexityScore:
    return ComplexityScore(score, values)


@dataclass(slots=True)
class ScoreCache:
    """Text → ComplexityScore per scorer key, with the time spent scoring."""

    by_scorer: dict[ScorerKey, dict[str, ComplexityScore]] = field(default_factory=dict)
    seconds: float = 0.0
    scored: int = 0  # texts actually scored (cache misses)
    workers: int = 1

    def scores_for(self, key: ScorerKey, texts: Iterable[str]) -> list[ComplexityScore]:
        """Scores of `texts` (in order), scoring the texts not yet cached."""
        texts = list(texts)
        cache = self.by_scorer.setdefault(key, {})
        missing = list(dict.fromkeys(t for t in texts if t not in cache))
        if missing:
            started = time.perf_counter()
            cache.update(self._score(key, missing))
            self.seconds += time.perf_counter() - started
            self.scored += len(missing)
        return [cache[t] for t in texts]

    def _score(self, key: ScorerKey, texts: list[str]) -> dict[str, ComplexityScore]:
        weights, max_chars = dict(key[0]), key[1]
        if self.workers <= 1 or len(texts) < 2 * _CHUNK:
            scorer = ComplexityScorer(weights=weights, max_chars=max_chars)
            return {t: scorer.score(t) for t in texts}
        chunks = [texts[i : i + _CHUNK] for i in range(0, len(texts), _CHUNK)]
        with concurrent.futures.ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context(_START_METHOD),
            initializer=_init_worker,
            initargs=(weights, max_chars),
        ) as pool:
            results = [item for chunk in pool.map(_score_chunk, chunks) for item in chunk]
        return {t: _rebuild(s, v) for t, (s, v) in zip(texts, results, strict=True)}
