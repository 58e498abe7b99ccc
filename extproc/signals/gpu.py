"""GPU memory signal: NVML polled on a daemon thread, published as immutable snapshots.

The poller never blocks readers: each poll builds a new frozen :class:`GpuSnapshot` and
publishes it by rebinding one attribute, so ``poller.snapshot`` is a single attribute load.

States:

* ``"ok"``      -- the last poll read memory for every selected device.
* ``"unknown"`` -- NVML / driver / GPU is absent (import or ``nvmlInit`` failed, no devices,
  or a configured device index does not exist). Init is retried every ``init_retry_s``.
* ``"error"``   -- NVML initialised but the last poll raised; polling continues and the
  state returns to ``"ok"`` as soon as a poll succeeds.

Only ``"ok"`` snapshots carry devices; rules see ``None`` from ``min_free_bytes`` otherwise.
"""

from __future__ import annotations

import importlib
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Literal

__all__ = [
    "MIN_INTERVAL_S",
    "UNKNOWN_SNAPSHOT",
    "GpuDevice",
    "GpuSnapshot",
    "GpuState",
    "NvmlPoller",
]

log = logging.getLogger("extproc.gpu")

GpuState = Literal["ok", "unknown", "error"]

MIN_INTERVAL_S = 0.001
"""Poll / retry intervals below this are clamped up to it."""

CALLBACK_LOG_EVERY_S = 10.0
"""At most one log line per this many seconds for failing ``on_snapshot`` callbacks."""


@dataclass(frozen=True, slots=True)
class GpuDevice:
    """Memory of one GPU at poll time, in bytes."""

    index: int
    total_bytes: int
    used_bytes: int
    free_bytes: int

    @property
    def free_fraction(self) -> float:
        """Free / total in [0, 1]; 0.0 when total is unknown (0)."""
        if self.total_bytes <= 0:
            return 0.0
        return min(1.0, max(0.0, self.free_bytes / self.total_bytes))


@dataclass(frozen=True, slots=True)
class GpuSnapshot:
    """Result of one poll. Immutable; safe to share across threads."""

    state: GpuState
    devices: tuple[GpuDevice, ...]
    taken_at: float
    reason: str = ""

    @property
    def min_free_bytes(self) -> int | None:
        """Smallest free memory across devices, or None unless state is ok with devices."""
        if self.state != "ok" or not self.devices:
            return None
        return min(d.free_bytes for d in self.devices)

    @property
    def min_free_fraction(self) -> float | None:
        """Smallest free fraction across devices, or None unless state is ok with devices."""
        if self.state != "ok" or not self.devices:
            return None
        return min(d.free_fraction for d in self.devices)

    def age_s(self, now: float | None = None) -> float:
        """Seconds since the poll (``time.monotonic()`` clock)."""
        return (time.monotonic() if now is None else now) - self.taken_at


UNKNOWN_SNAPSHOT = GpuSnapshot(state="unknown", devices=(), taken_at=0.0, reason="not polled yet")


