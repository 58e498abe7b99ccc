"""The router's configuration model (pydantic v2).

This module is the single source of truth for every config key: the loader validates
against it, `extproc-router schema` prints its JSON schema and docs/config-reference.md
is generated from it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from extproc.config.learning import CaptureConfig
from extproc.config.policies import (
    BanditRule,
    CanaryRule,
    RankRule,
    ScoreRule,
    SplitRule,
    StickyAbRule,
)
from extproc.config.semantic import (
    BUILTIN_FAMILIES,
    CacheConfig,
    ClassifierConfig,
    GuardConfig,
    ReasoningConfig,
)

_HEADER_NAME = re.compile(r"^[a-z0-9][a-z0-9\-_]*$")
_LISTEN = re.compile(r"^[^\s:]+:\d{1,5}$")

MiB = 1024 * 1024


class _Strict(BaseModel):
    """Base: unknown keys are errors (typos must not pass silently)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_header(name: str) -> str:
    lowered = name.lower()
    if not _HEADER_NAME.match(lowered):
        raise ValueError(f"not a valid HTTP header name: {name!r}")
    return lowered


def _check_listen(addr: str) -> str:
    if not _LISTEN.match(addr):
        raise ValueError(f"expected HOST:PORT, got {addr!r}")
    port = int(addr.rsplit(":", 1)[1])
    if not 0 <= port <= 65535:
        raise ValueError(f"port out of range in {addr!r}")
    return addr


class ServerConfig(_Strict):
    """The gRPC ext_proc server and the HTTP admin endpoint."""

    listen: str = Field("127.0.0.1:50051", description="gRPC listen address (HOST:PORT).")
    admin_listen: str = Field(
        "127.0.0.1:9464",
        description="HTTP admin address serving /metrics, /healthz and /readyz. Port 0 disables.",
    )
    max_message_bytes: int = Field(
        32 * MiB,
        ge=1 * MiB,
        description="gRPC max receive/send message size. Must exceed request.max_body_bytes "
        "(the body travels inside one ext_proc message in BUFFERED mode).",
    )
    shutdown_grace_s: float = Field(
        10.0, ge=0, description="On SIGTERM, how long open streams may finish before cancel."
    )
    reload_poll_s: float = Field(
        1.0, gt=0, description="How often the config file is checked for changes (hot reload; "
        "SIGHUP reloads at once)."
    )
    event_loop: Literal["uvloop", "asyncio"] = Field(
        "uvloop",
        description="Event loop implementation; uvloop is faster, asyncio is the fallback.",
    )
    control_auth: Literal["token", "none"] = Field(
        "token",
        description="Control API (feedback, explain, state): 'token' needs 'authorization: "
        "Bearer <token>' (closed while no token is set); 'none' is for the local demo stack.",
    )
    control_token_file: str | None = Field(
        None, description="File holding the control token (e.g. a mounted Secret); else the "
        "EXTPROC_CONTROL_TOKEN environment variable. At least 16 characters.",
    )

    _addresses = field_validator("listen", "admin_listen")(_check_listen)


BadRequestAction = Literal["default_tier", "reject"]


class RequestConfig(_Strict):
    """Which requests the router reads, and what happens to bad ones."""

    paths: tuple[str, ...] = Field(
        ("/v1/chat/completions", "/v1/completions"),
        description="Request paths parsed as OpenAI requests (query string ignored). Other paths "
        "and non-POST methods pass through untouched.",
    )
    max_body_bytes: int = Field(
        16 * MiB,
        ge=1024,
        description="Largest body the router parses. Envoy's buffer limits must be at least this.",
    )
    on_bad_request: BadRequestAction = Field(
        "default_tier",
        description="Malformed JSON, empty body, wrong JSON shape or non-JSON content type: "
        "'default_tier' routes to routing.default_tier (fail open), 'reject' answers 400 with "
        "an OpenAI-style JSON error.",
    )
    on_oversized: BadRequestAction = Field(
        "reject",
        description="Body larger than max_body_bytes: 'reject' answers 413, 'default_tier' "
        "routes it unread to the default tier.",
    )
    max_scored_chars: int = Field(
        16000, ge=256, description="Characters of prompt text the complexity scorer analyses."
    )


