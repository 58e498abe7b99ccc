"""Gauges of live tier state, computed at scrape time (the request path pays nothing)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from extproc.router import Router

_CIRCUIT_STATES = ("closed", "open", "half_open")


class TierStateCollector(Collector):
    def __init__(self, router: Router) -> None:
        self._router = router

    def collect(self) -> Iterator[Metric]:
        router = self._router
        circuit = GaugeMetricFamily(
            "extproc_circuit_state",
            "Circuit state per tier (1 = current)",
            labels=["tier", "state"],
        )
        in_flight = GaugeMetricFamily(
            "extproc_tier_in_flight", "Requests in flight per tier", labels=["tier"]
        )
        error_rate = GaugeMetricFamily(
            "extproc_tier_error_rate", "Error rate over the health window", labels=["tier"]
        )
        p95 = GaugeMetricFamily(
            "extproc_tier_p95_seconds", "p95 duration over the health window", labels=["tier"]
        )
        healthy = GaugeMetricFamily(
            "extproc_tier_health_check_up", "Active health check (1 up, 0 down)", labels=["tier"]
        )
        for tier, stats in router.health.stats.items():
            for state in _CIRCUIT_STATES:
                circuit.add_metric([tier, state], 1.0 if stats.circuit == state else 0.0)
            in_flight.add_metric([tier], float(router.health.tiers[tier].in_flight))
            error_rate.add_metric([tier], stats.error_rate)
            if stats.p95_ms is not None:
                p95.add_metric([tier], stats.p95_ms / 1000.0)
            if stats.active_check_ok is not None:
                healthy.add_metric([tier], 1.0 if stats.active_check_ok else 0.0)
        yield from (circuit, in_flight, error_rate, p95, healthy)
        loop = router.loop
        if loop is not None:
            tasks = GaugeMetricFamily("extproc_asyncio_tasks", "Tasks on the router's event loop")
            try:
                tasks.add_metric([], float(len(asyncio.all_tasks(loop))))
            except RuntimeError:  # the set changed while counting (another thread)
                pass
            else:
                yield tasks
        scraper = router.scraper
        if scraper is not None:
            kv = GaugeMetricFamily(
                "extproc_backend_kv_cache_usage", "Scraped KV cache usage (max)", labels=["tier"]
            )
            waiting = GaugeMetricFamily(
                "extproc_backend_requests_waiting", "Scraped queued requests", labels=["tier"]
            )
            age = GaugeMetricFamily(
                "extproc_backend_metrics_age_seconds", "Age of scraped data", labels=["tier"]
            )
            scrapes = CounterMetricFamily(
                "extproc_scrapes", "Scrapes of tier metrics", labels=["tier", "result"]
            )
            for tier in router.config.tiers:
                load = scraper.load(tier)
                if load is None:
                    continue
                if load.kv_cache_usage is not None:
                    kv.add_metric([tier], load.kv_cache_usage)
                if load.requests_waiting is not None:
                    waiting.add_metric([tier], load.requests_waiting)
                if load.scraped_at:
                    age.add_metric([tier], load.age_s())
            for tier, count in scraper.scrapes.items():
                scrapes.add_metric([tier, "ok"], float(count))
            for tier, count in scraper.scrape_errors.items():
                scrapes.add_metric([tier, "error"], float(count))
            yield from (kv, waiting, age, scrapes)
        shared = router.shared
        if shared is not None:
            up = GaugeMetricFamily("extproc_shared_state_up", "Redis reachable (1) or not (0)")
            up.add_metric([], 1.0 if shared.healthy else 0.0)
            ops = CounterMetricFamily(
                "extproc_shared_state_ops", "Redis publish/read cycles", labels=["op", "result"]
            )
            ops.add_metric(["publish", "ok"], float(shared.publishes))
            ops.add_metric(["publish", "error"], float(shared.publish_errors))
            ops.add_metric(["read", "ok"], float(shared.reads))
            ops.add_metric(["read", "error"], float(shared.read_errors))
            yield from (up, ops)
