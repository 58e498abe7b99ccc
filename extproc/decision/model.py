"""Typed objects that flow through the decision path.

The per-request objects (facts, verdicts, decisions) are plain slotted dataclasses, not
frozen ones: a frozen dataclass sets each field through ``object.__setattr__`` and costs
~1.8 µs to build against ~0.25 µs, several times per request. Treat them as read-only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from extproc.parse.openai import ChatRequest


@dataclass(slots=True)
class RequestFacts:
    """What the wire told us about one request (headers + parsed body)."""

    path: str
    method: str
    request_id: str
    override: str | None = None  # value of the trusted override header, if configured
    chat: ChatRequest | None = None
    headers: Mapping[str, str] = field(default_factory=dict)  # only headers rules asked for


@dataclass(slots=True)
class Verdict:
    """A rule's answer: send to `tier` because of `reason` (a short snake_case code)."""

    tier: str
    reason: str
    arm: str | None = None  # experiment arm (A/B, canary, bandit), reported to the client
    features: tuple[float, ...] | None = None  # context a learning policy needs back


@dataclass(slots=True)
class Decision:
    """The router's choice for one request."""

    tier: str
    cluster: str
    model: str | None
    rule: str  # name of the rule that decided, or "default" / "fallback"
    reason: str  # reason code
    score: float | None = None  # complexity score, when it was computed
    arm: str | None = None
    features: tuple[float, ...] | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the router saw of a finished request (fed to learning policies)."""

    ok: bool
    latency_ms: float
    cost: float
