"""Seeded synthetic traces from the labelled prompt set (tests/data/complexity_prompts.jsonl).

Per request and tier: quality, latency and cost drawn from a simple model. The strong tier
answers everything well; the weak tier answers "simple" prompts well and most "strong"
ones badly (some strong prompts turn out easy for it). Quality sits on the 0.1 grid of a
0–10 judge score. The strong tier is slower (300 ms + 20 ms/token vs 80 ms + 6 ms/token)
and, with the default prices, ~16× dearer. Same inputs and seed → byte-identical output.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from extproc.config.model import RouterConfig

# (input, output) price per 1M tokens when the config sets none.
DEFAULT_PRICES = {"weak": (0.15, 0.60), "strong": (2.50, 10.00)}
_USERS = 64


@dataclass(frozen=True, slots=True)
class LabelledPrompt:
    prompt: str
    strong: bool  # label == "strong"
    source: str


def load_labelled(path: str | Path) -> list[LabelledPrompt]:
    """Rows {"prompt", "label": "simple"|"strong", "source"}; other rows are ignored."""
    rows = []
    for raw in Path(path).read_bytes().splitlines():
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        if (
            isinstance(doc, dict)
            and isinstance(doc.get("prompt"), str)
            and doc.get("label") in ("simple", "strong")
        ):
            rows.append(LabelledPrompt(doc["prompt"], doc["label"] == "strong",
                                       str(doc.get("source", ""))))
    return rows


def _prices(config: RouterConfig | None, tier: str, role: str) -> tuple[float, float]:
    if config is not None and tier in config.tiers:
        prices = config.tiers[tier].prices
        if prices.input_per_1m or prices.output_per_1m:
            return prices.input_per_1m, prices.output_per_1m
    return DEFAULT_PRICES[role]


def _clip(value: float) -> float:
    """Into [0, 1], on the 0.1 grid of a 0–10 judge score (ties between tiers are real)."""
    return round(min(1.0, max(0.0, value)) * 10) / 10


def _quality(rng: random.Random, role: str, strong_prompt: bool) -> float:
    if role == "strong":
        return _clip(rng.gauss(0.88, 0.07) if strong_prompt else rng.gauss(0.93, 0.04))
    if not strong_prompt:
        return _clip(rng.gauss(0.86, 0.07))
    if rng.random() < 0.15:  # a "strong" prompt the small model happens to handle
        return _clip(rng.gauss(0.75, 0.10))
    return _clip(rng.gauss(0.35, 0.15))


def _order(rows: Sequence[LabelledPrompt], n: int, rng: random.Random) -> Iterator[int]:
    """Row indices: shuffled passes over the rows until n are drawn."""
    drawn = 0
    while drawn < n:
        order = list(range(len(rows)))
        rng.shuffle(order)
        yield from order[: n - drawn]
        drawn += min(len(order), n - drawn)


def synthesize(
    rows: Sequence[LabelledPrompt],
    n: int,
    *,
    seed: int = 0,
    weak: str = "tier_low",
    strong: str = "tier_high",
    config: RouterConfig | None = None,
) -> list[dict[str, Any]]:
    """`n` trace lines (dicts) drawn from `rows`, seeded."""
    if not rows:
        raise ValueError("no labelled prompts to draw from")
    if n < 0:
        raise ValueError("n must be >= 0")
    rng = random.Random(seed)
    roles = {weak: "weak", strong: "strong"}
    prices = {tier: _prices(config, tier, role) for tier, role in roles.items()}
    out = []
    for i, index in enumerate(_order(rows, n, rng)):
        row = rows[index]
        prompt_tokens = max(1, round(len(row.prompt) / 4))
        mean_out = 300.0 if row.strong else 100.0
        completion = min(4096, max(8, round(rng.lognormvariate(math.log(mean_out), 0.5))))
        outcomes = {}
        for tier, role in roles.items():
            ok = rng.random() >= (0.01 if role == "weak" else 0.005)
            quality = _quality(rng, role, row.strong) if ok else 0.0
            base, per_token = (80.0, 6.0) if role == "weak" else (300.0, 20.0)
            latency = (base + per_token * completion) * rng.lognormvariate(0.0, 0.15)
            price_in, price_out = prices[tier]
            cost = (prompt_tokens * price_in + completion * price_out) / 1e6
            outcomes[tier] = {"quality": round(quality, 3), "latency_ms": round(latency, 1),
                              "cost": round(cost, 9), "ok": ok}
        out.append({
            "request_id": f"syn-{seed}-{i:06d}",
            "prompt": row.prompt,
            "headers": {"x-user-id": f"user-{rng.randrange(_USERS):02d}"},
            "label": "strong" if row.strong else "simple",
            "source": row.source,
            "outcomes": outcomes,
        })
    return out


def write_jsonl(lines: Sequence[dict[str, Any]], path: str | Path) -> None:
    Path(path).write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
