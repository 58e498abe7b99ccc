"""The per-stream state machine, driven with real ext_proc protobuf messages."""

from __future__ import annotations

import orjson
import pytest
from envoy.extensions.filters.http.ext_proc.v3.processing_mode_pb2 import ProcessingMode
from envoy.service.ext_proc.v3.external_processor_pb2 import ProcessingRequest
from hypothesis import given, settings
from hypothesis import strategies as st

from extproc.config import parse_config
from extproc.observability.metrics import label_values
from extproc.router import Router
from extproc.wire.stream import StreamHandler
from tests.helpers import (
    HARD_PROMPT,
    request_body,
    request_headers,
    response_headers,
    set_headers,
)

HARD = HARD_PROMPT  # the default routes it to tier_high


def chat_body(text: str, **extra: object) -> bytes:
    return orjson.dumps({"model": "auto", "messages": [{"role": "user", "content": text}], **extra})


@pytest.fixture()
def router() -> Router:
    return Router(parse_config({"routing": {"trusted_override_header": "x-route-override"}}))


def run(router: Router, *messages: ProcessingRequest) -> tuple[StreamHandler, list[object]]:
    handler = StreamHandler(router)
    return handler, [handler.handle(m) for m in messages]


def test_full_lifecycle_routes_and_reports(router: Router) -> None:
    handler, (h, b, rh) = run(
        router, request_headers(), request_body(chat_body(HARD)), response_headers(200)
    )
    assert h.WhichOneof("response") == "request_headers"  # type: ignore[attr-defined]
    assert b.WhichOneof("response") == "request_body"  # type: ignore[attr-defined]
    common = b.request_body.response  # type: ignore[attr-defined]
    assert common.clear_route_cache
    assert set_headers(common.header_mutation) == {"x-extproc-tier": "tier_high"}
    assert handler.decision is not None and handler.decision.reason == "complexity_high"
    client = set_headers(rh.response_headers.response.header_mutation)  # type: ignore[attr-defined]
    assert client == {"x-route-tier": "tier_high", "x-route-reason": "complexity_high"}
    assert router.latency.samples("tier_high") == 1


def test_simple_prompt_goes_low(router: Router) -> None:
    handler, _ = run(router, request_headers(), request_body(chat_body("hi there")))
    assert handler.decision is not None and handler.decision.tier == "tier_low"


def test_legacy_value_field_headers_are_read(router: Router) -> None:
    handler, (h,) = run(router, request_headers(path="/health", method="GET", raw=False))
    assert h.mode_override.request_body_mode == ProcessingMode.NONE  # type: ignore[attr-defined]
    assert handler.decision is None


def test_spoofed_routing_header_is_removed_and_counted(router: Router) -> None:
    _, (h, b) = run(
        router,
        request_headers(extra={"x-extproc-tier": "tier_high"}),
        request_body(chat_body("hello")),
    )
    removed = h.request_headers.response.header_mutation.remove_headers  # type: ignore[attr-defined]
    assert list(removed) == ["x-extproc-tier", "x-extproc-guard"]
    tier = set_headers(b.request_body.response.header_mutation)["x-extproc-tier"]  # type: ignore[attr-defined]
    assert tier == "tier_low"
    assert router.metrics.spoofed_headers._value.get() == 1


def test_override_header(router: Router) -> None:
    handler, _ = run(
        router,
        request_headers(extra={"x-route-override": "tier_high"}),
        request_body(chat_body("hello")),
    )
    assert handler.decision is not None
    assert (handler.decision.tier, handler.decision.reason) == ("tier_high", "override_header")


def test_passthrough_paths_and_methods(router: Router) -> None:
    for path, method in (
        ("/v1/models", "GET"),
        ("/v1/chat/completions", "GET"),
        ("/v1/embeddings", "POST"),
    ):
        handler, (h,) = run(router, request_headers(path=path, method=method))
        assert h.mode_override.request_body_mode == ProcessingMode.NONE  # type: ignore[attr-defined]
        assert handler.decision is None
    # query strings are ignored when matching paths
    handler, _ = run(
        router, request_headers(path="/v1/chat/completions?x=1"), request_body(chat_body("hi"))
    )
    assert handler.decision is not None


def test_streamed_body_is_accumulated(router: Router) -> None:
    body = chat_body(HARD)
    handler = StreamHandler(router)
    handler.handle(request_headers(body_mode=ProcessingMode.STREAMED))
    first = handler.handle(request_body(body[:10], end_of_stream=False))
    assert not first.request_body.response.HasField("header_mutation")  # type: ignore[union-attr]
    last = handler.handle(request_body(body[10:], end_of_stream=True))
    assert set_headers(last.request_body.response.header_mutation)["x-extproc-tier"] == "tier_high"  # type: ignore[union-attr]


def test_headers_only_mode_decides_on_headers(router: Router) -> None:
    handler, (h,) = run(
        router,
        request_headers(body_mode=ProcessingMode.NONE, extra={"x-route-override": "tier_high"}),
    )
    assert set_headers(h.request_headers.response.header_mutation) == {
        "x-extproc-tier": "tier_high"
    }  # type: ignore[attr-defined]
    assert handler.decision is not None and handler.decision.tier == "tier_high"


