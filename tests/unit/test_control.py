"""The control API over a real gRPC channel: Explain, ReportFeedback, GetState."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import orjson
import pytest

from extproc.api.v1 import control_pb2, control_pb2_grpc
from extproc.config import parse_config
from extproc.router import Router
from extproc.wire.server import RouterServer
from extproc.wire.stream import StreamHandler
from tests.helpers import request_body, request_headers, response_headers

HARD = "Prove that sqrt(2) is irrational and derive the general case for any prime p."


@pytest.fixture()
async def server() -> AsyncIterator[RouterServer]:
    config = parse_config(
        {
            "server": {"listen": "127.0.0.1:0"},
            "routing": {
                "rules": [
                    {
                        "type": "ab",
                        "key_header": "x-user-id",
                        "arms": {
                            "a": {"tier": "tier_low", "weight": 1},
                            "b": {"tier": "tier_high", "weight": 1},
                        },
                    },
                    {"type": "bandit", "algorithm": "thompson", "seed": 1},
                ]
            },
        }
    )
    srv = RouterServer(Router(config))
    await srv.start()
    yield srv
    await srv.stop(0)


def body(text: str) -> bytes:
    return orjson.dumps({"model": "m", "messages": [{"role": "user", "content": text}]})


async def test_explain_traces_rules_without_recording(server: RouterServer) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = control_pb2_grpc.RouterControlStub(channel)
        reply = await stub.Explain(
            control_pb2.ExplainRequest(body=body(HARD), headers={"x-user-id": "alice"})
        )
        assert reply.rule == "ab" and reply.reason == "ab_test" and reply.arm in ("a", "b")
        assert [t.rule for t in reply.trace] == ["ab", "bandit"]
        assert reply.trace[0].decided and reply.HasField("score")
        assert "math" in reply.dimensions
        anonymous = await stub.Explain(control_pb2.ExplainRequest(body=body("hi")))
        assert anonymous.rule == "bandit" and not anonymous.trace[0].decided
        bad = await stub.Explain(control_pb2.ExplainRequest(body=b"{nope"))
        assert bad.error == "malformed_json" and bad.tier == "tier_low"
    assert server.router.metrics.decisions.collect()[0].samples == []  # nothing recorded


async def test_feedback_updates_the_bandit_arm(server: RouterServer) -> None:
    router = server.router
    handler = StreamHandler(router)
    handler.handle(request_headers(extra={"x-request-id": "req-42"}))
    handler.handle(request_body(body("hello")))
    handler.handle(response_headers(200))
    handler.close()
    decision = handler.decision
    assert decision is not None and decision.rule == "bandit" and decision.arm
    bandit = router.learners["bandit"]
    pulls_after_outcome = bandit.state()[decision.arm]["pulls"]
    assert pulls_after_outcome == 1  # the observed outcome already rewarded the arm
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = control_pb2_grpc.RouterControlStub(channel)
        ok = await stub.ReportFeedback(control_pb2.FeedbackRequest(request_id="req-42", score=0.9))
        assert ok.accepted and ok.rule == "bandit" and ok.arm == decision.arm
        assert bandit.state()[decision.arm]["pulls"] == 2
        unknown = await stub.ReportFeedback(
            control_pb2.FeedbackRequest(request_id="nope", score=0.5)
        )
        assert not unknown.accepted and unknown.reason == "unknown_request"
        bad = await stub.ReportFeedback(control_pb2.FeedbackRequest(request_id="req-42", score=7))
        assert bad.reason == "bad_score"
        state = await stub.GetState(control_pb2.GetStateRequest())
        assert {t.tier for t in state.tiers} == {"tier_low", "tier_high"}
        assert state.bandits[0].rule == "bandit"
        assert sum(a.pulls for a in state.bandits[0].arms) == 2
        assert state.config_version == router.version
