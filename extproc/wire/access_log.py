"""Envoy's gRPC access-log service: per-request outcomes off the request path (fast mode).

In fast mode the router sees one message per request and no response. Envoy streams a log
entry per finished request instead (status, duration, upstream cluster, time to first
upstream byte, the router's dynamic metadata); this servicer feeds them into the same
latency EMA, health windows, circuit breakers and learning policies as the full mode.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import grpc
from envoy.data.accesslog.v3 import accesslog_pb2
from envoy.service.accesslog.v3 import als_pb2, als_pb2_grpc

from extproc.decision.model import Outcome
from extproc.router import Router
from extproc.wire.responses import METADATA_NAMESPACE

log = logging.getLogger("extproc.accesslog")

YIELD_EVERY = 32  # entries recorded between two turns of the event loop


def _ms(duration: Any) -> float | None:
    """A protobuf Duration in ms; None when unset (zero)."""
    return duration.seconds * 1000.0 + duration.nanos / 1e6 or None


def record_entry(router: Router, entry: accesslog_pb2.HTTPAccessLogEntry) -> bool:
    """Feed one finished request into the router's live state; False if it wasn't routed.

    Runs once per request, so it reads each protobuf field once (every submessage access
    builds a wrapper object) and the response flags only when there was no response."""
    common = entry.common_properties
    metadata = common.metadata.filter_metadata.get(METADATA_NAMESPACE)
    if metadata is None:
        return False
    chosen = metadata.fields.get("tier")
    if chosen is None:
        return False
    tier = chosen.string_value
    model = router.tier_models.get(tier)
    if model is None:
        return False
    status = entry.response.response_code.value
    if status == 0:
        flags = common.response_flags
        if flags.downstream_connection_termination or flags.downstream_remote_reset:
            return False  # the client went away: not the tier's fault (abandoned stream)
    ttfb_ms = _ms(common.time_to_first_upstream_rx_byte)
    duration_ms = _ms(common.duration) or _ms(common.time_to_last_downstream_tx_byte) or 0.0
    failed = router.is_failure(status)
    instruments = router.metrics.for_tier(tier, model)
    now = time.monotonic()
    if ttfb_ms is not None:
        router.latency.observe(tier, ttfb_ms, now)
        instruments.ttfb.observe(ttfb_ms / 1000.0)
    instruments.duration.observe(duration_ms / 1000.0)
    (instruments.error if failed else instruments.ok).inc()
    router.metrics.count_upstream_status(tier, status)
    router.health.record_outcome(tier, not failed, duration_ms, now)
    if router.learners:  # only learning policies need the decision back
        request_id = entry.request.request_id
        decision = router.decisions.recall(request_id) if request_id else None
        if decision is not None:
            router.learn(decision, Outcome(not failed, duration_ms, 0.0))
    return True


class AccessLogReceiver(als_pb2_grpc.AccessLogServiceServicer):  # type: ignore[misc]
    """envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs."""

    def __init__(self, current_router: Callable[[], Router]) -> None:
        self._router = current_router
        self.entries = 0

    async def StreamAccessLogs(
        self, request_iterator: Any, context: grpc.aio.ServicerContext
    ) -> als_pb2.StreamAccessLogsResponse:
        try:
            async for message in request_iterator:
                router = self._router()
                entries = router.metrics.access_log_entries
                counted = {True: entries.labels("routed"), False: entries.labels("other")}
                for index, entry in enumerate(message.http_logs.log_entry, 1):
                    if index % YIELD_EVERY == 0:  # a flush holds hundreds of entries: let
                        await asyncio.sleep(0)  # ext_proc messages in between (tail latency)
                    self.entries += 1
                    try:
                        routed = record_entry(router, entry)
                    except Exception:
                        router.metrics.stream_errors.labels("access_log").inc()
                        log.exception("bad access-log entry")
                        continue
                    counted[routed].inc()
        except grpc.aio.AioRpcError:
            pass
        return als_pb2.StreamAccessLogsResponse()
