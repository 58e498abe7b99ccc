"""Hot reload under live traffic through a real Envoy: no request fails, the new policy
takes over, a broken config is rejected while the old one keeps serving."""

from __future__ import annotations

import signal
import threading
from collections import Counter
from pathlib import Path

import httpx
import pytest
import yaml

from extproc.stack.up import Stack, StackPorts
from tests.e2e.feedback_util import chat, metric_value, metrics_text, wait_for
from tests.helpers import EASY_PROMPT

pytestmark = pytest.mark.e2e


def test_reload_under_live_traffic(tmp_path: Path) -> None:
    config = tmp_path / "router.yaml"
    config.write_text(yaml.safe_dump({"server": {"reload_poll_s": 0.2}}))
    stack = Stack(ports=StackPorts.free(), router_config=str(config), log_dir=tmp_path / "logs")
    stack.start()
    stop = threading.Event()
    seen: Counter[tuple[int, str]] = Counter()

    def traffic() -> None:
        with httpx.Client(base_url=stack.url, timeout=30) as client:
            while not stop.is_set():
                r = client.post("/v1/chat/completions", json=chat(EASY_PROMPT))
                seen[(r.status_code, r.headers.get("x-route-tier", "-"))] += 1

    workers = [threading.Thread(target=traffic) for _ in range(4)]
    try:
        for worker in workers:
            worker.start()
        assert wait_for(lambda: seen[(200, "tier_low")] > 20, timeout_s=15)
        config.write_text(yaml.safe_dump({
            "server": {"reload_poll_s": 0.2},
            "routing": {"rules": [{"type": "split", "weights": {"tier_high": 1}}]},
        }))
        assert wait_for(lambda: seen[(200, "tier_high")] > 20, timeout_s=15)
        config.write_text("routing: [this is not a config\n")
        assert wait_for(
            lambda: metric_value(metrics_text(stack), "extproc_config_reloads_total",
                                 result="rejected") >= 1, timeout_s=10)
        before = seen[(200, "tier_high")]
        assert wait_for(lambda: seen[(200, "tier_high")] > before + 20, timeout_s=15)
        # SIGHUP reloads at once (here: back to the defaults)
        config.write_text(yaml.safe_dump({"server": {"reload_poll_s": 60}}))
        stack.procs["router"].send_signal(signal.SIGHUP)
        low_before = seen[(200, "tier_low")]
        assert wait_for(lambda: seen[(200, "tier_low")] > low_before + 20, timeout_s=15)
    finally:
        stop.set()
        for worker in workers:
            worker.join(30)
        stack.stop()
    failures = {key: n for key, n in seen.items() if key[0] != 200}
    assert failures == {}, failures
    assert sum(seen.values()) > 100
