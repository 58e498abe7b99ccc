"""Remote metrics scraper: real HTTP on 127.0.0.1 against the demo metrics server."""

from __future__ import annotations

import asyncio
import logging
import math
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extproc.demo.metrics_server import MetricsServer, Style, render_metrics
from extproc.signals.scrape import (
    METRIC_KEYS,
    BackendLoad,
    MetricsScraper,
    parse_backend_metrics,
)

MIB = 1024 * 1024
INTERVAL = 0.03
TIMEOUT = 0.2

ServerFactory = Callable[..., Awaitable[MetricsServer]]


@pytest.fixture()
async def servers() -> AsyncIterator[ServerFactory]:
    started: list[MetricsServer] = []

    async def make(style: Style = "vllm", **values: Any) -> MetricsServer:
        server = MetricsServer(style, values=values)
        await server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        await server.stop()


@pytest.fixture()
async def scrapers() -> AsyncIterator[Callable[..., Awaitable[MetricsScraper]]]:
    made: list[MetricsScraper] = []

    async def make(targets: dict[str, list[str]], **kwargs: Any) -> MetricsScraper:
        kwargs.setdefault("interval_s", INTERVAL)
        kwargs.setdefault("timeout_s", TIMEOUT)
        scraper = MetricsScraper(targets, **kwargs)
        await scraper.start()
        made.append(scraper)
        return scraper

    yield make
    for scraper in made:
        await scraper.stop()


async def wait_for(
    scraper: MetricsScraper,
    tier: str,
    pred: Callable[[BackendLoad], bool],
    timeout_s: float = 3.0,
) -> BackendLoad:
    """Poll the published snapshot until ``pred`` holds (bounded)."""
    deadline = time.monotonic() + timeout_s
    while True:
        load = scraper.load(tier)
        assert load is not None
        if pred(load):
            return load
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s; last: {load}")
        await asyncio.sleep(0.01)


async def control(server: MetricsServer, path: str, body: dict[str, Any] | None = None) -> Any:
    """Drive the server through its HTTP control endpoints, as e2e tests will."""
    async with httpx.AsyncClient(trust_env=False, timeout=2) as client:
        resp = await client.post(f"http://127.0.0.1:{server.port}{path}", json=body or {})
    resp.raise_for_status()
    return resp.json()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def failed(load: BackendLoad) -> bool:
    return load.error not in ("", "not scraped yet")


def fresh(load: BackendLoad) -> bool:
    return load.is_fresh(1.0) and load.error == ""


# -- parse_backend_metrics (pure) ---------------------------------------------------------------

VLLM_NEW = """\
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="m"} 2.0
vllm:num_requests_running{engine="1",model_name="m"} 3.0
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="m"} 1.0
vllm:num_requests_waiting{engine="1",model_name="m"} 4.0
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.2
vllm:kv_cache_usage_perc{engine="1",model_name="m"} 0.6
# TYPE vllm:prompt_tokens counter
vllm:prompt_tokens_total{model_name="m"} 1234.0
vllm:num_requests_waiting_by_reason{reason="x"} 99
"""


def test_parse_vllm_new_names_aggregates_series() -> None:
    v = parse_backend_metrics(VLLM_NEW)
    assert set(v) == set(METRIC_KEYS)
    assert v["kv_cache_usage"] == pytest.approx(0.6)
    assert v["kv_cache_usage_mean"] == pytest.approx(0.4)
    assert v["kv_cache_series"] == 2
    assert v["requests_waiting"] == 5
    assert v["requests_running"] == 5
    assert v["gpu_free_bytes"] is None and v["gpu_count"] is None


def test_parse_vllm_old_names_and_new_name_precedence() -> None:
    old = 'vllm:gpu_cache_usage_perc{model_name="m"} 0.75\nvllm:num_requests_waiting 2\n'
    v = parse_backend_metrics(old)
    assert v["kv_cache_usage"] == 0.75 and v["requests_waiting"] == 2
    both = old + 'vllm:kv_cache_usage_perc{model_name="m"} 0.25\n'
    assert parse_backend_metrics(both)["kv_cache_usage"] == 0.25  # not double counted


