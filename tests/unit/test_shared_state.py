"""SharedState against a real redis-server (killed, restarted, slowed) plus merge_reports rules."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from extproc.state.report import TierReport
from extproc.state.shared import SharedState, merge_reports
from tests.redis_server import RedisServer, free_port, running_redis

FAST = {"publish_interval_s": 0.05, "op_timeout_s": 0.2, "max_backoff_s": 0.2}


def rep(
    tier: str = "small",
    replica: str = "a",
    requests: int = 10,
    errors: int = 0,
    in_flight: int = 0,
    ema_ms: float | None = 100.0,
    p95_ms: float | None = 200.0,
    circuit: str = "closed",
    opened_at: float | None = None,
    reported_at: float | None = None,
) -> TierReport:
    return TierReport(
        tier=tier,
        replica=replica,
        requests=requests,
        errors=errors,
        in_flight=in_flight,
        ema_ms=ema_ms,
        p95_ms=p95_ms,
        circuit=circuit,  # type: ignore[arg-type]
        circuit_opened_at=opened_at,
        reported_at=time.time() if reported_at is None else reported_at,
    )


async def wait_until(pred: Callable[[], bool], timeout: float, step: float = 0.02) -> float:
    """Poll ``pred`` until true; return the seconds waited or fail after ``timeout``."""
    start = time.monotonic()
    while not pred():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(step)
    return time.monotonic() - start


class Replica:
    """A fake router replica: mutable local reports, stamped fresh on every call."""

    def __init__(self, name: str, tiers: dict[str, int]) -> None:
        self.name = name
        self.requests = dict(tiers)
        self.calls = 0

    def reports(self) -> list[TierReport]:
        self.calls += 1
        return [rep(tier=t, replica=self.name, requests=n) for t, n in self.requests.items()]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    with running_redis(tmp_path) as srv:
        yield srv


@pytest.fixture
async def admin(server: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(server.url, socket_timeout=3)
    yield client
    await client.aclose()


async def started(url: str, replica: Replica, **kw: float) -> SharedState:
    state = SharedState(url, replica.name, **{**FAST, **kw})  # type: ignore[arg-type]
    await state.start(replica.reports)
    return state


async def stopping(*states: SharedState) -> None:
    for s in states:
        await asyncio.wait_for(s.stop(), 2)


def task_alive(state: SharedState) -> bool:
    return state._task is not None and not state._task.done()


# ---------------------------------------------------------------- sharing between replicas


async def test_two_replicas_share_and_merge(server: RedisServer, admin: Redis) -> None:
    ra, rb = Replica("a", {"small": 5, "large": 1}), Replica("b", {"small": 7})
    a = await started(server.url, ra, max_age_s=3.0)
    b = await started(server.url, rb, max_age_s=3.0)
    try:
        await wait_until(lambda: "small" in a.peers and "small" in b.peers, 2.0)
        assert [r.replica for r in a.peers["small"]] == ["b"]  # own reports never in peers
        assert {t: [r.replica for r in rs] for t, rs in b.peers.items()} == {
            "small": ["a"],
            "large": ["a"],
        }
        assert a.healthy and b.healthy

        local = ra.reports()[0]
        now = time.time()
        merged = merge_reports(local, a.peers["small"], now, a.max_age_s)
        assert merged.requests == 5 + 7
        assert merged == merge_reports(local, list(a.peers["small"]), now, 3.0)

        # A change on B shows up on A within a few cycles.
        rb.requests["small"] = 70
        await wait_until(lambda: a.peers["small"][0].requests == 70, 1.0)

        # Everything has a TTL: the replica value ~max_age_s, the registry a few times that.
        assert 0 < await admin.pttl("extproc:replica:a") <= 3000
        assert 0 < await admin.pttl("extproc:replicas") <= 9000
        assert a.publishes > 0 and a.reads > 0 and a.publish_errors == a.read_errors == 0

        # A graceful stop removes A at once (well before its TTL would).
        await a.stop()
        assert not await admin.exists("extproc:replica:a")
        await wait_until(lambda: not b.peers, 1.0)
    finally:
        await stopping(a, b)


async def test_peers_snapshot_is_immutable(server: RedisServer) -> None:
    a = await started(server.url, Replica("a", {"small": 1}))
    b = await started(server.url, Replica("b", {"small": 2}))
    try:
        await wait_until(lambda: bool(a.peers), 2.0)
        snap = a.peers
        with pytest.raises(TypeError):
            snap["x"] = ()  # type: ignore[index]
        assert isinstance(snap["small"], tuple)
    finally:
        await stopping(a, b)


# ---------------------------------------------------------------- Redis failures


async def test_kill9_then_restart(server: RedisServer) -> None:
    max_age = 0.6
    a = await started(server.url, Replica("a", {"small": 1}), max_age_s=max_age)
    b = await started(server.url, Replica("b", {"small": 2}), max_age_s=max_age)
    try:
        await wait_until(lambda: bool(a.peers) and bool(b.peers), 2.0)
        server.kill()
        killed = time.monotonic()
        await wait_until(lambda: not a.healthy, 1.0)
        # Stale data never decides: peers are gone within max_age_s (+ one cycle + op timeout).
        waited = await wait_until(lambda: not a.peers and not b.peers, max_age + 0.5)
        assert time.monotonic() - killed <= max_age + 0.5, waited
        # Attempts continue, but with backoff (fewer attempts than cycles).
        errors_before, t0 = a.publish_errors, time.monotonic()
        await asyncio.sleep(1.0)
        attempts = a.publish_errors - errors_before
        cycles = (time.monotonic() - t0) / a.publish_interval_s
        assert 2 <= attempts < cycles / 2, (attempts, cycles)
        assert task_alive(a) and task_alive(b)
        assert a.peers == {} and not a.healthy

        server.restart()  # same port, empty data set
        await wait_until(lambda: a.healthy and b.healthy, 2.0)
        await wait_until(lambda: bool(a.peers) and bool(b.peers), 1.0)
        assert a.peers["small"][0].replica == "b"
    finally:
        await stopping(a, b)


async def test_unreachable_at_start() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    a = SharedState(url, "a", **FAST)  # type: ignore[arg-type]
    t0 = time.monotonic()
    await a.start(Replica("a", {"small": 1}).reports)
    assert time.monotonic() - t0 < 0.05
    try:
        await wait_until(lambda: a.publish_errors >= 2, 2.0)
        assert not a.healthy and a.peers == {} and task_alive(a)
    finally:
        t0 = time.monotonic()
        await a.stop()
        assert time.monotonic() - t0 < 0.5


async def test_slow_redis_times_out_without_blocking(server: RedisServer, admin: Redis) -> None:
    # max_age_s (2 s) outlives the 1 s stall: the last fresh view is kept meanwhile.
    a = await started(server.url, Replica("a", {"small": 1}), max_age_s=2.0)
    b = await started(server.url, Replica("b", {"small": 2}), max_age_s=2.0)
    try:
        await wait_until(lambda: bool(a.peers) and a.healthy, 2.0)
        errors_before = a.publish_errors + a.read_errors
        stall = asyncio.create_task(admin.execute_command("DEBUG", "SLEEP", "1"))
        await wait_until(lambda: not a.healthy, 0.9)
        # The event loop keeps running and reading peers stays O(1) while Redis is stuck.
        worst_lag = 0.0
        while not stall.done():
            t0 = time.perf_counter()
            for _ in range(10_000):
                snapshot = a.peers
            assert snapshot["small"][0].replica == "b"
            assert time.perf_counter() - t0 < 0.05
            t1 = time.monotonic()
            await asyncio.sleep(0.01)
            worst_lag = max(worst_lag, time.monotonic() - t1 - 0.01)
        await stall
        assert worst_lag < 0.1, worst_lag
        assert a.publish_errors + a.read_errors > errors_before
        assert task_alive(a)
        await wait_until(lambda: a.healthy, 2.0)
    finally:
        await stopping(a, b)


async def test_malformed_values_are_skipped(server: RedisServer, admin: Redis) -> None:
    a = await started(server.url, Replica("a", {"small": 1}))
    try:
        await wait_until(lambda: a.healthy, 2.0)
        good = rep(replica="mixed", requests=3).to_dict()
        bad_reports = [
            {"tier": "small"},  # missing fields
            {**good, "circuit": "weird"},
            {**good, "replica": "someone-else"},  # not the key's replica
            {**good, "requests": -5},
            {**good, "ema_ms": "nan"},
            {**good, "requests": "lots"},
            "not an object",
        ]
        values = {
            "bad-json": b"{nope",
            "not-object": b"[1, 2]",
            "no-reports": orjson.dumps({"v": 1, "reports": "x"}),
            "mixed": orjson.dumps({"v": 1, "reports": [good, *bad_reports]}),
        }
        for name, value in values.items():
            await admin.set(f"extproc:replica:{name}", value, px=5000)
        await admin.hset("extproc:replica:hashy", "k", "v")  # wrong Redis type → MGET nil
        members = [*values, "ghost", "hashy"]  # ghost: registered, value gone
        await admin.zadd("extproc:replicas", {m: time.time() for m in members})

        await wait_until(lambda: "small" in a.peers, 2.0)
        (only,) = a.peers["small"]
        assert only.replica == "mixed" and only.requests == 3
        per_cycle = 3 + len(bad_reports)
        await wait_until(lambda: a.malformed >= 2 * per_cycle, 2.0)
        assert a.healthy and task_alive(a) and a.read_errors == 0
    finally:
        await stopping(a)


async def test_local_reports_failure_does_not_stop_sharing(server: RedisServer) -> None:
    def broken() -> list[TierReport]:
        raise RuntimeError("boom")

    a = SharedState(server.url, "a", **FAST)  # type: ignore[arg-type]
    await a.start(broken)
    b = await started(server.url, Replica("b", {"small": 2}))
    try:
        await wait_until(lambda: bool(a.peers) and a.healthy, 2.0)
        assert task_alive(a)
    finally:
        await stopping(a, b)


# ---------------------------------------------------------------- merge_reports rules

NOW = 1_000_000.0


def test_merge_sums_and_weights() -> None:
    local = rep(replica="me", requests=10, errors=1, in_flight=2, ema_ms=100, p95_ms=300,
                reported_at=NOW)
    peer = rep(replica="p", requests=30, errors=3, in_flight=4, ema_ms=200, p95_ms=None,
               reported_at=NOW - 1)
    m = merge_reports(local, [peer], NOW, 5.0)
    assert (m.requests, m.errors, m.in_flight) == (40, 4, 6)
    assert m.ema_ms == pytest.approx((10 * 100 + 30 * 200) / 40)
    assert m.p95_ms == 300  # None ignored
    assert (m.tier, m.replica, m.reported_at) == ("small", "me", NOW)


def test_merge_ignores_stale_foreign_and_duplicate_peers() -> None:
    local = rep(replica="me", requests=1, reported_at=NOW)
    peers = [
        rep(replica="old", requests=100, circuit="open", opened_at=NOW - 9, reported_at=NOW - 6),
        rep(replica="future", requests=100, reported_at=NOW + 60),  # clock far ahead
        rep(replica="me", requests=100, reported_at=NOW),  # ourselves
        rep(tier="large", replica="x", requests=100, reported_at=NOW),  # other tier
        rep(replica="dup", requests=5, reported_at=NOW - 2),
        rep(replica="dup", requests=7, reported_at=NOW - 1),  # newest of "dup" wins
    ]
    m = merge_reports(local, peers, NOW, 5.0)
    assert m.requests == 1 + 7
    assert m.circuit == "closed"


def test_merge_none_and_zero_weights() -> None:
    local = rep(replica="me", requests=0, ema_ms=None, p95_ms=None, reported_at=NOW)
    assert merge_reports(local, [], NOW, 5.0).ema_ms is None
    peers = [
        rep(replica="p", requests=0, ema_ms=100, p95_ms=None, reported_at=NOW),
        rep(replica="q", requests=0, ema_ms=300, p95_ms=None, reported_at=NOW),
    ]
    m = merge_reports(local, peers, NOW, 5.0)
    assert m.ema_ms == 200  # all weights 0 → plain mean of known values
    assert m.p95_ms is None


def test_merge_circuit_precedence() -> None:
    local = rep(replica="me", circuit="closed", reported_at=NOW)
    half = rep(replica="h", circuit="half_open", opened_at=NOW - 30, reported_at=NOW)
    open1 = rep(replica="o1", circuit="open", opened_at=NOW - 20, reported_at=NOW)
    open2 = rep(replica="o2", circuit="open", opened_at=NOW - 10, reported_at=NOW)
    open_none = rep(replica="o3", circuit="open", opened_at=None, reported_at=NOW)
    stale_open = rep(replica="s", circuit="open", opened_at=NOW - 1, reported_at=NOW - 10)

    m = merge_reports(local, [half, open1, open2, open_none, stale_open], NOW, 5.0)
    assert (m.circuit, m.circuit_opened_at) == ("open", NOW - 10)
    m = merge_reports(local, [half, stale_open], NOW, 5.0)
    assert (m.circuit, m.circuit_opened_at) == ("half_open", NOW - 30)
    m = merge_reports(local, [stale_open], NOW, 5.0)
    assert (m.circuit, m.circuit_opened_at) == ("closed", None)
    m = merge_reports(rep(replica="me", circuit="open", reported_at=NOW), [half], NOW, 5.0)
    assert m.circuit == "open" and m.circuit_opened_at is None


_peer = st.builds(
    lambda req, err, inflight, age, ema, circuit: (req, err, inflight, age, ema, circuit),
    st.integers(0, 10_000),
    st.integers(0, 100),
    st.integers(0, 50),
    st.floats(0, 12.0),
    st.none() | st.floats(0, 10_000),
    st.sampled_from(["closed", "open", "half_open"]),
)


@settings(max_examples=200, deadline=None)
@given(local_req=st.integers(0, 10_000), peers=st.lists(_peer, max_size=12),
       max_age=st.floats(0.5, 6.0))
def test_merge_property_sums_fresh_only(
    local_req: int, peers: list[tuple[int, int, int, float, float | None, str]], max_age: float
) -> None:
    local = rep(replica="me", requests=local_req, ema_ms=None, reported_at=NOW)
    reports = [
        rep(replica=f"p{i}", requests=r, errors=e, in_flight=f, ema_ms=ema, circuit=c,
            reported_at=NOW - age)
        for i, (r, e, f, age, ema, c) in enumerate(peers)
    ]
    fresh = [p for p in reports if NOW - p.reported_at <= max_age]
    m = merge_reports(local, reports, NOW, max_age)
    assert m.requests == local_req + sum(p.requests for p in fresh)
    assert m.errors == local.errors + sum(p.errors for p in fresh)
    assert m.in_flight == local.in_flight + sum(p.in_flight for p in fresh)
    known = [p.ema_ms for p in fresh if p.ema_ms is not None]
    if known:
        assert m.ema_ms is not None
        assert min(known) - 1e-6 <= m.ema_ms <= max(known) + 1e-6
    else:
        assert m.ema_ms is None
    states = {p.circuit for p in fresh} | {"closed"}
    expected = "open" if "open" in states else "half_open" if "half_open" in states else "closed"
    assert m.circuit == expected
