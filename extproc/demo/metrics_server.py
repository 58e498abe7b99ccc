"""A tiny Prometheus endpoint that imitates vLLM, NVIDIA DCGM exporter or llama.cpp metrics.

Used by the scraper tests (in process) and by end-to-end tests (as a subprocess:
``python -m extproc.demo.metrics_server --port 0 --style vllm``; it prints
``metrics server listening on http://HOST:PORT/metrics`` once bound).

HTTP interface (HTTP/1.1, keep-alive):

* ``GET /metrics`` -- Prometheus text in the chosen style, from the current values.
* ``POST /set`` -- JSON object merged into the values; answers the new state (400 on bad keys).
* ``POST /fail`` -- ``/metrics`` answers 500 from now on.
* ``POST /hang`` -- ``/metrics`` stalls (never answers) from now on.
* ``POST /ok`` -- back to normal; stalled requests are released (their connections closed).
* ``GET /state`` -- ``{"style", "mode", "hits", "values"}``; ``GET /health`` -- ``ok``.

Values (see :data:`DEFAULTS`); a number or a list of numbers (one series per list item):

* vllm: ``kv_cache_usage`` (0..1), ``requests_waiting``, ``requests_running`` (lists: one series
  per ``engine`` label), ``legacy_names`` (bool: ``vllm:gpu_cache_usage_perc``), ``model``.
* llamacpp: ``kv_cache_usage``, ``requests_waiting`` (deferred), ``requests_running``
  (processing); numbers only.
* dcgm: ``fb_free_mib``, ``fb_used_mib`` and optional ``fb_total_mib`` (lists: one per GPU),
  ``hostname``.
* any style: ``raw`` (string served verbatim instead, or null), ``extra`` (text appended).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import logging
import signal
import sys
from collections.abc import Mapping, Sequence
from typing import Any, Literal, cast

import orjson

from extproc.demo.http import BadHttp, read_request

__all__ = ["DEFAULTS", "STYLES", "MetricsServer", "main", "render_metrics"]

log = logging.getLogger("extproc.demo")

Style = Literal["vllm", "dcgm", "llamacpp"]
Mode = Literal["ok", "fail", "hang"]
STYLES: tuple[Style, ...] = ("vllm", "dcgm", "llamacpp")
MAX_BODY = 1024 * 1024

_COMMON: dict[str, object] = {"raw": None, "extra": ""}
DEFAULTS: dict[Style, dict[str, object]] = {
    "vllm": {
        "kv_cache_usage": 0.0,
        "requests_waiting": 0.0,
        "requests_running": 0.0,
        "legacy_names": False,
        "model": "demo-model",
        **_COMMON,
    },
    "llamacpp": {
        "kv_cache_usage": 0.0,
        "requests_waiting": 0.0,
        "requests_running": 0.0,
        **_COMMON,
    },
    "dcgm": {
        "fb_free_mib": [81559.0],
        "fb_used_mib": [0.0],
        "fb_total_mib": None,
        "hostname": "demo-host",
        **_COMMON,
    },
}
_NUMERIC = frozenset(
    {"kv_cache_usage", "requests_waiting", "requests_running", "fb_free_mib", "fb_used_mib"}
)
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error"}


# -- rendering ---------------------------------------------------------------------------------


def _series(value: object) -> list[float]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [float(v) for v in value]
    return [float(cast(float, value))]


def _num(value: float) -> str:
    return repr(float(value))


def _gauge(
    lines: list[str], name: str, help_text: str, samples: Sequence[tuple[str, float]]
) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} gauge")
    lines.extend(f"{name}{labels} {_num(v)}" for labels, v in samples)


def _render_vllm(v: Mapping[str, object], lines: list[str]) -> None:
    model = str(v.get("model", "demo-model"))
    legacy = bool(v.get("legacy_names"))

    def samples(key: str) -> list[tuple[str, float]]:
        out = []
        for i, x in enumerate(_series(v.get(key))):
            labels = (
                f'{{model_name="{model}"}}'
                if legacy
                else (f'{{engine="{i}",model_name="{model}"}}')
            )
            out.append((labels, x))
        return out

    _gauge(
        lines,
        "vllm:num_requests_running",
        "Number of requests in model execution batches.",
        samples("requests_running"),
    )
    _gauge(
        lines,
        "vllm:num_requests_waiting",
        "Number of requests waiting to be processed.",
        samples("requests_waiting"),
    )
    kv_name = "vllm:gpu_cache_usage_perc" if legacy else "vllm:kv_cache_usage_perc"
    _gauge(lines, kv_name, "KV-cache usage. 1 means 100 percent usage.", samples("kv_cache_usage"))
    lines += [
        "# HELP vllm:num_preemptions_total Cumulative number of preemption from the engine.",
        "# TYPE vllm:num_preemptions_total counter",
        f'vllm:num_preemptions_total{{model_name="{model}"}} 0.0',
        "# HELP vllm:e2e_request_latency_seconds Histogram of e2e request latency in seconds.",
        "# TYPE vllm:e2e_request_latency_seconds histogram",
        f'vllm:e2e_request_latency_seconds_bucket{{le="1.0",model_name="{model}"}} 0.0',
        f'vllm:e2e_request_latency_seconds_bucket{{le="+Inf",model_name="{model}"}} 0.0',
        f'vllm:e2e_request_latency_seconds_count{{model_name="{model}"}} 0.0',
        f'vllm:e2e_request_latency_seconds_sum{{model_name="{model}"}} 0.0',
    ]


def _render_llamacpp(v: Mapping[str, object], lines: list[str]) -> None:
    def one(key: str) -> list[tuple[str, float]]:
        return [("", x) for x in _series(v.get(key))[:1]]

    lines += [
        "# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed.",
        "# TYPE llamacpp:prompt_tokens_total counter",
        "llamacpp:prompt_tokens_total 0",
    ]
    _gauge(
        lines,
        "llamacpp:kv_cache_usage_ratio",
        "KV-cache usage. 1 means 100 percent usage.",
        one("kv_cache_usage"),
    )
    _gauge(
        lines,
        "llamacpp:requests_processing",
        "Number of request processing.",
        one("requests_running"),
    )
    _gauge(
        lines, "llamacpp:requests_deferred", "Number of request deferred.", one("requests_waiting")
    )


def _render_dcgm(v: Mapping[str, object], lines: list[str]) -> None:
    host = str(v.get("hostname", "demo-host"))
    free = _series(v.get("fb_free_mib"))
    used = _series(v.get("fb_used_mib"))
    total = _series(v.get("fb_total_mib"))

    def labels(i: int) -> str:
        return (
            f'{{gpu="{i}",UUID="GPU-00000000-0000-0000-0000-{i:012d}",device="nvidia{i}",'
            f'modelName="NVIDIA H100 80GB HBM3",Hostname="{host}"}}'
        )

    _gauge(
        lines,
        "DCGM_FI_DEV_GPU_UTIL",
        "GPU utilization (in %).",
        [(labels(i), 0.0) for i in range(len(free))],
    )
    _gauge(
        lines,
        "DCGM_FI_DEV_FB_FREE",
        "Framebuffer memory free (in MiB).",
        [(labels(i), x) for i, x in enumerate(free)],
    )
    _gauge(
        lines,
        "DCGM_FI_DEV_FB_USED",
        "Framebuffer memory used (in MiB).",
        [(labels(i), x) for i, x in enumerate(used)],
    )
    if total:
        _gauge(
            lines,
            "DCGM_FI_DEV_FB_TOTAL",
            "Framebuffer memory total (in MiB).",
            [(labels(i), x) for i, x in enumerate(total)],
        )


def render_metrics(style: Style, values: Mapping[str, object]) -> str:
    """Prometheus text for ``values`` in ``style`` (``raw`` wins when set)."""
    raw = values.get("raw")
    if isinstance(raw, str):
        return raw
    lines: list[str] = []
    {"vllm": _render_vllm, "llamacpp": _render_llamacpp, "dcgm": _render_dcgm}[style](values, lines)
    text = "\n".join(lines) + "\n"
    extra = values.get("extra")
    if isinstance(extra, str) and extra:
        text += extra if extra.endswith("\n") else extra + "\n"
    return text


def validate_values(style: Style, update: object) -> dict[str, object]:
    """Check a /set body against ``style``; returns it as a dict or raises ValueError."""
    if not isinstance(update, dict):
        raise ValueError("body must be a JSON object")
    allowed = DEFAULTS[style]
    for key, value in update.items():
        if key not in allowed:
            raise ValueError(f"unknown key {key!r} for style {style} (known: {sorted(allowed)})")
        if key in ("raw",) and value is not None and not isinstance(value, str):
            raise ValueError("raw must be a string or null")
        if key in ("extra", "model", "hostname") and not isinstance(value, str):
            raise ValueError(f"{key} must be a string")
        if key == "legacy_names" and not isinstance(value, bool):
            raise ValueError("legacy_names must be a boolean")
        if key in _NUMERIC or (key == "fb_total_mib" and value is not None):
            items = value if isinstance(value, list) else [value]
            if not items or not all(
                isinstance(x, int | float) and not isinstance(x, bool) for x in items
            ):
                raise ValueError(f"{key} must be a number or a non-empty list of numbers")
            if style == "llamacpp" and isinstance(value, list):
                raise ValueError(f"{key} must be a number for llamacpp")
    return dict(update)


# -- server ------------------------------------------------------------------------------------


class MetricsServer:
    """Serves settable Prometheus text at ``/metrics`` on ``host:port`` (0: a free port)."""

    def __init__(
        self,
        style: Style = "vllm",
        host: str = "127.0.0.1",
        port: int = 0,
        values: Mapping[str, object] | None = None,
    ) -> None:
        if style not in STYLES:
            raise ValueError(f"style must be one of {STYLES}, got {style!r}")
        self.style: Style = style
        self.host = host
        self.port = port
        self.values: dict[str, object] = copy.deepcopy(DEFAULTS[style])
        if values:
            self.values.update(validate_values(style, dict(values)))
        self.mode: Mode = "ok"
        self.hits = 0
        self._release = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def set(self, **values: object) -> None:
        """Merge ``values`` (validated like ``POST /set``)."""
        self.values.update(validate_values(self.style, values))

    def set_mode(self, mode: Mode) -> None:
        """``ok`` / ``fail`` (500) / ``hang`` (stall) for ``/metrics``."""
        self.mode = mode
        if mode == "hang":
            if self._release.is_set():
                self._release = asyncio.Event()
        else:
            self._release.set()

    def render(self) -> str:
        return render_metrics(self.style, self.values)

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        """Stop listening and drop open connections (including stalled ones)."""
        self._release.set()
        if self._server is not None:
            self._server.close()
        for task in list(self._conns):
            task.cancel()
        if self._conns:
            await asyncio.wait(list(self._conns), timeout=2)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    async def __aenter__(self) -> MetricsServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - always inside a task
            return
        self._conns.add(task)
        try:
            while True:
                try:
                    request = await read_request(reader, MAX_BODY)
                except (BadHttp, ValueError, asyncio.IncompleteReadError):
                    await self._send(writer, 400, b"bad request\n", "text/plain", close=True)
                    return
                if request is None:
                    return
                method, target, headers, body = request
                path = target.split("?", 1)[0]
                keep = await self._respond(reader, writer, method, path, body)
                if not keep or headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._conns.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def _stall(self, reader: asyncio.StreamReader) -> None:
        """Wait until ``/ok`` (or stop) or until the client gives up and closes."""
        waits = [
            asyncio.ensure_future(self._release.wait()),
            asyncio.ensure_future(reader.read(1)),
        ]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    async def _respond(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        method: str,
        path: str,
        body: bytes,
    ) -> bool:
        """Answer one request; False to close the connection."""
        if method == "GET" and path == "/metrics":
            self.hits += 1
            if self.mode == "hang":
                await self._stall(reader)
                return False
            if self.mode == "fail":
                await self._send(writer, 500, b"injected failure\n", "text/plain")
                return True
            payload = self.render().encode()
            await self._send(writer, 200, payload, "text/plain; version=0.0.4; charset=utf-8")
            return True
        if method == "GET" and path in ("/health", "/healthz"):
            await self._send(writer, 200, b"ok\n", "text/plain")
            return True
        if method == "GET" and path == "/state":
            await self._json(writer, 200, self._state())
            return True
        if method == "POST" and path in ("/fail", "/hang", "/ok"):
            self.set_mode(cast(Mode, path[1:]))
            await self._json(writer, 200, self._state())
            return True
        if method == "POST" and path == "/set":
            try:
                self.values.update(validate_values(self.style, orjson.loads(body or b"{}")))
            except (orjson.JSONDecodeError, ValueError) as exc:
                await self._json(writer, 400, {"error": str(exc)})
                return True
            await self._json(writer, 200, self._state())
            return True
        await self._json(writer, 404, {"error": f"no route {method} {path}"})
        return True

    def _state(self) -> dict[str, Any]:
        return {"style": self.style, "mode": self.mode, "hits": self.hits, "values": self.values}

    async def _json(self, writer: asyncio.StreamWriter, status: int, doc: object) -> None:
        await self._send(writer, status, orjson.dumps(doc), "application/json")

    @staticmethod
    async def _send(
        writer: asyncio.StreamWriter, status: int, payload: bytes, ctype: str, close: bool = False
    ) -> None:
        head = [
            f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}",
            f"content-type: {ctype}",
            f"content-length: {len(payload)}",
        ]
        if close:
            head.append("connection: close")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload)
        await writer.drain()


# -- CLI ---------------------------------------------------------------------------------------


async def _serve(style: Style, host: str, port: int, values: Mapping[str, object]) -> None:
    server = MetricsServer(style, host, port, values)
    await server.start()
    print(f"metrics server listening on {server.url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m extproc.demo.metrics_server --port 0 --style vllm [--values JSON]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--style", choices=STYLES, default="vllm")
    parser.add_argument("--values", default="{}", help="initial values as a JSON object")
    args = parser.parse_args(argv)
    style = cast(Style, args.style)
    try:
        values = validate_values(style, orjson.loads(args.values))
    except (orjson.JSONDecodeError, ValueError) as exc:
        print(f"--values: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(style, args.host, args.port, values))
    return 0


if __name__ == "__main__":
    sys.exit(main())
