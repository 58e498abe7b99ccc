"""`score --jsonl`: score a batch of prompts the way a config routes them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import BinaryIO, TextIO

import orjson

from extproc.learn.scoring import ConfigScorer
from extproc.parse.openai import BadRequest, parse_body

MAX_LINE_BYTES = 64 * 1024 * 1024


def text_of(raw: bytes) -> str:
    """The text the router scores for one input line: `{"prompt": ...}` or a request body
    (`messages` → chat, else `prompt` → completion), parsed as the live path parses it."""
    result = parse_body(raw, "auto", MAX_LINE_BYTES)
    if isinstance(result, BadRequest):
        raise ValueError(result.message)
    return result.text


def score_jsonl(path: str, scorer: ConfigScorer, out: TextIO,
                stdin: BinaryIO | None = None) -> int:
    """One `{"score", "tier"}` line per non-blank input line, in order; a bad line gets
    `{"line", "error"}` in its place. Exit code 1 when any line was bad, 2 when the input
    can't be read."""
    try:
        lines = stdin.read().splitlines() if stdin is not None else Path(path).read_bytes(
        ).splitlines()
    except OSError as exc:
        print(f"score: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    bad = 0
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            value = scorer.score_text(text_of(raw))
        except ValueError as exc:
            bad += 1
            out.write(orjson.dumps({"line": number, "error": str(exc)}).decode() + "\n")
            continue
        tier = scorer.above if value >= scorer.threshold else scorer.below
        out.write(orjson.dumps({"score": value, "tier": tier}).decode() + "\n")
    return 1 if bad else 0
