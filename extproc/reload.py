"""Config hot reload: on file change or SIGHUP, build a new Router and swap it in.

New streams get the new router; open streams finish on the one they started with. A config
that fails to load or build is rejected with its errors logged and counted; the running
config keeps serving. `server.*` changes (addresses, message sizes) need a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from extproc.config import ConfigError, load_config
from extproc.config.loader import with_server_overrides
from extproc.router import Router
from extproc.wire.server import RouterServer

log = logging.getLogger("extproc.reload")


def _fingerprint(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class ConfigReloader:
    """Watches one config file (polling) and reloads on change or on request."""

    def __init__(
        self,
        path: str | Path,
        server: RouterServer,
        poll_s: float = 1.0,
        server_overrides: Mapping[str, Any] | None = None,
    ) -> None:
        self.path = Path(path)
        self.server_overrides = dict(server_overrides or {})
        self.server = server
        self.poll_s = poll_s
        self.applied = 0
        self.rejected = 0
        self.last_error = ""
        self._seen = _fingerprint(self.path)
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._watch(), name="config-reload")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            if _fingerprint(self.path) != self._seen:
                await self.reload("file changed")

    async def reload(self, why: str) -> bool:
        """Load, build and swap; True when the new config is serving."""
        async with self._lock:
            self._seen = _fingerprint(self.path)
            old = self.server.router
            try:
                config = with_server_overrides(load_config(self.path), self.server_overrides)
                old.detach_metrics()
                try:
                    new = Router(config, metrics=old.metrics)
                except BaseException:
                    old.attach_metrics()
                    raise
            except (ConfigError, ValueError, TypeError, ImportError) as exc:
                self.rejected += 1
                self.last_error = str(exc)
                old.metrics.reloads.labels("rejected").inc()
                log.error("config reload (%s) rejected; keeping version %s: %s", why,
                          old.version, exc)
                return False
            if config.server != old.config.server:
                log.warning("server.* changed in %s: takes effect after a restart", self.path)
            new.inherit(old)
            await old.stop_background()
            self.server.swap_router(new)
            await new.start_background()
            self.applied += 1
            new.metrics.reloads.labels("applied").inc()
            log.info("config reloaded (%s): version %s → %s", why, old.version, new.version)
            return True
