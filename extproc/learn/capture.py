"""Opt-in prompt capture: sampled, bounded, redacted JSONL rows for `extproc-router collect`.

The request path pays one random draw per routed request when capture is on (nothing when
it is off: the router keeps ``capture = None``) and, for a sampled request, one deque append.
A daemon thread does the rest every ``flush_interval_s``: cut the prompt to ``max_chars``,
redact PII and secrets with the prompt guard's detectors, encode, append to the file with
one ``os.write`` per batch, rotate or stop at ``max_bytes``. Nothing here raises into the
request path; problems are counted in ``extproc_capture_rows_total{outcome=...}``.

Row shapes (one JSON object per line, ``event`` tells them apart)::

    {"ts": "2025-01-01T12:00:00.123Z", "event": "decision", "request_id": "...",
     "tier": "tier_low", "rule": "complexity", "reason": "complexity_low", "score": 0.21,
     "prompt": "...", "messages": [{"role": "user", "content": "..."}],
     "truncated": false, "redacted": 0}
    {"ts": "...", "event": "feedback", "request_id": "...", "score": 0.8,
     "result": "ok", "tier": "tier_low"}

``tier`` of a feedback row is present when the router still remembered the decision; the
join in `collect --feedback` takes the tier from the decision row either way.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import random
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

import orjson
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from extproc.config.learning import CaptureConfig
from extproc.decision.model import Decision
from extproc.guard.scan import PromptGuard, redact
from extproc.parse.openai import ChatRequest

log = logging.getLogger("extproc.capture")

OUTCOMES = (
    "written",
    "feedback_written",
    "dropped_queue",
    "dropped_full",
    "dropped_closed",
    "error",
)
_REDACT_CATEGORIES = ("pii", "secret")  # jailbreak phrasings are not private: kept


class CaptureStats:
    """Process-wide counters (a reload builds a new sink; the counts carry on)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rows = dict.fromkeys(OUTCOMES, 0)
        self.rotations = 0
        self.redactions = 0

    def add(self, outcome: str, n: int = 1) -> None:
        with self._lock:
            self.rows[outcome] += n

    def add_rotation(self) -> None:
        with self._lock:
            self.rotations += 1

    def add_redactions(self, n: int) -> None:
        with self._lock:
            self.redactions += n

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {**self.rows, "rotations": self.rotations, "redactions": self.redactions}


STATS = CaptureStats()


class _CaptureCollector(Collector):
    def collect(self) -> Iterator[CounterMetricFamily]:
        snap = STATS.snapshot()
        rows = CounterMetricFamily(
            "extproc_capture_rows", "Capture rows by outcome (docs/learning-loop.md)",
            labels=["outcome"],
        )
        for outcome in OUTCOMES:
            rows.add_metric([outcome], float(snap[outcome]))
        yield rows
        yield CounterMetricFamily(
            "extproc_capture_rotations", "Capture file rotations", value=float(snap["rotations"])
        )
        yield CounterMetricFamily(
            "extproc_capture_redactions", "PII/secret spans redacted in captured prompts",
            value=float(snap["redactions"]),
        )


_REGISTERED: weakref.WeakSet[CollectorRegistry] = weakref.WeakSet()


def register_metrics(registry: CollectorRegistry) -> None:
    """Expose the capture counters on `registry` (once per registry)."""
    if registry not in _REGISTERED:
        registry.register(_CaptureCollector())
        _REGISTERED.add(registry)