def test_parse_dcgm_mib_to_bytes_min_free() -> None:
    text = render_metrics(
        "dcgm", {"fb_free_mib": [1000, 250, 4000], "fb_used_mib": [3000, 3750, 0]}
    )
    v = parse_backend_metrics(text)
    assert v["gpu_count"] == 3
    assert v["gpu_free_bytes"] == 250 * MIB
    assert v["gpu_total_bytes"] == 4000 * MIB
    assert v["gpu_free_fraction"] == pytest.approx(250 / 4000)
    assert v["kv_cache_usage"] is None


def test_parse_dcgm_total_and_reserved() -> None:
    text = (
        'DCGM_FI_DEV_FB_FREE{gpu="0",UUID="GPU-a"} 100\n'
        'DCGM_FI_DEV_FB_USED{gpu="0",UUID="GPU-a"} 300\n'
        'DCGM_FI_DEV_FB_TOTAL{gpu="0",UUID="GPU-a"} 500\n'
        'DCGM_FI_DEV_FB_FREE{gpu="1",UUID="GPU-b"} 200\n'
        'DCGM_FI_DEV_FB_USED{gpu="1",UUID="GPU-b"} 100\n'
        'DCGM_FI_DEV_FB_RESERVED{gpu="1",UUID="GPU-b"} 100\n'
    )
    v = parse_backend_metrics(text)
    assert v["gpu_free_bytes"] == 100 * MIB and v["gpu_total_bytes"] == 500 * MIB
    assert v["gpu_free_fraction"] == pytest.approx(0.2)  # 100/500 < 200/400
    only_free = parse_backend_metrics('DCGM_FI_DEV_FB_FREE{gpu="0"} 7\n')
    assert only_free["gpu_free_bytes"] == 7 * MIB
    assert only_free["gpu_total_bytes"] is None and only_free["gpu_free_fraction"] is None


def test_parse_llamacpp_names() -> None:
    text = render_metrics(
        "llamacpp",
        {"kv_cache_usage": 0.3, "requests_running": 2, "requests_waiting": 5, "raw": None},
    )
    v = parse_backend_metrics(text)
    assert v["kv_cache_usage"] == pytest.approx(0.3)
    assert v["requests_running"] == 2 and v["requests_waiting"] == 5


def test_parse_garbage_nonfinite_and_clamping() -> None:
    assert all(v is None for v in parse_backend_metrics("").values())
    assert all(v is None for v in parse_backend_metrics("<html>502 bad gateway</html>").values())
    text = (
        "vllm:num_requests_waiting{broken 7\n"  # malformed: skipped, others survive
        "vllm:num_requests_running NaN\n"
        "vllm:kv_cache_usage_perc 1.7\n"
        'vllm:num_requests_waiting{engine="0"} 3\n'
        'vllm:num_requests_waiting{engine="1"} -2\n'
        "DCGM_FI_DEV_FB_FREE +Inf\n"
    )
    v = parse_backend_metrics(text)
    assert v["kv_cache_usage"] == 1.0
    assert v["requests_waiting"] == 3
    assert v["requests_running"] is None
    assert v["gpu_free_bytes"] is None


_NAMES = [
    "vllm:kv_cache_usage_perc",
    "vllm:gpu_cache_usage_perc",
    "vllm:num_requests_waiting",
    "vllm:num_requests_running",
    "llamacpp:kv_cache_usage_ratio",
    "llamacpp:requests_deferred",
    "DCGM_FI_DEV_FB_FREE",
    "DCGM_FI_DEV_FB_USED",
    "DCGM_FI_DEV_FB_TOTAL",
    "# TYPE vllm:num_requests_waiting",
    "",
]
_line = st.tuples(
    st.sampled_from(_NAMES), st.text(alphabet=' {}",=.-+eEINaf0123456789\\\tx\x00é', max_size=30)
).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=400), st.lists(_line, max_size=12).map("\n".join)))
def test_parse_never_raises(text: str) -> None:
    v = parse_backend_metrics(text)
    assert set(v) == set(METRIC_KEYS)
    for key, value in v.items():
        assert value is None or (isinstance(value, float) and math.isfinite(value)), key
    for key in ("kv_cache_usage", "kv_cache_usage_mean", "gpu_free_fraction"):
        value = v[key]
        assert value is None or 0.0 <= value <= 1.0


_num = st.floats(min_value=0, max_value=1e6, allow_nan=False)


