"""NvmlPoller tests: fake NVML at the pynvml function boundary, run the real polling thread."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pynvml
import pytest

from extproc.signals.gpu import (
    MIN_INTERVAL_S,
    UNKNOWN_SNAPSHOT,
    GpuDevice,
    GpuSnapshot,
    NvmlPoller,
)

GIB = 1 << 30
FAST = 0.002  # poll / retry interval used by the tests


class FakeNvml:
    """Stand-ins for the pynvml functions the poller calls; mutate fields to drive it."""

    def __init__(self, mem: dict[int, tuple[int, int]]) -> None:
        self.mem = dict(mem)  # index -> (total, used)
        self.count: int | None = None  # overrides len(mem) when set
        self.init_failures = 0  # fail this many nvmlInit calls, then succeed
        self.init_calls = 0
        self.shutdown_calls = 0
        self.mem_error: Exception | None = None
        self.lock = threading.Lock()

    def set_used(self, index: int, used: int) -> None:
        with self.lock:
            self.mem[index] = (self.mem[index][0], used)

    # -- the pynvml boundary -----------------------------------------------------------
    def nvmlInit(self) -> None:
        self.init_calls += 1
        if self.init_failures > 0:
            self.init_failures -= 1
            raise pynvml.NVMLError_DriverNotLoaded()

    def nvmlShutdown(self) -> None:
        self.shutdown_calls += 1

    def nvmlDeviceGetCount(self) -> int:
        return len(self.mem) if self.count is None else self.count

    def nvmlDeviceGetHandleByIndex(self, index: int) -> tuple[str, int]:
        if index not in self.mem:
            raise pynvml.NVMLError_InvalidArgument()
        return ("handle", index)

    def nvmlDeviceGetMemoryInfo(self, handle: tuple[str, int]) -> SimpleNamespace:
        if self.mem_error is not None:
            raise self.mem_error
        with self.lock:
            total, used = self.mem[handle[1]]
        return SimpleNamespace(total=total, used=used, free=total - used)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeNvml:
    f = FakeNvml({0: (80 * GIB, 10 * GIB), 1: (80 * GIB, 40 * GIB)})
    for name in (
        "nvmlInit",
        "nvmlShutdown",
        "nvmlDeviceGetCount",
        "nvmlDeviceGetHandleByIndex",
        "nvmlDeviceGetMemoryInfo",
    ):
        monkeypatch.setattr(pynvml, name, getattr(f, name))
    return f


@pytest.fixture
def make_poller() -> Iterator[Callable[..., NvmlPoller]]:
    made: list[NvmlPoller] = []

    def make(**kw: Any) -> NvmlPoller:
        kw.setdefault("interval_s", FAST)
        kw.setdefault("init_retry_s", FAST)
        p = NvmlPoller(**kw)
        made.append(p)
        return p

    yield make
    for p in made:
        p.stop()
        assert not p.running


def wait_until(pred: Callable[[], bool], timeout_s: float = 2.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before deadline")
        time.sleep(0.001)


def wait_polls(p: NvmlPoller, n: int = 2) -> None:
    """Wait until ``n`` more polls complete, so the snapshot reflects current fake state."""
    target = p.polls + n
    wait_until(lambda: p.polls >= target)


# -- value types ------------------------------------------------------------------------


def test_snapshot_value_helpers() -> None:
    a = GpuDevice(0, total_bytes=100, used_bytes=30, free_bytes=70)
    b = GpuDevice(1, total_bytes=200, used_bytes=180, free_bytes=20)
    assert a.free_fraction == pytest.approx(0.7)
    assert GpuDevice(2, 0, 0, 0).free_fraction == 0.0
    ok = GpuSnapshot("ok", (a, b), taken_at=10.0)
    assert ok.min_free_bytes == 20
    assert ok.min_free_fraction == pytest.approx(0.1)
    assert ok.age_s(now=12.5) == pytest.approx(2.5)
    assert ok.age_s() > 0
    for snap in (
        GpuSnapshot("error", (a,), 1.0, "boom"),
        GpuSnapshot("ok", (), 1.0),
        UNKNOWN_SNAPSHOT,
    ):
        assert snap.min_free_bytes is None
        assert snap.min_free_fraction is None
    assert UNKNOWN_SNAPSHOT.state == "unknown" and UNKNOWN_SNAPSHOT.devices == ()
    with pytest.raises(AttributeError):
        ok.state = "error"  # type: ignore[misc]


@pytest.mark.parametrize("bad", [0, -1, 0.0, float("nan")])
def test_non_positive_interval_rejected(bad: float) -> None:
    with pytest.raises(ValueError):
        NvmlPoller(interval_s=bad)
    with pytest.raises(ValueError):
        NvmlPoller(init_retry_s=bad)


def test_interval_clamped_and_default() -> None:
    assert NvmlPoller().interval_s == pytest.approx(0.015)
    assert NvmlPoller(interval_s=1e-9).interval_s == MIN_INTERVAL_S


@pytest.mark.parametrize("bad", [[], [-1], [True], ["0"]])
def test_bad_device_indices_rejected(bad: list[Any]) -> None:
    with pytest.raises(ValueError):
        NvmlPoller(device_indices=bad)


# -- polling thread ---------------------------------------------------------------------


def test_snapshot_reflects_and_tracks_fake_memory(
    fake: FakeNvml, make_poller: Callable[..., NvmlPoller]
) -> None:
    p = make_poller()
    assert p.snapshot is UNKNOWN_SNAPSHOT
    p.start()
    wait_until(lambda: p.snapshot.state == "ok")
    snap = p.snapshot
    assert [d.index for d in snap.devices] == [0, 1]
    assert snap.devices[0] == GpuDevice(0, 80 * GIB, 10 * GIB, 70 * GIB)
    assert snap.min_free_bytes == 40 * GIB
    assert snap.min_free_fraction == pytest.approx(0.5)
    assert snap.age_s() < 1.0

    fake.set_used(1, 76 * GIB)
    wait_polls(p)
    assert p.snapshot.min_free_bytes == 4 * GIB
    assert p.snapshot.taken_at > snap.taken_at
    assert fake.init_calls == 1


def test_no_driver_is_unknown_and_rule_sees_none(
    fake: FakeNvml, make_poller: Callable[..., NvmlPoller]
) -> None:
    fake.init_failures = 10**9
    p = make_poller()
    p.start()
    wait_polls(p, 3)
    snap = p.snapshot
    assert snap.state == "unknown"
    assert "DriverNotLoaded" in snap.reason
    assert snap.min_free_bytes is None and snap.min_free_fraction is None
    assert p.running
    p.stop()
    assert fake.shutdown_calls == 0  # init never succeeded


def test_pynvml_not_importable_is_unknown(
    monkeypatch: pytest.MonkeyPatch, make_poller: Callable[..., NvmlPoller]
) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` raise
    p = make_poller()
    p.start()
    wait_polls(p)
    assert p.snapshot.state == "unknown"
    assert "pynvml unavailable" in p.snapshot.reason
    assert p.running


def test_zero_devices_is_unknown(fake: FakeNvml, make_poller: Callable[..., NvmlPoller]) -> None:
    fake.count = 0
    p = make_poller()
    p.start()
    wait_polls(p)
    assert p.snapshot.state == "unknown"
    assert "no GPUs" in p.snapshot.reason
    assert p.snapshot.min_free_bytes is None


def test_init_retried_until_it_succeeds(
    fake: FakeNvml, make_poller: Callable[..., NvmlPoller]
) -> None:
    fake.init_failures = 3
    p = make_poller()
    p.start()
    wait_until(lambda: p.snapshot.state == "ok")
    assert fake.init_calls == 4
    assert p.snapshot.min_free_bytes == 40 * GIB


def test_failure_mid_run_then_recovery(
    fake: FakeNvml, make_poller: Callable[..., NvmlPoller]
) -> None:
    p = make_poller()
    p.start()
    wait_until(lambda: p.snapshot.state == "ok")

    fake.mem_error = pynvml.NVMLError_GpuIsLost()
    wait_until(lambda: p.snapshot.state == "error")
    snap = p.snapshot
    assert "GpuIsLost" in snap.reason
    assert snap.devices == () and snap.min_free_bytes is None
    wait_polls(p)
    assert p.running and p.snapshot.state == "error"

    fake.mem_error = None
    wait_until(lambda: p.snapshot.state == "ok")
    assert p.snapshot.min_free_bytes == 40 * GIB
    assert fake.init_calls == 1  # recovered without re-init


def test_stop_is_prompt_joins_and_shuts_down(
    fake: FakeNvml, make_poller: Callable[..., NvmlPoller]
) -> None:
    p = make_poller(interval_s=30.0)  # stop must not wait out the interval
    p.start()
    wait_until(lambda: p.polls >= 1)
    t0 = time.monotonic()
    p.stop()
    assert time.monotonic() - t0 < 0.5
    assert not p.running
    assert fake.shutdown_calls == 1
    assert p.snapshot.state == "unknown" and p.snapshot.min_free_bytes is None
    assert not [t for t in threading.enumerate() if t.name == "nvml-poller"]


def test_stop_is_prompt_during_init_backoff(
    fake: FakeNvml, make_poller: Callable[..., NvmlPoller]
) -> None:
    fake.init_failures = 10**9
    p = make_poller(init_retry_s=30.0)
    p.start()
    wait_until(lambda: p.polls >= 1)
    t0 = time.monotonic()
    p.stop()
    assert time.monotonic() - t0 < 0.5
    assert not p.running
    assert fake.init_calls == 1


def test_start_idempotent_and_restartable(
    fake: FakeNvml, make_poller: Callable[..., NvmlPoller]
) -> None:
    p = make_poller(thread_name="nvml-poller-idem")
    p.start()
    p.start()
    wait_polls(p)
    assert len([t for t in threading.enumerate() if t.name == "nvml-poller-idem"]) == 1
    assert fake.init_calls == 1
    p.stop()
    p.stop()  # second stop is harmless
    assert fake.shutdown_calls == 1

    p.start()
    wait_until(lambda: p.snapshot.state == "ok")
    assert fake.init_calls == 2


def test_device_filter(fake: FakeNvml, make_poller: Callable[..., NvmlPoller]) -> None:
    fake.mem[2] = (24 * GIB, 20 * GIB)
    p = make_poller(device_indices=[2, 0, 2])
    p.start()
    wait_until(lambda: p.snapshot.state == "ok")
    assert [d.index for d in p.snapshot.devices] == [2, 0]
    assert p.snapshot.min_free_bytes == 4 * GIB  # device 1 (40 GiB free) is filtered out


def test_device_filter_out_of_range(fake: FakeNvml, make_poller: Callable[..., NvmlPoller]) -> None:
    p = make_poller(device_indices=[0, 5])
    p.start()
    wait_polls(p)
    snap = p.snapshot
    assert snap.state == "unknown"
    assert "out of range" in snap.reason and "5" in snap.reason
    assert snap.min_free_bytes is None


def test_on_snapshot_called_and_exceptions_do_not_kill_thread(
    fake: FakeNvml,
    make_poller: Callable[..., NvmlPoller],
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[GpuSnapshot] = []

    def callback(snap: GpuSnapshot) -> None:
        seen.append(snap)
        raise RuntimeError("callback bug")

    caplog.set_level(logging.INFO, logger="extproc.gpu")
    p = make_poller(on_snapshot=callback)
    p.start()
    wait_polls(p, 10)
    assert p.running
    assert len(seen) >= 10 and seen[-1].state == "ok"
    failures = [r for r in caplog.records if "on_snapshot callback failed" in r.getMessage()]
    assert len(failures) == 1  # rate-limited, not one per poll
    assert failures[0].exc_info is not None


def test_logs_once_per_state_change(
    fake: FakeNvml,
    make_poller: Callable[..., NvmlPoller],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="extproc.gpu")
    fake.init_failures = 2
    p = make_poller()
    p.start()
    wait_until(lambda: p.snapshot.state == "ok")
    wait_polls(p, 5)
    fake.mem_error = pynvml.NVMLError_Unknown()
    wait_until(lambda: p.snapshot.state == "error")
    wait_polls(p, 5)
    fake.mem_error = None
    wait_until(lambda: p.snapshot.state == "ok")
    wait_polls(p, 5)
    p.stop()
    msgs = [r.getMessage() for r in caplog.records if r.name == "extproc.gpu"]
    assert [m.split(":")[0] for m in msgs] == [
        "GPU signal unknown",
        "GPU signal ok",
        "GPU signal error",
        "GPU signal ok",
    ]
    assert [r.levelno for r in caplog.records if "signal error" in r.getMessage()] == [
        logging.WARNING
    ]