def iso_ts(now: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"


# queued items: ("decision", ts, request_id, decision, text, messages) or
#               ("feedback", ts, request_id, score, result, tier)
_Item = tuple[Any, ...]


class CaptureSink:
    """Appends capture rows to `cfg.path` from a writer thread. `record` and
    `record_feedback` are the request-path entry points; both return at once."""

    def __init__(self, cfg: CaptureConfig, rng: random.Random | None = None) -> None:
        self.cfg = cfg
        self.path = cfg.path
        self._rate = cfg.sample_rate
        self._random = (rng or random.Random()).random
        self._max_chars = cfg.max_chars
        self._keep_messages = cfg.messages
        self._feedback = cfg.feedback
        self._max_queue = cfg.queue_rows
        self._queue: collections.deque[_Item] = collections.deque()
        self._guard = (
            PromptGuard(detect=_REDACT_CATEGORIES, max_chars=max(1000, cfg.max_chars))
            if cfg.redact
            else None
        )
        self._closed = False
        self._wake = threading.Event()
        self._errors_logged = 0
        os.close(self._open())  # an unusable path fails here, at start or reload
        self._fd = -1
        self._thread: threading.Thread | None = None  # started by the first row

    # ---- request path (event loop) --------------------------------------------------------

    def record(self, request_id: str, decision: Decision, chat: ChatRequest) -> None:
        """Maybe queue a decision row (sampled); never raises, never blocks."""
        if self._random() >= self._rate:
            return
        text = chat.text
        if len(text) > self._max_chars + 1:  # keep one more char: the writer marks the cut
            text = text[: self._max_chars + 1]
        messages = None
        if self._keep_messages and chat.kind == "chat" and len(chat.text) <= self._max_chars:
            messages = chat.document.get("messages")
        self._put(("decision", time.time(), request_id, decision, text, messages, len(chat.text)))

    def record_feedback(
        self, request_id: str, score: float, result: str, decision: Decision | None
    ) -> None:
        """Queue a feedback row (valid scores only; the caller checked)."""
        if not self._feedback:
            return
        tier = None if decision is None else decision.tier
        self._put(("feedback", time.time(), request_id, score, result, tier))

    def _put(self, item: _Item) -> None:
        if self._closed:
            STATS.add("dropped_closed")
        elif len(self._queue) >= self._max_queue:
            STATS.add("dropped_queue")
        else:
            self._queue.append(item)
            if self._thread is None:
                self._start()

    def _start(self) -> None:
        try:
            self._fd = self._open()
            thread = threading.Thread(target=self._run, name="extproc-capture", daemon=True)
            thread.start()
            self._thread = thread
        except Exception:
            self._closed = True  # stays off; rows are counted as dropped_closed
            self._error("cannot start capture", len(self._queue))
            self._queue.clear()

    # ---- writer thread -------------------------------------------------------------------

    def close(self, timeout_s: float = 2.0) -> None:
        """Write what is queued and close the file (waits at most `timeout_s`)."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def flush(self, timeout_s: float = 2.0) -> bool:
        """Wait until the queue is written (tests, shutdown); False on timeout."""
        deadline = time.monotonic() + timeout_s
        self._wake.set()
        while self._queue or self._busy:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
            self._wake.set()
        return True

    _busy = False

    def _run(self) -> None:
        interval = self.cfg.flush_interval_s
        try:
            while not self._closed:
                self._wake.wait(interval)
                self._wake.clear()
                self._drain()
            self._drain()
        finally:
            with contextlib.suppress(OSError):
                os.close(self._fd)

    def _drain(self) -> None:
        queue = self._queue
        if not queue:
            return
        self._busy = True
        try:
            lines: list[bytes] = []
            kinds: list[str] = []
            while queue:
                item = queue.popleft()
                try:
                    lines.append(self._line(item))
                    kinds.append("written" if item[0] == "decision" else "feedback_written")
                except Exception:
                    self._error("cannot encode a capture row")
            self._write(lines, kinds)
        except Exception:
            self._error("capture write failed")
        finally:
            self._busy = False

    def _error(self, what: str, n: int = 1) -> None:
        STATS.add("error", n)
        self._errors_logged += 1
        if self._errors_logged <= 3 or self._errors_logged % 1000 == 0:
            log.warning("%s (%s; %d so far)", what, self.path, self._errors_logged, exc_info=True)

    def _clean(self, text: str) -> tuple[str, int]:
        """`text` redacted, and how many spans were replaced."""
        guard = self._guard
        if guard is None or not text:
            return text, 0
        found = guard.scan(text)
        if not found.findings:
            return text, 0
        return redact(text, found, _REDACT_CATEGORIES), len(found.findings)

    def _line(self, item: _Item) -> bytes:
        if item[0] == "feedback":
            _, ts, request_id, score, result, tier = item
            row: dict[str, object] = {"ts": iso_ts(ts), "event": "feedback",
                                      "request_id": request_id, "score": score, "result": result}
            if tier is not None:
                row["tier"] = tier
            return orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE)
        _, ts, request_id, decision, text, messages, chars = item
        truncated = chars > self._max_chars
        prompt, redacted = self._clean(text[: self._max_chars])
        row = {
            "ts": iso_ts(ts),
            "event": "decision",
            "request_id": request_id,
            "tier": decision.tier,
            "rule": decision.rule,
            "reason": decision.reason,
            "score": None if decision.score is None else round(decision.score, 4),
            "prompt": prompt,
        }
        kept, in_messages = self._messages(messages)
        if kept is not None:
            row["messages"] = kept
        row["truncated"] = truncated
        if truncated:
            row["chars"] = chars
        row["redacted"] = redacted + in_messages
        if row["redacted"]:
            STATS.add_redactions(redacted + in_messages)
        return orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE)

    def _messages(self, messages: object) -> tuple[list[dict[str, str]] | None, int]:
        """Role + text content of each message, redacted, and the spans redacted; None when
        absent, odd or longer than max_chars."""
        if not isinstance(messages, list) or not messages:
            return None, 0
        out: list[dict[str, str]] = []
        total = 0
        for message in messages:
            if not isinstance(message, dict):
                return None, 0
            role, content = message.get("role"), message.get("content")
            if isinstance(content, list):  # content parts: keep the text ones
                content = "\n".join(
                    p["text"] for p in content
                    if isinstance(p, dict) and isinstance(p.get("text"), str)
                )
            if not isinstance(role, str) or not isinstance(content, str):
                return None, 0
            total += len(content)
            if total > self._max_chars:
                return None, 0
            out.append({"role": role, "content": content})
        redacted = 0
        for entry in out:
            entry["content"], n = self._clean(entry["content"])
            redacted += n
        return out, redacted

    # ---- the file ------------------------------------------------------------------------

    def _open(self) -> int:
        parent = os.path.dirname(os.path.abspath(self.path))
        try:
            os.makedirs(parent, exist_ok=True)
            return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as exc:
            raise ValueError(f"capture.path: cannot open {self.path!r}: {exc}") from None

    def _reopen_if_moved(self) -> None:
        """Another sink (the router being replaced on reload) rotated the file: follow."""
        try:
            on_disk = os.stat(self.path)
        except FileNotFoundError:
            on_disk = None
        mine = os.fstat(self._fd)
        if on_disk is None or (on_disk.st_ino, on_disk.st_dev) != (mine.st_ino, mine.st_dev):
            os.close(self._fd)
            self._fd = self._open()

    def _rotate(self) -> None:
        os.close(self._fd)
        path, keep = self.path, self.cfg.keep_files
        for i in range(keep - 1, 0, -1):
            with contextlib.suppress(FileNotFoundError):
                os.replace(f"{path}.{i}", f"{path}.{i + 1}")
        with contextlib.suppress(FileNotFoundError):
            os.replace(path, f"{path}.1")
        self._fd = self._open()
        STATS.add_rotation()

    def _write(self, lines: list[bytes], kinds: list[str]) -> None:
        if not lines:
            return
        self._reopen_if_moved()
        limit = self.cfg.max_bytes
        size = os.fstat(self._fd).st_size
        batch: list[bytes] = []
        batch_bytes = 0
        counts: collections.Counter[str] = collections.Counter()
        for index, line in enumerate(lines):
            if size + batch_bytes + len(line) > limit:
                self._flush_batch(batch, counts)
                batch, batch_bytes, counts = [], 0, collections.Counter()
                if self.cfg.on_full == "stop" or len(line) > limit:
                    if self.cfg.on_full == "stop":
                        STATS.add("dropped_full", len(lines) - index)
                        return
                    STATS.add("dropped_full")  # a row larger than a whole file
                    continue
                self._rotate()
                size = 0
            batch.append(line)
            batch_bytes += len(line)
            counts[kinds[index]] += 1
        self._flush_batch(batch, counts)

    def _flush_batch(self, batch: list[bytes], counts: collections.Counter[str]) -> None:
        if not batch:
            return
        data = b"".join(batch)
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        for outcome, n in counts.items():
            STATS.add(outcome, n)


def open_capture(
    cfg: CaptureConfig, registry: CollectorRegistry | None = None
) -> CaptureSink | None:
    """The sink for `cfg`, or None when capture is off (the request path checks for None)."""
    if not cfg.enabled:
        return None
    if registry is not None:
        register_metrics(registry)
    return CaptureSink(cfg)
