"""Run the router process: gRPC server + admin endpoint + signal handling."""

from __future__ import annotations

import asyncio
import logging
import signal

from extproc.config.model import RouterConfig
from extproc.observability.admin import AdminServer
from extproc.router import Router
from extproc.wire.server import RouterServer

log = logging.getLogger("extproc.serve")


async def serve(config: RouterConfig, stop_event: asyncio.Event | None = None) -> None:
    """Serve until SIGTERM/SIGINT (or `stop_event`), then drain and exit."""
    router = Router(config)
    await router.start_background()
    server = RouterServer(router)
    await server.start()
    admin = None
    host, _, port = config.server.admin_listen.rpartition(":")
    if int(port) != 0:
        admin = AdminServer(host, int(port), router.metrics.registry, lambda: server.ready)
        admin.start()
    stop = stop_event or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
        log.info("shutdown requested")
        await server.stop()
    finally:
        await router.stop_background()
        if admin is not None:
            admin.stop()


def run(config: RouterConfig) -> None:
    """Blocking entry point; picks the event loop from config."""
    if config.server.event_loop == "uvloop":
        try:
            import uvloop

            uvloop.run(serve(config))
            return
        except ImportError:
            log.warning("uvloop not installed; using asyncio")
    asyncio.run(serve(config))
