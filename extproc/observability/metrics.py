"""Prometheus metrics. Labelled children are created once and kept (no .labels() per request)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, ProcessCollector
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from extproc.observability.loophist import (
    LoopCounter,
    LoopCounterFamily,
    LoopHistogram,
    LoopHistogramFamily,
)
from extproc.signals.gpu import GpuSnapshot
from extproc.signals.latency import LatencyTracker

PHASES = (
    "request_headers",
    "request_body",
    "response_headers",
    "response_body",
    "request_trailers",
    "response_trailers",
)
_FAST_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)


class _StateCollector(Collector):
    """Reads live state at scrape time (latency EMA, GPU), so the request path pays nothing."""

    def __init__(self, latency: LatencyTracker, gpu: Callable[[], GpuSnapshot]) -> None:
        self._latency = latency
        self._gpu = gpu

    def collect(self) -> Iterator[GaugeMetricFamily]:
        ema = GaugeMetricFamily(
            "extproc_tier_latency_ema_seconds", "Latency EMA per tier", labels=["tier"]
        )
        for tier, ms in self._latency.snapshot().items():
            ema.add_metric([tier], ms / 1000.0)
        yield ema
        snap = self._gpu()
        state = GaugeMetricFamily(
            "extproc_gpu_state", "GPU state (1 for the current state)", labels=["state"]
        )
        for name in ("ok", "unknown", "error"):
            state.add_metric([name], 1.0 if snap.state == name else 0.0)
        yield state
        free = GaugeMetricFamily("extproc_gpu_free_bytes", "Free GPU memory", labels=["device"])
        total = GaugeMetricFamily("extproc_gpu_total_bytes", "GPU memory", labels=["device"])
        for dev in snap.devices:
            free.add_metric([str(dev.index)], float(dev.free_bytes))
            total.add_metric([str(dev.index)], float(dev.total_bytes))
        yield free
        yield total


@dataclass(frozen=True, slots=True)
class TierInstruments:
    """Per-(tier, model) instruments the response side touches on every request."""

    ttfb: LoopHistogram
    duration: LoopHistogram
    ok: LoopCounter
    error: LoopCounter


class RouterMetrics:
    """All router metrics on one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        ProcessCollector(registry=r)  # process_resident_memory_bytes, process_open_fds, ...
        # Counters touched on every request are lock-free loop counters (event loop only).
        self.decisions = self._loop_counter(
            "extproc_decisions", "Routing decisions", ("tier", "reason")
        )
        decision = LoopHistogramFamily(
            "extproc_decision_seconds", "Time to decide", (), _FAST_BUCKETS
        )
        r.register(decision)
        self.decision_seconds = decision.child()
        phases = LoopHistogramFamily(
            "extproc_phase_seconds", "Router time per ext_proc message", ("phase",), _FAST_BUCKETS
        )
        r.register(phases)
        self.phase_seconds = {phase: phases.child(phase) for phase in PHASES}
        self.stream_errors = Counter(
            "extproc_stream_errors", "Errors handled inside a stream", ["kind"], registry=r
        )
        self.bad_requests = Counter(
            "extproc_bad_requests", "Unusable request bodies", ["kind", "action"], registry=r
        )
        self.fail_open = Counter(
            "extproc_fail_open",
            "Requests routed to the default tier on error",
            ["cause"],
            registry=r,
        )
        self.spoofed_headers = Counter(
            "extproc_spoofed_route_header",
            "Requests that arrived carrying the routing header (removed)",
            registry=r,
        )
        self.passthrough = Counter(
            "extproc_passthrough", "Requests on non-LLM paths or methods", registry=r
        )
        self.slow_decisions = Counter(
            "extproc_slow_decisions", "Decisions over routing.decision_budget_ms", registry=r
        )
        self.open_streams = 0  # read at scrape time: no per-request gauge update
        streams_active = Gauge("extproc_streams_active", "Open ext_proc streams", registry=r)
        streams_active.set_function(lambda: float(self.open_streams))
        self.upstream_status = self._loop_counter(
            "extproc_upstream_responses",
            "Responses seen per tier and status class",
            ("tier", "status_class"),
        )
        slow = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
        per_token = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64)
        families = {
            "ttfb": LoopHistogramFamily(
                "extproc_upstream_ttfb_seconds",
                "Request headers to upstream response headers",
                ("tier", "model"),
                slow,
            ),
            "duration": LoopHistogramFamily(
                "extproc_request_duration_seconds",
                "Request headers to end of response",
                ("tier", "model"),
                slow,
            ),
            "ttft": LoopHistogramFamily(
                "extproc_ttft_seconds", "Time to first SSE token", ("tier", "model"), slow
            ),
            "tpot": LoopHistogramFamily(
                "extproc_tpot_seconds",
                "Time per output token after the first (SSE)",
                ("tier", "model"),
                per_token,
            ),
        }
        for family in families.values():
            r.register(family)
        self.ttfb = families["ttfb"]
        self.duration = families["duration"]
        self.ttft = families["ttft"]
        self.tpot = families["tpot"]
        self.tokens = Counter(
            "extproc_tokens",
            "Tokens reported by upstream usage",
            ["tier", "model", "kind"],
            registry=r,
        )
        self.cost = Counter(
            "extproc_cost",
            "Cost from usage and tier prices (price units)",
            ["tier", "model"],
            registry=r,
        )
        self.tier_outcomes = self._loop_counter(
            "extproc_tier_outcomes", "Finished routed requests per tier", ("tier", "outcome")
        )
        self.unavailable = Counter(
            "extproc_tier_unavailable",
            "Verdicts moved off an unavailable tier",
            ["tier", "reason"],
            registry=r,
        )
        self.arms = self._loop_counter(
            "extproc_experiment_assignments",
            "Requests per experiment arm (A/B, canary, bandit)",
            ("rule", "arm"),
        )
        self._arm_children: dict[tuple[str, str], LoopCounter] = {}
        self._outcome_children: dict[tuple[str, bool], LoopCounter] = {}
        self._tier_bundles: dict[tuple[str, str], TierInstruments] = {}
        self.reasoning = Counter(
            "extproc_reasoning_decisions", "Reasoning switches written into bodies",
            ["tier", "family", "mode"], registry=r,
        )
        self.cache_hits = Counter(
            "extproc_cache_hits", "Cache hits", ["kind"], registry=r
        )
        self.cache_misses = Counter("extproc_cache_misses", "Cache misses", registry=r)
        self.cache_stores = Counter(
            "extproc_cache_stores", "Upstream answers offered to the cache", ["result"],
            registry=r,
        )
        self.cache_lookup = LoopHistogramFamily(
            "extproc_cache_lookup_seconds", "Cache lookup time (hits and misses)", ("result",),
            (0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1),
        )
        r.register(self.cache_lookup)
        self.semantic_timeouts = Counter(
            "extproc_semantic_budget_exceeded", "Embeddings that missed the per-request budget "
            "(rules decided without them)", registry=r,
        )
        self.categories = Counter(
            "extproc_categories", "Semantic categories assigned", ["category"], registry=r
        )
        self.guard = Counter(
            "extproc_guard_findings", "Prompt guard outcomes", ["category", "action"], registry=r
        )
        self.access_log_entries = self._loop_counter(
            "extproc_access_log_entries", "Envoy access-log entries received (fast mode)",
            ("kind",),
        )
        self.feedback = Counter(
            "extproc_feedback", "ReportFeedback calls by result", ["result"], registry=r
        )
        self.reloads = Counter(
            "extproc_config_reloads", "Config reloads by result", ["result"], registry=r
        )
        self.control_denied = Counter(
            "extproc_control_denied", "Control API calls refused for want of the token",
            ["method"], registry=r,
        )
        self.model_reloads = Counter(
            "extproc_learned_model_reloads",
            "Learned-model file reloads by result (applied, rejected: the old model stays)",
            ["result"], registry=r,
        )
        self._decision_children: dict[tuple[str, str], LoopCounter] = {}
        self._status_children: dict[tuple[str, int], LoopCounter] = {}

    def _loop_counter(
        self, name: str, documentation: str, labels: tuple[str, ...] = ()
    ) -> LoopCounterFamily:
        family = LoopCounterFamily(name, documentation, labels)
        self.registry.register(family)
        return family

    def count_decision(self, tier: str, reason: str) -> None:
        key = (tier, reason)
        child = self._decision_children.get(key)
        if child is None:
            if len(self._decision_children) >= 4096:  # bounded: tiers x reason codes is small
                child = self.decisions.labels(tier, "other")
            else:
                child = self.decisions.labels(tier, reason)
                self._decision_children[key] = child
        child.inc()

    def count_arm(self, rule: str, arm: str) -> None:
        key = (rule, arm)
        child = self._arm_children.get(key)
        if child is None:
            child = self.arms.labels(rule, arm)
            if len(self._arm_children) < 1024:
                self._arm_children[key] = child
        child.inc()

    def for_tier(self, tier: str, model: str) -> TierInstruments:
        """The labelled instruments of one (tier, model), created once and reused."""
        key = (tier, model)
        bundle = self._tier_bundles.get(key)
        if bundle is None:
            bundle = TierInstruments(
                ttfb=self.ttfb.child(tier, model),
                duration=self.duration.child(tier, model),
                ok=self.tier_outcomes.labels(tier, "ok"),
                error=self.tier_outcomes.labels(tier, "error"),
            )
            if len(self._tier_bundles) < 1024:
                self._tier_bundles[key] = bundle
        return bundle

    def count_outcome(self, tier: str, ok: bool) -> None:
        key = (tier, ok)
        child = self._outcome_children.get(key)
        if child is None:
            child = self.tier_outcomes.labels(tier, "ok" if ok else "error")
            if len(self._outcome_children) < 1024:
                self._outcome_children[key] = child
        child.inc()

    def count_reasoning(self, tier: str, family: str, mode: str) -> None:
        self.reasoning.labels(tier, family, mode).inc()

    def count_upstream_status(self, tier: str, status: int) -> None:
        key = (tier, status // 100)
        child = self._status_children.get(key)
        if child is None:
            child = self.upstream_status.labels(tier, status_class(status))
            if len(self._status_children) < 1024:
                self._status_children[key] = child
        child.inc()

    def watch_state(
        self, latency: LatencyTracker, gpu: Callable[[], GpuSnapshot]
    ) -> Collector:
        collector = _StateCollector(latency, gpu)
        self.registry.register(collector)
        return collector


def status_class(code: int) -> str:
    return f"{code // 100}xx" if 100 <= code < 600 else "other"


def label_values(counter: Counter | LoopCounterFamily) -> Iterable[tuple[dict[str, str], float]]:
    """(labels, value) for each sample of a counter's _total series (used by tests and docs)."""
    for metric in counter.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                yield sample.labels, sample.value
