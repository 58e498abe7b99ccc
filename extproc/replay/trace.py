"""Trace format: JSONL, one request per line, with per-tier outcomes.

```
{"request_id": "r1", "prompt": "...",                       # or "messages": [...]
 "headers": {"x-user-id": "u7"},                            #   or "body": {OpenAI body}
 "outcomes": {"tier_low":  {"quality": 0.4, "latency_ms": 310, "cost": 0.00002, "ok": true},
              "tier_high": {"quality": 0.9, "latency_ms": 1900, "cost": 0.0004}}}
```

A line that cannot be used is skipped and reported with its line number; loading never
raises on content. Unknown keys are ignored (the synthetic generator adds `label`, `source`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

from extproc.parse.openai import BadRequest, ChatRequest, parse_body

MAX_SKIPPED_DETAILS = 100  # skipped lines listed in the report (all are counted)
_MAX_BODY_BYTES = 64 << 20
CHAT_PATH = "/v1/chat/completions"
COMPLETION_PATH = "/v1/completions"


class TraceLineError(ValueError):
    """One unusable trace line; the message says why."""


@dataclass(frozen=True, slots=True)
class TierOutcome:
    """What one tier did (or would do) with a request. `quality` None: not judged."""

    quality: float | None
    latency_ms: float | None = None
    cost: float | None = None
    ok: bool = True


@dataclass(frozen=True, slots=True)
class TraceRecord:
    line: int
    request_id: str
    path: str
    chat: ChatRequest
    headers: Mapping[str, str]
    outcomes: Mapping[str, TierOutcome]
    source: str | None = None  # groups the routing-curve report per source
    labelled: bool = False  # carries an author `label`: synthetic, outcomes drawn from it


@dataclass(frozen=True, slots=True)
class SkippedLine:
    line: int
    reason: str


@dataclass(slots=True)
class Trace:
    source: str
    records: list[TraceRecord] = field(default_factory=list)
    skipped: list[SkippedLine] = field(default_factory=list)  # first MAX_SKIPPED_DETAILS
    skipped_count: int = 0

    def skip(self, line: int, reason: str) -> None:
        self.skipped_count += 1
        if len(self.skipped) < MAX_SKIPPED_DETAILS:
            self.skipped.append(SkippedLine(line, reason))

    def tiers(self) -> list[str]:
        """Tiers named in outcomes, in first-seen order."""
        seen: dict[str, None] = {}
        for record in self.records:
            for tier in record.outcomes:
                seen.setdefault(tier, None)
        return list(seen)


def _number(value: Any, where: str, *, lo: float = 0.0, hi: float = math.inf) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TraceLineError(f"{where}: expected a number, got {type(value).__name__}")
    number = float(value)
    if not (math.isfinite(number) and lo <= number <= hi):
        raise TraceLineError(f"{where}: {value!r} is outside [{lo:g}, {hi:g}]")
    return number


def parse_outcome(value: Any, where: str) -> TierOutcome:
    if not isinstance(value, dict):
        raise TraceLineError(f"{where}: expected an object")
    ok = value.get("ok", True)
    if not isinstance(ok, bool):
        raise TraceLineError(f"{where}.ok: expected true or false")
    quality = _number(value.get("quality"), f"{where}.quality", hi=1.0)
    if quality is None and not ok:
        quality = 0.0  # a failed request delivered nothing
    return TierOutcome(
        quality=quality,
        latency_ms=_number(value.get("latency_ms"), f"{where}.latency_ms"),
        cost=_number(value.get("cost"), f"{where}.cost"),
        ok=ok,
    )


def _request(doc: dict[str, Any]) -> tuple[str, ChatRequest]:
    """The request part of a line → (path, ChatRequest), parsed exactly as the router does."""
    kind: Literal["chat", "completion"] = "chat"
    if "body" in doc:
        body = doc["body"]
        if not isinstance(body, dict):
            raise TraceLineError("body: expected an object")
        if "messages" not in body and "prompt" in body:
            kind = "completion"
    elif "messages" in doc:
        body = {"messages": doc["messages"]}
    elif "prompt" in doc:
        prompt = doc["prompt"]
        if not isinstance(prompt, str):
            raise TraceLineError("prompt: expected a string")
        body = {"messages": [{"role": "user", "content": prompt}]}
    else:
        raise TraceLineError("no prompt, messages or body")
    parsed = parse_body(orjson.dumps(body), kind, _MAX_BODY_BYTES)
    if isinstance(parsed, BadRequest):
        raise TraceLineError(f"request {parsed.kind}: {parsed.message}")
    return (CHAT_PATH if kind == "chat" else COMPLETION_PATH), parsed


def _headers(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise TraceLineError("headers: expected an object of strings")
    return {str(k).lower(): v for k, v in value.items()}


def parse_line(raw: bytes | str, line: int) -> TraceRecord:
    """One JSONL line → TraceRecord; raises TraceLineError saying what is wrong."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise TraceLineError(f"invalid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise TraceLineError("not a JSON object")
    path, chat = _request(doc)
    rid = doc.get("request_id", f"line-{line}")
    if not isinstance(rid, str | int) or isinstance(rid, bool):
        raise TraceLineError("request_id: expected a string")
    outcomes_doc = doc.get("outcomes", {})
    if not isinstance(outcomes_doc, dict):
        raise TraceLineError("outcomes: expected an object")
    outcomes = {
        str(tier): parse_outcome(value, f"outcomes.{tier}") for tier, value in outcomes_doc.items()
    }
    source = doc.get("source")
    return TraceRecord(line, str(rid), path, chat, _headers(doc.get("headers")), outcomes,
                       source if isinstance(source, str) and source else None, "label" in doc)


def record_for_prompt(
    line: int, request_id: str, prompt: str, outcomes: Mapping[str, TierOutcome],
    source: str | None = None,
) -> TraceRecord:
    """A record for a plain prompt (sent as one user message), parsed as a trace line is."""
    path, chat = _request({"prompt": prompt})
    return TraceRecord(line, request_id, path, chat, {}, outcomes, source)


def load_trace(path: str | Path) -> Trace:
    """Read a JSONL trace. Blank lines are ignored; bad lines are skipped and counted.
    An unreadable file raises OSError."""
    trace = Trace(str(path))
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                trace.records.append(parse_line(raw, number))
            except TraceLineError as exc:
                trace.skip(number, str(exc))
    return trace