@settings(max_examples=100, deadline=None)
@given(
    kv=st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=4),
    waiting=st.lists(_num, min_size=1, max_size=4),
    legacy=st.booleans(),
)
def test_parse_roundtrips_rendered_vllm(
    kv: list[float], waiting: list[float], legacy: bool
) -> None:
    text = render_metrics(
        "vllm",
        {"kv_cache_usage": kv, "requests_waiting": waiting, "legacy_names": legacy, "model": "m"},
    )
    v = parse_backend_metrics(text)
    assert v["kv_cache_usage"] == pytest.approx(max(kv))
    assert v["kv_cache_usage_mean"] == pytest.approx(sum(kv) / len(kv))
    assert v["requests_waiting"] == pytest.approx(sum(waiting))


# -- BackendLoad ---------------------------------------------------------------------------------


def test_backend_load_age_and_freshness() -> None:
    never = BackendLoad("t", None, None, None, None, None, None, None, 0, 1, 0.0)
    assert never.age_s() == math.inf and not never.is_fresh(1e9)
    load = BackendLoad("t", 0.5, 0.5, 1, 1, None, None, None, 1, 1, scraped_at=100.0)
    assert load.age_s(now=101.5) == 1.5
    assert load.is_fresh(2.0, now=101.5) and not load.is_fresh(1.0, now=101.5)


def test_constructor_validation() -> None:
    with pytest.raises(ValueError):
        MetricsScraper({"t": []})
    with pytest.raises(ValueError):
        MetricsScraper({"t": "http://127.0.0.1:1/metrics"})
    with pytest.raises(ValueError):
        MetricsScraper({"t": ["ftp://127.0.0.1/metrics"]})
    with pytest.raises(ValueError):
        MetricsScraper({"t": ["http://127.0.0.1:1/metrics"]}, interval_s=0)
    with pytest.raises(ValueError):
        MetricsScraper({"t": ["http://127.0.0.1:1/metrics"]}, timeout_s=math.nan)
    with pytest.raises(ValueError):
        MetricsScraper({"t": ["http://127.0.0.1:1/metrics"]}, max_bytes=0)


# -- scraper against live servers ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("style", "values", "expect"),
    [
        ("vllm", {"kv_cache_usage": 0.4, "requests_waiting": 3, "requests_running": 2},
         {"kv_cache_usage": 0.4, "requests_waiting": 3, "requests_running": 2}),
        ("vllm", {"kv_cache_usage": 0.9, "requests_waiting": 1, "legacy_names": True},
         {"kv_cache_usage": 0.9, "requests_waiting": 1}),
        ("llamacpp", {"kv_cache_usage": 0.1, "requests_waiting": 7, "requests_running": 1},
         {"kv_cache_usage": 0.1, "requests_waiting": 7, "requests_running": 1}),
        ("dcgm", {"fb_free_mib": [2048, 1024], "fb_used_mib": [2048, 3072]},
         {"gpu_free_bytes": 1024 * MIB, "gpu_total_bytes": 4096 * MIB,
          "gpu_free_fraction": 0.25}),
    ],
)  # fmt: skip
async def test_scrape_styles(
    servers: ServerFactory,
    scrapers: Callable[..., Awaitable[MetricsScraper]],
    style: Style,
    values: dict[str, Any],
    expect: dict[str, float],
) -> None:
    server = await servers(style, **values)
    scraper = await scrapers({"t": [server.url]})
    load = await wait_for(scraper, "t", fresh)
    for key, value in expect.items():
        assert getattr(load, key) == pytest.approx(value), key
    assert load.endpoints_ok == load.endpoints_total == 1
    assert scraper.scrapes["t"] >= 1 and scraper.scrape_errors["t"] == 0


async def test_values_change_at_run_time(
    servers: ServerFactory, scrapers: Callable[..., Awaitable[MetricsScraper]]
) -> None:
    server = await servers("vllm", kv_cache_usage=0.1)
    scraper = await scrapers({"t": [server.url]})
    first = await wait_for(scraper, "t", fresh)
    assert first.kv_cache_usage == pytest.approx(0.1)
    state = await control(server, "/set", {"kv_cache_usage": [0.2, 0.8], "requests_waiting": 9})
    assert state["values"]["requests_waiting"] == 9
    load = await wait_for(scraper, "t", lambda x: x.kv_cache_usage == pytest.approx(0.8), 1.0)
    assert load.kv_cache_usage_mean == pytest.approx(0.5)
    assert load.scraped_at > first.scraped_at
    assert scraper.load("t") is scraper.load("t")  # a published object, not built per read
    assert scraper.load("nope") is None


