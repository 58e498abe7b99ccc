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

# Words that flip an answer while barely moving an embedding ("sort ascending" vs
# "sort descending" scores 0.98 with MiniLM): a semantic hit must use the same ones.
_POLAR = frozenset({
    "ascending", "descending", "increase", "decrease", "increasing", "decreasing", "before",
    "after", "minimum", "maximum", "min", "max", "largest", "smallest", "highest", "lowest",
    "biggest", "least", "most", "more", "less", "fewer", "above", "below", "over", "under",
    "first", "last", "top", "bottom", "left", "right", "up", "down", "true", "false",
    "encrypt", "decrypt", "encode", "decode", "import", "export", "add", "remove", "enable",
    "disable", "start", "stop", "open", "close", "buy", "sell", "positive", "negative",
    "older", "newer", "oldest", "newest", "earliest", "latest", "inside", "outside",
})
_WORD = re.compile(r"[a-z']+")

Signature = tuple[tuple[str, ...], bool, tuple[str, ...]]


def lexical_signature(text: str) -> Signature:
    """What a semantic hit must share exactly: the numbers (as a multiset), whether the
    prompt is negated, and its polar words. Embeddings barely see any of these. A swap of
    word order ("10 miles in km" vs "10 km in miles") is still a known gap
    (docs/semantic.md); keep min_similarity high."""
    numbers = tuple(sorted(_NUMBER.findall(text)))
    words = set(_WORD.findall(text.lower()))
    return numbers, not _NEGATIONS.isdisjoint(words), tuple(sorted(words & _POLAR))
