"""A per-tier circuit breaker: closed → open (cool-down) → half-open (probes) → closed."""

from __future__ import annotations

import time
from dataclasses import dataclass

from extproc.state.report import CircuitState


@dataclass(frozen=True, slots=True)
class CircuitSettings:
    consecutive_failures: int = 5  # this many failures in a row open the circuit
    error_rate: float = 0.5  # or this error rate over the window...
    min_requests: int = 20  # ...once the window holds at least this many requests
    open_s: float = 30.0  # cool-down before half-open
    half_open_probes: int = 1  # requests let through while half-open


class CircuitBreaker:
    """Mutated on the event-loop thread only; reads are attribute loads."""

    __slots__ = (
        "_probes_in_flight",
        "consecutive",
        "opened_at",
        "opened_wall",
        "settings",
        "state",
        "trips",
    )

    def __init__(self, settings: CircuitSettings) -> None:
        self.settings = settings
        self.state: CircuitState = "closed"
        self.consecutive = 0
        self.opened_at = 0.0  # monotonic
        self.opened_wall: float | None = None
        self.trips = 0
        self._probes_in_flight = 0

    def _open(self, now: float) -> None:
        self.state = "open"
        self.opened_at = now
        self.opened_wall = time.time()
        self.trips += 1
        self._probes_in_flight = 0

    def current(self, now: float | None = None) -> CircuitState:
        """The state, moving open → half_open once the cool-down has passed."""
        if self.state == "open":
            now = time.monotonic() if now is None else now
            if now - self.opened_at >= self.settings.open_s:
                self.state = "half_open"
                self._probes_in_flight = 0
        return self.state

    def allow(self, now: float | None = None) -> bool:
        """May a request be sent to this tier now? Half-open admits a few probes."""
        state = self.current(now)
        if state == "closed":
            return True
        return state == "half_open" and self._probes_in_flight < self.settings.half_open_probes

    def on_dispatch(self) -> None:
        """A request was routed here (counts half-open probes)."""
        if self.state == "half_open":
            self._probes_in_flight += 1

    def on_success(self) -> None:
        self.consecutive = 0
        if self.state == "half_open":
            self.state = "closed"
            self._probes_in_flight = 0

    def on_abandon(self) -> None:
        """A probe ended without an outcome: free its slot."""
        if self.state == "half_open" and self._probes_in_flight > 0:
            self._probes_in_flight -= 1

    def on_failure(
        self, window_requests: int, window_errors: int, now: float | None = None
    ) -> None:
        now = time.monotonic() if now is None else now
        self.consecutive += 1
        if self.state == "half_open":
            self._open(now)
            return
        if self.state == "open":
            return
        settings = self.settings
        if self.consecutive >= settings.consecutive_failures or (
            window_requests >= settings.min_requests
            and window_errors / window_requests >= settings.error_rate
        ):
            self._open(now)

    def force_open(self, now: float | None = None) -> None:
        """Open from outside (active health check failed, or a peer replica's report)."""
        if self.state != "open":
            self._open(time.monotonic() if now is None else now)
