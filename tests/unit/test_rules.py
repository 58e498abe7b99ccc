"""Rules over real signal sources: VRAM from the NVML poller (faked at pynvml), latency EMA."""

from __future__ import annotations

import time
from collections.abc import Iterator
from types import SimpleNamespace

import pynvml
import pytest

from extproc.config import parse_config
from extproc.decision.model import RequestFacts
from extproc.decision.signals import Signals
from extproc.parse.openai import ChatRequest, parse_body
from extproc.router import Router

GiB = 1 << 30


class FakeNvml:
    """Stands in for the driver at the pynvml function boundary."""

    def __init__(self, free: int, total: int = 80 * GiB) -> None:
        self.free, self.total = free, total

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(pynvml, "nvmlInit", lambda: None)
        monkeypatch.setattr(pynvml, "nvmlShutdown", lambda: None)
        monkeypatch.setattr(pynvml, "nvmlDeviceGetCount", lambda: 1)
        monkeypatch.setattr(pynvml, "nvmlDeviceGetHandleByIndex", lambda i: i)
        monkeypatch.setattr(
            pynvml,
            "nvmlDeviceGetMemoryInfo",
            lambda h: SimpleNamespace(total=self.total, free=self.free,
                                      used=self.total - self.free),
        )


def simple_chat() -> ChatRequest:
    parsed = parse_body(b'{"messages":[{"role":"user","content":"hi"}]}', "chat", 1 << 20)
    assert isinstance(parsed, ChatRequest)
    return parsed


def decide(router: Router) -> tuple[str, str]:
    signals = Signals(RequestFacts("/v1/chat/completions", "POST", "r", None, simple_chat()),
                      router.scorer, router.backend)
    decision = router.pipeline.decide(signals)
    return decision.tier, decision.reason


@pytest.fixture()
def gpu_router(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Router, FakeNvml]]:
    fake = FakeNvml(free=40 * GiB)
    fake.install(monkeypatch)
    router = Router(parse_config({
        "gpu": {"poll_interval_ms": 2},
        "tiers": {"tier_low": {"cluster": "tier_low", "gpu": {"source": "nvml"}},
                  "tier_high": {"cluster": "tier_high"}},
    }))
    router.start()
    yield router, fake
    router.stop()


def wait_polls(router: Router, extra: int = 3, timeout_s: float = 2.0) -> None:
    assert router.gpu_poller is not None
    target = router.gpu_poller.polls + extra
    deadline = time.monotonic() + timeout_s
    while router.gpu_poller.polls < target and time.monotonic() < deadline:
        time.sleep(0.002)


def test_vram_rule_follows_live_headroom(gpu_router: tuple[Router, FakeNvml]) -> None:
    router, fake = gpu_router
    wait_polls(router)
    assert decide(router) == ("tier_low", "complexity_low")
    fake.free = 2 * GiB  # 2.5% free < 10%
    wait_polls(router)
    assert decide(router) == ("tier_high", "vram_headroom_low")
    fake.free = 60 * GiB
    wait_polls(router)
    assert decide(router) == ("tier_low", "complexity_low")


def test_vram_rule_abstains_without_gpu() -> None:
    router = Router(parse_config({
        "tiers": {"tier_low": {"cluster": "tier_low", "gpu": {"source": "nvml"}},
                  "tier_high": {"cluster": "tier_high"}},
    }))
    router.start()  # no driver here: the snapshot stays unknown
    try:
        assert decide(router) == ("tier_low", "complexity_low")
    finally:
        router.stop()


def test_latency_sla_rule() -> None:
    router = Router(parse_config({
        "latency": {"warmup_samples": 0, "alpha": 1.0},
        "tiers": {"tier_low": {"cluster": "tier_low", "latency_seed_ms": 100},
                  "tier_high": {"cluster": "tier_high", "sla_ms": 1000}},
        "routing": {"rules": [
            {"type": "latency_sla", "tier": "tier_low", "fallback": "tier_high", "max_ms": 200},
            {"type": "complexity"},
        ]},
    }))
    assert decide(router) == ("tier_low", "complexity_low")
    router.latency.observe("tier_low", 900.0)
    assert decide(router) == ("tier_high", "sla_exceeded")
    router.latency.observe("tier_low", 50.0)
    assert decide(router) == ("tier_low", "complexity_low")


def test_latency_sla_p95_needs_samples_then_decides() -> None:
    router = Router(parse_config({
        "routing": {"rules": [
            {"type": "latency_sla", "tier": "tier_low", "fallback": "tier_high",
             "max_ms": 200, "stat": "p95", "min_samples": 10},
            {"type": "complexity"},
        ]},
    }))
    for _ in range(9):
        router.health.on_dispatch("tier_low")
        router.health.on_finish("tier_low", True, 1000.0)
    router.health.snapshot_all()
    assert decide(router) == ("tier_low", "complexity_low")  # 9 < min_samples: abstain
    router.health.on_dispatch("tier_low")
    router.health.on_finish("tier_low", True, 1000.0)
    router.health.snapshot_all()
    assert decide(router) == ("tier_high", "sla_p95")


def test_circuit_open_moves_verdict_to_fallback() -> None:
    router = Router(parse_config({
        "health": {"circuit": {"consecutive_failures": 1}},
        "tiers": {"tier_low": {"cluster": "tier_low", "fallback": "tier_high"},
                  "tier_high": {"cluster": "tier_high"}},
    }))
    router.health.on_dispatch("tier_low")
    router.health.on_finish("tier_low", False, 10.0)
    assert decide(router) == ("tier_high", "circuit_open")
    router.health.tiers["tier_high"].circuit.force_open()
    assert decide(router) == ("tier_low", "complexity_low")  # nothing available: keep it