class GpuSource(_Strict):
    """Where a tier's GPU memory headroom comes from."""

    source: Literal["nvml", "scrape", "none"] = Field(
        "none",
        description="'nvml': this host's GPUs via NVML (single-host setups); 'scrape': DCGM "
        "exporter metrics from the tier's metrics_urls; 'none': the vram rule abstains.",
    )
    device_indices: tuple[int, ...] | None = Field(
        None, description="NVML device indices of this tier; all devices when unset."
    )


class Prices(_Strict):
    """Prices per 1M tokens, for the cost metrics."""

    input_per_1m: float = Field(0.0, ge=0, description="Price of 1M prompt tokens.")
    output_per_1m: float = Field(0.0, ge=0, description="Price of 1M completion tokens.")


class HealthCheck(_Strict):
    """Active health check: GET each URL; failures mark the tier unhealthy."""

    urls: tuple[str, ...] = Field(
        ..., min_length=1, description="Full URLs, e.g. http://10.0.0.5:8000/health."
    )
    interval_s: float = Field(5.0, gt=0)
    timeout_s: float = Field(1.0, gt=0)
    unhealthy_after: int = Field(3, ge=1, description="Consecutive failed rounds to mark down.")
    healthy_after: int = Field(1, ge=1, description="Consecutive good rounds to mark up.")


class TierConfig(_Strict):
    """One upstream tier: an Envoy cluster serving a model."""

    cluster: str = Field(..., min_length=1, description="Envoy cluster name for this tier.")
    model: str | None = Field(
        None, description="Model name written into the body when routing.rewrite_model is on."
    )
    latency_seed_ms: float = Field(
        500.0, gt=0, description="Warm-up seed of the latency EMA (no cold-start burst)."
    )
    sla_ms: float | None = Field(
        None, gt=0, description="Latency SLA; the latency_sla rule avoids the tier above it."
    )
    gpu: GpuSource = Field(default_factory=GpuSource)  # type: ignore[arg-type]
    fallback: str | None = Field(
        None,
        description="Tier used when this one is unavailable (circuit open, failing health "
        "check). Unset: the other tiers in config order.",
    )
    prices: Prices = Field(default_factory=Prices)  # type: ignore[arg-type]
    metrics_urls: tuple[str, ...] = Field(
        (),
        description="Prometheus endpoints of this tier's servers (vLLM, DCGM exporter, "
        "llama.cpp), scraped every scrape.interval_ms for the load and vram rules.",
    )
    health_check: HealthCheck | None = Field(
        None, description="Optional active health check of the tier's endpoints."
    )
    private: bool = Field(
        False, description="Data stays in-house (e.g. the local GPU): the guard's 'private' "
        "action routes prompts with PII only to tiers marked private."
    )


class OverrideRule(_Strict):
    """A trusted header names the tier (routing.trusted_override_header)."""

    type: Literal["override"]


class ComplexityRule(_Strict):
    """Prompts scoring at or above the threshold go to `above`, the rest to `below`."""

    type: Literal["complexity"]
    threshold: float | None = Field(
        None, ge=0, le=1, description="Score threshold; the scorer's documented default if unset."
    )
    above: str = Field("tier_high", description="Tier for complex prompts.")
    below: str = Field("tier_low", description="Tier for simple prompts.")
    weights: dict[str, float] | None = Field(
        None, description="Per-dimension weight overrides for the scorer."
    )


class LearnedRule(_Strict):
    """A learned scorer (`extproc-router train`) predicts how much the strong tier gains on
    the prompt; at or above the threshold → `above`, else `below`. The model file is
    reloaded when it changes; a file that fails to load keeps the old model."""

    type: Literal["learned"]
    model: str = Field(..., min_length=1, description="Model file written by `train`.")
    threshold: float | None = Field(
        None, allow_inf_nan=False,
        description="Score threshold; the model's calibrated one (its --strong-share) if unset.",
    )
    above: str = Field("tier_high", description="Tier for prompts the strong tier gains on.")
    below: str = Field("tier_low", description="Tier for the rest.")
    reload_interval_s: float = Field(
        1.0, gt=0, description="How often the model file is checked for changes."
    )


class VramRule(_Strict):
    """When `tier` has less free GPU memory than required, send traffic to `fallback`."""

    type: Literal["vram"]
    tier: str = "tier_low"
    fallback: str = "tier_high"
    min_free_fraction: float | None = Field(0.1, ge=0, le=1)
    min_free_bytes: int | None = Field(None, ge=0)
    max_age_ms: float = Field(
        1000.0, gt=0, description="Older snapshots are stale: the rule abstains."
    )


