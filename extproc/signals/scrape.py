"""Remote backend load: scrape Prometheus text from each tier's metrics URLs, off the request path.

A background asyncio task fetches every configured URL concurrently once per ``interval_s``
(each fetch bounded by ``timeout_s`` and ``max_bytes``), parses the known series with
:func:`parse_backend_metrics` and publishes one frozen :class:`BackendLoad` per tier. The
request path reads it with :meth:`MetricsScraper.load` (one dict lookup, no locks, no I/O).

Recognised series (label sets are free; several series per endpoint are aggregated):

* vLLM: ``vllm:kv_cache_usage_perc`` (newer) or ``vllm:gpu_cache_usage_perc`` (older; used only
  when the newer name is absent) -- a 0..1 fraction; ``vllm:num_requests_waiting`` and
  ``vllm:num_requests_running``.
* llama.cpp (``--metrics``): ``llamacpp:kv_cache_usage_ratio``, ``llamacpp:requests_deferred``
  (waiting) and ``llamacpp:requests_processing`` (running).
* NVIDIA DCGM exporter: ``DCGM_FI_DEV_FB_FREE`` / ``_USED`` / ``_RESERVED`` / ``_TOTAL`` in MiB,
  one series per GPU (or MIG instance); converted to bytes. Total is ``_TOTAL`` when present,
  else free + used (+ reserved).

Aggregation: KV usage is the max over all series of all endpoints (``kv_cache_usage_mean`` is
the mean over the same series); waiting / running are summed; GPU free bytes and free fraction
are minima over every GPU (``gpu_total_bytes`` is the total of the GPU with the least free
bytes). An endpoint that fails keeps contributing its last values for ``hold_s``; when every
endpoint of a tier fails, the previous snapshot is kept (so its ``scraped_at`` ages and
staleness checks abstain) with ``error`` set.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

__all__ = [
    "METRIC_KEYS",
    "BackendLoad",
    "MetricsScraper",
    "parse_backend_metrics",
]

log = logging.getLogger("extproc.scrape")

MIB = 1024 * 1024
INLINE_PARSE_MAX_CHARS = 64 * 1024
"""Texts longer than this are parsed in a worker thread so the event loop never stalls."""

METRIC_KEYS: tuple[str, ...] = (
    "kv_cache_usage",
    "kv_cache_usage_mean",
    "kv_cache_series",
    "requests_waiting",
    "requests_running",
    "gpu_free_bytes",
    "gpu_total_bytes",
    "gpu_free_fraction",
    "gpu_count",
)
"""Keys of the dict returned by :func:`parse_backend_metrics` (always all present)."""

_KV_NEW = ("vllm:kv_cache_usage_perc", "llamacpp:kv_cache_usage_ratio")
_KV_OLD = ("vllm:gpu_cache_usage_perc",)
_WAITING = ("vllm:num_requests_waiting", "llamacpp:requests_deferred")
_RUNNING = ("vllm:num_requests_running", "llamacpp:requests_processing")
_FB_FREE = "DCGM_FI_DEV_FB_FREE"
_FB_USED = "DCGM_FI_DEV_FB_USED"
_FB_RESERVED = "DCGM_FI_DEV_FB_RESERVED"
_FB_TOTAL = "DCGM_FI_DEV_FB_TOTAL"
_DCGM = (_FB_FREE, _FB_USED, _FB_RESERVED, _FB_TOTAL)
_KNOWN = frozenset((*_KV_NEW, *_KV_OLD, *_WAITING, *_RUNNING, *_DCGM))
_PREFIXES = ("vllm:", "llamacpp:", "DCGM_FI_DEV_FB_")
_GPU_ID_LABELS = ("UUID", "uuid", "gpu", "GPU_I_ID", "GPU_I_PROFILE", "Hostname", "device")


# -- snapshot ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BackendLoad:
    """Load of one tier's backends as of its last successful scrape. Immutable."""

    tier: str
    kv_cache_usage: float | None  # 0..1, max over endpoints/series
    kv_cache_usage_mean: float | None  # mean over the same series
    requests_waiting: float | None  # summed over endpoints
    requests_running: float | None  # summed over endpoints
    gpu_free_bytes: float | None  # min over GPUs of all endpoints
    gpu_total_bytes: float | None  # total of the GPU with the least free bytes
    gpu_free_fraction: float | None  # min over GPUs of free / total
    endpoints_ok: int  # endpoints that answered in the last cycle
    endpoints_total: int
    scraped_at: float  # time.monotonic() of the oldest data in this snapshot (0 if never)
    error: str = ""

    def age_s(self, now: float | None = None) -> float:
        """Seconds since ``scraped_at``; ``inf`` when never scraped."""
        if self.scraped_at <= 0:
            return math.inf
        return (time.monotonic() if now is None else now) - self.scraped_at

    def is_fresh(self, max_age_s: float, now: float | None = None) -> bool:
        """True when scraped at least once and no older than ``max_age_s``."""
        return self.scraped_at > 0 and self.age_s(now) <= max_age_s


