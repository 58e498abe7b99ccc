"""Cache keys: what makes two requests "the same" for the exact-match cache."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from extproc.parse.openai import ChatRequest

# Fields that change the answer. Everything else (user, metadata, stream, stream_options)
# does not: a streaming and a non-streaming request share an entry.
_ANSWER_FIELDS = (
    "model", "messages", "prompt", "temperature", "top_p", "max_tokens",
    "max_completion_tokens", "stop", "seed", "response_format", "frequency_penalty",
    "presence_penalty", "logit_bias", "reasoning_effort", "chat_template_kwargs", "suffix",
)


def cacheable(request: ChatRequest) -> bool:
    """Plain single-answer requests only: no tools, one choice, no logprobs."""
    doc = request.document
    if doc.get("tools") or doc.get("functions") or doc.get("logprobs"):
        return False
    n = doc.get("n")
    return n is None or n == 1


def exact_key(request: ChatRequest, scope: str) -> str:
    doc: dict[str, Any] = {k: request.document[k] for k in _ANSWER_FIELDS if k in request.document}
    canonical = orjson.dumps([request.kind, scope, doc], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def semantic_text(request: ChatRequest) -> str:
    """The text whose meaning keys the semantic cache: the request's prompt text."""
    return request.text
