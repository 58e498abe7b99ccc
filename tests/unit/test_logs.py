"""Decision log lines: valid JSON, one per decision, with the request id."""

from __future__ import annotations

import io

import orjson

from extproc.config import parse_config
from extproc.observability.logs import DecisionLog
from extproc.router import Router
from extproc.wire.stream import StreamHandler
from tests.helpers import EASY_PROMPT, HARD_PROMPT, request_body, request_headers


def test_one_json_line_per_decision_with_request_id() -> None:
    router = Router(parse_config({}))
    sink = io.BytesIO()
    router.decision_log = DecisionLog(sink, flush_interval_s=0)
    for text in (EASY_PROMPT, HARD_PROMPT):
        handler = StreamHandler(router)
        handler.handle(request_headers(extra={"x-request-id": f"id-{len(text)}"}))
        body = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": text}]})
        handler.handle(request_body(body))
    lines = sink.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (orjson.loads(line) for line in lines)
    assert first["event"] == "decision" and first["request_id"] == f"id-{len(EASY_PROMPT)}"
    assert first["tier"] == "tier_low" and first["reason"] == "complexity_low"
    assert second["tier"] == "tier_high" and 0.0 <= second["score"] <= 1.0
    assert first["ts"].endswith("Z") and first["logger"] == "extproc.decisions"


def test_decision_log_off() -> None:
    assert Router(parse_config({"logging": {"decisions": False}})).decision_log is None


def test_closed_stream_never_raises() -> None:
    sink = io.BytesIO()
    log = DecisionLog(sink)
    sink.close()
    log.emit({"event": "decision"})
    log.flush()


def test_every_line_is_valid_json_with_a_millisecond_timestamp() -> None:
    sink = io.BytesIO()
    log = DecisionLog(sink, flush_interval_s=0)
    log.emit({"event": "x", "nested": {"a": [1, 2]}, "text": 'quote " and \\ backslash'})
    log.emit({})
    first, second = (orjson.loads(line) for line in sink.getvalue().splitlines())
    assert first["text"] == 'quote " and \\ backslash' and first["nested"] == {"a": [1, 2]}
    assert second == {**second, "event": "empty", "level": "info"}
    assert len(first["ts"]) == len("2026-11-29T08:00:00.123Z") and first["ts"][19] == "."
