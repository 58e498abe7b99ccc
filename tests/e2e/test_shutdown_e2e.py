"""SIGTERM drains: a request in flight when the router is told to stop still completes."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from extproc.stack.up import Stack, StackPorts

pytestmark = pytest.mark.e2e


@pytest.fixture()
def slow_stack(tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(ports=StackPorts.free(), log_dir=tmp_path, upstream_delay_ms=1500,
                  failure_mode_allow=False)
    stack.start()
    yield stack
    stack.stop()


def test_sigterm_drains_in_flight_request(slow_stack: Stack) -> None:
    body = {"model": "auto", "messages": [{"role": "user", "content": "hello"}]}
    result: dict[str, httpx.Response] = {}

    def send() -> None:
        result["r"] = httpx.post(f"{slow_stack.url}/v1/chat/completions", json=body, timeout=30)

    sender = threading.Thread(target=send)
    sender.start()
    time.sleep(0.5)  # the request is now waiting on the slow upstream; its stream is open
    router = slow_stack.procs["router"]
    router.send_signal(signal.SIGTERM)
    sender.join(20)
    response = result["r"]
    assert response.status_code == 200
    # the router answered the response-headers message during its drain
    assert response.headers["x-route-tier"] == "tier_low"
    assert router.wait(15) == 0
    log = slow_stack.tail("router", 50)
    assert "draining 1 open streams" in log, log
