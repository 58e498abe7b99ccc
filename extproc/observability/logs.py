"""Logging setup: one JSON object per line on stderr."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from typing import BinaryIO

import orjson


class JsonFormatter(logging.Formatter):
    """Each record becomes {ts, level, logger, msg[, exc]}."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        entry: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        entry["msg"] = message
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def setup_logging(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


# ".123Z", then the level and logger fields, for each millisecond
_MILLIS = tuple(
    f'.{ms:03d}Z","level":"info","logger":"extproc.decisions",'.encode() for ms in range(1000)
)


class DecisionLog:
    """One JSON line per decision, written without the logging machinery.

    The `logging` module costs ~30 µs per record (record object, formatter, handler lock,
    flush); this writes an orjson line into a buffered binary stream and flushes at most
    every `flush_interval_s`, so a decision costs a few µs to log. Same shape as the
    JsonFormatter lines (ts, level, logger first).
    """

    def __init__(self, stream: BinaryIO | None = None, flush_interval_s: float = 0.2) -> None:
        self._stream: BinaryIO = stream if stream is not None else sys.stderr.buffer
        self._interval = flush_interval_s
        self._last_flush = 0.0
        self._millis = -1
        self._prefix = b""
        self._second = -1
        self._second_text = b""

    def _line_prefix(self, now: float) -> bytes:
        """`{"ts":"...Z","level":"info","logger":"extproc.decisions",` for this millisecond."""
        millis = int(now * 1000)
        if millis != self._millis:
            self._millis = millis
            second, ms = divmod(millis, 1000)
            if second != self._second:
                self._second = second
                text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
                self._second_text = b'{"ts":"' + text.encode()
            self._prefix = self._second_text + _MILLIS[ms]
        return self._prefix

    def emit(self, record: dict[str, object]) -> None:
        """Write `record` as one JSON line after the ts/level/logger fields."""
        if not record:  # the line is spliced after a trailing comma: keep it valid JSON
            record = {"event": "empty"}
        now = time.time()
        stream = self._stream
        try:
            line = orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
            stream.write(self._line_prefix(now) + line[1:])  # one write: cheaper than two
            if now - self._last_flush >= self._interval:
                self._last_flush = now
                stream.flush()
        except (OSError, ValueError):  # closed or broken stderr: never fail a request
            pass

    def flush(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._stream.flush()
