"""OpenAI body parsing: every input gets a typed outcome, never an exception."""

from __future__ import annotations

import json

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from extproc.parse.openai import (
    BadRequest,
    ChatRequest,
    error_body,
    is_json_content_type,
    parse_body,
    rewrite_body,
)

LIMIT = 1 << 20


def test_chat_string_and_parts_system_and_user() -> None:
    body = orjson.dumps(
        {
            "model": "m",
            "stream": True,
            "max_tokens": 50,
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "assistant", "content": "ignored"},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "part one"},
                        {"type": "image_url", "image_url": {"url": "x"}},
                        {"type": "text", "text": "part two"},
                    ],
                },
            ],
        }
    )
    parsed = parse_body(body, "chat", LIMIT)
    assert isinstance(parsed, ChatRequest)
    assert parsed.text == "Be brief.\npart one\npart two"
    assert parsed.model == "m" and parsed.stream and parsed.max_tokens == 50
    assert parsed.message_count == 3


def test_completion_prompt_forms() -> None:
    one = parse_body(b'{"prompt": "hello"}', "completion", LIMIT)
    assert isinstance(one, ChatRequest) and one.text == "hello" and one.model is None
    many = parse_body(b'{"prompt": ["a", "b"]}', "completion", LIMIT)
    assert isinstance(many, ChatRequest) and many.text == "a\nb"
    tokens = parse_body(b'{"prompt": [1, 2, 3]}', "completion", LIMIT)
    assert isinstance(tokens, ChatRequest) and tokens.text == ""


def test_bad_bodies_have_kinds() -> None:
    cases = {
        b"": "empty_body",
        b"   ": "empty_body",
        b"{": "malformed_json",
        b"\xff\xfe": "malformed_json",
        b"[1]": "bad_shape",
        b'{"messages": []}': "bad_shape",
        b'{"messages": "x"}': "bad_shape",
        b'{"model": 5, "messages": [{"role":"user","content":"x"}]}': "bad_shape",
    }
    for body, kind in cases.items():
        result = parse_body(body, "chat", LIMIT)
        assert isinstance(result, BadRequest) and result.kind == kind, body
    assert parse_body(b"{}" + b" " * 100, "chat", 10) == BadRequest(
        "too_large", "request body is 102 bytes; limit is 10"
    )


def test_deeply_nested_json_is_a_bad_request() -> None:
    body = b'{"messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert isinstance(parse_body(body, "chat", 1 << 30), BadRequest)


def test_rewrite_model_keeps_other_fields() -> None:
    parsed = parse_body(
        b'{"model":"auto","messages":[{"role":"user","content":"x"}],"temperature":0.1}',
        "chat",
        LIMIT,
    )
    assert isinstance(parsed, ChatRequest)
    doc = orjson.loads(rewrite_body(parsed, model="big"))
    assert doc == {
        "model": "big",
        "messages": [{"role": "user", "content": "x"}],
        "temperature": 0.1,
    }
    assert parsed.document["model"] == "auto"  # original untouched


def test_content_types() -> None:
    assert is_json_content_type(None)
    assert is_json_content_type("application/json; charset=utf-8")
    assert is_json_content_type("application/vnd.api+json")
    assert not is_json_content_type("text/plain")
    assert not is_json_content_type("multipart/form-data; boundary=x")


def test_error_body_is_openai_shaped() -> None:
    doc = orjson.loads(error_body("malformed_json", "bad", 400))
    assert doc == {
        "error": {"message": "bad", "type": "invalid_request_error", "code": "malformed_json"}
    }


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_random_bytes_never_raise(body: bytes) -> None:
    for kind in ("chat", "completion"):
        assert isinstance(parse_body(body, kind, LIMIT), ChatRequest | BadRequest)  # type: ignore[arg-type]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.sampled_from(
                [
                    "model",
                    "messages",
                    "role",
                    "content",
                    "text",
                    "prompt",
                    "stream",
                    "max_tokens",
                    "type",
                ]
            ),
            children,
            max_size=6,
        )
    ),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_random_json_never_raises(doc: object) -> None:
    body = json.dumps(doc).encode()
    for kind in ("chat", "completion"):
        result = parse_body(body, kind, LIMIT)  # type: ignore[arg-type]
        assert isinstance(result, ChatRequest | BadRequest)
        if isinstance(result, ChatRequest):
            assert isinstance(result.text, str)


def test_giant_message_arrays_and_huge_strings_are_bounded() -> None:
    many = orjson.dumps({"messages": [{"role": "user", "content": "x"}] * 200_000})
    parsed = parse_body(many, "chat", 1 << 30)
    assert isinstance(parsed, ChatRequest)
    assert parsed.message_count == 200_000
    assert parsed.text.count("x") <= 4096  # only the first parts are read for scoring
    parts = orjson.dumps({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "y"}] * 100_000}]})
    parsed_parts = parse_body(parts, "chat", 1 << 30)
    assert isinstance(parsed_parts, ChatRequest) and parsed_parts.text.count("y") <= 4096


def test_invalid_utf8_inside_strings_is_a_bad_request() -> None:
    body = b'{"messages":[{"role":"user","content":"\xff\xfe bad"}]}'
    result = parse_body(body, "chat", LIMIT)
    assert isinstance(result, BadRequest) and result.kind == "malformed_json"


def test_auto_kind_tells_chat_from_completions_by_the_body() -> None:
    chat = parse_body(b'{"messages": [{"role": "user", "content": "hi"}]}', "auto", LIMIT)
    assert isinstance(chat, ChatRequest) and chat.kind == "chat" and chat.text == "hi"
    completion = parse_body(b'{"prompt": "hello"}', "auto", LIMIT)
    assert isinstance(completion, ChatRequest) and completion.kind == "completion"
    neither = parse_body(b'{"input": "hello"}', "auto", LIMIT)
    assert isinstance(neither, BadRequest) and neither.kind == "bad_shape"
