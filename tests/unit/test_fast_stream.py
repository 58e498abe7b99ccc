"""Fast mode on the stream handler: one body message with request attributes, answered with
dynamic metadata. Envoy sends `request.id` by default; path and headers only when asked."""

from __future__ import annotations

import io
from typing import Any

import orjson
from envoy.service.ext_proc.v3.external_processor_pb2 import ProcessingRequest

from extproc.config import parse_config
from extproc.observability.logs import DecisionLog
from extproc.router import Router
from extproc.wire.responses import METADATA_NAMESPACE
from extproc.wire.stream import StreamHandler
from tests.helpers import HARD_PROMPT, request_body

EASY = {"model": "auto", "messages": [{"role": "user", "content": "Hi there!"}]}
HARD_TEXT = HARD_PROMPT  # long enough for the length-fitted default to send it up
HARD = {"model": "auto", "messages": [{"role": "user", "content": HARD_TEXT}]}


def fast_body(doc: dict[str, Any] | bytes, **attributes: Any) -> ProcessingRequest:
    """A body message as fast.yaml sends it: no headers message before it."""
    raw = doc if isinstance(doc, bytes) else orjson.dumps(doc)
    msg = request_body(raw)
    msg.attributes[METADATA_NAMESPACE].update(attributes)
    return msg


def answer(router: Router, msg: ProcessingRequest) -> Any:
    handler = StreamHandler(router)
    response = handler.handle(msg)
    handler.close()
    return response


def routed_tier(response: Any) -> str:
    assert response.WhichOneof("response") == "request_body", response
    assert response.request_body.response.clear_route_cache
    assert response.request_body.response.HasField("header_mutation")  # Envoy 1.40 needs it
    return str(response.dynamic_metadata.fields[METADATA_NAMESPACE].struct_value.fields["tier"]
               .string_value)


def test_request_id_only_routes_by_the_prompt_and_logs_the_id() -> None:
    router = Router(parse_config({"mode": "fast"}))
    sink = io.BytesIO()
    router.decision_log = DecisionLog(sink)
    assert routed_tier(answer(router, fast_body(EASY, **{"request.id": "r-easy"}))) == "tier_low"
    assert routed_tier(answer(router, fast_body(HARD, **{"request.id": "r-hard"}))) == "tier_high"
    router.decision_log.flush()
    lines = [orjson.loads(line) for line in sink.getvalue().splitlines()]
    assert [(x["request_id"], x["tier"]) for x in lines] == [
        ("r-easy", "tier_low"), ("r-hard", "tier_high")]


def test_without_a_path_the_body_tells_chat_from_completions() -> None:
    router = Router(parse_config({"mode": "fast"}))
    hard_completion = {"model": "auto", "prompt": HARD_TEXT}
    assert routed_tier(answer(router, fast_body(hard_completion))) == "tier_high"
    assert routed_tier(answer(router, fast_body({"prompt": "Hi"}))) == "tier_low"


def test_a_known_path_attribute_names_the_api() -> None:
    router = Router(parse_config({"mode": "fast"}))
    # a chat body on the completions path has no `prompt`: a bad request, routed fail-open
    response = answer(router, fast_body(HARD, **{"request.path": "/v1/completions?x=1"}))
    assert routed_tier(response) == "tier_low"
    assert router.metrics.bad_requests.labels("bad_shape", "default_tier")._value.get() == 1


def test_body_with_neither_messages_nor_prompt_is_a_bad_request() -> None:
    router = Router(parse_config({"mode": "fast", "request": {"on_bad_request": "reject"}}))
    response = answer(router, fast_body({"model": "auto", "input": "hi"}))
    assert response.WhichOneof("response") == "immediate_response"
    assert response.immediate_response.status.code == 400
    assert b"messages" in response.immediate_response.body


def test_malformed_json_in_fast_mode_fails_open_to_the_default_tier() -> None:
    router = Router(parse_config({"mode": "fast"}))
    assert routed_tier(answer(router, fast_body(b'{"messages": [}'))) == "tier_low"


def test_request_headers_attribute_feeds_header_rules() -> None:
    router = Router(parse_config({"mode": "fast", "routing": {"rules": [{
        "type": "ab", "key_header": "x-user-id",
        "arms": {"a": {"tier": "tier_low", "weight": 1}, "b": {"tier": "tier_high", "weight": 1}},
    }]}}))
    assert router.reads_headers
    tiers = set()
    for user in ("alice", "bob", "carol", "dave", "erin", "frank"):
        seen = {
            routed_tier(answer(router, fast_body(
                EASY, **{"request.headers": {"X-User-Id": user, "other": "x"}})))
            for _ in range(3)
        }
        assert len(seen) == 1, f"{user} must stick to one arm"
        tiers |= seen
    assert tiers == {"tier_low", "tier_high"}


def test_headers_attribute_is_ignored_when_no_rule_reads_headers() -> None:
    router = Router(parse_config({"mode": "fast"}))
    assert not router.reads_headers
    msg = fast_body(EASY, **{"request.headers": {"x-extproc-tier": "tier_high"}})
    assert routed_tier(answer(router, msg)) == "tier_low"
