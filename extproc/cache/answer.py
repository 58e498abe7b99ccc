"""A cached answer in a neutral form, rebuilt as a JSON completion or as an SSE stream.

Only plain text answers are cached (one choice, no tool calls); that is what can be replayed
faithfully to both streaming and non-streaming clients.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson

from extproc.observe import has_content


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    kind: str  # "chat" | "completion"
    model: str
    content: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int

    def size(self) -> int:
        return len(self.content) + len(self.model) + 64

    def to_bytes(self) -> bytes:
        return orjson.dumps([self.kind, self.model, self.content, self.finish_reason,
                             self.prompt_tokens, self.completion_tokens])

    @classmethod
    def from_bytes(cls, data: bytes) -> CachedAnswer | None:
        try:
            kind, model, content, finish, prompt, completion = orjson.loads(data)
            return cls(str(kind), str(model), str(content), str(finish), int(prompt),
                       int(completion))
        except (orjson.JSONDecodeError, TypeError, ValueError):
            return None

    def _usage(self) -> dict[str, int]:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens}

    def as_json(self, request_id: str) -> bytes:
        choice: dict[str, Any] = {"index": 0, "finish_reason": self.finish_reason}
        if self.kind == "chat":
            choice["message"] = {"role": "assistant", "content": self.content}
        else:
            choice["text"] = self.content
        return orjson.dumps({
            "id": f"cache-{request_id}",
            "object": "chat.completion" if self.kind == "chat" else "text_completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [choice],
            "usage": self._usage(),
        })

    def as_sse(self, request_id: str, include_usage: bool, chunk_chars: int = 64) -> bytes:
        """A valid SSE stream: content chunks, a finish chunk, optional usage, [DONE]."""
        created = int(time.time())
        base = {"id": f"cache-{request_id}", "created": created, "model": self.model,
                "object": "chat.completion.chunk" if self.kind == "chat" else
                "text_completion"}
        parts: list[bytes] = []

        def event(choices: list[dict[str, Any]], **extra: Any) -> None:
            parts.append(b"data: " + orjson.dumps({**base, "choices": choices, **extra})
                         + b"\n\n")

        text = self.content
        if self.kind == "chat":
            event([{"index": 0, "delta": {"role": "assistant", "content": ""}}])
        for start in range(0, len(text), chunk_chars):
            piece = text[start:start + chunk_chars]
            if self.kind == "chat":
                event([{"index": 0, "delta": {"content": piece}}])
            else:
                event([{"index": 0, "text": piece}])
        final: dict[str, Any] = {"index": 0, "finish_reason": self.finish_reason}
        final["delta" if self.kind == "chat" else "text"] = {} if self.kind == "chat" else ""
        event([final])
        if include_usage:
            event([], usage=self._usage())
        parts.append(b"data: [DONE]\n\n")
        return b"".join(parts)


def answer_from_json(body: bytes, kind: str) -> CachedAnswer | None:
    """From a non-streaming completion body; None unless it is one plain text choice."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict):
        return None
    choices = doc.get("choices")
    if not isinstance(choices, list) or len(choices) != 1 or not isinstance(choices[0], dict):
        return None
    choice = choices[0]
    if kind == "chat":
        message = choice.get("message")
        if not isinstance(message, dict) or message.get("tool_calls"):
            return None
        content = message.get("content")
    else:
        content = choice.get("text")
    if not isinstance(content, str) or not content:
        return None
    raw_usage = doc.get("usage")
    usage: dict[str, Any] = raw_usage if isinstance(raw_usage, dict) else {}
    return CachedAnswer(
        kind=kind,
        model=str(doc.get("model") or ""),
        content=content,
        finish_reason=str(choice.get("finish_reason") or "stop"),
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
    )


class SseAnswerBuilder:
    """Accumulates an SSE stream's text (bounded); `answer()` at the end."""

    __slots__ = ("_parts", "_size", "finish_reason", "kind", "limit", "model", "usable", "usage")

    def __init__(self, kind: str, limit: int) -> None:
        self.kind = kind
        self.limit = limit
        self._parts: list[str] = []
        self._size = 0
        self.model = ""
        self.finish_reason = "stop"
        self.usable = True
        self.usage = (0, 0)

    def event(self, doc: object) -> None:
        if not self.usable or not isinstance(doc, dict):
            return
        self.model = self.model or str(doc.get("model") or "")
        usage = doc.get("usage")
        if isinstance(usage, dict):
            self.usage = (int(usage.get("prompt_tokens") or 0),
                          int(usage.get("completion_tokens") or 0))
        choices = doc.get("choices")
        if not isinstance(choices, list):
            return
        for choice in choices:
            if not isinstance(choice, dict):
                continue
            if choice.get("index", 0) != 0:
                self.usable = False  # n > 1
                return
            delta = choice.get("delta")
            if isinstance(delta, dict) and delta.get("tool_calls"):
                self.usable = False
                return
            if choice.get("finish_reason"):
                self.finish_reason = str(choice["finish_reason"])
            if has_content(doc):
                text = delta.get("content") if isinstance(delta, dict) else choice.get("text")
                if isinstance(text, str):
                    self._parts.append(text)
                    self._size += len(text)
                    if self._size > self.limit:
                        self.usable = False

    def answer(self) -> CachedAnswer | None:
        if not self.usable or not self._parts:
            return None
        return CachedAnswer(self.kind, self.model, "".join(self._parts), self.finish_reason,
                            self.usage[0], self.usage[1])
