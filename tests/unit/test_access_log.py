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