def test_observability_mode_writes_nothing(router: Router) -> None:
    msg = request_headers()
    msg.observability_mode = True
    handler = StreamHandler(router)
    assert handler.handle(msg) is None
    body = request_body(chat_body("hi"))
    body.observability_mode = True
    assert handler.handle(body) is None
    assert handler.decision is not None  # still decided and counted


def test_trailers_and_response_body_get_matching_types(router: Router) -> None:
    from envoy.service.ext_proc.v3.external_processor_pb2 import HttpBody, HttpTrailers

    handler = StreamHandler(router)
    for field, msg in (
        ("request_trailers", HttpTrailers()),
        ("response_trailers", HttpTrailers()),
        ("response_body", HttpBody(body=b"x", end_of_stream=True)),
    ):
        response = handler.handle(ProcessingRequest(**{field: msg}))
        assert response is not None and response.WhichOneof("response") == field


def test_bad_bodies_default_tier_or_reject() -> None:
    lenient = Router(parse_config({}))
    handler, (_, b) = run(lenient, request_headers(), request_body(b"{nope"))
    assert handler.decision is not None and handler.decision.reason == "bad_request_malformed_json"
    assert b.request_body.response.clear_route_cache  # type: ignore[attr-defined]

    strict = Router(parse_config({"request": {"on_bad_request": "reject"}}))
    _, (_, b) = run(strict, request_headers(), request_body(b"{nope"))
    assert b.immediate_response.status.code == 400  # type: ignore[attr-defined]
    assert orjson.loads(b.immediate_response.body)["error"]["code"] == "malformed_json"  # type: ignore[attr-defined]
    counts = {tuple(sorted(lbl.items())): v for lbl, v in label_values(strict.metrics.bad_requests)}
    assert counts[(("action", "reject"), ("kind", "malformed_json"))] == 1


def test_not_json_and_empty_decided_at_headers() -> None:
    strict = Router(parse_config({"request": {"on_bad_request": "reject"}}))
    _, (h,) = run(strict, request_headers(extra={"content-type": "text/plain"}))
    assert h.immediate_response.status.code == 400  # type: ignore[attr-defined]
    _, (h,) = run(strict, request_headers(end_of_stream=True))
    assert orjson.loads(h.immediate_response.body)["error"]["code"] == "empty_body"  # type: ignore[attr-defined]


def test_oversized_by_content_length_and_by_bytes() -> None:
    router = Router(parse_config({"request": {"max_body_bytes": 2048}}))
    _, (h,) = run(router, request_headers(extra={"content-length": "4096"}))
    assert h.immediate_response.status.code == 413  # type: ignore[attr-defined]
    handler = StreamHandler(router)
    handler.handle(request_headers(body_mode=ProcessingMode.STREAMED))
    for _ in range(3):
        handler.handle(request_body(b"x" * 1024, end_of_stream=False))
    last = handler.handle(request_body(b"x", end_of_stream=True))
    assert last.immediate_response.status.code == 413  # type: ignore[union-attr]


def test_model_rewrite_sets_body_and_content_length() -> None:
    router = Router(parse_config({"routing": {"rewrite_model": True}}))
    _, (_, b) = run(router, request_headers(), request_body(chat_body(HARD, temperature=0)))
    common = b.request_body.response  # type: ignore[attr-defined]
    new_body = common.body_mutation.body
    assert orjson.loads(new_body)["model"] == "large-model"
    assert orjson.loads(new_body)["temperature"] == 0
    assert set_headers(common.header_mutation)["content-length"] == str(len(new_body))


def test_a_failing_custom_rule_is_skipped(tmp_path: object) -> None:
    router = Router(
        parse_config(
            {
                "routing": {
                    "rules": [
                        {
                            "type": "custom",
                            "name": "boom",
                            "import_path": "tests.plugins:ExplodingRule",
                        },
                        {
                            "type": "custom",
                            "name": "always_high",
                            "import_path": "tests.plugins:AlwaysTier",
                            "params": {"tier": "tier_high"},
                        },
                    ]
                }
            }
        )
    )
    handler, _ = run(router, request_headers(), request_body(chat_body("hi")))
    assert handler.decision is not None
    assert (handler.decision.tier, handler.decision.rule) == ("tier_high", "always_high")
    assert router.pipeline.rule_errors == 1


message_fields = st.sampled_from(
    [
        "request_headers",
        "request_body",
        "response_headers",
        "response_body",
        "request_trailers",
        "response_trailers",
    ]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(message_fields, st.binary(max_size=300)), max_size=8))
def test_random_message_sequences_never_raise(messages: list[tuple[str, bytes]]) -> None:
    """Random and truncated protobuf payloads, in any order: each gets a matching answer."""
    router = Router(parse_config({}))
    handler = StreamHandler(router)
    for field, payload in messages:
        request = ProcessingRequest()
        try:
            getattr(request, field).ParseFromString(payload)
        except Exception:
            getattr(request, field).SetInParent()
        response = handler.handle(request)
        assert response is not None
        assert response.WhichOneof("response") in (field, "immediate_response")