def _check_interval(name: str, value: float) -> float:
    if not isinstance(value, int | float) or math.isnan(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    return max(float(value), MIN_INTERVAL_S)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class NvmlPoller:
    """Polls NVML device memory every ``interval_s`` on a daemon thread.

    ``device_indices`` restricts which GPUs are reported (default: all). ``on_snapshot`` is
    called on the poller thread after every publish; its exceptions are logged, rate-limited,
    and otherwise ignored. ``init_retry_s`` is the wait between failed ``nvmlInit`` attempts.
    """

    def __init__(
        self,
        interval_s: float = 0.015,
        device_indices: Sequence[int] | None = None,
        on_snapshot: Callable[[GpuSnapshot], None] | None = None,
        *,
        init_retry_s: float = 5.0,
        thread_name: str = "nvml-poller",
    ) -> None:
        self._interval_s = _check_interval("interval_s", interval_s)
        self._init_retry_s = _check_interval("init_retry_s", init_retry_s)
        self._indices: tuple[int, ...] | None = None
        if device_indices is not None:
            indices: list[int] = []
            for i in device_indices:
                if isinstance(i, bool) or not isinstance(i, int) or i < 0:
                    raise ValueError(f"device index must be a non-negative int, got {i!r}")
                if i not in indices:
                    indices.append(i)
            if not indices:
                raise ValueError("device_indices must not be empty (use None for all devices)")
            self._indices = tuple(indices)
        self._on_snapshot = on_snapshot
        self._thread_name = thread_name

        self._snapshot: GpuSnapshot = UNKNOWN_SNAPSHOT
        self._polls = 0
        self._lock = threading.Lock()  # guards start/stop only; never taken by readers
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_logged: tuple[GpuState, str] | None = None
        self._cb_last_log = -math.inf
        self._cb_suppressed = 0

    # -- public API ---------------------------------------------------------------------

    @property
    def snapshot(self) -> GpuSnapshot:
        """Latest published snapshot (lock-free read)."""
        return self._snapshot

    @property
    def polls(self) -> int:
        """Number of completed poll cycles (successful, failed, or failed-init attempts)."""
        return self._polls

    @property
    def interval_s(self) -> float:
        """Effective poll interval after clamping."""
        return self._interval_s

    @property
    def running(self) -> bool:
        """True while the poller thread is alive."""
        t = self._thread
        return t is not None and t.is_alive()

    def start(self) -> None:
        """Start the daemon thread. Calling it while running is a no-op."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop = threading.Event()
            self._thread = threading.Thread(
                target=self._run, args=(self._stop,), name=self._thread_name, daemon=True
            )
            self._thread.start()

    def stop(self, timeout_s: float = 1.0) -> None:
        """Signal the thread to stop and join it; the thread calls ``nvmlShutdown`` on exit."""
        with self._lock:
            thread = self._thread
            self._stop.set()
            if thread is None:
                return
            thread.join(timeout_s)
            if thread.is_alive():
                log.warning("NVML poller thread did not stop within %.3fs", timeout_s)
                return
            self._thread = None
            self._snapshot = GpuSnapshot("unknown", (), time.monotonic(), reason="poller stopped")

    # -- thread body --------------------------------------------------------------------

    def _run(self, stop: threading.Event) -> None:
        nvml: ModuleType | None = None
        try:
            while not stop.is_set():
                if nvml is None:
                    nvml = self._try_init()
                    if nvml is None:
                        stop.wait(self._init_retry_s)
                        continue
                self._publish(self._poll_once(nvml))
                stop.wait(self._interval_s)
        except Exception:  # pragma: no cover - last-resort guard; poll/publish never raise
            log.exception("NVML poller thread crashed")
            self._publish(GpuSnapshot("error", (), time.monotonic(), "poller thread crashed"))
        finally:
            if nvml is not None:
                try:
                    nvml.nvmlShutdown()
                except Exception as exc:
                    log.warning("nvmlShutdown failed: %s", _describe(exc))

    def _try_init(self) -> ModuleType | None:
        """Import pynvml and call nvmlInit; on failure publish "unknown" and return None."""
        try:
            nvml = importlib.import_module("pynvml")
        except Exception as exc:
            self._publish(
                GpuSnapshot("unknown", (), time.monotonic(), f"pynvml unavailable: {exc}")
            )
            return None
        try:
            nvml.nvmlInit()
        except Exception as exc:
            self._publish(
                GpuSnapshot("unknown", (), time.monotonic(), f"nvmlInit failed: {_describe(exc)}")
            )
            return None
        return nvml

    def _poll_once(self, nvml: ModuleType) -> GpuSnapshot:
        """Read memory for the selected devices. Never raises."""
        try:
            count = int(nvml.nvmlDeviceGetCount())
            taken_at = time.monotonic()
            if count <= 0:
                return GpuSnapshot("unknown", (), taken_at, "no GPUs visible to NVML")
            if self._indices is None:
                indices: Sequence[int] = range(count)
            else:
                indices = self._indices
                missing = [i for i in indices if i >= count]
                if missing:
                    return GpuSnapshot(
                        "unknown",
                        (),
                        taken_at,
                        f"device index {missing} out of range (device count {count})",
                    )
            devices = []
            for i in indices:
                mem = nvml.nvmlDeviceGetMemoryInfo(nvml.nvmlDeviceGetHandleByIndex(i))
                devices.append(
                    GpuDevice(
                        index=i,
                        total_bytes=int(mem.total),
                        used_bytes=int(mem.used),
                        free_bytes=int(mem.free),
                    )
                )
            return GpuSnapshot("ok", tuple(devices), taken_at)
        except Exception as exc:
            return GpuSnapshot("error", (), time.monotonic(), f"poll failed: {_describe(exc)}")

    def _publish(self, snap: GpuSnapshot) -> None:
        self._snapshot = snap  # single reference rebind: readers never see a partial update
        self._polls += 1  # only this thread writes it
        key = (snap.state, snap.reason)
        if key != self._last_logged:
            self._last_logged = key
            level = logging.WARNING if snap.state == "error" else logging.INFO
            if snap.state == "ok":
                log.log(level, "GPU signal ok: %d device(s)", len(snap.devices))
            else:
                log.log(level, "GPU signal %s: %s", snap.state, snap.reason)
        if self._on_snapshot is not None:
            try:
                self._on_snapshot(snap)
            except Exception:
                now = time.monotonic()
                if now - self._cb_last_log >= CALLBACK_LOG_EVERY_S:
                    log.exception(
                        "on_snapshot callback failed (%d similar failures suppressed)",
                        self._cb_suppressed,
                    )
                    self._cb_last_log = now
                    self._cb_suppressed = 0
                else:
                    self._cb_suppressed += 1
