"""Cache answers, keys and the in-memory store (exact path; semantic path in test_semantic)."""

from __future__ import annotations

import orjson

from extproc.cache.answer import CachedAnswer, SseAnswerBuilder, answer_from_json
from extproc.cache.keys import cacheable, exact_key
from extproc.cache.memory import MemoryCache
from extproc.observe import SseObserver
from extproc.parse.openai import ChatRequest, parse_body


def chat(**doc: object) -> ChatRequest:
    base: dict[str, object] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    parsed = parse_body(orjson.dumps({**base, **doc}), "chat", 1 << 20)
    assert isinstance(parsed, ChatRequest)
    return parsed


ANSWER = CachedAnswer("chat", "small-model", "Paris is the capital of France. " * 5, "stop", 9, 40)


def test_json_and_sse_renderings_round_trip() -> None:
    doc = orjson.loads(ANSWER.as_json("r1"))
    assert doc["choices"][0]["message"]["content"] == ANSWER.content
    assert doc["usage"]["total_tokens"] == 49
    assert answer_from_json(ANSWER.as_json("r1"), "chat") == ANSWER

    sse = ANSWER.as_sse("r1", include_usage=True)
    events = sse.decode().split("\n\n")
    assert events[-1] == "" and events[-2] == "data: [DONE]"
    assert all(e.startswith("data: ") for e in events[:-1])
    builder = SseAnswerBuilder("chat", 10_000)
    observer = SseObserver(builder.event)
    for i in range(0, len(sse), 7):  # arbitrary chunk boundaries
        observer.feed(sse[i : i + 7], 0.0)
    assert builder.answer() == ANSWER
    assert observer.usage is not None and observer.usage.completion_tokens == 40


def test_only_plain_single_answers_are_cacheable() -> None:
    assert cacheable(chat())
    assert not cacheable(chat(tools=[{"type": "function"}]))
    assert not cacheable(chat(n=3))
    tool_reply = orjson.dumps({"choices": [{"message": {"tool_calls": [{}], "content": None}}]})
    assert answer_from_json(tool_reply, "chat") is None
    assert answer_from_json(b"not json", "chat") is None
    builder = SseAnswerBuilder("chat", 10)
    builder.event({"choices": [{"index": 0, "delta": {"content": "x" * 50}}]})
    assert builder.answer() is None  # over the size limit


def test_exact_key_ignores_stream_but_not_answer_fields() -> None:
    assert exact_key(chat(), "s") == exact_key(chat(stream=True, user="u"), "s")
    assert exact_key(chat(), "s") != exact_key(chat(temperature=0.9), "s")
    assert exact_key(chat(), "a") != exact_key(chat(), "b")


def test_memory_cache_lru_and_ttl() -> None:
    cache = MemoryCache(max_entries=2, ttl_s=10)
    cache.put("a", "s", ANSWER, now=0.0)
    cache.put("b", "s", ANSWER, now=0.0)
    assert cache.get_exact("a", now=1.0) is not None  # a becomes most recent
    cache.put("c", "s", ANSWER, now=1.0)  # evicts b
    assert cache.get_exact("b", now=1.0) is None and cache.evictions == 1
    assert cache.get_exact("a", now=20.0) is None and cache.expired == 1
    assert len(cache) == 1


def test_semantic_lookup_with_real_index_and_lexical_guard() -> None:
    import numpy as np

    from extproc.cache.keys import lexical_signature
    from extproc.semantic.index import VectorIndex

    cache = MemoryCache(max_entries=3, ttl_s=100, index=VectorIndex(4, 3))
    base = np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32)
    near = np.array([0.98, 0.2, 0.0, 0.0], dtype=np.float32)
    far = np.array([0.0, 1.0, 0.0, 0.0], dtype=np.float32)
    sig = lexical_signature("convert 10 miles to km")
    cache.put("k1", "u:a", ANSWER, base, now=0.0, signature=sig)
    hit = cache.get_similar(near, 0.95, "u:a", sig, now=1.0)
    assert hit is not None and hit.kind == "semantic" and hit.similarity > 0.95
    assert cache.get_similar(far, 0.95, "u:a", sig, now=1.0) is None
    assert cache.get_similar(near, 0.95, "u:b", sig, now=1.0) is None  # other scope
    other_numbers = lexical_signature("convert 12 miles to km")
    assert cache.get_similar(near, 0.95, "u:a", other_numbers, now=1.0) is None
    negated = lexical_signature("do not convert 10 miles to km")
    assert cache.get_similar(near, 0.95, "u:a", negated, now=1.0) is None
    assert cache.lexical_rejects == 2
    for i in range(5):  # eviction keeps the index in step with the entries
        cache.put(f"x{i}", "u:a", ANSWER, far, now=2.0)
    assert len(cache) == 3 and cache.get_similar(near, 0.95, "u:a", sig, now=3.0) is None
    assert cache.get_similar(base, 0.95, "u:a", sig, now=200.0) is None  # expired


def test_lexical_signature_catches_polar_words_numbers_and_negation() -> None:
    from extproc.cache.keys import lexical_signature

    same = lexical_signature("What is the capital city of France?")
    assert same == lexical_signature("Which city is the capital of France?")
    assert lexical_signature("sort [3, 1, 2] ascending") != lexical_signature(
        "sort [3, 1, 2] descending")
    assert lexical_signature("is 7 prime") != lexical_signature("is 9 prime")
    assert lexical_signature("a country in Europe") != lexical_signature(
        "a country not in Europe")
