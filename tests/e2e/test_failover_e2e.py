"""envoy/failover.yaml end to end: the strong tier dies mid-run and no request fails.

The router keeps choosing tier_high for complex prompts; Envoy's aggregate cluster
(tier_high_failover = [tier_high, tier_low]), active health checks and retries move the traffic
to tier_low. Each tier runs in its own demo-upstream process so one can be SIGKILLed.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from extproc.stack.up import Stack, StackPorts
from tests.helpers import HARD_PROMPT

pytestmark = pytest.mark.e2e

BODY = {"model": "auto", "messages": [{"role": "user", "content": HARD_PROMPT}]}

UPSTREAM = """
import asyncio, sys
from extproc.demo.upstream import DemoUpstream, UpstreamSpec

async def main() -> None:
    tier, model, port, delay = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    await DemoUpstream(UpstreamSpec(tier, model, delay), "127.0.0.1", port).start()
    await asyncio.Event().wait()

asyncio.run(main())
"""

THREADS = 4
BEFORE_KILL_S = 2.5
AFTER_KILL_S = 4.0
HIGH_DELAY_MS = 150.0  # requests are in flight on tier_high when it is killed
LOW_DELAY_MS = 20.0  # paces the loop after the kill (bounded request rate)


def wait_hosts_healthy(admin_port: int, clusters: set[str], timeout_s: float = 15.0) -> None:
    """Wait (bounded) until Envoy's active health checks report every host of `clusters`
    healthy: a check that ran before an upstream listened would send its traffic to the
    fallback tier."""
    deadline = time.monotonic() + timeout_s
    flags: dict[str, str] = {}
    while time.monotonic() < deadline:
        text = httpx.get(f"http://127.0.0.1:{admin_port}/clusters", timeout=5).text
        flags = {
            line.split("::")[0] + "::" + line.split("::")[1]: line.rsplit("::", 1)[1]
            for line in text.splitlines()
            if "::health_flags::" in line and line.split("::")[0] in clusters
        }
        if flags and all(value == "healthy" for value in flags.values()):
            return
        time.sleep(0.1)
    raise TimeoutError(f"Envoy hosts not healthy: {flags}")


@dataclass(frozen=True)
class Outcome:
    started: float
    ended: float
    status: int  # 0: transport error
    upstream: str
    route_tier: str
    served_by: str


def _upstream(
    tier: str, model: str, port: int, delay_ms: float, log: Path
) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-c", UPSTREAM, tier, model, str(port), str(delay_ms)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@pytest.fixture()
def failover_stack(tmp_path: Path) -> Iterator[tuple[Stack, dict[str, subprocess.Popen[bytes]]]]:
    stack = Stack(
        ports=StackPorts.free(),
        envoy_template="failover.yaml",
        log_dir=tmp_path,
        extra_envoy_values={
            "HEALTH_CHECK_INTERVAL": "0.5s",
            "HEALTH_CHECK_TIMEOUT": "0.25s",
            "HEALTH_CHECK_UNHEALTHY": "1",
            "HEALTH_CHECK_HEALTHY": "1",
        },
    )
    p = stack.ports
    upstreams = {
        "tier_low": _upstream(
            "tier_low", "small-model", p.tier_low, LOW_DELAY_MS, tmp_path / "low.log"
        ),
        "tier_high": _upstream(
            "tier_high", "large-model", p.tier_high, HIGH_DELAY_MS, tmp_path / "high.log"
        ),
    }
    try:
        stack.start_router()
        stack.start_envoy()
        stack.wait_ready(timeout_s=30)
        wait_hosts_healthy(p.envoy_admin, {"tier_low", "tier_high"})
        yield stack, upstreams
    finally:
        stack.stop()
        for proc in upstreams.values():
            if proc.poll() is None:
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)


def _worker(url: str, stop_at: float, out: list[Outcome], lock: threading.Lock) -> None:
    with httpx.Client(base_url=url, timeout=20) as client:
        while time.monotonic() < stop_at:
            started = time.monotonic()
            try:
                r = client.post("/v1/chat/completions", json=BODY)
                outcome = Outcome(
                    started,
                    time.monotonic(),
                    r.status_code,
                    r.headers.get("x-upstream-tier", ""),
                    r.headers.get("x-route-tier", ""),
                    r.headers.get("x-served-by", ""),
                )
            except httpx.HTTPError:
                outcome = Outcome(started, time.monotonic(), 0, "", "", "")
            with lock:
                out.append(outcome)


def _envoy_stat(stack: Stack, name: str) -> int:
    text = httpx.get(
        f"http://127.0.0.1:{stack.ports.envoy_admin}/stats?filter=^{name}$", timeout=5
    ).text
    for line in text.splitlines():
        key, _, value = line.partition(": ")
        if key == name:
            return int(value)
    return 0


def test_strong_tier_killed_mid_run_no_request_fails(
    failover_stack: tuple[Stack, dict[str, subprocess.Popen[bytes]]],
) -> None:
    stack, upstreams = failover_stack
    warm = httpx.post(f"{stack.url}/v1/chat/completions", json=BODY, timeout=20)
    assert warm.headers.get("x-upstream-tier") == "tier_high", warm.headers

    outcomes: list[Outcome] = []
    lock = threading.Lock()
    start = time.monotonic()
    kill_at = start + BEFORE_KILL_S
    stop_at = kill_at + AFTER_KILL_S
    threads = [
        threading.Thread(target=_worker, args=(stack.url, stop_at, outcomes, lock), daemon=True)
        for _ in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, kill_at - time.monotonic()))
    upstreams["tier_high"].send_signal(signal.SIGKILL)
    killed = time.monotonic()
    for thread in threads:
        thread.join(timeout=AFTER_KILL_S + 30)
    assert not any(thread.is_alive() for thread in threads)

    before = [o for o in outcomes if o.ended < killed]
    spanning = [o for o in outcomes if o.started < killed <= o.ended]
    after = [o for o in outcomes if o.started >= killed]
    failed = [o for o in outcomes if o.status != 200]
    retries = _envoy_stat(stack, "cluster.tier_high_failover.upstream_rq_retry")
    report = (
        f"failover: {len(outcomes)} requests, {len(before)} before the kill, {len(spanning)} in "
        f"flight at the kill, {len(after)} after; {len(failed)} failed; Envoy retries: {retries}"
    )
    print(report)

    assert not failed, f"{report}: {failed[:5]}"
    assert len(before) >= THREADS and len(after) >= THREADS, report
    assert {o.upstream for o in before} == {"tier_high"}, report
    # Served by tier_low through the aggregate cluster; the router still chose tier_high.
    assert {o.upstream for o in spanning + after} == {"tier_low"}, report
    assert {o.route_tier for o in outcomes} == {"tier_high"}, report
    assert {o.served_by for o in after} == {f"127.0.0.1:{stack.ports.tier_low}"}, report
    if spanning:  # cut mid-run: only a retry on the fallback can have answered them
        assert retries >= 1, report
