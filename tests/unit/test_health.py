"""Circuit breaker and per-tier health window."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from extproc.state.circuit import CircuitBreaker, CircuitSettings
from extproc.state.health import HealthBook, TierHealth


def test_consecutive_failures_open_then_half_open_probe_closes() -> None:
    cb = CircuitBreaker(CircuitSettings(consecutive_failures=3, open_s=10, half_open_probes=1))
    for _ in range(2):
        cb.on_failure(10, 1, now=0.0)
    assert cb.current(0.0) == "closed"
    cb.on_failure(10, 1, now=1.0)
    assert cb.current(1.0) == "open" and not cb.allow(5.0)
    assert cb.current(11.5) == "half_open"
    assert cb.allow(11.5)
    cb.on_dispatch()
    assert not cb.allow(11.6)  # only one probe at a time
    cb.on_success()
    assert cb.current(11.7) == "closed" and cb.trips == 1


def test_half_open_failure_reopens_and_abandoned_probe_frees_slot() -> None:
    cb = CircuitBreaker(CircuitSettings(consecutive_failures=1, open_s=1))
    cb.on_failure(1, 1, now=0.0)
    assert cb.current(2.0) == "half_open"
    cb.on_dispatch()
    cb.on_abandon()
    assert cb.allow(2.0)
    cb.on_dispatch()
    cb.on_failure(2, 2, now=2.5)
    assert cb.current(2.6) == "open" and cb.trips == 2


def test_error_rate_opens_once_min_requests_reached() -> None:
    cb = CircuitBreaker(CircuitSettings(consecutive_failures=100, error_rate=0.5,
                                        min_requests=10))
    cb.on_failure(9, 9, now=0.0)
    assert cb.state == "closed"
    cb.on_failure(10, 5, now=0.0)
    assert cb.state == "open"


def test_window_is_bounded_in_time_and_count() -> None:
    health = TierHealth("t", window_s=10.0, max_samples=5,
                        circuit=CircuitSettings(consecutive_failures=1000, min_requests=1000))
    for i in range(8):
        health.record(ok=i % 2 == 0, latency_ms=float(i), now=float(i) * 0.1)
    assert len(health.window) == 5
    assert health.errors == sum(1 for _, ok, _ in health.window if not ok)
    stats = health.stats(now=100.0)  # everything aged out
    assert stats.requests == 0 and stats.errors == 0 and stats.p95_ms is None


def test_percentiles_and_availability() -> None:
    book = HealthBook(["a", "b"], circuit=CircuitSettings(consecutive_failures=2, open_s=60))
    for ms in range(1, 101):
        book.on_dispatch("a")
        book.on_finish("a", True, float(ms))
    stats = book.snapshot_all()["a"]
    assert stats.p50_ms == 50.0 and stats.p95_ms == 95.0 and stats.in_flight == 0
    assert book.available("b") is None
    for _ in range(2):
        book.on_dispatch("b")
        book.on_finish("b", False, 5.0)
    assert book.available("b") == "circuit_open"
    book.tiers["a"].active_check_ok = False
    assert book.available("a") == "tier_unhealthy"
    assert book.available("unknown") is None
    reports = book.reports("r1", {"a": 12.0})
    assert {r.tier for r in reports} == {"a", "b"}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.floats(0, 1e4), st.floats(0, 5)), max_size=200))
def test_error_count_matches_window(events: list[tuple[bool, float, float]]) -> None:
    health = TierHealth("t", window_s=3.0, max_samples=16,
                        circuit=CircuitSettings(consecutive_failures=10**9, min_requests=10**9))
    now = 0.0
    for ok, latency, step in events:
        now += step
        health.record(ok, latency, now=now)
        assert health.errors == sum(1 for _, good, _ in health.window if not good)
        assert len(health.window) <= 16
