"""Active health checks against a real HTTP server on loopback."""

from __future__ import annotations

import asyncio

from extproc.config.model import HealthCheck
from extproc.demo.upstream import DemoUpstream, UpstreamSpec
from extproc.stack.up import free_port
from extproc.state.active_check import ActiveHealthChecker
from extproc.state.health import HealthBook


async def wait_until(check: object, timeout_s: float = 5.0) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        if check():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.02)
    return bool(check())  # type: ignore[operator]


async def test_tier_goes_down_and_comes_back() -> None:
    upstream = DemoUpstream(UpstreamSpec("tier_low", "m"), port=0)
    port = await upstream.start()
    dead = free_port()
    book = HealthBook(["tier_low"])
    check = HealthCheck(
        urls=(f"http://127.0.0.1:{port}/health", f"http://127.0.0.1:{dead}/health"),
        interval_s=0.05, timeout_s=0.5, unhealthy_after=2, healthy_after=1,
    )
    checker = ActiveHealthChecker({"tier_low": check}, book)
    await checker.start()
    try:
        state = book.tiers["tier_low"]
        assert await wait_until(lambda: state.active_check_ok is True)  # one endpoint is enough
        assert book.available("tier_low") is None
        await upstream.stop()
        assert await wait_until(lambda: state.active_check_ok is False)
        assert book.available("tier_low") == "tier_unhealthy"
        upstream = DemoUpstream(UpstreamSpec("tier_low", "m"), port=port)
        await upstream.start()
        assert await wait_until(lambda: state.active_check_ok is True)
    finally:
        await checker.stop()
        await upstream.stop()
