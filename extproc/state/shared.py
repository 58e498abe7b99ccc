"""Share per-tier health between router replicas through Redis (optional, best effort).

Each replica runs one background task. Every ``publish_interval_s`` it writes its own reports as
one JSON value under ``{prefix}:replica:{replica_id}`` (``SET ... PX max_age``), registers itself
in the sorted set ``{prefix}:replicas`` (score = wall-clock publish time, pruned and expired every
cycle) and then reads the other fresh replicas with one ``MGET``. No KEYS/SCAN, everything has a
TTL. The request path only reads :attr:`SharedState.peers`, an immutable snapshot that the task
replaces atomically; Redis being down or slow never fails or delays a request. See
``docs/shared-state.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from extproc.state.report import CircuitState, TierReport

log = logging.getLogger("extproc.shared")

FORMAT_VERSION = 1
_EMPTY: Mapping[str, tuple[TierReport, ...]] = MappingProxyType({})


def is_fresh(report: TierReport, now: float, max_age_s: float) -> bool:
    """True when ``report.reported_at`` is within ``max_age_s`` of ``now`` (either direction,
    so a peer whose clock runs far ahead cannot stay "fresh" forever)."""
    return abs(now - report.reported_at) <= max_age_s


def _weighted(values: Sequence[tuple[float | None, int]]) -> float | None:
    """Request-weighted mean of the non-None values; plain mean if they all have 0 requests."""
    known = [(v, w) for v, w in values if v is not None]
    if not known:
        return None
    total = sum(w for _, w in known)
    if total <= 0:
        return sum(v for v, _ in known) / len(known)
    return sum(v * w for v, w in known) / total


def merge_reports(
    local: TierReport, peers: Sequence[TierReport], now: float, max_age_s: float
) -> TierReport:
    """Merge this replica's report of a tier with its peers' reports of the same tier.

    Rules (``local`` is always included; a peer is included when it is fresh per
    :func:`is_fresh`, has ``local.tier`` as tier and a replica id other than ``local.replica``;
    of several reports from one peer replica only the newest counts):

    - ``requests``, ``errors``, ``in_flight``: sums.
    - ``ema_ms``, ``p95_ms``: averages weighted by ``requests``, ignoring None; if every report
      with a value has 0 requests, the plain mean of those values; None if no report has one.
    - ``circuit``: ``open`` if any included report is open, else ``half_open`` if any is, else
      ``closed``; ``circuit_opened_at`` is the most recent non-None one among the reports in
      that winning state (None if they have none).
    - ``tier``/``replica`` are the local ones; ``reported_at`` is the newest included one.
    """
    newest: dict[str, TierReport] = {}
    for peer in peers:
        if peer.tier != local.tier or peer.replica == local.replica:
            continue
        if not is_fresh(peer, now, max_age_s):
            continue
        seen = newest.get(peer.replica)
        if seen is None or peer.reported_at > seen.reported_at:
            newest[peer.replica] = peer
    reports = [local, *newest.values()]

    circuit: CircuitState = "closed"
    if any(r.circuit == "open" for r in reports):
        circuit = "open"
    elif any(r.circuit == "half_open" for r in reports):
        circuit = "half_open"
    opened = [
        r.circuit_opened_at
        for r in reports
        if r.circuit == circuit and r.circuit_opened_at is not None
    ]
    return TierReport(
        tier=local.tier,
        replica=local.replica,
        requests=sum(r.requests for r in reports),
        errors=sum(r.errors for r in reports),
        in_flight=sum(r.in_flight for r in reports),
        ema_ms=_weighted([(r.ema_ms, r.requests) for r in reports]),
        p95_ms=_weighted([(r.p95_ms, r.requests) for r in reports]),
        circuit=circuit,
        circuit_opened_at=max(opened) if opened else None,
        reported_at=max(r.reported_at for r in reports),
    )


def _valid(report: TierReport) -> bool:
    """Reject values that would poison merged numbers (negative counts, NaN/inf)."""
    if not report.tier or min(report.requests, report.errors, report.in_flight) < 0:
        return False
    floats = (report.ema_ms, report.p95_ms, report.circuit_opened_at, report.reported_at)
    return all(f is None or math.isfinite(f) for f in floats)


class SharedState:
    """Publishes local tier reports to Redis and keeps a fresh snapshot of the peers' reports.

    Counters (plain ints, for metrics): ``publishes``, ``publish_errors``, ``reads``,
    ``read_errors``, ``malformed`` (peer values or reports skipped as undecodable/invalid).
    """

    def __init__(
        self,
        url: str,
        replica_id: str,
        *,
        key_prefix: str = "extproc",
        publish_interval_s: float = 0.5,
        max_age_s: float = 5.0,
        op_timeout_s: float = 0.2,
        max_backoff_s: float = 5.0,
        max_peers: int = 256,
    ) -> None:
        if publish_interval_s <= 0 or max_age_s <= 0 or op_timeout_s <= 0:
            raise ValueError("publish_interval_s, max_age_s and op_timeout_s must be > 0")
        if not replica_id:
            raise ValueError("replica_id must not be empty")
        self.url = url
        self.replica_id = replica_id
        self.key_prefix = key_prefix
        self.publish_interval_s = publish_interval_s
        self.max_age_s = max_age_s
        self.op_timeout_s = op_timeout_s
        self.max_backoff_s = max(max_backoff_s, publish_interval_s)
        self.max_peers = max_peers
        self.replicas_key = f"{key_prefix}:replicas"
        self.publishes = 0
        self.publish_errors = 0
        self.reads = 0
        self.read_errors = 0
        self.malformed = 0
        self._peers: Mapping[str, tuple[TierReport, ...]] = _EMPTY
        self._received: tuple[tuple[float, TierReport], ...] = ()  # (monotonic read time, report)
        self._healthy = False
        self._logged_state: bool | None = None  # last logged Redis health
        self._logged_malformed = False
        self._logged_source_error = False
        self._failures = 0
        self._client: Redis | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._local_reports: Callable[[], Sequence[TierReport]] = tuple

    # ----- read side (hot path) -----

    @property
    def peers(self) -> Mapping[str, tuple[TierReport, ...]]:
        """tier → fresh reports of OTHER replicas; an immutable snapshot, O(1) to read."""
        return self._peers

    @property
    def healthy(self) -> bool:
        """Whether the last Redis round trip succeeded."""
        return self._healthy

    def replica_key(self, replica_id: str) -> str:
        return f"{self.key_prefix}:replica:{replica_id}"

    # ----- lifecycle -----

    async def start(self, local_reports: Callable[[], Sequence[TierReport]]) -> None:
        """Start the background task; returns at once and never raises if Redis is down."""
        if self._task is not None:
            return
        self._local_reports = local_reports
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name=f"shared-state:{self.replica_id}")

    async def stop(self) -> None:
        """Stop the task, remove this replica's entry (best effort, bounded) and close Redis."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if self._healthy:
            with contextlib.suppress(Exception):
                client = self._ensure_client()
                async with client.pipeline(transaction=False) as pipe:
                    pipe.delete(self.replica_key(self.replica_id))
                    pipe.zrem(self.replicas_key, self.replica_id)
                    await asyncio.wait_for(pipe.execute(), self.op_timeout_s)
        await self._drop_client()
        self._peers = _EMPTY
        self._received = ()
        self._healthy = False

    # ----- background task -----

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_attempt = loop.time()
        while not self._stopping.is_set():
            tick = loop.time()
            if tick >= next_attempt:
                if await self._cycle():
                    self._failures = 0
                    next_attempt = tick
                else:
                    self._failures += 1
                    next_attempt = tick + self._backoff()
            self._refresh_snapshot()
            delay = max(0.0, tick + self.publish_interval_s - loop.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    def _backoff(self) -> float:
        """Exponential backoff after consecutive failures, capped, with ±20 % jitter."""
        base = self.publish_interval_s * 2 ** min(self._failures - 1, 16)
        jitter: float = random.uniform(0.8, 1.2)
        return float(min(self.max_backoff_s, base)) * jitter

    async def _cycle(self) -> bool:
        """One publish + read round; returns whether Redis answered. Never raises."""
        try:
            members = await self._publish()
        except Exception as exc:
            self.publish_errors += 1
            await self._set_health(False, exc)
            return False
        try:
            received = await self._read(members)
        except Exception as exc:
            self.read_errors += 1
            await self._set_health(False, exc)
            return False
        self.reads += 1
        now = asyncio.get_running_loop().time()
        self._received = tuple((now, r) for r in received)
        await self._set_health(True, None)
        return True

    def _encode_local(self, now: float) -> bytes:
        try:
            reports = [replace(r, replica=self.replica_id) for r in self._local_reports()]
            self._logged_source_error = False
        except Exception:
            if not self._logged_source_error:
                log.exception("shared state: local_reports() failed; publishing no reports")
                self._logged_source_error = True
            reports = []
        return orjson.dumps(
            {
                "v": FORMAT_VERSION,
                "replica": self.replica_id,
                "sent_at": now,
                "reports": [r.to_dict() for r in reports],
            }
        )

    async def _publish(self) -> list[bytes]:
        """Write our value, register, prune the registry; return fresh replica ids."""
        now = time.time()
        blob = self._encode_local(now)
        ttl_ms = max(1, math.ceil(self.max_age_s * 1000))
        client = self._ensure_client()
        async with client.pipeline(transaction=False) as pipe:
            pipe.set(self.replica_key(self.replica_id), blob, px=ttl_ms)
            pipe.zadd(self.replicas_key, {self.replica_id: now})
            pipe.zremrangebyscore(self.replicas_key, "-inf", f"({now - self.max_age_s}")
            pipe.pexpire(self.replicas_key, 3 * ttl_ms)
            pipe.zrangebyscore(
                self.replicas_key, now - self.max_age_s, "+inf", start=0, num=self.max_peers + 1
            )
            result: list[Any] = await asyncio.wait_for(pipe.execute(), self.op_timeout_s)
        self.publishes += 1
        members = result[-1]
        return [m for m in members if isinstance(m, bytes)]

    async def _read(self, members: list[bytes]) -> list[TierReport]:
        """MGET the other replicas' values and decode them, skipping malformed ones."""
        own = self.replica_id.encode()
        others = [m for m in members if m != own][: self.max_peers]
        if not others:
            return []
        client = self._ensure_client()
        keys = [self.replica_key(m.decode("utf-8", "replace")) for m in others]
        values: list[Any] = await asyncio.wait_for(client.mget(keys), self.op_timeout_s)
        out: list[TierReport] = []
        bad = 0
        for member, raw in zip(others, values, strict=True):
            if raw is None:  # expired between ZRANGE and MGET
                continue
            reports, skipped = self._decode(member.decode("utf-8", "replace"), raw)
            out.extend(reports)
            bad += skipped
        self.malformed += bad
        if bad and not self._logged_malformed:
            log.warning("shared state: skipped %d malformed peer value(s)/report(s)", bad)
        self._logged_malformed = bad > 0
        return out

    @staticmethod
    def _decode(replica: str, raw: Any) -> tuple[list[TierReport], int]:
        """Decode one replica's value → (valid reports, number of skipped items)."""
        try:
            doc = orjson.loads(raw)
        except (orjson.JSONDecodeError, TypeError):
            return [], 1
        if not isinstance(doc, dict) or not isinstance(doc.get("reports"), list):
            return [], 1
        out: list[TierReport] = []
        skipped = 0
        for item in doc["reports"]:
            try:
                if not isinstance(item, dict):
                    raise TypeError("report is not an object")
                report = TierReport.from_dict(item)
            except (KeyError, TypeError, ValueError, OverflowError):
                skipped += 1
                continue
            if report.replica != replica or not _valid(report):
                skipped += 1
                continue
            out.append(report)
        return out, skipped

    def _refresh_snapshot(self) -> None:
        """Rebuild ``peers`` from what was last read, dropping anything stale; swap atomically."""
        now_wall = time.time()
        now_mono = asyncio.get_running_loop().time()
        fresh = tuple(
            (at, r)
            for at, r in self._received
            if now_mono - at <= self.max_age_s and is_fresh(r, now_wall, self.max_age_s)
        )
        self._received = fresh
        by_tier: dict[str, list[TierReport]] = {}
        for _, report in fresh:
            by_tier.setdefault(report.tier, []).append(report)
        self._peers = (
            MappingProxyType({t: tuple(rs) for t, rs in by_tier.items()}) if by_tier else _EMPTY
        )

    async def _set_health(self, ok: bool, exc: BaseException | None) -> None:
        self._healthy = ok
        if not ok:
            await self._drop_client()  # never reuse a connection left mid-reply
        if self._logged_state is ok:
            return
        self._logged_state = ok
        if ok:
            log.info("shared state: redis reachable; sharing tier health as %s", self.replica_id)
        else:
            log.warning(
                "shared state: redis unavailable (%s: %s); using local state only, retrying "
                "with backoff",
                type(exc).__name__,
                exc,
            )

    def _ensure_client(self) -> Redis:
        if self._client is None:
            self._client = Redis.from_url(
                self.url,
                socket_timeout=self.op_timeout_s,
                socket_connect_timeout=self.op_timeout_s,
                retry=Retry(NoBackoff(), 0),
                health_check_interval=0,
            )
        return self._client

    async def _drop_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.aclose(), self.op_timeout_s)
