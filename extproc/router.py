"""The router: config turned into ready objects (pipeline, scorer, state, responses, metrics).

One `Router` serves every stream of the process; streams read it and never mutate it,
except for the live state (latency EMA, GPU snapshot) that the signal sources own.
"""

from __future__ import annotations

import logging
from typing import Literal

from extproc.config.model import ComplexityRule, RouterConfig
from extproc.decision.pipeline import DecisionPipeline, build_pipeline
from extproc.decision.signals import NO_GPU, BackendState, TierGpuView
from extproc.observability.logs import DecisionLog
from extproc.observability.metrics import RouterMetrics
from extproc.signals.complexity import ComplexityScorer
from extproc.signals.gpu import UNKNOWN_SNAPSHOT, GpuSnapshot, NvmlPoller
from extproc.signals.latency import LatencyTracker
from extproc.wire.responses import ResponseBook

log = logging.getLogger("extproc.router")


class Router:
    """Everything a stream needs to turn a request into a decision."""

    def __init__(self, config: RouterConfig, metrics: RouterMetrics | None = None) -> None:
        self.config = config
        self.metrics = metrics or RouterMetrics()
        weights = next(
            (
                r.weights
                for r in config.routing.rules
                if isinstance(r, ComplexityRule) and r.weights
            ),
            None,
        )
        self.scorer = ComplexityScorer(weights=weights, max_chars=config.request.max_scored_chars)
        self.latency = LatencyTracker(
            {name: tier.latency_seed_ms for name, tier in config.tiers.items()},
            alpha=config.latency.alpha,
            warmup_samples=config.latency.warmup_samples,
        )
        self.gpu_poller: NvmlPoller | None = None
        if any(t.gpu.source == "nvml" for t in config.tiers.values()):
            self.gpu_poller = NvmlPoller(interval_s=config.gpu.poll_interval_ms / 1000.0)
        gpu_views = {
            name: (
                TierGpuView(
                    self.gpu_snapshot,
                    None if t.gpu.device_indices is None else frozenset(t.gpu.device_indices),
                )
                if t.gpu.source == "nvml"
                else NO_GPU
            )
            for name, t in config.tiers.items()
        }
        self.backend = BackendState(
            latency=self.latency,
            gpu=gpu_views,
            sla_ms={name: t.sla_ms for name, t in config.tiers.items()},
        )
        self.pipeline: DecisionPipeline = build_pipeline(config)
        self.responses = ResponseBook(config.routing.header, config.routing.response_headers)
        self.api_paths: dict[str, Literal["chat", "completion"]] = {
            path: (
                "completion"
                if path.rstrip("/").endswith("/completions")
                and not path.rstrip("/").endswith("/chat/completions")
                else "chat"
            )
            for path in config.request.paths
        }
        self.wanted_headers = frozenset(
            h
            for h in (
                ":path",
                ":method",
                "content-type",
                "content-length",
                "x-request-id",
                config.routing.header,
                config.routing.trusted_override_header,
            )
            if h
        )
        self.metrics.watch_state(self.latency, self.gpu_snapshot)
        self.decision_log: DecisionLog | None = (
            DecisionLog() if config.logging.decisions and config.logging.level != "error" else None
        )

    def gpu_snapshot(self) -> GpuSnapshot:
        poller = self.gpu_poller
        return UNKNOWN_SNAPSHOT if poller is None else poller.snapshot

    def start(self) -> None:
        if self.gpu_poller is not None:
            self.gpu_poller.start()

    def stop(self) -> None:
        if self.gpu_poller is not None:
            self.gpu_poller.stop()
        if self.decision_log is not None:
            self.decision_log.flush()
