"""Parse OpenAI-style /v1/chat/completions and /v1/completions bodies.

Parsing never raises: every problem becomes a `BadRequest` with a stable `kind`
(used in metrics and error bodies) and a human-readable message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson

BadRequestKind = Literal["empty_body", "malformed_json", "not_json", "bad_shape", "too_large"]
_MAX_TEXT_PARTS = 4096  # bound the work on giant message arrays


@dataclass(slots=True)
class ChatRequest:
    """What the router needs from an OpenAI request body (read-only; not frozen because a
    frozen dataclass costs ~7x as much to build, once per request)."""

    kind: Literal["chat", "completion"]
    model: str | None
    text: str  # system + user text joined by newlines (what the scorer reads)
    stream: bool
    max_tokens: int | None
    message_count: int
    document: dict[str, Any]  # the parsed body, for rewrites


@dataclass(frozen=True, slots=True)
class BadRequest:
    kind: BadRequestKind
    message: str


def is_json_content_type(value: str | None) -> bool:
    """True for application/json (with parameters) and +json types; missing counts as JSON."""
    if not value:
        return True
    media = value.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _content_text(content: Any, out: list[str]) -> None:
    """Append text from a message `content`: a string or a list of content parts."""
    if isinstance(content, str):
        out.append(content)
    elif isinstance(content, list):
        for part in content[:_MAX_TEXT_PARTS]:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, dict):
                text = part.get("text")
                if isinstance(text, str):
                    out.append(text)


def _chat_text(messages: list[Any]) -> str:
    parts: list[str] = []
    for message in messages[:_MAX_TEXT_PARTS]:
        if isinstance(message, dict) and message.get("role") in ("system", "developer", "user"):
            _content_text(message.get("content"), parts)
    return "\n".join(parts)


def _prompt_text(prompt: Any) -> str | None:
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list) and all(isinstance(p, str) for p in prompt[:_MAX_TEXT_PARTS]):
        return "\n".join(prompt[:_MAX_TEXT_PARTS])
    if isinstance(prompt, list):  # token-id prompts: no text to score
        return ""
    return None


def _max_tokens(doc: dict[str, Any]) -> int | None:
    value = doc.get("max_completion_tokens", doc.get("max_tokens"))
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_body(
    body: bytes, kind: Literal["chat", "completion", "auto"], max_bytes: int
) -> ChatRequest | BadRequest:
    """Parse a request body of the given API kind; "auto" tells them apart by the body
    (`messages` → chat, else `prompt` → completion), for the fast mode, which sees no path."""
    if len(body) > max_bytes:
        return BadRequest("too_large", f"request body is {len(body)} bytes; limit is {max_bytes}")
    if not body.strip():
        return BadRequest("empty_body", "request body is empty")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return BadRequest("malformed_json", f"request body is not valid JSON: {exc}")
    if not isinstance(doc, dict):
        return BadRequest("bad_shape", "request body must be a JSON object")
    model = doc.get("model")
    if model is not None and not isinstance(model, str):
        return BadRequest("bad_shape", "`model` must be a string")
    if kind == "auto":
        if "messages" not in doc and "prompt" not in doc:
            return BadRequest("bad_shape", "a `messages` or a `prompt` field is required")
        kind = "chat" if "messages" in doc else "completion"
    if kind == "chat":
        messages = doc.get("messages")
        if not isinstance(messages, list) or not messages:
            return BadRequest("bad_shape", "`messages` must be a non-empty array")
        text = _chat_text(messages)
        count = len(messages)
    else:
        prompt_text = _prompt_text(doc.get("prompt"))
        if prompt_text is None:
            return BadRequest("bad_shape", "`prompt` must be a string or an array")
        text, count = prompt_text, 1
    return ChatRequest(
        kind=kind,
        model=model,
        text=text,
        stream=doc.get("stream") is True,
        max_tokens=_max_tokens(doc),
        message_count=count,
        document=doc,
    )


def body_with(
    request: ChatRequest,
    model: str | None = None,
    include_usage: bool = False,
    patch: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The body document with `model` replaced, `stream_options.include_usage` set and a
    merge `patch` applied (objects merge, other values replace); the original is untouched."""
    doc = dict(request.document)
    if model is not None:
        doc["model"] = model
    if include_usage:
        options = doc.get("stream_options")
        options = dict(options) if isinstance(options, dict) else {}
        options["include_usage"] = True
        doc["stream_options"] = options
    if patch:
        doc = merge_patch(doc, patch)
    return doc


def merge_patch(doc: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """Merge `patch` into a copy of `doc`: nested objects merge, other values replace."""
    out = dict(doc)
    for key, value in patch.items():
        current = out.get(key)
        if isinstance(value, Mapping) and isinstance(current, dict):
            out[key] = merge_patch(current, value)
        else:
            out[key] = value
    return out


def rewrite_body(request: ChatRequest, model: str | None = None,
                 include_usage: bool = False) -> bytes:
    """Serialize `body_with(...)`; every other field is kept."""
    return orjson.dumps(body_with(request, model=model, include_usage=include_usage))


def error_body(kind: str, message: str, code: int) -> bytes:
    """An OpenAI-style JSON error body."""
    err_type = "invalid_request_error" if code < 500 else "server_error"
    return orjson.dumps({"error": {"message": message, "type": err_type, "code": kind}})