async def test_two_endpoints_and_dcgm_aggregate(
    servers: ServerFactory, scrapers: Callable[..., Awaitable[MetricsScraper]]
) -> None:
    a = await servers("vllm", kv_cache_usage=[0.2, 0.4], requests_waiting=2, requests_running=1)
    b = await servers("vllm", kv_cache_usage=0.9, requests_waiting=5, requests_running=4)
    gpu = await servers("dcgm", fb_free_mib=[8000, 500], fb_used_mib=[0, 7500])
    other = await servers("llamacpp", requests_waiting=1)
    scraper = await scrapers({"big": [a.url, b.url, gpu.url], "small": [other.url]})
    load = await wait_for(scraper, "big", fresh)
    assert load.kv_cache_usage == pytest.approx(0.9)
    assert load.kv_cache_usage_mean == pytest.approx((0.2 + 0.4 + 0.9) / 3)
    assert load.requests_waiting == 7 and load.requests_running == 5
    assert load.gpu_free_bytes == 500 * MIB and load.gpu_total_bytes == 8000 * MIB
    assert load.gpu_free_fraction == pytest.approx(500 / 8000)
    assert load.endpoints_ok == load.endpoints_total == 3
    small = await wait_for(scraper, "small", fresh)
    assert small.requests_waiting == 1 and small.gpu_free_bytes is None


async def test_partial_failure_holds_then_drops_endpoint(
    servers: ServerFactory, scrapers: Callable[..., Awaitable[MetricsScraper]]
) -> None:
    a = await servers("vllm", requests_waiting=2)
    b = await servers("vllm", requests_waiting=5)
    scraper = await scrapers({"t": [a.url, b.url]}, hold_s=0.3)
    await wait_for(scraper, "t", lambda x: fresh(x) and x.requests_waiting == 7)
    await control(b, "/fail")
    held = await wait_for(scraper, "t", lambda x: x.endpoints_ok == 1, 1.0)
    assert "HTTP 500" in held.error and b.url in held.error and a.url not in held.error
    assert held.requests_waiting == 7  # b's last values still count within hold_s
    dropped = await wait_for(scraper, "t", lambda x: x.requests_waiting == 2, 2.0)
    assert dropped.endpoints_ok == 1 and dropped.endpoints_total == 2 and dropped.is_fresh(1.0)
    await control(b, "/ok")
    await wait_for(scraper, "t", lambda x: fresh(x) and x.requests_waiting == 7, 2.0)


@pytest.mark.parametrize("failure", ["fail", "hang", "refused"])
async def test_all_endpoints_fail_keeps_last_snapshot_which_goes_stale(
    servers: ServerFactory,
    scrapers: Callable[..., Awaitable[MetricsScraper]],
    failure: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="extproc.scrape")
    server = await servers("vllm", kv_cache_usage=0.5, requests_waiting=4)
    scraper = await scrapers({"t": [server.url]})
    good = await wait_for(scraper, "t", fresh)
    if failure == "refused":
        await server.stop()
    else:
        await control(server, f"/{failure}")
    started = time.monotonic()
    expected = {"fail": "HTTP 500", "hang": "timeout", "refused": "ConnectError"}[failure]
    # (a scrape in flight while the server stops may first see a dropped connection)
    bad = await wait_for(scraper, "t", lambda x: expected in x.error, 2.0)
    if failure == "hang":
        assert time.monotonic() - started < TIMEOUT + 1.0  # each scrape bounded by timeout_s
    assert bad.endpoints_ok == 0 and bad.scraped_at >= good.scraped_at
    assert bad.kv_cache_usage == 0.5 and bad.requests_waiting == 4  # data kept...
    max_age = 0.15
    stale = await wait_for(scraper, "t", lambda x: not x.is_fresh(max_age), 2.0)
    cycles = scraper.cycles
    await wait_for(scraper, "t", lambda _: scraper.cycles >= cycles + 2, 2.0)
    assert scraper.load("t") == stale  # later failed cycles publish the same aged data
    assert stale.scraped_at == bad.scraped_at
    assert scraper.scrape_errors["t"] >= 2
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    # logged once per state change, not once per cycle (refused may log a dropped connection)
    assert 1 <= len(warnings) <= (2 if failure == "refused" else 1)
    if failure != "refused":
        await control(server, "/ok")
        await wait_for(scraper, "t", fresh, 2.0)
        assert any("scrape ok" in r.getMessage() and "was" in r.getMessage()
                   for r in caplog.records)  # fmt: skip


