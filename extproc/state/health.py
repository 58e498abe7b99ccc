"""Per-tier health: sliding window of outcomes, in-flight count, circuit breaker.

Writes happen on the event-loop thread (request outcomes) and are O(1). A periodic task
calls `snapshot_all()` to publish immutable `TierStats` (error rate, percentiles) that
rules read; percentiles are never computed on the request path.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from extproc.state.circuit import CircuitBreaker, CircuitSettings
from extproc.state.report import CircuitState, TierReport


@dataclass(frozen=True, slots=True)
class TierStats:
    """Immutable view of one tier, published by `HealthBook.snapshot_all()`."""

    tier: str
    requests: int
    errors: int
    in_flight: int
    p50_ms: float | None
    p95_ms: float | None
    circuit: CircuitState
    active_check_ok: bool | None  # None: no active health check configured/run yet
    taken_at: float

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


def _percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[index]


class TierHealth:
    """Outcome window of one tier (bounded in time and in count)."""

    __slots__ = (
        "active_check_ok",
        "circuit",
        "errors",
        "in_flight",
        "max_samples",
        "tier",
        "window",
        "window_s",
    )

    def __init__(
        self, tier: str, window_s: float, max_samples: int, circuit: CircuitSettings
    ) -> None:
        self.tier = tier
        self.window_s = window_s
        self.max_samples = max_samples
        self.window: deque[tuple[float, bool, float]] = deque(maxlen=max_samples)
        self.errors = 0  # errors currently inside `window`
        self.in_flight = 0
        self.circuit = CircuitBreaker(circuit)
        self.active_check_ok: bool | None = None

    def _trim(self, now: float) -> None:
        window = self.window
        horizon = now - self.window_s
        while window and window[0][0] < horizon:
            _, ok, _ = window.popleft()
            if not ok:
                self.errors -= 1

    def record(self, ok: bool, latency_ms: float, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        window = self.window
        if len(window) == window.maxlen and not window[0][1]:
            self.errors -= 1  # the append below evicts an error
        window.append((now, ok, latency_ms))
        if not ok:
            self.errors += 1
        self._trim(now)
        if ok:
            self.circuit.on_success()
        else:
            self.circuit.on_failure(len(window), self.errors, now)

    def stats(self, now: float) -> TierStats:
        self._trim(now)
        latencies = sorted(lat for _, ok, lat in self.window if ok)
        return TierStats(
            tier=self.tier,
            requests=len(self.window),
            errors=self.errors,
            in_flight=self.in_flight,
            p50_ms=_percentile(latencies, 0.50),
            p95_ms=_percentile(latencies, 0.95),
            circuit=self.circuit.current(now),
            active_check_ok=self.active_check_ok,
            taken_at=now,
        )


class HealthBook:
    """All tiers' health; `stats` is the latest published snapshot (tier → TierStats)."""

    def __init__(
        self,
        tiers: Iterable[str],
        window_s: float = 30.0,
        max_samples: int = 2048,
        circuit: CircuitSettings | None = None,
    ) -> None:
        settings = circuit or CircuitSettings()
        self.tiers = {t: TierHealth(t, window_s, max_samples, settings) for t in tiers}
        self.stats: Mapping[str, TierStats] = {}
        self.snapshot_all()

    def adopt(self, old: HealthBook) -> None:
        """Take over the windows, in-flight counts and circuits of tiers `old` also has."""
        for tier, health in old.tiers.items():
            mine = self.tiers.get(tier)
            if mine is None:
                continue
            mine.window, mine.errors = health.window, health.errors
            mine.in_flight = health.in_flight
            mine.active_check_ok = health.active_check_ok
            settings = mine.circuit.settings
            mine.circuit = health.circuit
            mine.circuit.settings = settings
        self.snapshot_all()

    def available(self, tier: str) -> str | None:
        """None if the tier may take a request now, else the reason code it may not."""
        health = self.tiers.get(tier)
        if health is None:
            return None
        if health.active_check_ok is False:
            return "tier_unhealthy"
        if not health.circuit.allow():
            return "circuit_open"
        return None

    def on_dispatch(self, tier: str) -> None:
        health = self.tiers.get(tier)
        if health is not None:
            health.in_flight += 1
            health.circuit.on_dispatch()

    def on_finish(self, tier: str, ok: bool, latency_ms: float) -> None:
        health = self.tiers.get(tier)
        if health is not None:
            health.in_flight = max(0, health.in_flight - 1)
            health.record(ok, latency_ms)

    def record_outcome(
        self, tier: str, ok: bool, latency_ms: float, now: float | None = None
    ) -> None:
        """An outcome seen after the fact (access log): no in-flight accounting."""
        health = self.tiers.get(tier)
        if health is not None:
            health.record(ok, latency_ms, now)

    def on_abandon(self, tier: str) -> None:
        """The stream ended without an outcome (client went away): not the tier's fault."""
        health = self.tiers.get(tier)
        if health is not None:
            health.in_flight = max(0, health.in_flight - 1)
            health.circuit.on_abandon()

    def snapshot_all(self, now: float | None = None) -> Mapping[str, TierStats]:
        now = time.monotonic() if now is None else now
        self.stats = {tier: h.stats(now) for tier, h in self.tiers.items()}
        return self.stats

    def reports(self, replica: str, ema: Mapping[str, float]) -> list[TierReport]:
        """This replica's reports for sharing (built from the last snapshot)."""
        wall = time.time()
        out = []
        for tier, stats in self.stats.items():
            circuit = self.tiers[tier].circuit
            out.append(
                TierReport(
                    tier=tier,
                    replica=replica,
                    requests=stats.requests,
                    errors=stats.errors,
                    in_flight=stats.in_flight,
                    ema_ms=ema.get(tier),
                    p95_ms=stats.p95_ms,
                    circuit=stats.circuit,
                    circuit_opened_at=circuit.opened_wall,
                    reported_at=wall,
                )
            )
        return out
