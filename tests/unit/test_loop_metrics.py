"""Lock-free loop metrics: Prometheus exposition, bounded label sets."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from extproc.observability.loophist import LoopCounterFamily, LoopHistogramFamily
from extproc.observability.metrics import RouterMetrics, label_values


def test_counter_family_exports_total_series_per_label_set() -> None:
    registry = CollectorRegistry()
    family = LoopCounterFamily("demo_requests", "Requests", ("tier",))
    registry.register(family)
    family.labels("a").inc()
    family.labels("a").inc(2)
    family.labels("b").inc()
    text = generate_latest(registry).decode()
    assert "# TYPE demo_requests_total counter" in text  # as prometheus_client Counters
    assert 'demo_requests_total{tier="a"} 3.0' in text
    assert 'demo_requests_total{tier="b"} 1.0' in text
    assert dict((labels["tier"], value) for labels, value in label_values(family)) == {
        "a": 3.0,
        "b": 1.0,
    }


def test_families_are_bounded_and_check_label_counts() -> None:
    counters = LoopCounterFamily("demo_c", "c", ("k",))
    counters.MAX_CHILDREN = 3
    for i in range(10):
        counters.labels(f"v{i}").inc()
    assert len(counters.children) == 4  # three label sets + the shared overflow child
    assert counters.children[("other",)].value == 7.0
    hists = LoopHistogramFamily("demo_h", "h", ("k",), (0.1, 1.0))
    hists.MAX_CHILDREN = 2
    for i in range(5):
        hists.child(f"v{i}").observe(0.5)
    assert len(hists.children) == 3 and hists.children[("other",)].counts == [0, 3, 0]
    for call in (lambda: counters.labels("a", "b"), lambda: hists.child()):
        try:
            call()
        except ValueError:
            continue
        raise AssertionError("a wrong label count must raise")


def test_router_metrics_exposition_keeps_names() -> None:
    metrics = RouterMetrics()
    metrics.count_decision("tier_low", "complexity_low")
    metrics.count_outcome("tier_low", True)
    metrics.count_upstream_status("tier_low", 503)
    metrics.open_streams = 2
    text = generate_latest(metrics.registry).decode()
    assert 'extproc_decisions_total{reason="complexity_low",tier="tier_low"} 1.0' in text
    assert 'extproc_tier_outcomes_total{outcome="ok",tier="tier_low"} 1.0' in text
    assert 'extproc_upstream_responses_total{status_class="5xx",tier="tier_low"} 1.0' in text
    assert "extproc_streams_active 2.0" in text
