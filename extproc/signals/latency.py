"""Per-tier latency EMA, seeded so a cold start does not look fast (or slow)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(slots=True)
class _TierLatency:
    ema_ms: float
    samples: int


class LatencyTracker:
    """Exponential moving average of observed latency per tier.

    During the first `warmup_samples` observations the effective alpha ramps up from
    alpha / (warmup + 1) to alpha, so the seed dominates early and one early slow or fast
    response cannot swing the EMA; after warm-up `alpha` applies. Reads are a dict lookup.
    """

    def __init__(
        self,
        seeds_ms: Mapping[str, float],
        alpha: float = 0.2,
        warmup_samples: int = 5,
    ) -> None:
        if not 0 < alpha <= 1:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        if warmup_samples < 0:
            raise ValueError("warmup_samples must be >= 0")
        self._alpha = alpha
        self._warmup = warmup_samples
        self._tiers = {tier: _TierLatency(float(seed), 0) for tier, seed in seeds_ms.items()}
        self._lock = threading.Lock()

    def observe(self, tier: str, latency_ms: float) -> None:
        """Feed one observation; unknown tiers and negative values are ignored."""
        state = self._tiers.get(tier)
        if state is None or latency_ms < 0:
            return
        with self._lock:
            n = state.samples
            alpha = self._alpha if n >= self._warmup else self._alpha * (n + 1) / (self._warmup + 1)
            state.ema_ms += alpha * (latency_ms - state.ema_ms)
            state.samples = n + 1

    def ema_ms(self, tier: str) -> float | None:
        state = self._tiers.get(tier)
        return None if state is None else state.ema_ms

    def samples(self, tier: str) -> int:
        state = self._tiers.get(tier)
        return 0 if state is None else state.samples

    def snapshot(self) -> dict[str, float]:
        return {tier: state.ema_ms for tier, state in self._tiers.items()}
