"""Custom rules used by the tests (loaded by import path, like a user's plugin)."""

from __future__ import annotations

from typing import Any

from extproc.decision.model import Verdict
from extproc.decision.signals import Signals


class ExplodingRule:
    name = "exploding"

    def __init__(self, params: dict[str, Any], tiers: frozenset[str]) -> None:
        pass

    def evaluate(self, signals: Signals) -> Verdict | None:
        raise RuntimeError("boom")


class AlwaysTier:
    name = "always"

    def __init__(self, params: dict[str, Any], tiers: frozenset[str]) -> None:
        self.tier = params["tier"]

    def evaluate(self, signals: Signals) -> Verdict | None:
        return Verdict(self.tier, "custom_always")


class SlowRule:
    """Blocks the event loop when the request carries `x-slow` (fault injection: a router
    slower than Envoy's message_timeout)."""

    name = "slow"
    headers = frozenset({"x-slow"})

    def __init__(self, params: dict[str, Any], tiers: frozenset[str]) -> None:
        self.delay_s = float(params.get("delay_ms", 300)) / 1000.0

    def evaluate(self, signals: Signals) -> Verdict | None:
        if signals.facts.headers.get("x-slow"):
            import time

            time.sleep(self.delay_s)
            return Verdict("tier_high", "slow_rule")
        return None
