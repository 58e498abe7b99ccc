"""The gRPC server over real streams: ext_proc, health, message limits, drain on stop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import httpx
import orjson
import pytest
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from extproc.config import parse_config
from extproc.observability.admin import AdminServer
from extproc.router import Router
from extproc.wire.server import EXT_PROC_SERVICE, RouterServer
from tests.helpers import request_body, request_headers, response_headers, set_headers

BIG = 6 * 1024 * 1024  # over gRPC's 4 MiB default


@pytest.fixture()
async def server() -> AsyncIterator[RouterServer]:
    router = Router(parse_config({"server": {"listen": "127.0.0.1:0"}}))
    srv = RouterServer(router)
    await srv.start()
    yield srv
    await srv.stop(0)


def channel(srv: RouterServer) -> grpc.aio.Channel:
    limit = 32 * 1024 * 1024
    return grpc.aio.insecure_channel(
        f"127.0.0.1:{srv.port}",
        options=[("grpc.max_send_message_length", limit),
                 ("grpc.max_receive_message_length", limit)],
    )


def body_of(text: str) -> bytes:
    return orjson.dumps({"model": "m", "messages": [{"role": "user", "content": text}]})


async def test_stream_round_trip(server: RouterServer) -> None:
    async with channel(server) as ch:
        stub = external_processor_pb2_grpc.ExternalProcessorStub(ch)
        call = stub.Process()
        await call.write(request_headers())
        first = await call.read()
        assert first.WhichOneof("response") == "request_headers"
        await call.write(request_body(body_of("hello")))
        second = await call.read()
        assert set_headers(second.request_body.response.header_mutation) == {
            "x-extproc-tier": "tier_low"
        }
        await call.write(response_headers(200))
        third = await call.read()
        assert third.WhichOneof("response") == "response_headers"
        await call.done_writing()
        assert await call.read() == grpc.aio.EOF


async def test_multi_megabyte_body_over_grpc(server: RouterServer) -> None:
    async with channel(server) as ch:
        call = external_processor_pb2_grpc.ExternalProcessorStub(ch).Process()
        await call.write(request_headers())
        await call.read()
        await call.write(request_body(body_of("a" * BIG)))
        reply = await call.read()
        assert reply.request_body.response.clear_route_cache
        await call.done_writing()


async def test_health_service(server: RouterServer) -> None:
    async with channel(server) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        for service in ("", EXT_PROC_SERVICE):
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=service))
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_stop_drains_open_stream_then_refuses_new() -> None:
    router = Router(parse_config({"server": {"listen": "127.0.0.1:0"}}))
    srv = RouterServer(router)
    await srv.start()
    async with channel(srv) as ch:
        stub = external_processor_pb2_grpc.ExternalProcessorStub(ch)
        call = stub.Process()
        await call.write(request_headers())
        await call.read()
        assert srv.processor.open_streams == 1
        stopping = asyncio.create_task(srv.stop(5.0))
        await asyncio.sleep(0.2)
        assert not srv.ready
        # the in-flight stream still completes during the grace period
        await call.write(request_body(body_of("still routed")))
        reply = await call.read()
        assert reply.request_body.response.clear_route_cache
        await call.done_writing()
        await asyncio.wait_for(stopping, 10)
    assert srv.processor.open_streams == 0


async def test_admin_endpoints() -> None:
    router = Router(parse_config({}))
    ready = {"value": False}
    admin = AdminServer("127.0.0.1", 0, router.metrics.registry, lambda: ready["value"])
    admin.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{admin.port}") as client:
            assert (await client.get("/healthz")).status_code == 200
            assert (await client.get("/readyz")).status_code == 503
            ready["value"] = True
            assert (await client.get("/readyz")).status_code == 200
            metrics = (await client.get("/metrics")).text
            assert "extproc_tier_latency_ema_seconds" in metrics
            assert 'extproc_gpu_state{state="unknown"} 1.0' in metrics
            assert (await client.get("/nope")).status_code == 404
    finally:
        admin.stop()


async def test_tier_state_gauges_exported() -> None:
    from prometheus_client import generate_latest

    router = Router(parse_config({"health": {"circuit": {"consecutive_failures": 1}}}))
    router.health.on_dispatch("tier_high")
    router.health.on_finish("tier_high", False, 5.0)
    router.refresh_state()
    text = generate_latest(router.metrics.registry).decode()
    assert 'extproc_circuit_state{state="open",tier="tier_high"} 1.0' in text
    assert 'extproc_tier_error_rate{tier="tier_high"} 1.0' in text
    assert 'extproc_tier_in_flight{tier="tier_low"} 0.0' in text
