"""The router's own gRPC control API (protos/extproc/api/v1/control.proto); every call
needs the control token (`control_auth.py`)."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import grpc

from extproc.api.v1 import control_pb2, control_pb2_grpc
from extproc.decision.model import Decision, RequestFacts
from extproc.decision.signals import Signals
from extproc.parse.openai import BadRequest, parse_body
from extproc.router import Router
from extproc.wire.control_auth import ControlAuth

log = logging.getLogger("extproc.control")


def explain(
    router: Router, path: str, body: bytes, headers: dict[str, str]
) -> control_pb2.ExplainReply:
    """Run the decision pipeline on a request without recording anything."""
    path = path or "/v1/chat/completions"
    kind = router.api_paths.get(path.split("?", 1)[0], "chat")
    parsed = parse_body(body, kind, router.config.request.max_body_bytes)
    wanted = {k.lower(): v for k, v in headers.items() if k.lower() in router.wanted_headers}
    override_header = router.config.routing.trusted_override_header
    chat = None if isinstance(parsed, BadRequest) else parsed
    facts = RequestFacts(
        path=path,
        method="POST",
        request_id=wanted.get("x-request-id", ""),
        override=wanted.get(override_header) if override_header else None,
        chat=chat,
        headers=wanted,
    )
    signals = Signals(facts, router.scorer, router.backend)
    reply = control_pb2.ExplainReply()
    if isinstance(parsed, BadRequest):
        reply.error = parsed.kind
        decision = router.pipeline.default(f"bad_request_{parsed.kind}")
    else:
        for rule in router.pipeline.rules:
            trace = reply.trace.add(rule=rule.name)
            try:
                verdict = rule.evaluate(signals)
            except Exception as exc:  # report it, like the pipeline skips it
                trace.error = repr(exc)
                continue
            if verdict is not None:
                trace.decided, trace.tier, trace.reason = True, verdict.tier, verdict.reason
        decision = router.pipeline.decide(signals)
    _fill(reply, decision)
    score = signals.computed_score  # the deciding rule's score (learned or complexity)
    complexity = signals.complexity()
    if complexity is not None:
        reply.score = complexity.score if score is None else score
        reply.dimensions.update(complexity.dimensions)
    return reply


def _fill(reply: control_pb2.ExplainReply, decision: Decision) -> None:
    reply.tier, reply.cluster, reply.model = decision.tier, decision.cluster, decision.model or ""
    reply.rule, reply.reason, reply.arm = decision.rule, decision.reason, decision.arm or ""


def report_feedback(router: Router, request_id: str, score: float) -> control_pb2.FeedbackReply:
    if not math.isfinite(score) or not 0.0 <= score <= 1.0:
        return control_pb2.FeedbackReply(accepted=False, reason="bad_score")
    decision = router.decisions.recall(request_id)
    if decision is None:
        return control_pb2.FeedbackReply(accepted=False, reason="unknown_request")
    learner = router.learners.get(decision.rule)
    reply = control_pb2.FeedbackReply(rule=decision.rule, arm=decision.arm or "")
    if learner is None:
        reply.reason = "not_learning"
        return reply
    weight = getattr(getattr(learner, "cfg", None), "reward", None)
    if weight is not None and weight.feedback <= 0:
        reply.reason = "disabled"
        return reply
    learner.learn(decision, score)
    reply.accepted, reply.reason = True, "ok"
    return reply


def state(router: Router) -> control_pb2.StateReply:
    reply = control_pb2.StateReply(replica=router.replica_id, config_version=router.version)
    for tier, stats in router.health.stats.items():
        entry = reply.tiers.add(
            tier=tier,
            latency_ema_ms=router.latency.ema_ms(tier) or 0.0,
            requests=stats.requests,
            errors=stats.errors,
            in_flight=router.health.tiers[tier].in_flight,
            circuit=stats.circuit,
        )
        if stats.p95_ms is not None:
            entry.p95_ms = stats.p95_ms
    for name, learner in router.learners.items():
        bandit = reply.bandits.add(rule=name)
        describe = getattr(learner, "state", None)
        if callable(describe):
            for arm, values in describe().items():
                bandit.arms.add(arm=arm, pulls=values["pulls"], mean_reward=values["mean_reward"])
    return reply


class ControlService(control_pb2_grpc.RouterControlServicer):  # type: ignore[misc]
    """Serves the control API against whichever Router is current (hot reload swaps it)."""

    def __init__(self, current_router: Callable[[], Router], auth: ControlAuth) -> None:
        self._router = current_router
        self._auth = auth

    async def _check(self, context: Any, method: str) -> None:
        """Abort the call (UNAUTHENTICATED) unless it carries the control token."""
        if self._auth.allows(context.invocation_metadata()):
            return
        self._router().metrics.control_denied.labels(method).inc()
        log.warning("control API: %s refused (%s)", method, self._auth.refusal())
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, self._auth.refusal())

    async def ReportFeedback(self, request, context):  # type: ignore[no-untyped-def]
        await self._check(context, "ReportFeedback")
        router = self._router()
        reply = report_feedback(router, request.request_id, request.score)
        router.metrics.feedback.labels(reply.reason).inc()
        if router.capture is not None and reply.reason != "bad_score":  # for collect --feedback
            router.capture.record_feedback(request.request_id, request.score, reply.reason,
                                           router.decisions.recall(request.request_id))
        return reply

    async def Explain(self, request, context):  # type: ignore[no-untyped-def]
        await self._check(context, "Explain")
        try:
            return explain(self._router(), request.path, request.body, dict(request.headers))
        except Exception as exc:
            log.exception("explain failed")
            await context.abort(grpc.StatusCode.INTERNAL, f"explain failed: {exc!r}")

    async def GetState(self, request, context):  # type: ignore[no-untyped-def]
        await self._check(context, "GetState")
        return state(self._router())
