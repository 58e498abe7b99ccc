"""Two router replicas (each behind its own Envoy) share tier state through a real Redis,
and keep routing when Redis dies."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from extproc.stack.up import Stack, StackPorts, free_port
from tests.e2e.conftest import write_config
from tests.e2e.feedback_util import chat, control, wait_for
from tests.helpers import HARD_PROMPT
from tests.redis_server import redis_server_binary, running_redis

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(redis_server_binary() is None, reason="redis-server not installed"),
]


def replica_config(tmp: Path, name: str, redis_url: str, failures_to_open: int) -> str:
    circuit = {"consecutive_failures": failures_to_open, "min_requests": 1000, "open_s": 30}
    return write_config(
        tmp / f"{name}.yaml",
        {
            "health": {"circuit": circuit, "snapshot_interval_ms": 50},
            "shared_state": {
                "redis_url": redis_url,
                "replica_id": name,
                "publish_interval_ms": 100,
                "max_age_ms": 2000,
                "op_timeout_ms": 200,
            },
            "routing": {"rules": [{"type": "complexity"}]},
        },
    )


def post(stack: Stack) -> httpx.Response:
    return httpx.post(f"{stack.url}/v1/chat/completions", json=chat(HARD_PROMPT), timeout=30)


def test_replicas_share_circuit_state_and_survive_redis_loss(tmp_path: Path) -> None:
    (tmp_path / "redis").mkdir()
    with running_redis(tmp_path / "redis") as redis:
        a = Stack(
            ports=StackPorts.free(),
            log_dir=tmp_path / "a",
            router_config=replica_config(tmp_path, "replica-a", redis.url, 2),
        )
        a.start()
        p = a.ports
        b = Stack(
            ports=StackPorts(
                free_port(), free_port(), free_port(), free_port(), p.tier_low, p.tier_high
            ),
            log_dir=tmp_path / "b",
            # B alone would never open its circuit: only A's shared report can do it
            router_config=replica_config(tmp_path, "replica-b", redis.url, 1000),
        )
        try:
            b.start_router()
            b.start_envoy()
            b.wait_ready()
            assert post(b).headers["x-upstream-tier"] == "tier_high"
            control(a, "tier_high", fail_status=503)
            for _ in range(2):  # replica A sees the failures and opens its circuit
                assert post(a).status_code == 503
            assert post(a).headers["x-route-reason"] == "circuit_open"
            # replica B never saw a failure; it learns through Redis
            assert wait_for(
                lambda: post(b).headers["x-route-reason"] == "circuit_open", timeout_s=5, step_s=0.2
            )
            redis.kill()
            results = [post(stack) for _ in range(10) for stack in (a, b)]
            assert all(r.status_code == 200 for r in results)
            assert all(r.headers["x-upstream-tier"] == "tier_low" for r in results)
        finally:
            b.stop()
            a.stop()
