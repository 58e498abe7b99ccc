"""The router: config turned into ready objects (pipeline, scorer, state, responses, metrics).

One `Router` serves every stream of the process; streams read it and never mutate it,
except for the live state (latency EMA, GPU snapshot) that the signal sources own.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import os
import socket
import time
from collections.abc import Mapping
from typing import Literal

from prometheus_client.registry import Collector

from extproc.cache.memory import MemoryCache
from extproc.config.model import ComplexityRule, RouterConfig
from extproc.decision.learned import LearnedThresholdRule
from extproc.decision.model import Decision, Outcome
from extproc.decision.pipeline import DecisionPipeline, build_pipeline
from extproc.decision.rules import LearningRule
from extproc.decision.signals import NO_GPU, BackendState, GpuView, ScrapedGpuView, TierGpuView
from extproc.guard.scan import PromptGuard
from extproc.learn.capture import CaptureSink, open_capture
from extproc.meaning import SemanticLayer
from extproc.observability.logs import DecisionLog
from extproc.observability.metrics import RouterMetrics
from extproc.observability.state_metrics import TierStateCollector
from extproc.reasoning import ReasoningPlanner
from extproc.semantic.index import VectorIndex
from extproc.signals.complexity import ComplexityScorer
from extproc.signals.gpu import UNKNOWN_SNAPSHOT, GpuSnapshot, NvmlPoller
from extproc.signals.latency import LatencyTracker
from extproc.signals.scrape import BackendLoad, MetricsScraper
from extproc.state.active_check import ActiveHealthChecker
from extproc.state.circuit import CircuitSettings
from extproc.state.feedback import DecisionMemory
from extproc.state.health import HealthBook
from extproc.state.report import TierReport
from extproc.state.shared import SharedState, merge_reports
from extproc.wire.responses import ResponseBook

log = logging.getLogger("extproc.router")


class Router:
    """Everything a stream needs to turn a request into a decision."""

    def __init__(self, config: RouterConfig, metrics: RouterMetrics | None = None) -> None:
        self.config = config
        self.version = hashlib.sha256(config.model_dump_json().encode()).hexdigest()[:12]
        self.metrics = metrics or RouterMetrics()
        self._collectors: list[Collector] = []
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
            recovery_half_life_s=config.latency.recovery_half_life_s,
        )
        self.gpu_poller: NvmlPoller | None = None
        if any(t.gpu.source == "nvml" for t in config.tiers.values()):
            self.gpu_poller = NvmlPoller(interval_s=config.gpu.poll_interval_ms / 1000.0)
        scrape_targets = {n: t.metrics_urls for n, t in config.tiers.items() if t.metrics_urls}
        self.scraper: MetricsScraper | None = None
        if scrape_targets:
            self.scraper = MetricsScraper(
                scrape_targets,
                interval_s=config.scrape.interval_ms / 1000.0,
                timeout_s=config.scrape.timeout_ms / 1000.0,
            )
        gpu_views: dict[str, GpuView] = {}
        for name, t in config.tiers.items():
            if t.gpu.source == "nvml":
                indices = None if t.gpu.device_indices is None else frozenset(t.gpu.device_indices)
                gpu_views[name] = TierGpuView(self.gpu_snapshot, indices)
            elif t.gpu.source == "scrape":
                gpu_views[name] = ScrapedGpuView(functools.partial(self.tier_load, name))
            else:
                gpu_views[name] = NO_GPU
        circuit = config.health.circuit
        self.health = HealthBook(
            config.tiers,
            window_s=config.health.window_s,
            max_samples=config.health.max_samples,
            circuit=CircuitSettings(
                consecutive_failures=circuit.consecutive_failures,
                error_rate=circuit.error_rate,
                min_requests=circuit.min_requests,
                open_s=circuit.open_s,
                half_open_probes=circuit.half_open_probes,
            ),
        )
        self.failure_statuses = frozenset(config.health.failure_statuses)
        self.merged: Mapping[str, TierReport] = {}
        shared = config.shared_state
        self.replica_id = shared.replica_id or f"{socket.gethostname()}-{os.getpid()}"
        self.shared: SharedState | None = None
        if shared.redis_url:
            self.shared = SharedState(
                shared.redis_url,
                self.replica_id,
                key_prefix=shared.key_prefix,
                publish_interval_s=shared.publish_interval_ms / 1000.0,
                max_age_s=shared.max_age_ms / 1000.0,
                op_timeout_s=shared.op_timeout_ms / 1000.0,
            )
        self.health_checker = ActiveHealthChecker(
            {n: t.health_check for n, t in config.tiers.items() if t.health_check}, self.health
        )
        self.backend = BackendState(
            latency=self.latency,
            gpu=gpu_views,
            sla_ms={name: t.sla_ms for name, t in config.tiers.items()},
            health=self.health,
            load=self.tier_load,
            merged=lambda: self.merged,
        )
        self.prices = {
            name: (t.prices.input_per_1m / 1e6, t.prices.output_per_1m / 1e6)
            for name, t in config.tiers.items()
        }
        self._background: list[asyncio.Task[None]] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        state_collector = TierStateCollector(self)
        self.metrics.registry.register(state_collector)
        self._collectors.append(state_collector)
        self.pipeline: DecisionPipeline = build_pipeline(config)
        self.responses = ResponseBook(config.routing.header, config.routing.response_headers)
        self.reasoning = ReasoningPlanner(config.reasoning)
        self.guard: PromptGuard | None = None
        if config.guard.enabled:
            self.guard = PromptGuard(
                detect=config.guard.detect,
                max_chars=config.guard.max_chars,
                disabled_kinds=config.guard.disabled_kinds,
            )
        self.semantic = SemanticLayer(config, self.metrics, for_rules=any(
            isinstance(rule, LearnedThresholdRule) and rule.needs_vector
            for rule in self.pipeline.rules
        ))
        self.cache: MemoryCache | None = None
        if config.cache.enabled:  # the vector index joins once the embedder knows its dim
            self.cache = MemoryCache(config.cache.max_entries, config.cache.ttl_s)
        self.learners: dict[str, LearningRule] = {
            rule.name: rule
            for rule in self.pipeline.rules
            if getattr(rule, "learns", False) and isinstance(rule, LearningRule)
        }
        self.decisions = DecisionMemory(max_entries=config.feedback.max_entries,
                                        ttl_s=config.feedback.ttl_s)
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
                "x-extproc-guard",
                config.routing.header,
                config.routing.trusted_override_header,
                *(h for rule in self.pipeline.rules for h in getattr(rule, "headers", ())),
            )
            if h
        )
        # settings the request path reads per request, resolved once
        self.override_header = config.routing.trusted_override_header
        self.tier_models = {name: t.model or "-" for name, t in config.tiers.items()}
        self.reads_headers = bool(self.override_header) or any(
            getattr(rule, "headers", ()) for rule in self.pipeline.rules
        )  # rules read request headers (fast mode: the request.headers attribute)
        self.decision_budget_s = config.routing.decision_budget_ms / 1000.0
        self.may_rewrite_body = (
            config.routing.rewrite_model
            or config.observe.inject_stream_usage
            or self.reasoning.enabled
        )
        self._collectors.append(self.metrics.watch_state(self.latency, self.gpu_snapshot))
        self.decision_log: DecisionLog | None = (
            DecisionLog() if config.logging.decisions and config.logging.level != "error" else None
        )
        self.capture: CaptureSink | None = open_capture(config.capture, self.metrics.registry)

    def attach_metrics(self) -> None:
        """Register the scrape-time collectors again (a replacement failed to build)."""
        self._collectors = [
            self.metrics.watch_state(self.latency, self.gpu_snapshot),
            TierStateCollector(self),
        ]
        self.metrics.registry.register(self._collectors[1])

    def detach_metrics(self) -> None:
        """Unregister this router's scrape-time collectors (before a replacement registers)."""
        for collector in self._collectors:
            with contextlib.suppress(KeyError):
                self.metrics.registry.unregister(collector)
        self._collectors.clear()

    def inherit(self, old: Router) -> None:
        """Carry live state over from the router this one replaces (hot reload): latency EMA
        and health windows of tiers that still exist, remembered decisions, and learning
        policies whose config did not change."""
        self.latency.adopt(old.latency)
        self.health.adopt(old.health)
        self.decisions = old.decisions
        if (
            self.cache is not None
            and old.cache is not None
            and self.config.cache == old.config.cache
            and self.config.classifier.model == old.config.classifier.model
        ):
            self.cache = old.cache  # same cache and embedding model: keep the entries
        old_rules = {rule.name: (cfg, rule) for cfg, rule in
                     zip(old.config.routing.rules, old.pipeline.rules, strict=True)}
        rules = list(self.pipeline.rules)
        for index, (cfg, rule) in enumerate(zip(self.config.routing.rules, rules, strict=True)):
            previous = old_rules.get(rule.name)
            if previous is not None and previous[0] == cfg and rule.name in self.learners:
                rules[index] = previous[1]
                self.learners[rule.name] = old.learners[rule.name]
        self.pipeline.rules = tuple(rules)

    def is_failure(self, status: int) -> bool:
        """Whether an upstream status counts against the tier (0: no response at all)."""
        return status == 0 or status >= 500 or status in self.failure_statuses

    def cost_of(self, tier: str, prompt_tokens: int, completion_tokens: int) -> float:
        price_in, price_out = self.prices[tier]
        return prompt_tokens * price_in + completion_tokens * price_out

    def learn(self, decision: Decision, outcome: Outcome) -> None:
        """Reward the learning policy that made `decision`, if any."""
        learner = self.learners.get(decision.rule)
        if learner is not None:
            learner.learn(decision, learner.reward_for(outcome))

    def tier_load(self, tier: str) -> BackendLoad | None:
        scraper = self.scraper
        return None if scraper is None else scraper.load(tier)

    def gpu_snapshot(self) -> GpuSnapshot:
        poller = self.gpu_poller
        return UNKNOWN_SNAPSHOT if poller is None else poller.snapshot

    def start(self) -> None:
        if self.gpu_poller is not None:
            self.gpu_poller.start()

    async def start_background(self) -> None:
        """Start off-request-path work: health snapshots, scraping, health checks, Redis."""
        self.loop = asyncio.get_running_loop()
        self.start()
        self._background.append(asyncio.create_task(self._snapshot_loop(), name="health"))
        for rule in self.pipeline.rules:
            if isinstance(rule, LearnedThresholdRule):  # model files reload off the request path
                self._background.append(asyncio.create_task(
                    rule.handle.watch(rule.reload_interval_s, self._count_model_reload),
                    name="learned-model",
                ))
        await self.semantic.start()
        cache = self.cache
        if (
            cache is not None
            and cache.index is None
            and self.config.cache.semantic
            and self.semantic.active
        ):
            cache.index = VectorIndex(self.semantic.embedder.dim, self.config.cache.max_entries)
        if self.scraper is not None:
            await self.scraper.start()
        await self.health_checker.start()
        if self.shared is not None:
            await self.shared.start(self.local_reports)

    def _count_model_reload(self, result: str) -> None:
        self.metrics.model_reloads.labels(result).inc()

    async def stop_background(self) -> None:
        for task in self._background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._background.clear()
        if self.scraper is not None:
            await self.scraper.stop()
        await self.health_checker.stop()
        if self.shared is not None:
            await self.shared.stop()
        await self.semantic.stop()
        self.stop()

    def local_reports(self) -> list[TierReport]:
        return self.health.reports(self.replica_id, self.latency.snapshot())

    def refresh_state(self) -> None:
        """Republish tier stats and, with Redis sharing, the merged cross-replica view."""
        self.health.snapshot_all()
        if self.shared is None:
            return
        peers = self.shared.peers
        max_age_s = self.config.shared_state.max_age_ms / 1000.0
        now = time.time()
        merged = {}
        for report in self.local_reports():
            merged[report.tier] = merge_reports(
                report, peers.get(report.tier, ()), now, max_age_s
            )
            circuit = self.health.tiers[report.tier].circuit
            opened = merged[report.tier].circuit_opened_at
            if (
                merged[report.tier].circuit == "open"
                and circuit.current() == "closed"
                and opened is not None
                and now - opened < self.config.health.circuit.open_s
            ):
                circuit.force_open()  # a peer saw this tier fail: avoid it here too
        self.merged = merged

    async def _snapshot_loop(self) -> None:
        interval = self.config.health.snapshot_interval_ms / 1000.0
        while True:
            try:
                self.refresh_state()
            except Exception:
                log.exception("health snapshot failed")
            await asyncio.sleep(interval)

    def stop(self) -> None:
        if self.gpu_poller is not None:
            self.gpu_poller.stop()
        if self.decision_log is not None:
            self.decision_log.flush()
        if self.capture is not None:
            self.capture.close()