def _empty_load(tier: str, endpoints_total: int, error: str) -> BackendLoad:
    return BackendLoad(
        tier, None, None, None, None, None, None, None, 0, endpoints_total, 0.0, error
    )


# -- parsing -----------------------------------------------------------------------------------


def _relevant_lines(text: str) -> list[str]:
    """Sample lines of known metrics (comments and other families dropped)."""
    out: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line.startswith(_PREFIXES):
            continue
        head = line.split("{", 1)[0].split(None, 1)
        if head and head[0] in _KNOWN:
            out.append(line)
    return out


def _samples(lines: list[str]) -> Iterable[tuple[str, dict[str, str], float]]:
    """(name, labels, value) for each parseable line; malformed lines are skipped."""
    try:
        parsed = [
            (s.name, s.labels, s.value)
            for family in text_string_to_metric_families("\n".join(lines) + "\n")
            for s in family.samples
        ]
    except Exception:
        parsed = []
        for line in lines:  # slow path: isolate the bad lines
            try:
                for family in text_string_to_metric_families(line + "\n"):
                    parsed.extend((s.name, s.labels, s.value) for s in family.samples)
            except Exception:
                continue
    for name, labels, value in parsed:
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number) and name in _KNOWN:
            yield name, labels, number


def parse_backend_metrics(text: str) -> dict[str, float | None]:
    """Map vLLM / llama.cpp / DCGM Prometheus text to the keys in :data:`METRIC_KEYS`.

    Pure and total: never raises; absent or unusable values are ``None``. Non-finite samples
    are ignored, fractions are clamped to [0, 1] and counts / bytes to >= 0.
    """
    result: dict[str, float | None] = dict.fromkeys(METRIC_KEYS)
    if not isinstance(text, str) or not text:
        return result
    kv_new: list[float] = []
    kv_old: list[float] = []
    waiting: list[float] = []
    running: list[float] = []
    gpus: dict[tuple[str, ...], dict[str, float]] = {}
    try:
        for name, labels, value in _samples(_relevant_lines(text)):
            if name in _KV_NEW:
                kv_new.append(min(1.0, max(0.0, value)))
            elif name in _KV_OLD:
                kv_old.append(min(1.0, max(0.0, value)))
            elif name in _WAITING:
                waiting.append(max(0.0, value))
            elif name in _RUNNING:
                running.append(max(0.0, value))
            else:
                key = tuple(labels.get(k, "") for k in _GPU_ID_LABELS)
                gpus.setdefault(key, {})[name] = max(0.0, value) * MIB
    except Exception:  # pragma: no cover - defensive: parsing must never break the scraper
        log.debug("unexpected error parsing metrics text", exc_info=True)
        return dict.fromkeys(METRIC_KEYS)
    kv = kv_new or kv_old
    if kv:
        result["kv_cache_usage"] = max(kv)
        result["kv_cache_usage_mean"] = sum(kv) / len(kv)
        result["kv_cache_series"] = float(len(kv))
    if waiting:
        result["requests_waiting"] = sum(waiting)
    if running:
        result["requests_running"] = sum(running)
    _gpu_summary(gpus, result)
    return result


