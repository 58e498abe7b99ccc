"""A replica's report of one tier's health, as shared between router replicas."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

CircuitState = Literal["closed", "open", "half_open"]


@dataclass(frozen=True, slots=True)
class TierReport:
    """Counts over the replica's sliding window plus point-in-time state."""

    tier: str
    replica: str
    requests: int  # finished requests in the window
    errors: int  # failed requests in the window (5xx, resets, timeouts)
    in_flight: int
    ema_ms: float | None
    p95_ms: float | None
    circuit: CircuitState
    circuit_opened_at: float | None  # wall-clock time.time() when the circuit last opened
    reported_at: float  # wall-clock time.time()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TierReport:
        """Build from a decoded dict; raises ValueError/TypeError/KeyError on bad input."""
        circuit = data["circuit"]
        if circuit not in ("closed", "open", "half_open"):
            raise ValueError(f"bad circuit state {circuit!r}")

        def opt_float(key: str) -> float | None:
            value = data.get(key)
            return None if value is None else float(value)

        return cls(
            tier=str(data["tier"]),
            replica=str(data["replica"]),
            requests=int(data["requests"]),
            errors=int(data["errors"]),
            in_flight=int(data["in_flight"]),
            ema_ms=opt_float("ema_ms"),
            p95_ms=opt_float("p95_ms"),
            circuit=circuit,
            circuit_opened_at=opt_float("circuit_opened_at"),
            reported_at=float(data["reported_at"]),
        )