class LatencySlaRule(_Strict):
    """When `tier`'s latency (EMA or p95) exceeds its SLA, send traffic to `fallback`."""

    type: Literal["latency_sla"]
    tier: str = "tier_high"
    fallback: str = "tier_low"
    max_ms: float | None = Field(None, gt=0, description="Threshold; the tier's sla_ms when unset.")
    stat: Literal["ema", "p95"] = Field(
        "ema",
        description="'ema': the warm-up-seeded latency EMA; 'p95': p95 over health.window_s "
        "(abstains below min_samples).",
    )
    min_samples: int = Field(20, ge=1, description="Samples needed before p95 may decide.")


class LoadRule(_Strict):
    """`tier` is saturated (scraped KV cache / queue, or local in-flight) → `fallback`."""

    type: Literal["load"]
    tier: str = "tier_low"
    fallback: str = "tier_high"
    max_kv_cache_usage: float | None = Field(0.95, ge=0, le=1)
    max_waiting: float | None = Field(None, ge=0, description="Queued requests (summed).")
    max_in_flight: int | None = Field(
        None, ge=1, description="Requests this replica has in flight to the tier."
    )
    max_age_ms: float = Field(
        5000.0, gt=0, description="Older scraped data is stale: those checks abstain."
    )


class CategoryRule(_Strict):
    """Route by the embedding classifier's category (semantic.classifier); abstains when the
    classifier abstains, is off, or misses its time budget."""

    type: Literal["category"]
    routes: dict[str, str] | None = Field(
        None, description="category → tier; classifier.routes when unset."
    )


class CustomRule(_Strict):
    """A user rule loaded by import path 'package.module:ClassName'."""

    type: Literal["custom"]
    name: str = Field(..., min_length=1, description="Name used in metrics and reason codes.")
    import_path: str = Field(..., pattern=r"^[\w.]+:[\w]+$")
    params: dict[str, Any] = Field(default_factory=dict)


RuleConfig = Annotated[
    OverrideRule
    | ComplexityRule
    | LearnedRule
    | VramRule
    | LatencySlaRule
    | LoadRule
    | SplitRule
    | CanaryRule
    | StickyAbRule
    | RankRule
    | ScoreRule
    | BanditRule
    | CategoryRule
    | CustomRule,
    Field(discriminator="type"),
]


def _default_rules() -> list[RuleConfig]:
    return [
        OverrideRule(type="override"),
        VramRule(type="vram"),
        LatencySlaRule(type="latency_sla"),
        ComplexityRule(type="complexity"),
    ]


class RoutingConfig(_Strict):
    """How a decision reaches Envoy."""

    header: str = Field(
        "x-extproc-tier", description="Request header the router sets; Envoy routes match on it."
    )
    trusted_override_header: str | None = Field(
        None,
        description="If set, this request header may name a tier (override rule). Only set it "
        "when Envoy strips it from untrusted clients.",
    )
    default_tier: str = Field("tier_low", description="Tier used when no rule decides.")
    rewrite_model: bool = Field(
        False, description="Rewrite the body's `model` to the chosen tier's model."
    )
    response_headers: bool = Field(
        True, description="Add x-route-tier and x-route-reason to the client's response."
    )
    decision_budget_ms: float = Field(
        50.0, gt=0, description="A decision slower than this is logged and counted."
    )
    rules: list[RuleConfig] = Field(
        default_factory=_default_rules,
        description="Ordered rule chain; the first rule that returns a verdict decides. "
        "Entry types are documented below.",
    )

    _header_names = field_validator("header", "trusted_override_header")(
        lambda v: None if v is None else _check_header(v)
    )

    @model_validator(mode="after")
    def _distinct_headers(self) -> RoutingConfig:
        if self.trusted_override_header == self.header:
            raise ValueError("trusted_override_header must differ from the routing header")
        return self


class LatencyConfig(_Strict):
    """Per-tier latency EMA fed by observed request→response-header times."""

    alpha: float = Field(0.2, gt=0, le=1, description="EMA smoothing factor.")
    warmup_samples: int = Field(
        5, ge=0, description="Samples blended with the seed before the EMA is trusted fully."
    )
    recovery_half_life_s: float | None = Field(
        30.0,
        gt=0,
        description="Without new samples the EMA relaxes toward the seed with this half-life, "
        "so a tier the SLA rule avoids is tried again. Unset: the EMA stays put.",
    )


class GpuConfig(_Strict):
    """Local NVML polling."""

    poll_interval_ms: float = Field(15.0, gt=0, description="NVML poll interval.")


