"""Response observation: SSE timing and token usage from response bodies, chunk by chunk.

Nothing here changes a byte of the response; it only reads. Memory is bounded: SSE keeps at
most one partial event between chunks (capped), JSON keeps at most `max_json_bytes`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import orjson

_MAX_SSE_TAIL = 64 * 1024


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


def _usage_of(doc: object) -> Usage | None:
    if not isinstance(doc, dict):
        return None
    usage = doc.get("usage")
    if not isinstance(usage, dict):
        return None
    prompt = usage.get("prompt_tokens")
    completion = usage.get("completion_tokens")
    if not isinstance(prompt, int) and not isinstance(completion, int):
        return None
    return Usage(
        prompt if isinstance(prompt, int) else 0,
        completion if isinstance(completion, int) else 0,
    )


class SseObserver:
    """Follows an SSE stream: first-token time, content events, usage chunk."""

    __slots__ = ("_tail", "content_events", "first_token_at", "last_token_at", "on_event",
                 "usage")

    def __init__(self, on_event: Callable[[object], None] | None = None) -> None:
        self.on_event = on_event  # also sees every parsed event (the cache fill uses it)
        self._tail = b""
        self.first_token_at: float | None = None
        self.last_token_at: float | None = None
        self.content_events = 0
        self.usage: Usage | None = None

    def feed(self, chunk: bytes, now: float) -> None:
        data = self._tail + chunk if self._tail else chunk
        events = data.split(b"\n\n")
        tail = events.pop()
        self._tail = tail if len(tail) <= _MAX_SSE_TAIL else b""
        for event in events:
            self._event(event, now)

    def _event(self, event: bytes, now: float) -> None:
        start = event.find(b"data:")
        if start < 0:
            return
        payload = event[start + 5 :].strip()
        if not payload or payload == b"[DONE]":
            return
        try:
            doc = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return
        if self.on_event is not None:
            self.on_event(doc)
        usage = _usage_of(doc)
        if usage is not None:
            self.usage = usage
        if has_content(doc):
            self.content_events += 1
            if self.first_token_at is None:
                self.first_token_at = now
            self.last_token_at = now


def has_content(doc: object) -> bool:
    """True when an OpenAI chunk carries generated text (content, reasoning or text)."""
    if not isinstance(doc, dict):
        return False
    choices = doc.get("choices")
    if not isinstance(choices, list):
        return False
    for choice in choices:
        if not isinstance(choice, dict):
            continue
        delta = choice.get("delta")
        if isinstance(delta, dict) and any(
            isinstance(delta.get(key), str) and delta[key]
            for key in ("content", "reasoning_content", "reasoning")
        ):
            return True
        text = choice.get("text")
        if isinstance(text, str) and text:
            return True
    return False


class JsonObserver:
    """Keeps a bounded JSON response body and reads `usage` at the end."""

    __slots__ = ("_chunks", "_size", "limit", "overflow")

    def __init__(self, limit: int) -> None:
        self._chunks: list[bytes] = []
        self._size = 0
        self.limit = limit
        self.overflow = False

    def feed(self, chunk: bytes) -> None:
        if self.overflow:
            return
        self._size += len(chunk)
        if self._size > self.limit:
            self.overflow = True
            self._chunks = []
            return
        self._chunks.append(chunk)

    def body(self) -> bytes | None:
        """The whole body, or None when it overflowed the limit."""
        return None if self.overflow else b"".join(self._chunks)

    def usage(self) -> Usage | None:
        body = self.body()
        if not body:
            return None
        try:
            return _usage_of(orjson.loads(body))
        except orjson.JSONDecodeError:
            return None
