"""The gRPC server: ext_proc service, standard health service, graceful shutdown."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import grpc
from envoy.service.accesslog.v3 import als_pb2_grpc
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc
from envoy.service.ext_proc.v3.external_processor_pb2 import ProcessingResponse
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from extproc.api.v1 import control_pb2_grpc
from extproc.router import Router
from extproc.wire.access_log import AccessLogReceiver
from extproc.wire.control import ControlService
from extproc.wire.control_auth import ControlAuth
from extproc.wire.stream import StreamHandler

log = logging.getLogger("extproc.server")

EXT_PROC_SERVICE = "envoy.service.ext_proc.v3.ExternalProcessor"
CONTROL_SERVICE = "extproc.api.v1.RouterControl"


class ExternalProcessor(external_processor_pb2_grpc.ExternalProcessorServicer):  # type: ignore[misc]
    """Drives one StreamHandler per stream; never lets an exception escape."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.open_streams = 0

    async def Process(self, request_iterator: Any, context: grpc.aio.ServicerContext) -> None:
        router = self.router
        handler = StreamHandler(router)
        self.open_streams += 1
        router.metrics.open_streams += 1
        try:
            while True:
                request = await context.read()
                if request is grpc.aio.EOF:
                    return
                response = handler.handle(request)
                if response is None:
                    continue
                if not isinstance(response, ProcessingResponse):  # semantic layer: off-loop work
                    response = await response
                    if response is None:
                        continue
                await context.write(response)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a broken stream (peer reset, write after close)
            router.metrics.stream_errors.labels("stream").inc()
            log.debug("stream ended with %r", exc)
        finally:
            try:
                handler.close()
            except Exception:
                router.metrics.stream_errors.labels("close").inc()
                log.exception("error settling a closed stream")
            self.open_streams -= 1
            router.metrics.open_streams -= 1


class RouterServer:
    """Owns the grpc.aio server; `start`, then `stop(grace)` to drain."""

    def __init__(self, router: Router, listen: str | None = None) -> None:
        cfg = router.config.server
        self.listen = listen or cfg.listen
        limit = cfg.max_message_bytes
        self.server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", limit),
                ("grpc.max_send_message_length", limit),
                ("grpc.so_reuseport", 1),
                ("grpc.http2.max_pings_without_data", 0),
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.enable_channelz", 0),
            ]
        )
        self.processor = ExternalProcessor(router)
        external_processor_pb2_grpc.add_ExternalProcessorServicer_to_server(
            self.processor, self.server
        )
        self.control_auth = ControlAuth.from_config(cfg)  # ControlAuthError: bad token setup
        control_pb2_grpc.add_RouterControlServicer_to_server(  # type: ignore[no-untyped-call]
            ControlService(lambda: self.processor.router, self.control_auth), self.server
        )
        self.access_log = AccessLogReceiver(lambda: self.processor.router)
        als_pb2_grpc.add_AccessLogServiceServicer_to_server(self.access_log, self.server)
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self.port = 0
        self.ready = False

    @property
    def router(self) -> Router:
        """The router new streams use."""
        return self.processor.router

    def swap_router(self, router: Router) -> None:
        """Hot reload: new streams use `router`; open streams keep the one they started on."""
        self.processor.router = router

    async def start(self) -> int:
        self.port = self.server.add_insecure_port(self.listen)
        if self.port == 0:
            raise OSError(f"cannot listen on {self.listen}")
        await self.server.start()
        for service in ("", EXT_PROC_SERVICE, CONTROL_SERVICE):
            await self.health.set(service, health_pb2.HealthCheckResponse.SERVING)
        self.ready = True
        log.info("ext_proc server listening on %s (port %d)", self.listen, self.port)
        return self.port

    async def stop(self, grace_s: float | None = None) -> None:
        """Stop taking new streams, let open ones finish for `grace_s`, then cancel them."""
        grace = self.router.config.server.shutdown_grace_s if grace_s is None else grace_s
        self.ready = False
        await self.health.enter_graceful_shutdown()
        log.info("draining %d open streams (grace %.1fs)", self.processor.open_streams, grace)
        await self.server.stop(grace)
        log.info("ext_proc server stopped")
