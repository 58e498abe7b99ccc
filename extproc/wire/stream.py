"""Per-stream state machine: one ext_proc stream is one HTTP request.

Reads top to bottom: wire (ProcessingRequest) → parse (headers, body) → signals →
decision → mutation (ProcessingResponse). Every message gets the response type that
matches it; an exception inside a phase is logged, counted and answered fail-open.
State lives on this object, so it is freed with the stream (nothing grows per request).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable
from typing import Literal

import orjson
from envoy.extensions.filters.http.ext_proc.v3.processing_mode_pb2 import ProcessingMode
from envoy.service.ext_proc.v3.external_processor_pb2 import (
    HttpBody,
    HttpHeaders,
    ProcessingRequest,
    ProcessingResponse,
)

from extproc.decision.model import Decision, RequestFacts
from extproc.decision.signals import Signals
from extproc.parse.openai import (
    BadRequest,
    ChatRequest,
    body_with,
    error_body,
    is_json_content_type,
    parse_body,
)
from extproc.router import Router
from extproc.wire.exchange import Exchange
from extproc.wire.headers import header_text
from extproc.wire.preflight import (
    CacheHit,
    Preflight,
    annotated,
    cache_fill,
    cache_hit_response,
    cache_lookup_exact,
    cache_lookup_similar,
    guard_block,
    guard_request,
    keep_private,
    semantic_text,
)
from extproc.wire.responses import (
    CONTINUE_REQUEST_BODY,
    CONTINUE_REQUEST_HEADERS,
    CONTINUE_REQUEST_TRAILERS,
    CONTINUE_RESPONSE_BODY,
    CONTINUE_RESPONSE_HEADERS,
    CONTINUE_RESPONSE_TRAILERS,
    GUARD_HEADER,
    METADATA_NAMESPACE,
    immediate,
)

log = logging.getLogger("extproc.stream")

_UNSET = -1
_STREAMED = ProcessingMode.STREAMED
_BUFFERED_PARTIAL = ProcessingMode.BUFFERED_PARTIAL
_NONE = ProcessingMode.NONE

# ext_proc request attributes (fast mode) → the header names the rest of the code reads
_ATTRIBUTE_HEADERS = (
    ("request.id", "x-request-id"),
    ("request.path", ":path"),
    ("request.url_path", ":path"),
    ("request.method", ":method"),
)

_CONTINUE = {
    "request_headers": CONTINUE_REQUEST_HEADERS,
    "request_body": CONTINUE_REQUEST_BODY,
    "response_headers": CONTINUE_RESPONSE_HEADERS,
    "response_body": CONTINUE_RESPONSE_BODY,
    "request_trailers": CONTINUE_REQUEST_TRAILERS,
    "response_trailers": CONTINUE_RESPONSE_TRAILERS,
}


class StreamHandler:
    """Answers the messages of one ext_proc stream."""

    __slots__ = (
        "_body_mode",
        "_chunks",
        "_kind",
        "_received",
        "_router",
        "_started",
        "decision",
        "exchange",
        "fast",
        "headers",
        "observe_only",
    )

    def __init__(self, router: Router) -> None:
        self._router = router
        self._body_mode = _UNSET
        self._chunks: list[bytes] = []
        self._received = 0
        self._kind: Literal["chat", "completion", "auto"] | None = None  # None: pass through
        self._started = 0.0
        self.decision: Decision | None = None
        self.exchange: Exchange | None = None
        self.fast = False  # request headers skipped: answer with dynamic metadata
        self.headers: dict[str, str] = {}
        self.observe_only = False

    # ---- wire ---------------------------------------------------------------------------

    def handle(
        self, request: ProcessingRequest
    ) -> ProcessingResponse | Awaitable[ProcessingResponse | None] | None:
        """One message in, its matching response out (None in observability mode). A body
        that needs the semantic layer is answered by an awaitable (embedding off-loop)."""
        phase = request.WhichOneof("request")
        if phase is None:
            self._router.metrics.stream_errors.labels("empty_message").inc()
            return None
        if request.observability_mode:
            self.observe_only = True
        start = time.perf_counter()
        try:
            response = self._dispatch(phase, request)
        except Exception:
            self._router.metrics.stream_errors.labels(phase).inc()
            log.exception("error in %s; answering fail-open", phase)
            response = self._fail_open(phase)
        if not isinstance(response, ProcessingResponse):
            return self._finish_async(response, phase, start)
        self._router.metrics.phase_seconds[phase].observe(time.perf_counter() - start)
        return None if self.observe_only else response

    async def _finish_async(
        self, pending: Awaitable[ProcessingResponse], phase: str, start: float
    ) -> ProcessingResponse | None:
        try:
            response = await pending
        except Exception:
            self._router.metrics.stream_errors.labels(phase).inc()
            log.exception("error in %s; answering fail-open", phase)
            response = self._fail_open(phase)
        self._router.metrics.phase_seconds[phase].observe(time.perf_counter() - start)
        return None if self.observe_only else response

    def _dispatch(
        self, phase: str, request: ProcessingRequest
    ) -> ProcessingResponse | Awaitable[ProcessingResponse]:
        if phase == "request_headers":
            if request.HasField("protocol_config"):
                self._body_mode = request.protocol_config.request_body_mode
            return self._on_request_headers(request.request_headers)
        if phase == "request_body":
            if self._started == 0.0:  # no request headers: fast mode, facts from attributes
                self._fast_mode_facts(request)
            return self._on_request_body(request.request_body)
        if phase == "response_headers":
            if self.exchange is None:
                return CONTINUE_RESPONSE_HEADERS
            return self.exchange.on_response_headers(request.response_headers)
        if phase == "response_body" and self.exchange is not None:
            return self.exchange.on_response_body(request.response_body)
        return _CONTINUE[phase]

    def close(self) -> None:
        """The stream ended (normally or not): settle the exchange's accounting."""
        if self.exchange is not None:
            self.exchange.close()

    def _fail_open(self, phase: str) -> ProcessingResponse:
        if phase in ("request_headers", "request_body") and self.decision is None:
            self._router.metrics.fail_open.labels("error").inc()
            return self._route(self._router.pipeline.default("fail_open_error"), phase)
        return _CONTINUE[phase]

    # ---- parse --------------------------------------------------------------------------

    def _fast_mode_facts(self, request: ProcessingRequest) -> None:
        """Fast mode: request headers were skipped; the request id (and the path, method and
        headers the rules need, when Envoy is told to send them) come from ext_proc
        `request_attributes`. Without a path the body tells chat from completions."""
        router = self._router
        self.fast = True
        self._started = time.monotonic()
        headers = self.headers
        attributes = request.attributes.get(METADATA_NAMESPACE)
        if attributes is not None:
            fields = attributes.fields  # a upb map: get() is cheap, items() is not
            for name, key in _ATTRIBUTE_HEADERS:
                value = fields.get(name)
                if value is not None:
                    text = value.string_value  # "" when not a string
                    if text:
                        headers[key] = text
            sent = fields.get("request.headers") if router.reads_headers else None
            if sent is not None and sent.HasField("struct_value"):
                wanted = router.wanted_headers
                for header, value in sent.struct_value.fields.items():
                    lowered = header.lower()
                    if lowered in wanted and value.HasField("string_value"):
                        headers.setdefault(lowered, value.string_value)
        path = headers.get(":path")
        # the route sent only LLM calls here: a configured path names the API, else the body
        self._kind = router.api_paths.get(path.split("?", 1)[0], "auto") if path else "auto"
        headers.setdefault(":method", "POST")

    def _on_request_headers(self, msg: HttpHeaders) -> ProcessingResponse:
        router = self._router
        self._started = time.monotonic()
        wanted = router.wanted_headers
        headers = self.headers
        for header in msg.headers.headers:
            key = header.key
            if key in wanted:
                headers[key] = header_text(header)
        routing = router.config.routing
        spoofed = routing.header in headers or GUARD_HEADER in headers
        if spoofed:
            router.metrics.spoofed_headers.inc()
        path = headers.get(":path", "").split("?", 1)[0]
        self._kind = router.api_paths.get(path)
        if self._kind is None or headers.get(":method") != "POST":
            router.metrics.passthrough.inc()
            return router.responses.passthrough_headers
        if not is_json_content_type(headers.get("content-type")):
            return self._bad(
                BadRequest("not_json", "content-type must be application/json"), "request_headers"
            )
        if msg.end_of_stream:
            return self._bad(BadRequest("empty_body", "request body is empty"), "request_headers")
        limit = router.config.request.max_body_bytes
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return self._bad(
                BadRequest("too_large", f"request body is {declared} bytes; limit is {limit}"),
                "request_headers",
            )
        if self._body_mode == _NONE:  # Envoy will send no body: decide on headers alone
            return self._decide(None, "request_headers")
        return router.responses.strip_routing_header if spoofed else CONTINUE_REQUEST_HEADERS

    def _on_request_body(
        self, msg: HttpBody
    ) -> ProcessingResponse | Awaitable[ProcessingResponse]:
        if self.decision is not None or self._kind is None:
            return CONTINUE_REQUEST_BODY
        limit = self._router.config.request.max_body_bytes
        chunk = msg.body
        self._received += len(chunk)
        if self._received <= limit:
            self._chunks.append(chunk)
        if not msg.end_of_stream:
            if self._body_mode == _BUFFERED_PARTIAL:  # Envoy hit its buffer limit
                return self._bad(
                    BadRequest("too_large", "request body exceeds Envoy's buffer limit"),
                    "request_body",
                )
            return CONTINUE_REQUEST_BODY  # STREAMED (or unknown mode): wait for the end
        if self._received > limit:
            return self._bad(
                BadRequest(
                    "too_large", f"request body is {self._received} bytes; limit is {limit}"
                ),
                "request_body",
            )
        body = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks = []
        parsed = parse_body(body, self._kind, limit)
        if isinstance(parsed, BadRequest):
            return self._bad(parsed, "request_body")
        router = self._router
        if router.guard is None and router.cache is None and not router.semantic.active:
            return self._decide(parsed, "request_body")
        return self._preflight(parsed)

    # ---- guard, cache and meaning (only when configured) -----------------------------

    def _preflight(self, chat: ChatRequest) -> ProcessingResponse | Awaitable[ProcessingResponse]:
        """Guard → exact cache → (async) embedding: semantic cache, category → decide."""
        router = self._router
        pre = Preflight()
        if router.guard is not None:
            blocked = guard_request(router, chat, pre)
            if blocked is not None:
                return blocked
        if router.cache is not None and not pre.flagged:
            hit = cache_lookup_exact(router, chat, self.headers, pre)
            if hit is not None:
                return self._cache_answer(hit, chat)
        if router.semantic.active:
            return self._decide_with_meaning(chat, pre)
        return self._decide(chat, "request_body", pre)

    async def _decide_with_meaning(self, chat: ChatRequest, pre: Preflight) -> ProcessingResponse:
        router = self._router
        pre.vector = await router.semantic.vector(semantic_text(chat))
        if pre.cache_key is not None and pre.vector is not None:
            hit = cache_lookup_similar(router, pre)
            if hit is not None:
                return self._cache_answer(hit, chat)
        category, confidence = router.semantic.classify(pre.vector)
        pre.category, pre.category_confidence = category, confidence
        return self._decide(chat, "request_body", pre)

    def _cache_answer(self, hit: CacheHit, chat: ChatRequest) -> ProcessingResponse:
        router = self._router
        request_id = self.headers.get("x-request-id", "")
        self._log_cache_hit(hit, chat)
        return cache_hit_response(router, hit, chat, request_id)

    # ---- decision -----------------------------------------------------------------------

    def _facts(self, chat: ChatRequest | None) -> RequestFacts:
        headers = self.headers
        override_header = self._router.override_header
        return RequestFacts(
            path=headers.get(":path", ""),
            method=headers.get(":method", ""),
            request_id=headers.get("x-request-id", ""),
            override=headers.get(override_header) if override_header else None,
            chat=chat,
            headers=headers,
        )

    def _decide(
        self, chat: ChatRequest | None, phase: str, pre: Preflight | None = None
    ) -> ProcessingResponse:
        router = self._router
        start = time.perf_counter()
        signals = Signals(self._facts(chat), router.scorer, router.backend)
        if pre is not None:
            signals.category = pre.category
            signals.category_confidence = pre.category_confidence
            signals.vector = pre.vector
        decision = router.pipeline.decide(signals)
        if pre is not None and pre.private_only:
            private = keep_private(router, decision)
            if private is None:
                return guard_block(router, "no_private_tier",
                                   "the prompt may only go to a private tier; none is configured")
            decision = private
        elapsed = time.perf_counter() - start
        router.metrics.decision_seconds.observe(elapsed)
        if elapsed > router.decision_budget_s:
            router.metrics.slow_decisions.inc()
            log.warning(
                "decision took %.1f ms (budget %.1f ms)",
                elapsed * 1000.0,
                router.config.routing.decision_budget_ms,
            )
        new_body = (
            self._new_body(chat, decision, signals)
            if chat is not None and router.may_rewrite_body
            else None
        )
        self._log_decision(decision, signals.facts, elapsed)
        if router.capture is not None and chat is not None:  # opt-in prompt capture
            router.capture.record(signals.facts.request_id, decision, chat)
        response = self._route(decision, phase, new_body)
        if pre is not None:
            if pre.cache_key is not None and chat is not None and self.exchange is not None:
                self.exchange.fill = cache_fill(router, chat, pre)
            if pre.annotate:
                response = annotated(response, pre.annotate)
        return response

    def _new_body(self, chat: ChatRequest, decision: Decision, signals: Signals) -> bytes | None:
        """The rewritten body (model, stream usage, reasoning switch), or None to keep it."""
        router = self._router
        config = router.config
        model = decision.model if config.routing.rewrite_model else None
        if model == chat.model:
            model = None
        include_usage = config.observe.inject_stream_usage and chat.stream
        plan = None
        if router.reasoning.enabled:
            plan = router.reasoning.plan(
                decision.tier, chat.document, signals.complexity_value(), signals.category
            )
            if plan is not None:
                router.metrics.count_reasoning(decision.tier, plan.family, plan.mode)
        if model is None and not include_usage and plan is None:
            return None
        doc = body_with(chat, model, include_usage, plan.patch if plan else None)
        return orjson.dumps(doc)

    def _bad(self, bad: BadRequest, phase: str) -> ProcessingResponse:
        router = self._router
        cfg = router.config.request
        action = cfg.on_oversized if bad.kind == "too_large" else cfg.on_bad_request
        router.metrics.bad_requests.labels(bad.kind, action).inc()
        log.info("bad request (%s): %s; action=%s", bad.kind, bad.message, action)
        if action == "reject":
            status = 413 if bad.kind == "too_large" else 400
            return immediate(
                status, error_body(bad.kind, bad.message, status), f"extproc_{bad.kind}"
            )
        decision = router.pipeline.default(f"bad_request_{bad.kind}")
        self._log_decision(decision, self._facts(None), 0.0)
        return self._route(decision, phase)

    # ---- mutation -----------------------------------------------------------------------

    def _route(
        self, decision: Decision, phase: str, new_body: bytes | None = None
    ) -> ProcessingResponse:
        self.decision = decision
        router = self._router
        router.metrics.count_decision(decision.tier, decision.reason)
        request_id = self.headers.get("x-request-id", "")
        if decision.arm is not None:
            router.metrics.count_arm(decision.rule, decision.arm)
            if decision.rule in router.learners:
                router.decisions.remember(request_id, decision)
        responses = router.responses
        if self.fast:  # no response-side messages: outcomes arrive through the access log
            routed = responses.route_by_metadata(decision.tier, decision.reason, decision.arm)
            if new_body is None:
                return routed
            response = ProcessingResponse()
            response.CopyFrom(routed)
            response.request_body.response.body_mutation.body = new_body
            return response
        self.exchange = Exchange(router, decision, self._started)
        if phase == "request_headers":
            return responses.route_on_headers(decision.tier)
        if new_body is not None:
            return responses.route_with_new_body(decision.tier, new_body)
        return responses.route_on_body(decision.tier)

    def _log_cache_hit(self, hit: CacheHit, chat: ChatRequest) -> None:
        log_sink = self._router.decision_log
        if log_sink is not None:
            log_sink.emit({"event": "cache_hit", "request_id": self.headers.get("x-request-id",
                           ""), "kind": hit.kind, "similarity": round(hit.similarity, 4),
                           "stream": chat.stream})

    def _log_decision(self, decision: Decision, facts: RequestFacts, elapsed_s: float) -> None:
        log_sink = self._router.decision_log
        if log_sink is None:
            return
        chat = facts.chat
        log_sink.emit(
            {
                "event": "decision",
                "request_id": facts.request_id,
                "path": facts.path,
                "tier": decision.tier,
                "cluster": decision.cluster,
                "model": decision.model,
                "requested_model": chat.model if chat else None,
                "rule": decision.rule,
                "reason": decision.reason,
                "score": None if decision.score is None else round(decision.score, 4),
                "stream": chat.stream if chat else None,
                "decision_us": round(elapsed_s * 1e6, 1),
            }
        )
