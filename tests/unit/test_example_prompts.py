"""The example prompts users see route as the docs say they do, with the default config.

The default complexity scorer routes by length (over about 416 characters goes to tier_high),
so the "complex" examples printed by `extproc-router up` and shown in docs/quickstart.md are long,
and the short "hard-looking" prompt the README mentions stays on tier_low.
"""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from extproc.config import parse_config
from extproc.router import Router
from extproc.stack.up import HARD_PROMPT as UP_HARD_PROMPT
from extproc.wire.stream import StreamHandler
from tests.helpers import EASY_PROMPT, HARD_PROMPT, request_body, request_headers, set_headers

ROOT = Path(__file__).resolve().parents[2]


def routed(text: str) -> tuple[str, str]:
    """(tier, reason) the default router picks for one chat request with `text`."""
    handler = StreamHandler(Router(parse_config({})))
    handler.handle(request_headers())
    body = orjson.dumps({"model": "auto", "messages": [{"role": "user", "content": text}]})
    reply = handler.handle(request_body(body))
    tier = set_headers(reply.request_body.response.header_mutation)["x-extproc-tier"]  # type: ignore[union-attr]
    assert handler.decision is not None
    return tier, handler.decision.reason


def quickstart_prompts() -> list[str]:
    """The user contents of the curl bodies in quickstart section 2, in order."""
    text = (ROOT / "docs" / "quickstart.md").read_text(encoding="utf-8")
    section = text.split("## 2.", 1)[1].split("\n## ", 1)[0]
    bodies = [orjson.loads(b) for b in re.findall(r"-d '(\{.*\})'", section)]
    return [b["messages"][-1]["content"] for b in bodies]


@pytest.mark.parametrize(
    ("text", "tier"),
    [
        (EASY_PROMPT, "tier_low"),
        ("Hi there!", "tier_low"),
        ("Prove that sqrt(2) is irrational.", "tier_low"),  # README: short but hard stays low
        (HARD_PROMPT, "tier_high"),
        (UP_HARD_PROMPT, "tier_high"),
    ],
    ids=["easy", "hi-there", "short-hard", "tests-hard", "up-hard"],
)
def test_default_routes_the_examples(text: str, tier: str) -> None:
    assert routed(text) == (tier, f"complexity_{tier.removeprefix('tier_')}")


def test_hard_examples_are_long_and_shell_safe() -> None:
    assert len(HARD_PROMPT) >= 600 and len(UP_HARD_PROMPT) >= 600
    # printed inside a single-quoted JSON body: no quote, apostrophe or backslash
    assert not set(UP_HARD_PROMPT) & {"'", '"', "\\"}


def test_quickstart_curls_are_what_up_prints_and_route_as_documented() -> None:
    short, long = quickstart_prompts()[:2]
    assert long == UP_HARD_PROMPT
    assert routed(short)[0] == "tier_low" and routed(long)[0] == "tier_high"
