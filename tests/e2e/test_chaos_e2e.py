"""Faults through the real Envoy: the router killed and restarted under load (fail open and
fail closed), and a router slower than message_timeout."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from extproc.stack.up import Stack, StackPorts
from tests.e2e.conftest import write_config
from tests.e2e.feedback_util import chat, wait_for
from tests.helpers import EASY_PROMPT

pytestmark = pytest.mark.e2e


class Load:
    """A few client threads sending simple prompts; outcomes counted by (status, tier)."""

    def __init__(self, stack: Stack, threads: int = 4) -> None:
        self.stack = stack
        self.stop = threading.Event()
        self.seen: Counter[tuple[int, str]] = Counter()
        self.first_ok_after: dict[str, float] = {}
        self.marks: dict[str, float] = {}
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def _run(self) -> None:
        with httpx.Client(base_url=self.stack.url, timeout=30) as client:
            while not self.stop.is_set():
                try:
                    r = client.post("/v1/chat/completions", json=chat(EASY_PROMPT))
                    key = (r.status_code, r.headers.get("x-route-tier", "-"))
                except httpx.HTTPError:
                    key = (-1, "-")
                now = time.monotonic()
                with self._lock:
                    self.seen[key] += 1
                    for mark, at in self.marks.items():
                        if key[1] != "-" and now > at and mark not in self.first_ok_after:
                            self.first_ok_after[mark] = now - at

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)

    def mark(self, name: str) -> None:
        with self._lock:
            self.marks[name] = time.monotonic()

    def total(self) -> int:
        with self._lock:
            return sum(self.seen.values())


@pytest.mark.parametrize("fail_open", [True, False])
def test_router_killed_and_restarted_under_load(tmp_path: Path, fail_open: bool) -> None:
    stack = Stack(ports=StackPorts.free(), failure_mode_allow=fail_open, log_dir=tmp_path)
    stack.start()
    try:
        with Load(stack) as load:
            assert wait_for(lambda: load.total() > 30, timeout_s=15)
            stack.stop_process("router", signal.SIGKILL)
            time.sleep(1.0)
            stack.start_router()
            load.mark("restart")
            stack.wait_ready()
            assert wait_for(lambda: "restart" in load.first_ok_after, timeout_s=15)
            time.sleep(0.5)
        routed = sum(n for (status, tier), n in load.seen.items() if tier != "-")
        failures = sum(n for (status, _), n in load.seen.items() if status != 200)
        recovery_s = load.first_ok_after["restart"]
        print(f"fail_open={fail_open}: {dict(load.seen)}; failures={failures}; "
              f"routing back {recovery_s * 1000:.0f} ms after the restart")
        assert routed > 0 and recovery_s < 10
        if fail_open:
            assert failures == 0  # Envoy kept serving on the default route
            assert load.seen[(200, "-")] > 0  # ...unrouted while the router was down
        else:
            assert failures > 0  # fail closed: the outage shows, and is counted here
    finally:
        stack.stop()


def test_router_slower_than_message_timeout(tmp_path: Path) -> None:
    config = write_config(tmp_path / "router.yaml", {"routing": {"rules": [
        {"type": "custom", "name": "slow", "import_path": "tests.plugins:SlowRule",
         "params": {"delay_ms": 400}},
        {"type": "complexity"},
    ]}})
    stack = Stack(ports=StackPorts.free(), router_config=config, message_timeout="0.15s",
                  log_dir=tmp_path / "logs", router_env={"PYTHONPATH": str(Path.cwd())})
    stack.start()
    try:
        slow = httpx.post(f"{stack.url}/v1/chat/completions", json=chat(EASY_PROMPT),
                          headers={"x-slow": "1"}, timeout=30)
        assert slow.status_code == 200  # fail open: message_timeout, then the default route
        assert slow.headers["x-upstream-tier"] == "tier_low"
        assert "x-route-tier" not in slow.headers
        # once the blocked loop is free again, requests are routed as usual
        assert wait_for(lambda: httpx.post(f"{stack.url}/v1/chat/completions", json=chat(
            EASY_PROMPT), timeout=30).headers.get("x-route-tier") == "tier_low", timeout_s=10)
        stats = httpx.get(f"http://127.0.0.1:{stack.ports.envoy_admin}/stats?filter=ext_proc",
                          timeout=5).text
        timeouts = [int(line.rsplit(":", 1)[1]) for line in stats.splitlines()
                    if line.endswith(tuple("0123456789")) and ".message_timeouts:" in line]
        assert timeouts and max(timeouts) >= 1, stats
    finally:
        stack.stop()
