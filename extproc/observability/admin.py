"""HTTP admin endpoint on its own thread: /metrics, /healthz, /readyz (off the event loop)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger("extproc.admin")


class AdminServer:
    """Serves Prometheus metrics and health probes.

    /healthz: 200 while the process runs. /readyz: 200 when `is_ready()` (the gRPC server
    is listening and not draining), else 503.
    """

    def __init__(
        self, host: str, port: int, registry: CollectorRegistry, is_ready: Callable[[], bool]
    ) -> None:
        admin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._reply(200, generate_latest(admin.registry), CONTENT_TYPE_LATEST)
                elif path == "/healthz":
                    self._reply(200, b"ok\n")
                elif path == "/readyz":
                    ready = admin.is_ready()
                    self._reply(200 if ready else 503, b"ready\n" if ready else b"not ready\n")
                else:
                    self._reply(404, b"not found\n")

            def _reply(self, code: int, body: bytes, ctype: str = "text/plain") -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.registry = registry
        self.is_ready = is_ready
        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="extproc-admin", daemon=True
        )

    def start(self) -> None:
        self._thread.start()
        log.info("admin endpoint on port %d (/metrics /healthz /readyz)", self.port)

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
