"""Lock-free histograms and counters for values recorded on the event-loop thread.

prometheus_client's Histogram takes a lock and walks every bucket on each observe
(~2-5 µs), and its Counter takes a lock per inc (~1.3 µs); on the request path we record
several times per request. These do a bisect and two adds, or one add; only the event-loop
thread writes them, and the admin thread reads them at scrape time (torn reads between a
count and the sum are harmless for monitoring).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence
from typing import Generic, TypeVar

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

Child = TypeVar("Child")


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


class _LoopFamily(Collector, Generic[Child]):
    """Labelled children created on first use; label sets beyond MAX_CHILDREN share one
    overflow child ("other" for every label), so a family cannot grow without bound."""

    MAX_CHILDREN = 4096

    def __init__(self, name: str, documentation: str, labels: Sequence[str]) -> None:
        self.name = name
        self.documentation = documentation
        self.label_names = tuple(labels)
        self.children: dict[tuple[str, ...], Child] = {}

    def _new_child(self) -> Child:
        raise NotImplementedError

    def _child(self, values: tuple[str, ...]) -> Child:
        if len(values) != len(self.label_names):
            raise ValueError(f"{self.name}: expected labels {self.label_names}, got {values}")
        child = self.children.get(values)
        if child is None:
            if len(self.children) >= self.MAX_CHILDREN:
                values = tuple("other" for _ in self.label_names)
                child = self.children.get(values)
            if child is None:
                child = self.children[values] = self._new_child()
        return child


class LoopHistogramFamily(_LoopFamily[LoopHistogram]):
    """A labelled family of LoopHistograms, exported as one Prometheus histogram."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str],
                 bounds: Sequence[float]) -> None:
        super().__init__(name, documentation, labels)
        self.bounds = tuple(bounds)

    def _new_child(self) -> LoopHistogram:
        return LoopHistogram(self.bounds)

    def child(self, *values: str) -> LoopHistogram:
        return self._child(values)

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(
            self.name, self.documentation, labels=list(self.label_names)
        )
        for values, hist in list(self.children.items()):
            family.add_metric(list(values), hist.cumulative(), hist.total)
        yield family


class LoopCounter:
    """One counter child; `inc` from the event-loop thread only."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount


class LoopCounterFamily(_LoopFamily[LoopCounter]):
    """A labelled family of LoopCounters, exported as one Prometheus counter (`<name>_total`);
    `labels(...)` mirrors prometheus_client's Counter."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, documentation, labels)

    def _new_child(self) -> LoopCounter:
        return LoopCounter()

    def labels(self, *values: str) -> LoopCounter:
        return self._child(values)

    def collect(self) -> list[CounterMetricFamily]:
        """A list, like prometheus_client's own metrics."""
        family = CounterMetricFamily(
            self.name, self.documentation, labels=list(self.label_names)
        )
        for values, counter in list(self.children.items()):
            family.add_metric(list(values), counter.value)
        return [family]