def _gpu_summary(
    gpus: dict[tuple[str, ...], dict[str, float]], out: dict[str, float | None]
) -> None:
    best: tuple[float, float | None] | None = None  # (free, total) of the GPU with least free
    min_fraction: float | None = None
    count = 0
    for values in gpus.values():
        free = values.get(_FB_FREE)
        total = values.get(_FB_TOTAL)
        used = values.get(_FB_USED)
        if total is None and free is not None and used is not None:
            total = free + used + values.get(_FB_RESERVED, 0.0)
        if free is None and total is not None and used is not None:
            free = max(0.0, total - used - values.get(_FB_RESERVED, 0.0))
        if free is None:
            continue
        count += 1
        if best is None or free < best[0]:
            best = (free, total)
        if total is not None and total > 0:
            fraction = min(1.0, free / total)
            min_fraction = fraction if min_fraction is None else min(min_fraction, fraction)
    if best is not None:
        out["gpu_free_bytes"], out["gpu_total_bytes"] = best
        out["gpu_free_fraction"] = min_fraction
        out["gpu_count"] = float(count)


def _has_data(values: Mapping[str, float | None]) -> bool:
    return any(v is not None for v in values.values())


# -- aggregation -------------------------------------------------------------------------------


def _aggregate(
    tier: str,
    parts: Sequence[tuple[Mapping[str, float | None], float]],
    endpoints_ok: int,
    endpoints_total: int,
    error: str,
) -> BackendLoad:
    """Combine per-endpoint values (with their scrape times) into one tier snapshot."""
    kv_max: float | None = None
    kv_sum = 0.0
    kv_n = 0.0
    waiting: float | None = None
    running: float | None = None
    gpu: tuple[float, float | None] | None = None
    gpu_fraction: float | None = None
    for values, _ in parts:
        kv = values.get("kv_cache_usage")
        if kv is not None:
            kv_max = kv if kv_max is None else max(kv_max, kv)
            n = values.get("kv_cache_series") or 1.0
            mean = values.get("kv_cache_usage_mean")
            kv_sum += (kv if mean is None else mean) * n
            kv_n += n
        w = values.get("requests_waiting")
        if w is not None:
            waiting = w if waiting is None else waiting + w
        r = values.get("requests_running")
        if r is not None:
            running = r if running is None else running + r
        free = values.get("gpu_free_bytes")
        if free is not None and (gpu is None or free < gpu[0]):
            gpu = (free, values.get("gpu_total_bytes"))
        frac = values.get("gpu_free_fraction")
        if frac is not None:
            gpu_fraction = frac if gpu_fraction is None else min(gpu_fraction, frac)
    return BackendLoad(
        tier=tier,
        kv_cache_usage=kv_max,
        kv_cache_usage_mean=kv_sum / kv_n if kv_n else None,
        requests_waiting=waiting,
        requests_running=running,
        gpu_free_bytes=None if gpu is None else gpu[0],
        gpu_total_bytes=None if gpu is None else gpu[1],
        gpu_free_fraction=gpu_fraction,
        endpoints_ok=endpoints_ok,
        endpoints_total=endpoints_total,
        scraped_at=min((at for _, at in parts), default=0.0),
        error=error,
    )


# -- scraper -----------------------------------------------------------------------------------


class _ScrapeError(Exception):
    pass


@dataclass(slots=True)
class _Endpoint:
    tier: str
    url: str
    values: Mapping[str, float | None] | None = None  # last good parse
    ok_at: float = 0.0  # monotonic time of the last good parse
    state: str = "new"  # "ok" or a short error kind; logged on change


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _check_positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


