"""One routed request's outcome, from dispatch to the end of its response.

Created when the router dispatches a request to a tier. It answers the response-side
messages (headers, body chunks) and records status, time to first byte, SSE time to first
token and per output token, token usage and cost — into metrics, the latency EMA and the
tier's health window. Response bytes are only read, never changed.
"""

from __future__ import annotations

import time

from envoy.service.ext_proc.v3.external_processor_pb2 import (
    HttpBody,
    HttpHeaders,
    ProcessingResponse,
)

from extproc.cache.answer import SseAnswerBuilder, answer_from_json
from extproc.cache.fill import CacheFill
from extproc.decision.model import Decision, Outcome
from extproc.observe import JsonObserver, SseObserver, Usage
from extproc.router import Router
from extproc.wire.headers import header_text
from extproc.wire.responses import CONTINUE_RESPONSE_BODY


class Exchange:
    """Tracks one request sent to `decision.tier`."""

    __slots__ = (
        "_answer",
        "_json",
        "_router",
        "_sse",
        "decision",
        "fill",
        "finished",
        "instruments",
        "model",
        "started",
        "status",
        "ttfb_s",
    )

    def __init__(self, router: Router, decision: Decision, started: float) -> None:
        self._router = router
        self.decision = decision
        self.model = decision.model or "-"
        self.started = started  # time.monotonic() at request headers
        self.ttfb_s: float | None = None
        self.status = 0
        self.finished = False
        self._sse: SseObserver | None = None
        self._json: JsonObserver | None = None
        self._answer: SseAnswerBuilder | None = None
        self.fill: CacheFill | None = None  # set when a cache miss should store the answer
        self.instruments = router.metrics.for_tier(decision.tier, self.model)
        router.health.on_dispatch(decision.tier)

    def on_response_headers(self, msg: HttpHeaders) -> ProcessingResponse:
        router = self._router
        tier = self.decision.tier
        now = time.monotonic()
        self.ttfb_s = now - self.started
        content_type = ""
        for header in msg.headers.headers:
            key = header.key
            if key == ":status":
                value = header_text(header)
                self.status = int(value) if value.isdigit() else 0
            elif key == "content-type":
                content_type = header_text(header).lower()
        router.latency.observe(tier, self.ttfb_s * 1000.0)
        router.metrics.count_upstream_status(tier, self.status)
        self.instruments.ttfb.observe(self.ttfb_s)
        mode = router.config.observe.response_body
        is_sse = content_type.startswith("text/event-stream")
        fill = self.fill
        watch = (
            200 <= self.status < 300
            and not msg.end_of_stream
            and (fill is not None or mode == "all" or (mode == "sse" and is_sse))
        )
        if watch:
            if is_sse:
                on_event = None
                if fill is not None:
                    self._answer = SseAnswerBuilder(fill.kind, fill.max_bytes)
                    on_event = self._answer.event
                self._sse = SseObserver(on_event)
            else:
                limit = router.config.observe.max_json_bytes
                self._json = JsonObserver(max(limit, fill.max_bytes) if fill else limit)
        else:
            self._finish(now, None)
        decision = self.decision
        return router.responses.client_headers(decision.tier, decision.reason, watch, decision.arm)

    def on_response_body(self, msg: HttpBody) -> ProcessingResponse:
        if self.finished:
            return CONTINUE_RESPONSE_BODY
        now = time.monotonic()
        if self._sse is not None:
            self._sse.feed(msg.body, now)
        elif self._json is not None:
            self._json.feed(msg.body)
        if msg.end_of_stream:
            self._finish(now, self._usage())
        return CONTINUE_RESPONSE_BODY

    def _usage(self) -> Usage | None:
        if self._sse is not None:
            return self._sse.usage
        if self._json is not None:
            return self._json.usage()
        return None

    def _finish(self, now: float, usage: Usage | None) -> None:
        self.finished = True
        router = self._router
        metrics = router.metrics
        tier, model = self.decision.tier, self.model
        duration = now - self.started
        failed = router.is_failure(self.status)
        router.health.on_finish(tier, not failed, duration * 1000.0)
        if self.fill is not None and not failed and 200 <= self.status < 300:
            self._store_answer()
        instruments = self.instruments
        (instruments.error if failed else instruments.ok).inc()
        instruments.duration.observe(duration)
        sse = self._sse
        if sse is not None and sse.first_token_at is not None:
            metrics.ttft.child(tier, model).observe(sse.first_token_at - self.started)
            tokens = (
                usage.completion_tokens
                if usage and usage.completion_tokens
                else (sse.content_events)
            )
            if tokens > 1 and sse.last_token_at is not None:
                per_token = (sse.last_token_at - sse.first_token_at) / (tokens - 1)
                metrics.tpot.child(tier, model).observe(per_token)
        cost = 0.0
        if usage is not None:
            metrics.tokens.labels(tier, model, "prompt").inc(usage.prompt_tokens)
            metrics.tokens.labels(tier, model, "completion").inc(usage.completion_tokens)
            cost = router.cost_of(tier, usage.prompt_tokens, usage.completion_tokens)
            if cost:
                metrics.cost.labels(tier, model).inc(cost)
        router.learn(self.decision, Outcome(not failed, duration * 1000.0, cost))

    def _store_answer(self) -> None:
        fill = self.fill
        assert fill is not None
        if self._answer is not None:
            answer = self._answer.answer()
        else:
            body = self._json.body() if self._json is not None else None
            answer = answer_from_json(body, fill.kind) if body else None
        stored = fill.store(answer)
        self._router.metrics.cache_stores.labels("stored" if stored else "skipped").inc()

    def close(self) -> None:
        """The ext_proc stream ended. Without a finished response it was abandoned
        (client gone, or Envoy skipped response processing): not the tier's fault."""
        if not self.finished:
            self.finished = True
            self.fill = None  # an unfinished answer is never cached
            if self.ttfb_s is None:
                self._router.health.on_abandon(self.decision.tier)
            else:
                self._finish(time.monotonic(), self._usage())
