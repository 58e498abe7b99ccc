"""Per-tier latency EMA, seeded so a cold start does not look fast (or slow)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(slots=True)
class _TierLatency:
    seed_ms: float
    ema_ms: float
    samples: int
    last_at: float  # time.monotonic() of the last observation


class LatencyTracker:
    """Exponential moving average of observed latency per tier.

    Warm-up: during the first `warmup_samples` observations the effective alpha ramps up
    from alpha / (warmup + 1) to alpha, so the seed dominates early and one early slow or
    fast response cannot swing the EMA.

    Recovery: a tier that gets no traffic (e.g. because the SLA rule moved traffic away)
    would keep its last EMA for ever. When `recovery_half_life_s` is set, the value read
    relaxes back toward the seed with that half-life, counted from the last observation,
    so an avoided tier is tried again and re-measured. Reads are O(1).
    """

    def __init__(
        self,
        seeds_ms: Mapping[str, float],
        alpha: float = 0.2,
        warmup_samples: int = 5,
        recovery_half_life_s: float | None = None,
    ) -> None:
        if not 0 < alpha <= 1:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        if warmup_samples < 0:
            raise ValueError("warmup_samples must be >= 0")
        if recovery_half_life_s is not None and recovery_half_life_s <= 0:
            raise ValueError("recovery_half_life_s must be > 0")
        self._alpha = alpha
        self._warmup = warmup_samples
        self._half_life = recovery_half_life_s
        now = time.monotonic()
        self._tiers = {
            tier: _TierLatency(float(seed), float(seed), 0, now) for tier, seed in seeds_ms.items()
        }

    def observe(self, tier: str, latency_ms: float, now: float | None = None) -> None:
        """Feed one observation; unknown tiers and negative values are ignored."""
        state = self._tiers.get(tier)
        if state is None or latency_ms < 0:
            return
        now = time.monotonic() if now is None else now
        # Written only from the event-loop thread; readers (rules, the metrics thread) see
        # either the old or the new float: no lock needed.
        current = self._relaxed(state, now)
        n = state.samples
        alpha = self._alpha if n >= self._warmup else self._alpha * (n + 1) / (self._warmup + 1)
        state.ema_ms = current + alpha * (latency_ms - current)
        state.samples = n + 1
        state.last_at = now

    def _relaxed(self, state: _TierLatency, now: float) -> float:
        if self._half_life is None or state.samples == 0:
            return state.ema_ms
        idle = now - state.last_at
        if idle <= 0:
            return state.ema_ms
        keep: float = 0.5 ** (idle / self._half_life)
        return state.seed_ms + (state.ema_ms - state.seed_ms) * keep

    def adopt(self, old: LatencyTracker) -> None:
        """Take over the state of tiers that `old` also tracks (config hot reload)."""
        for tier, state in old._tiers.items():
            mine = self._tiers.get(tier)
            if mine is not None and state.samples:
                mine.ema_ms, mine.samples, mine.last_at = state.ema_ms, state.samples, state.last_at

    def ema_ms(self, tier: str, now: float | None = None) -> float | None:
        state = self._tiers.get(tier)
        if state is None:
            return None
        return self._relaxed(state, time.monotonic() if now is None else now)

    def samples(self, tier: str) -> int:
        state = self._tiers.get(tier)
        return 0 if state is None else state.samples

    def snapshot(self) -> dict[str, float]:
        now = time.monotonic()
        return {tier: self._relaxed(state, now) for tier, state in self._tiers.items()}
