"""Reasoning switches per tier, category and complexity, merged into the body."""

from __future__ import annotations

import orjson
import pytest

from extproc.config import ConfigError, parse_config
from extproc.config.semantic import ReasoningConfig
from extproc.parse.openai import merge_patch
from extproc.reasoning import ReasoningPlanner
from extproc.router import Router
from extproc.wire.stream import StreamHandler
from tests.helpers import HARD_PROMPT, request_body, request_headers

HARD = HARD_PROMPT  # the default routes it to tier_high


def planner(**tiers: dict[str, object]) -> ReasoningPlanner:
    return ReasoningPlanner(ReasoningConfig.model_validate({
        "tiers": tiers, "by_category": {"chitchat": {"mode": "off"}}}))


def test_modes_and_families() -> None:
    p = planner(tier_high={"family": "qwen3", "mode": "on"},
                tier_low={"family": "gpt_oss", "mode": "auto", "effort": "high",
                          "auto_threshold": 0.5})
    on = p.plan("tier_high", {}, None)
    assert on is not None and on.patch == {"chat_template_kwargs": {"enable_thinking": True}}
    assert p.plan("tier_low", {}, 0.9).patch == {"reasoning_effort": "high"}  # type: ignore[union-attr]
    assert p.plan("tier_low", {}, 0.1).patch == {"reasoning_effort": "low"}  # type: ignore[union-attr]
    assert p.plan("tier_high", {}, None, category="chitchat").mode == "off"  # type: ignore[union-attr]
    assert p.plan("other", {}, None) is None


def test_client_choice_is_respected() -> None:
    p = planner(tier_high={"family": "qwen3", "mode": "on"})
    doc = {"chat_template_kwargs": {"enable_thinking": False}}
    assert p.plan("tier_high", doc, None) is None


def test_merge_patch_merges_objects() -> None:
    doc = {"chat_template_kwargs": {"a": 1}, "x": [1]}
    merged = merge_patch(doc, {"chat_template_kwargs": {"enable_thinking": True}, "x": 2})
    assert merged == {"chat_template_kwargs": {"a": 1, "enable_thinking": True}, "x": 2}
    assert doc == {"chat_template_kwargs": {"a": 1}, "x": [1]}


def test_unknown_family_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"reasoning.tiers.tier_high.family"):
        parse_config({"reasoning": {"tiers": {"tier_high": {"family": "nope", "mode": "on"}}}})


def test_body_carries_switch_and_counts() -> None:
    router = Router(parse_config({"reasoning": {"tiers": {
        "tier_high": {"family": "qwen3", "mode": "on"},
        "tier_low": {"family": "qwen3", "mode": "off"}}}}))
    handler = StreamHandler(router)
    handler.handle(request_headers())
    body = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": HARD}]})
    reply = handler.handle(request_body(body))
    new_body = reply.request_body.response.body_mutation.body  # type: ignore[union-attr]
    assert orjson.loads(new_body)["chat_template_kwargs"] == {"enable_thinking": True}
