"""Active health checks: GET each URL of a tier on an interval, feed the tier's health."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping

import httpx

from extproc.config.model import HealthCheck
from extproc.state.health import HealthBook

log = logging.getLogger("extproc.healthcheck")


class ActiveHealthChecker:
    """One task for all tiers. A round is good when at least one endpoint answers 2xx
    (Envoy handles single endpoints); `unhealthy_after` bad rounds mark the tier down,
    `healthy_after` good rounds mark it up again."""

    def __init__(self, checks: Mapping[str, HealthCheck], health: HealthBook) -> None:
        self.checks = dict(checks)
        self.health = health
        self._streak: dict[str, tuple[bool, int]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.rounds = 0

    async def start(self) -> None:
        if not self.checks:
            return
        self._client = httpx.AsyncClient(trust_env=False)
        for tier, check in self.checks.items():
            self._tasks.append(asyncio.create_task(self._run(tier, check), name=f"hc-{tier}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self.checks:
            await self._client.aclose()

    async def _probe(self, url: str, timeout_s: float) -> bool:
        try:
            response = await self._client.get(url, timeout=timeout_s)
        except (httpx.HTTPError, OSError):
            return False
        return 200 <= response.status_code < 300

    async def _run(self, tier: str, check: HealthCheck) -> None:
        while True:
            results = await asyncio.gather(*(self._probe(u, check.timeout_s) for u in check.urls))
            self.rounds += 1
            self._apply(tier, check, any(results))
            await asyncio.sleep(check.interval_s)

    def _apply(self, tier: str, check: HealthCheck, good: bool) -> None:
        last, count = self._streak.get(tier, (good, 0))
        count = count + 1 if last == good else 1
        self._streak[tier] = (good, count)
        state = self.health.tiers.get(tier)
        if state is None:
            return
        if good and count >= check.healthy_after and state.active_check_ok is not True:
            state.active_check_ok = True
            log.info("tier %s healthy (active check)", tier)
        elif not good and count >= check.unhealthy_after and state.active_check_ok is not False:
            state.active_check_ok = False
            log.warning("tier %s unhealthy: %d failed health-check rounds", tier, count)
