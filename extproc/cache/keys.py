"""Cache keys: what makes two requests "the same" for the exact-match cache."""

from __future__ import annotations

import hashlib
import re
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


_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NEGATIONS = frozenset({"not", "no", "never", "without", "except", "don't", "doesn't",
                        "isn't", "aren't", "can't", "cannot", "won't", "shouldn't"})

Signature = tuple[tuple[str, ...], bool]


def lexical_signature(text: str) -> Signature:
    """What a semantic hit must share exactly: the numbers (as a multiset) and whether the
    prompt is negated. Embeddings barely see either ("10 miles in km" ≈ "10 km in miles"
    is the known gap; docs/semantic.md)."""
    numbers = tuple(sorted(_NUMBER.findall(text)))
    words = set(text.lower().split())
    return numbers, not _NEGATIONS.isdisjoint(words)
