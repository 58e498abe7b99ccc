"""Signals a rule can read: per-request (complexity, lazy) and live backend state."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from extproc.decision.model import RequestFacts
from extproc.signals.complexity import ComplexityScore, ComplexityScorer
from extproc.signals.gpu import UNKNOWN_SNAPSHOT, GpuSnapshot
from extproc.signals.latency import LatencyTracker
from extproc.signals.scrape import BackendLoad
from extproc.state.health import HealthBook
from extproc.state.report import TierReport


class GpuView(Protocol):
    def headroom(self, max_age_s: float) -> tuple[float, float] | None: ...


@dataclass(frozen=True, slots=True)
class TierGpuView:
    """A tier's view of GPU memory: the latest snapshot filtered to the tier's devices."""

    read_snapshot: Callable[[], GpuSnapshot]
    device_indices: frozenset[int] | None

    def headroom(self, max_age_s: float) -> tuple[float, float] | None:
        """(min free bytes, min free fraction) over the tier's devices, or None to abstain."""
        snap = self.read_snapshot()
        if snap.state != "ok" or snap.age_s() > max_age_s:
            return None
        devices = [
            d for d in snap.devices if self.device_indices is None or d.index in self.device_indices
        ]
        if not devices:
            return None
        return min(d.free_bytes for d in devices), min(d.free_fraction for d in devices)


@dataclass(frozen=True, slots=True)
class ScrapedGpuView:
    """A tier's GPU memory from scraped DCGM exporter metrics."""

    read_load: Callable[[], BackendLoad | None]

    def headroom(self, max_age_s: float) -> tuple[float, float] | None:
        load = self.read_load()
        if load is None or not load.is_fresh(max_age_s):
            return None
        if load.gpu_free_bytes is None or load.gpu_free_fraction is None:
            return None
        return load.gpu_free_bytes, load.gpu_free_fraction


def _no_load(tier: str) -> BackendLoad | None:
    return None


def _unknown() -> GpuSnapshot:
    return UNKNOWN_SNAPSHOT


NO_GPU = TierGpuView(_unknown, None)


@dataclass(frozen=True, slots=True)
class BackendState:
    """Live state shared by all requests; read-only from the request path."""

    latency: LatencyTracker
    gpu: Mapping[str, GpuView]  # tier → view; tiers without a GPU source map to NO_GPU
    sla_ms: Mapping[str, float | None]
    health: HealthBook = field(default_factory=lambda: HealthBook(()))
    load: Callable[[str], BackendLoad | None] = _no_load  # scraped load, O(1) read
    merged: Callable[[], Mapping[str, TierReport]] = dict  # local + peer replicas' view


class Signals:
    """Per-request signal access; expensive signals are computed once, on first use."""

    __slots__ = ("_complexity", "_scorer", "backend", "category", "category_confidence",
                 "facts", "rule_score", "vector")

    def __init__(
        self,
        facts: RequestFacts,
        scorer: ComplexityScorer,
        backend: BackendState,
        complexity: ComplexityScore | None = None,
    ) -> None:
        """`complexity` may be given precomputed (offline replay scores each prompt once)."""
        self.facts = facts
        self.backend = backend
        self._scorer = scorer
        self._complexity = complexity
        self.category: str | None = None  # semantic category, set before rules run
        self.category_confidence = 0.0
        self.rule_score: float | None = None  # set by a scoring rule other than complexity
        self.vector: Any = None  # the prompt's embedding, when the semantic layer made one

    def complexity(self) -> ComplexityScore | None:
        """The prompt's complexity, or None when the request carried no prompt."""
        if self._complexity is None and self.facts.chat is not None:
            self._complexity = self._scorer.score(self.facts.chat.text)
        return self._complexity

    def complexity_value(self) -> float | None:
        result = self.complexity()
        return None if result is None else result.score

    @property
    def computed_score(self) -> float | None:
        """The score the deciding request was routed by: a learned score, else complexity."""
        if self.rule_score is not None:
            return self.rule_score
        return None if self._complexity is None else self._complexity.score