async def test_never_reachable_tier_is_never_fresh(
    scrapers: Callable[..., Awaitable[MetricsScraper]],
) -> None:
    url = f"http://127.0.0.1:{closed_port()}/metrics"
    scraper = MetricsScraper({"t": [url]}, interval_s=INTERVAL, timeout_s=TIMEOUT)
    initial = scraper.load("t")
    assert initial is not None and initial.error == "not scraped yet" and initial.scraped_at == 0
    await scraper.scrape_once()
    load = scraper.load("t")
    assert load is not None and load.error.startswith(url) and not load.is_fresh(1e9)
    assert load.kv_cache_usage is None and load.endpoints_ok == 0 and load.endpoints_total == 1
    await scraper.stop()


async def test_garbage_oversize_and_large_texts(
    servers: ServerFactory, scrapers: Callable[..., Awaitable[MetricsScraper]]
) -> None:
    garbage = await servers("vllm", raw="\x00\x01 not prometheus {{{ \n" * 50)
    big_extra = "".join(f'other_metric{{i="{i}"}} {i}\n' for i in range(4000))  # > 64 KiB
    large = await servers("vllm", kv_cache_usage=0.33, extra=big_extra)
    scraper = await scrapers({"g": [garbage.url], "l": [large.url]})
    g = await wait_for(scraper, "g", failed)
    assert "no recognised metrics" in g.error and g.scraped_at == 0
    load = await wait_for(scraper, "l", fresh)  # parsed off the loop (to_thread path)
    assert load.kv_cache_usage == pytest.approx(0.33)

    capped = await scrapers({"l": [large.url]}, max_bytes=10_000)
    c = await wait_for(capped, "l", failed)
    assert "larger than 10000 bytes" in c.error and c.scraped_at == 0


async def test_stop_is_clean_and_idempotent(
    servers: ServerFactory,
) -> None:
    server = await servers("vllm")
    scraper = MetricsScraper({"t": [server.url]}, interval_s=INTERVAL, timeout_s=TIMEOUT)
    await scraper.start()
    await scraper.start()  # no second task
    await wait_for(scraper, "t", fresh)
    await scraper.stop()
    assert not scraper.running
    cycles = scraper.cycles
    await asyncio.sleep(3 * INTERVAL)
    assert scraper.cycles == cycles
    await scraper.stop()
    load = scraper.load("t")
    assert load is not None and load.scraped_at > 0  # snapshot still readable


async def test_metrics_server_control_validation(servers: ServerFactory) -> None:
    server = await servers("dcgm")
    async with httpx.AsyncClient(trust_env=False, timeout=2) as client:
        base = f"http://127.0.0.1:{server.port}"
        bad = await client.post(f"{base}/set", json={"kv_cache_usage": 0.5})
        assert bad.status_code == 400 and "unknown key" in bad.json()["error"]
        bad = await client.post(f"{base}/set", json={"fb_free_mib": "lots"})
        assert bad.status_code == 400
        state = (await client.get(f"{base}/state")).json()
        assert state["style"] == "dcgm" and state["mode"] == "ok"
        assert (await client.get(f"{base}/nope")).status_code == 404


def test_metrics_server_subprocess_main() -> None:
    """The CLI entry point used by e2e tests: free port, printed URL, live control."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "extproc.demo.metrics_server", "--port", "0", "--style",
         "llamacpp", "--values", '{"requests_waiting": 6}'],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    watchdog = threading.Timer(10.0, proc.kill)  # bounds the blocking readline below
    watchdog.start()
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("metrics server listening on http://127.0.0.1:"), line
        url = line.rsplit(" ", 1)[1].strip()
        with httpx.Client(trust_env=False, timeout=2) as client:
            assert parse_backend_metrics(client.get(url).text)["requests_waiting"] == 6
            client.post(url.replace("/metrics", "/set"), json={"requests_waiting": 1})
            assert parse_backend_metrics(client.get(url).text)["requests_waiting"] == 1
            client.post(url.replace("/metrics", "/fail"))
            assert client.get(url).status_code == 500
    finally:
        watchdog.cancel()
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()
