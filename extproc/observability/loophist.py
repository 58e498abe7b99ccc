"""A lock-free histogram for values observed on the event-loop thread.

prometheus_client's Histogram takes a lock and walks every bucket on each observe
(~2-5 µs); on the request path we observe several times per request. This one does a
bisect and two adds; the admin thread reads it at scrape time (torn reads between a count
and the sum are harmless for monitoring).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence

from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector


class LoopHistogram:
    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(sorted(bounds))
        self.counts = [0] * (len(self.bounds) + 1)  # last slot is +Inf
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def cumulative(self) -> list[tuple[str, float]]:
        out, running = [], 0
        for bound, count in zip(self.bounds, self.counts, strict=False):
            running += count
            out.append((repr(float(bound)), float(running)))
        running += self.counts[-1]
        out.append(("+Inf", float(running)))
        return out


class LoopHistogramFamily(Collector):
    """A labelled family of LoopHistograms, exported as one Prometheus histogram."""

    def __init__(self, name: str, documentation: str, label: str | None,
                 bounds: Sequence[float]) -> None:
        self.name = name
        self.documentation = documentation
        self.label = label
        self.bounds = tuple(bounds)
        self.children: dict[str, LoopHistogram] = {}

    def child(self, value: str = "") -> LoopHistogram:
        hist = self.children.get(value)
        if hist is None:
            hist = self.children[value] = LoopHistogram(self.bounds)
        return hist

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(
            self.name, self.documentation, labels=[self.label] if self.label else None
        )
        for value, hist in list(self.children.items()):
            family.add_metric([value] if self.label else [], hist.cumulative(), hist.total)
        yield family
