"""Access-log entries (fast mode) feed tier health; client disconnects are not failures."""

from __future__ import annotations

from envoy.data.accesslog.v3 import accesslog_pb2

from extproc.config import parse_config
from extproc.router import Router
from extproc.wire.access_log import record_entry


def entry(tier: str, status: int, duration_ms: int = 50, client_gone: bool = False,
          request_id: str = "") -> accesslog_pb2.HTTPAccessLogEntry:
    e = accesslog_pb2.HTTPAccessLogEntry()
    e.common_properties.metadata.filter_metadata["envoy.filters.http.ext_proc"].update(
        {"tier": tier, "reason": "complexity_high"})
    e.common_properties.duration.FromMilliseconds(duration_ms)
    e.common_properties.time_to_first_upstream_rx_byte.FromMilliseconds(duration_ms // 2)
    if status:
        e.response.response_code.value = status
    e.common_properties.response_flags.downstream_connection_termination = client_gone
    e.request.request_id = request_id
    return e


def test_outcomes_feed_latency_and_circuit() -> None:
    router = Router(parse_config({"health": {"circuit": {"consecutive_failures": 3}}}))
    assert record_entry(router, entry("tier_high", 200, 80))
    assert router.latency.samples("tier_high") == 1
    for _ in range(3):
        record_entry(router, entry("tier_high", 503))
    assert router.health.available("tier_high") == "circuit_open"


def test_client_disconnects_and_unrouted_entries_are_ignored() -> None:
    router = Router(parse_config({"health": {"circuit": {"consecutive_failures": 1}}}))
    for _ in range(20):
        assert not record_entry(router, entry("tier_high", 0, client_gone=True))
    assert router.health.available("tier_high") is None
    bare = accesslog_pb2.HTTPAccessLogEntry()
    assert not record_entry(router, bare)
    assert not record_entry(router, entry("no_such_tier", 200))


async def test_a_large_flush_yields_to_the_event_loop() -> None:
    """Envoy flushes hundreds of entries at once; ext_proc messages must not wait for all."""
    import asyncio

    from envoy.service.accesslog.v3 import als_pb2

    from extproc.wire.access_log import YIELD_EVERY, AccessLogReceiver

    router = Router(parse_config({"mode": "fast"}))
    receiver = AccessLogReceiver(lambda: router)
    flush = als_pb2.StreamAccessLogsMessage()
    total = 10 * YIELD_EVERY
    for i in range(total):
        flush.http_logs.log_entry.append(entry("tier_low", 200, request_id=f"r{i}"))

    async def messages():  # type: ignore[no-untyped-def]
        yield flush

    seen: list[int] = []

    async def other_work() -> None:
        await asyncio.sleep(0)
        seen.append(receiver.entries)

    probe = asyncio.create_task(other_work())
    await receiver.StreamAccessLogs(messages(), None)
    await probe
    assert 0 < seen[0] < total
    assert receiver.entries == total and router.latency.samples("tier_low") == total