class CircuitConfig(_Strict):
    """Per-tier circuit breaker."""

    consecutive_failures: int = Field(5, ge=1, description="Failures in a row that open it.")
    error_rate: float = Field(0.5, gt=0, le=1, description="Window error rate that opens it...")
    min_requests: int = Field(20, ge=1, description="...once the window has this many.")
    open_s: float = Field(30.0, gt=0, description="Cool-down before half-open probes.")
    half_open_probes: int = Field(1, ge=1, description="Requests let through when half-open.")


class HealthConfig(_Strict):
    """Tier health from observed outcomes (full mode) and active checks."""

    window_s: float = Field(30.0, gt=0, description="Sliding window for error rate and p95.")
    max_samples: int = Field(2048, ge=16, description="Window bound per tier (memory).")
    snapshot_interval_ms: float = Field(
        250.0, gt=0, description="How often percentiles/error rates are republished."
    )
    failure_statuses: tuple[int, ...] = Field(
        (429,), description="Non-5xx statuses that count as tier failures (5xx always do)."
    )
    circuit: CircuitConfig = Field(default_factory=CircuitConfig)  # type: ignore[arg-type]


class ObserveConfig(_Strict):
    """Response observation in full mode."""

    response_body: Literal["all", "sse", "off"] = Field(
        "sse",
        description="Which response bodies the router reads (switched on per response with "
        "mode_override, passed through unchanged): 'sse' (streams: TTFT, TPOT, usage chunk), "
        "'all' (also JSON bodies, for their usage: one more ext_proc message per response), "
        "'off' (headers only: status and time to first byte).",
    )
    max_json_bytes: int = Field(
        1024 * 1024, ge=1024, description="JSON response bytes kept to read `usage`."
    )
    inject_stream_usage: bool = Field(
        False,
        description="Add stream_options.include_usage to streaming requests so the final SSE "
        "chunk carries token usage (clients then see one extra chunk with empty choices).",
    )


class ScrapeConfig(_Strict):
    """Scraping tiers' Prometheus metrics_urls."""

    interval_ms: float = Field(1000.0, gt=0)
    timeout_ms: float = Field(500.0, gt=0)


class SharedStateConfig(_Strict):
    """Optional Redis sharing of tier health between router replicas."""

    redis_url: str | None = Field(
        None, description="e.g. redis://redis:6379/0; unset disables sharing."
    )
    key_prefix: str = Field("extproc", min_length=1)
    publish_interval_ms: float = Field(500.0, gt=0)
    max_age_ms: float = Field(5000.0, gt=0, description="Older peer reports are ignored.")
    op_timeout_ms: float = Field(200.0, gt=0)
    replica_id: str | None = Field(None, description="Defaults to hostname-pid.")


class FeedbackConfig(_Strict):
    """Memory of recent decisions for explicit feedback (ReportFeedback) and Explain."""

    max_entries: int = Field(100_000, ge=1, description="Decisions remembered (LRU).")
    ttl_s: float = Field(3600.0, gt=0, description="Feedback older than this is refused.")


class LoggingConfig(_Strict):
    level: Literal["debug", "info", "warning", "error"] = "info"
    decisions: bool = Field(True, description="One JSON log line per decision.")


def _default_tiers() -> dict[str, TierConfig]:
    return {
        "tier_low": TierConfig(cluster="tier_low", model="small-model", latency_seed_ms=300.0),
        "tier_high": TierConfig(cluster="tier_high", model="large-model", latency_seed_ms=800.0),
    }


