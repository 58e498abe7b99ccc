"""Request-side steps that run before the decision when configured: the prompt guard,
cache lookups (exact, then semantic) and their responses."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from envoy.service.ext_proc.v3.external_processor_pb2 import ProcessingResponse

from extproc.cache.fill import CacheFill
from extproc.cache.keys import cacheable, exact_key, lexical_signature
from extproc.cache.keys import semantic_text as _semantic_text
from extproc.cache.memory import CacheHit
from extproc.decision.model import Decision
from extproc.decision.policies import TRUE_VALUES
from extproc.parse.openai import ChatRequest, error_body
from extproc.router import Router
from extproc.wire.responses import GUARD_HEADER, _set, immediate

__all__ = [
    "CacheHit",
    "Preflight",
    "annotated",
    "cache_fill",
    "cache_hit_response",
    "cache_lookup_exact",
    "cache_lookup_similar",
    "guard_block",
    "guard_request",
    "keep_private",
    "semantic_text",
]

semantic_text = _semantic_text
_ACTION_RANK = {"annotate": 0, "private": 1, "block": 2}


@dataclass(slots=True)
class Preflight:
    """What the steps before the decision found out about the request."""

    flagged: bool = False  # the guard found something: never cached
    private_only: bool = False
    annotate: str = ""  # guard categories for the upstream x-extproc-guard header
    cache_key: str | None = None  # set when this request may be cached
    scope: str = "global"
    vector: np.ndarray | None = None
    category: str | None = None
    category_confidence: float = 0.0
    signature: object = None  # lexical signature (numbers, negation) for semantic hits


# ---- guard ---------------------------------------------------------------------------


def guard_block(router: Router, code: str, message: str) -> ProcessingResponse:
    return immediate(400, error_body(code, message, 400), f"extproc_{code}")


def guard_request(router: Router, chat: ChatRequest, pre: Preflight) -> ProcessingResponse | None:
    """Scan the prompt; block, restrict to private tiers, or annotate per config."""
    guard = router.guard
    assert guard is not None
    cfg = router.config.guard
    result = guard.scan(chat.text)
    actions: dict[str, str] = {}
    if result.has("pii"):
        actions["pii"] = cfg.pii_action
    if result.has("secret"):
        actions["secret"] = cfg.secret_action
    if result.has("jailbreak", cfg.min_jailbreak_severity):
        actions["jailbreak"] = cfg.jailbreak_action
    if not actions:
        return None
    pre.flagged = True
    for category, action in actions.items():
        router.metrics.guard.labels(category, action).inc()
    action = max(actions.values(), key=_ACTION_RANK.__getitem__)
    kinds = ",".join(sorted(result.kinds))
    if action == "block":
        found = ", ".join(sorted(actions))
        return guard_block(router, "prompt_blocked",
                           f"request blocked by the prompt guard ({found}: {kinds})")
    if action == "private":
        pre.private_only = True
    pre.annotate = ",".join(sorted(actions))
    return None


def keep_private(router: Router, decision: Decision) -> Decision | None:
    """The decision moved to a private tier (its own if private), or None if there is none."""
    tiers = router.config.tiers
    if tiers[decision.tier].private:
        return decision
    for name, tier in tiers.items():
        if tier.private:
            return Decision(name, tier.cluster, tier.model, "guard", "guard_private",
                            decision.score, decision.arm, decision.features)
    return None


def annotated(response: ProcessingResponse, categories: str) -> ProcessingResponse:
    """A copy of a body-phase response that also tells the upstream what the guard saw."""
    copy = ProcessingResponse()
    copy.CopyFrom(response)
    if copy.HasField("request_body"):
        mutation = copy.request_body.response.header_mutation
        mutation.set_headers.append(_set(GUARD_HEADER, categories))
    return copy


# ---- cache ---------------------------------------------------------------------------


def _scope(router: Router, headers: Mapping[str, str]) -> str | None:
    cfg = router.config.cache
    if cfg.scope_header is None:
        return "global"
    value = headers.get(cfg.scope_header)
    if value:  # hashed: an API key never sits in memory or keys in clear
        return "h:" + hashlib.blake2b(value.encode(), digest_size=12).hexdigest()
    return None if cfg.require_scope else "global"


def cache_lookup_exact(
    router: Router, chat: ChatRequest, headers: Mapping[str, str], pre: Preflight
) -> CacheHit | None:
    """Exact lookup; also decides whether this request may be cached (sets pre.cache_key)."""
    cache = router.cache
    assert cache is not None
    cfg = router.config.cache
    if headers.get(cfg.bypass_header, "").strip().lower() in TRUE_VALUES:
        return None
    if "no-cache" in headers.get("cache-control", "").lower() or not cacheable(chat):
        return None
    scope = _scope(router, headers)
    if scope is None:
        return None
    pre.scope = scope
    pre.cache_key = exact_key(chat, scope)
    pre.signature = lexical_signature(_semantic_text(chat))
    start = time.perf_counter()
    hit = cache.get_exact(pre.cache_key)
    elapsed = time.perf_counter() - start
    if hit is not None:
        router.metrics.cache_lookup.child("hit").observe(elapsed)
        router.metrics.cache_hits.labels("exact").inc()
    elif not router.semantic.active or not cfg.semantic:
        router.metrics.cache_lookup.child("miss").observe(elapsed)
        router.metrics.cache_misses.inc()
    return hit


def cache_lookup_similar(router: Router, pre: Preflight) -> CacheHit | None:
    cache = router.cache
    assert cache is not None and pre.vector is not None
    cfg = router.config.cache
    if not cfg.semantic:
        return None
    start = time.perf_counter()
    hit = cache.get_similar(pre.vector, cfg.min_similarity, pre.scope, pre.signature)
    elapsed = time.perf_counter() - start
    if hit is not None:
        router.metrics.cache_lookup.child("hit").observe(elapsed)
        router.metrics.cache_hits.labels("semantic").inc()
    else:
        router.metrics.cache_lookup.child("miss").observe(elapsed)
        router.metrics.cache_misses.inc()
    return hit


def cache_fill(router: Router, chat: ChatRequest, pre: Preflight) -> CacheFill | None:
    cache = router.cache
    cfg = router.config.cache
    if cache is None or pre.cache_key is None:
        return None
    if cfg.categories is not None and pre.category not in cfg.categories:
        return None
    return CacheFill(cache, pre.cache_key, pre.scope, chat.kind, pre.vector,
                     cfg.max_entry_bytes, pre.signature)


def cache_hit_response(
    router: Router, hit: CacheHit, chat: ChatRequest, request_id: str
) -> ProcessingResponse:
    """200 straight from the router: JSON, or a full SSE stream when the client streams."""
    options = chat.document.get("stream_options")
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    if chat.stream:
        body = hit.answer.as_sse(request_id or "hit", include_usage)
        content_type = "text/event-stream"
    else:
        body = hit.answer.as_json(request_id or "hit")
        content_type = "application/json"
    response = immediate(200, body, f"extproc_cache_{hit.kind}")
    headers = response.immediate_response.headers.set_headers
    del headers[:]
    headers.extend([
        _set("content-type", content_type),
        _set("x-cache", f"hit-{hit.kind}"),
        _set("x-cache-similarity", f"{hit.similarity:.4f}"),
    ])
    if router.config.routing.response_headers:
        headers.extend([_set("x-route-tier", "cache"), _set("x-route-reason", f"cache_{hit.kind}")])
    return response
