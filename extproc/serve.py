"""Run the router process: gRPC server + admin endpoint + reload + signal handling."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from extproc.config.model import RouterConfig
from extproc.observability.admin import AdminServer
from extproc.reload import ConfigReloader
from extproc.router import Router
from extproc.wire.server import RouterServer

log = logging.getLogger("extproc.serve")


async def serve(
    config: RouterConfig,
    stop_event: asyncio.Event | None = None,
    config_path: str | Path | None = None,
    server_overrides: Mapping[str, Any] | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT (or `stop_event`), then drain and exit. With a config
    file, changes to it (or SIGHUP) reload the config without dropping open streams."""
    router = Router(config)
    await router.start_background()
    server = RouterServer(router)
    await server.start()
    admin = None
    host, _, port = config.server.admin_listen.rpartition(":")
    if int(port) != 0:
        admin = AdminServer(host, int(port), router.metrics.registry, lambda: server.ready)
        admin.start()
    reloader = None
    stop = stop_event or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if config_path is not None:
        reloader = ConfigReloader(
            config_path, server, config.server.reload_poll_s, server_overrides or {}
        )
        reloader.start()
        loop.add_signal_handler(
            signal.SIGHUP, lambda: asyncio.ensure_future(reloader.reload("SIGHUP"))
        )
    # Everything loaded so far (modules, config, protobuf descriptors) lives for the whole
    # process: move it out of the collector's view so full collections stay cheap.
    gc.freeze()
    try:
        await stop.wait()
        log.info("shutdown requested")
        if reloader is not None:
            await reloader.stop()
        await server.stop()
    finally:
        await server.router.stop_background()
        if admin is not None:
            admin.stop()


def run(
    config: RouterConfig,
    config_path: str | Path | None = None,
    server_overrides: Mapping[str, Any] | None = None,
) -> None:
    """Blocking entry point; picks the event loop from config."""
    main = serve(config, config_path=config_path, server_overrides=server_overrides)
    if config.server.event_loop == "uvloop":
        try:
            import uvloop

            uvloop.run(main)
            return
        except ImportError:
            log.warning("uvloop not installed; using asyncio")
    asyncio.run(main)
