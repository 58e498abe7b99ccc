"""Latency EMA: seeded warm-up, then the configured alpha."""

from __future__ import annotations

import pytest

from extproc.signals.latency import LatencyTracker


def test_seed_dominates_during_warmup() -> None:
    tracker = LatencyTracker({"a": 100.0}, alpha=0.5, warmup_samples=4)
    tracker.observe("a", 10_000.0)  # one cold-start outlier
    first = tracker.ema_ms("a")
    assert first is not None and first < 100.0 + 0.5 * 9_900.0  # smaller than plain EMA
    assert first == pytest.approx(100.0 + 0.1 * 9_900.0)  # alpha * 1/(warmup+1)


def test_converges_after_warmup() -> None:
    tracker = LatencyTracker({"a": 100.0}, alpha=0.5, warmup_samples=2)
    for _ in range(30):
        tracker.observe("a", 400.0)
    assert tracker.ema_ms("a") == pytest.approx(400.0, rel=1e-3)
    assert tracker.samples("a") == 30


def test_unknown_tier_and_bad_values_ignored() -> None:
    tracker = LatencyTracker({"a": 1.0})
    tracker.observe("zzz", 5.0)
    tracker.observe("a", -1.0)
    assert tracker.ema_ms("zzz") is None
    assert tracker.snapshot() == {"a": 1.0}
    with pytest.raises(ValueError):
        LatencyTracker({}, alpha=0)


def test_idle_ema_relaxes_toward_seed() -> None:
    tracker = LatencyTracker({"a": 100.0}, alpha=1.0, warmup_samples=0, recovery_half_life_s=10)
    tracker.observe("a", 900.0, now=0.0)
    assert tracker.ema_ms("a", now=0.0) == pytest.approx(900.0)
    assert tracker.ema_ms("a", now=10.0) == pytest.approx(500.0)  # one half-life
    assert tracker.ema_ms("a", now=100.0) == pytest.approx(100.0, abs=1.0)
    tracker.observe("a", 300.0, now=10.0)  # a fresh sample starts from the relaxed value
    assert tracker.ema_ms("a", now=10.0) == pytest.approx(300.0)


def test_no_recovery_keeps_value() -> None:
    tracker = LatencyTracker({"a": 100.0}, alpha=1.0, warmup_samples=0)
    tracker.observe("a", 900.0, now=0.0)
    assert tracker.ema_ms("a", now=1e6) == pytest.approx(900.0)
