"""The control API over a real gRPC channel: Explain, ReportFeedback, GetState."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

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


TOKEN = "t0ken-for-the-control-tests"
AUTH = (("authorization", f"Bearer {TOKEN}"),)


class _Auth(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """Adds the control token to every call, as an operator's client would."""

    async def intercept_unary_unary(self, continuation, details, request):  # type: ignore[no-untyped-def]
        details = details._replace(metadata=(*(details.metadata or ()), *AUTH))
        return await continuation(details, request)


def authed_channel(port: int) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(f"127.0.0.1:{port}", interceptors=[_Auth()])


@pytest.fixture()
async def server(tmp_path: Path) -> AsyncIterator[RouterServer]:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    config = parse_config(
        {
            "server": {"listen": "127.0.0.1:0", "control_token_file": str(token_file)},
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
    async with authed_channel(server.port) as channel:
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
    async with authed_channel(server.port) as channel:
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


async def test_calls_without_the_token_are_refused_and_change_nothing(
    server: RouterServer,
) -> None:
    router = server.router
    handler = StreamHandler(router)
    handler.handle(request_headers(extra={"x-request-id": "req-7"}))
    handler.handle(request_body(body("hello")))
    handler.handle(response_headers(200))
    handler.close()
    bandit = router.learners["bandit"]
    before = bandit.state()
    feedback = control_pb2.FeedbackRequest(request_id="req-7", score=1.0)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = control_pb2_grpc.RouterControlStub(channel)
        for metadata in ((), (("authorization", "Bearer wrong-token-of-some-length"),),
                         (("authorization", TOKEN),)):
            for call in (stub.ReportFeedback(feedback, metadata=metadata),
                         stub.GetState(control_pb2.GetStateRequest(), metadata=metadata),
                         stub.Explain(control_pb2.ExplainRequest(body=body("hi")),
                                      metadata=metadata)):
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await call
                assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        ok = await stub.ReportFeedback(feedback, metadata=AUTH)
        assert ok.accepted
    assert before != bandit.state()  # only the authorised call counted
    denied = {s.labels["method"]: s.value for s in router.metrics.control_denied.collect()[0]
              .samples if s.name.endswith("_total")}
    assert denied == {"ReportFeedback": 3.0, "GetState": 3.0, "Explain": 3.0}


async def test_without_a_token_the_control_api_is_closed() -> None:
    server = RouterServer(Router(parse_config({"server": {"listen": "127.0.0.1:0"}})))
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = control_pb2_grpc.RouterControlStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.GetState(control_pb2.GetStateRequest(),
                                    metadata=(("authorization", "Bearer anything-at-all-x"),))
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert "control API is closed" in (info.value.details() or "")
    finally:
        await server.stop(0)


async def test_a_bad_token_setup_is_refused_at_start(tmp_path: Path) -> None:
    from extproc.wire.control_auth import ControlAuthError

    missing = parse_config({"server": {"control_token_file": str(tmp_path / "none")}})
    with pytest.raises(ControlAuthError, match="cannot read"):
        RouterServer(Router(missing))
    short = tmp_path / "short"
    short.write_text("abc")
    with pytest.raises(ControlAuthError, match="at least 16"):
        RouterServer(Router(parse_config({"server": {"control_token_file": str(short)}})))


async def test_insecure_control_is_open(tmp_path: Path) -> None:
    config = parse_config({"server": {"listen": "127.0.0.1:0", "control_auth": "none"}})
    server = RouterServer(Router(config))
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = control_pb2_grpc.RouterControlStub(channel)
            state = await stub.GetState(control_pb2.GetStateRequest())
            assert {t.tier for t in state.tiers} == {"tier_low", "tier_high"}
    finally:
        await server.stop(0)