class RouterConfig(_Strict):
    """Top-level router configuration."""

    mode: Literal["full", "fast"] = Field(
        "full",
        description="Which Envoy setup this router serves. full: request headers, buffered "
        "body and response headers reach the router (envoy/two-tier.yaml). fast: one message "
        "per request, routing on dynamic metadata, outcomes via the access log "
        "(envoy/fast.yaml). The router handles both; `validate` warns about features the fast "
        "mode cannot serve and `up` picks the Envoy config.",
    )
    server: ServerConfig = Field(default_factory=ServerConfig)  # type: ignore[arg-type]
    request: RequestConfig = Field(default_factory=RequestConfig)  # type: ignore[arg-type]
    routing: RoutingConfig = Field(default_factory=RoutingConfig)  # type: ignore[arg-type]
    tiers: dict[str, TierConfig] = Field(default_factory=_default_tiers)
    latency: LatencyConfig = Field(default_factory=LatencyConfig)  # type: ignore[arg-type]
    gpu: GpuConfig = Field(default_factory=GpuConfig)  # type: ignore[arg-type]
    health: HealthConfig = Field(default_factory=HealthConfig)  # type: ignore[arg-type]
    observe: ObserveConfig = Field(default_factory=ObserveConfig)  # type: ignore[arg-type]
    scrape: ScrapeConfig = Field(default_factory=ScrapeConfig)  # type: ignore[arg-type]
    shared_state: SharedStateConfig = Field(default_factory=SharedStateConfig)  # type: ignore[arg-type]
    feedback: FeedbackConfig = Field(default_factory=FeedbackConfig)  # type: ignore[arg-type]
    reasoning: ReasoningConfig = Field(default_factory=ReasoningConfig)
    guard: GuardConfig = Field(default_factory=GuardConfig)  # type: ignore[arg-type]
    classifier: ClassifierConfig = Field(default_factory=ClassifierConfig)  # type: ignore[arg-type]
    cache: CacheConfig = Field(default_factory=CacheConfig)  # type: ignore[arg-type]
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    capture: CaptureConfig = Field(default_factory=CaptureConfig)  # type: ignore[arg-type]

    @model_validator(mode="after")
    def _cross_refs(self) -> RouterConfig:
        if not self.tiers:
            raise ValueError("tiers: at least one tier is required")
        known = set(self.tiers)

        def need(tier: str, where: str) -> None:
            if tier not in known:
                raise ValueError(f"{where}: unknown tier {tier!r} (known: {sorted(known)})")

        need(self.routing.default_tier, "routing.default_tier")
        for name, tier in self.tiers.items():
            if tier.fallback is not None:
                need(tier.fallback, f"tiers.{name}.fallback")
            if tier.gpu.source == "scrape" and not tier.metrics_urls:
                raise ValueError(f"tiers.{name}.gpu.source is 'scrape' but metrics_urls is empty")
        for i, rule in enumerate(self.routing.rules):
            where = f"routing.rules.{i}"
            if isinstance(rule, ComplexityRule | LearnedRule):
                need(rule.above, f"{where}.above")
                need(rule.below, f"{where}.below")
            elif isinstance(rule, VramRule | LatencySlaRule | LoadRule):
                need(rule.tier, f"{where}.tier")
                need(rule.fallback, f"{where}.fallback")
            elif isinstance(rule, SplitRule):
                for name in rule.weights:
                    need(name, f"{where}.weights")
            elif isinstance(rule, CanaryRule):
                need(rule.tier, f"{where}.tier")
            elif isinstance(rule, StickyAbRule):
                for arm, spec in rule.arms.items():
                    need(spec.tier, f"{where}.arms.{arm}.tier")
            elif isinstance(rule, RankRule | ScoreRule):
                for name in rule.profiles:
                    need(name, f"{where}.profiles")
            elif isinstance(rule, BanditRule):
                for name in rule.tiers:
                    need(name, f"{where}.tiers")
            elif isinstance(rule, CategoryRule):
                if not self.classifier.enabled:
                    raise ValueError(f"{where}: the category rule needs classifier.enabled")
                for category, name in (rule.routes or self.classifier.routes).items():
                    need(name, f"{where}.routes.{category}")
        for category, name in self.classifier.routes.items():
            need(name, f"classifier.routes.{category}")
            if category not in self.classifier.categories:
                raise ValueError(f"classifier.routes.{category}: no such category")
        families = {**BUILTIN_FAMILIES, **self.reasoning.families}
        for name, reasoning in self.reasoning.tiers.items():
            need(name, f"reasoning.tiers.{name}")
            if reasoning.family not in families:
                raise ValueError(
                    f"reasoning.tiers.{name}.family: unknown family {reasoning.family!r} "
                    f"(known: {sorted(families)})"
                )

        if self.request.max_body_bytes + 64 * 1024 > self.server.max_message_bytes:
            raise ValueError(
                "server.max_message_bytes must exceed request.max_body_bytes by at least 64 KiB "
                f"(got {self.server.max_message_bytes} <= {self.request.max_body_bytes} + 65536)"
            )
        if self.routing.rewrite_model:
            missing = [name for name, tier in self.tiers.items() if not tier.model]
            if missing:
                raise ValueError(f"routing.rewrite_model needs tiers.<name>.model for {missing}")
        return self