class MetricsScraper:
    """Scrapes each tier's metrics URLs every ``interval_s`` and publishes :class:`BackendLoad`.

    ``targets`` maps tier -> metrics URLs. ``timeout_s`` bounds each whole fetch (connect,
    headers and body); ``max_bytes`` caps the decoded body. ``hold_s`` (default
    ``3 * interval_s``) is how long a failing endpoint's last values still count while other
    endpoints of the tier answer.
    """

    def __init__(
        self,
        targets: Mapping[str, Sequence[str]],
        *,
        interval_s: float = 1.0,
        timeout_s: float = 0.5,
        max_bytes: int = 4 * 1024 * 1024,
        hold_s: float | None = None,
    ) -> None:
        self.interval_s = _check_positive("interval_s", interval_s)
        self.timeout_s = _check_positive("timeout_s", timeout_s)
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0:
            raise ValueError(f"max_bytes must be a positive int, got {max_bytes!r}")
        self.max_bytes = max_bytes
        self.hold_s = 3 * self.interval_s if hold_s is None else float(hold_s)
        if not self.hold_s >= 0:
            raise ValueError(f"hold_s must be >= 0, got {hold_s!r}")
        self._endpoints: dict[str, tuple[_Endpoint, ...]] = {}
        for tier, urls in targets.items():
            if isinstance(urls, str):
                raise ValueError(f"tier {tier!r}: metrics URLs must be a list, not a string")
            unique = list(dict.fromkeys(urls))
            if not unique:
                raise ValueError(f"tier {tier!r}: no metrics URLs")
            for url in unique:
                if not url.startswith(("http://", "https://")):
                    raise ValueError(f"tier {tier!r}: metrics URL must be http(s): {url!r}")
            self._endpoints[tier] = tuple(_Endpoint(tier, url) for url in unique)
        self._loads: dict[str, BackendLoad] = {
            tier: _empty_load(tier, len(eps), "not scraped yet")
            for tier, eps in self._endpoints.items()
        }
        self._scrapes: dict[str, int] = dict.fromkeys(self._endpoints, 0)
        self._errors: dict[str, int] = dict.fromkeys(self._endpoints, 0)
        self._cycles = 0
        self._client: httpx.AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._cycle_lock = asyncio.Lock()

    # -- read side (request path) -----------------------------------------------------------

    def load(self, tier: str) -> BackendLoad | None:
        """Latest snapshot of ``tier`` (None for a tier without metrics URLs). O(1)."""
        return self._loads.get(tier)

    @property
    def loads(self) -> Mapping[str, BackendLoad]:
        """All latest snapshots (an immutable-by-convention dict replaced each cycle)."""
        return self._loads

    @property
    def tiers(self) -> tuple[str, ...]:
        return tuple(self._endpoints)

    @property
    def scrapes(self) -> dict[str, int]:
        """Endpoint fetch attempts per tier (monotonic counters)."""
        return dict(self._scrapes)

    @property
    def scrape_errors(self) -> dict[str, int]:
        """Failed endpoint fetches per tier (HTTP error, timeout, oversize, no known metrics)."""
        return dict(self._errors)

    @property
    def cycles(self) -> int:
        """Completed scrape cycles."""
        return self._cycles

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the background scrape task (first cycle runs at once). No-op if running."""
        if self.running:
            return
        self._ensure_client()
        self._task = asyncio.create_task(self._run(), name="metrics-scraper")

    async def stop(self) -> None:
        """Cancel the task and close the HTTP client. Snapshots stay readable."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def scrape_once(self) -> None:
        """Run one scrape cycle now and publish its snapshots (also used by the task)."""
        client = self._ensure_client()
        async with self._cycle_lock:
            eps = [ep for group in self._endpoints.values() for ep in group]
            results = await asyncio.gather(*(self._fetch(client, ep.url) for ep in eps))
            outcome = dict(zip((id(ep) for ep in eps), results, strict=True))
            loads = dict(self._loads)
            for tier, group in self._endpoints.items():
                loads[tier] = self._update_tier(tier, group, outcome)
            self._loads = loads  # single rebind: readers see a whole cycle or the previous one
            self._cycles += 1

    # -- internals ----------------------------------------------------------------------------

    def _ensure_client(self) -> httpx.AsyncClient:
        if self._client is None:
            n = sum(len(g) for g in self._endpoints.values())
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout_s),
                limits=httpx.Limits(max_connections=max(4, 2 * n), max_keepalive_connections=n),
                headers={"accept": "text/plain;version=0.0.4;q=1.0, */*;q=0.1"},
                trust_env=False,
                follow_redirects=False,
            )
        return self._client

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                await self.scrape_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # pragma: no cover - scrape_once handles endpoint failures
                log.exception("metrics scrape cycle failed")
            await asyncio.sleep(max(0.0, self.interval_s - (loop.time() - started)))

    async def _fetch(
        self, client: httpx.AsyncClient, url: str
    ) -> tuple[Mapping[str, float | None], float] | str:
        """Parsed values and their time, or a short error string. Never raises."""
        try:
            async with asyncio.timeout(self.timeout_s):
                text = await self._get_text(client, url)
            if len(text) > INLINE_PARSE_MAX_CHARS:
                values = await asyncio.to_thread(parse_backend_metrics, text)
            else:
                values = parse_backend_metrics(text)
            if not _has_data(values):
                return "no recognised metrics"
            return values, time.monotonic()
        except TimeoutError:
            return f"timeout after {self.timeout_s:g}s"
        except _ScrapeError as exc:
            return str(exc)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return _describe(exc)

    async def _get_text(self, client: httpx.AsyncClient, url: str) -> str:
        async with client.stream("GET", url) as resp:
            if resp.status_code != 200:
                raise _ScrapeError(f"HTTP {resp.status_code}")
            declared = resp.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise _ScrapeError(f"response larger than {self.max_bytes} bytes")
            chunks: list[bytes] = []
            size = 0
            async for chunk in resp.aiter_bytes():
                size += len(chunk)
                if size > self.max_bytes:
                    raise _ScrapeError(f"response larger than {self.max_bytes} bytes")
                chunks.append(chunk)
        return b"".join(chunks).decode("utf-8", errors="replace")

    def _update_tier(
        self,
        tier: str,
        group: tuple[_Endpoint, ...],
        outcome: Mapping[int, tuple[Mapping[str, float | None], float] | str],
    ) -> BackendLoad:
        now = time.monotonic()
        ok = 0
        errors: list[str] = []
        parts: list[tuple[Mapping[str, float | None], float]] = []
        for ep in group:
            result = outcome[id(ep)]
            self._scrapes[tier] += 1
            if isinstance(result, str):
                self._errors[tier] += 1
                errors.append(f"{ep.url}: {result}")
                self._set_state(ep, result)
                if ep.values is not None and now - ep.ok_at <= self.hold_s:
                    parts.append((ep.values, ep.ok_at))
            else:
                ok += 1
                ep.values, ep.ok_at = result
                parts.append(result)
                self._set_state(ep, "ok")
        error = "; ".join(errors)
        if ok == 0:  # nothing new: keep the previous data (it ages), record why
            return dataclasses.replace(self._loads[tier], endpoints_ok=0, error=error)
        return _aggregate(tier, parts, ok, len(group), error)

    @staticmethod
    def _set_state(ep: _Endpoint, result: str) -> None:
        kind = result.split(":", 1)[0] if result != "ok" else "ok"
        if kind == ep.state:
            return
        previous, ep.state = ep.state, kind
        if kind == "ok":
            log.info("metrics scrape ok: tier=%s url=%s (was %s)", ep.tier, ep.url, previous)
        else:
            log.warning("metrics scrape failing: tier=%s url=%s: %s", ep.tier, ep.url, result)
