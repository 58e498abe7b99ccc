"""Decision micro-benchmarks, in process (no network): the scorer, the decision pipeline,
and the whole per-stream handler (full mode: request headers → body → response headers; fast
mode: one body message with request attributes) for several configs. Prints a table and
writes bench/results/pipeline.json.

    python bench/pipeline.py [--n 20000]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from extproc.config import parse_config  # noqa: E402
from extproc.decision.model import RequestFacts  # noqa: E402
from extproc.decision.signals import Signals  # noqa: E402
from extproc.observability.logs import DecisionLog  # noqa: E402
from extproc.parse.openai import ChatRequest, parse_body  # noqa: E402
from extproc.router import Router  # noqa: E402
from extproc.signals.complexity import ComplexityScorer  # noqa: E402
from extproc.wire.stream import StreamHandler  # noqa: E402
from tests.helpers import request_body, request_headers, response_headers  # noqa: E402

SHORT = "Hi! How are you today? Tell me a joke."
MEDIUM = (
    "Prove that there are infinitely many primes, then write a Python function that "
    "returns the first n primes with a segmented sieve and analyse its complexity. "
) * 4
CONFIGS: dict[str, dict[str, Any]] = {
    "default rules": {},
    "complexity only": {"routing": {"rules": [{"type": "complexity"}]}},
    "split 60/40": {
        "routing": {"rules": [{"type": "split", "weights": {"tier_low": 60, "tier_high": 40}}]}
    },
    "sticky a/b": {
        "routing": {
            "rules": [
                {
                    "type": "ab",
                    "key_header": "x-user-id",
                    "arms": {
                        "a": {"tier": "tier_low", "weight": 1},
                        "b": {"tier": "tier_high", "weight": 1},
                    },
                }
            ]
        }
    },
    "bandit linucb": {"routing": {"rules": [{"type": "bandit", "algorithm": "linucb"}]}},
    "guard + reasoning": {
        "guard": {"enabled": True},
        "reasoning": {"tiers": {"tier_high": {"family": "qwen3", "mode": "on"}}},
    },
}


def timed(fn: Callable[[], object], n: int, rounds: int = 5) -> float:
    """Best-of-rounds mean µs per call."""
    for _ in range(min(n, 2000)):
        fn()
    results = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        results.append((time.perf_counter() - start) / n * 1e6)
    return min(results)


def chat(text: str) -> ChatRequest:
    parsed = parse_body(
        orjson.dumps({"model": "m", "messages": [{"role": "user", "content": text}]}),
        "chat",
        1 << 24,
    )
    assert isinstance(parsed, ChatRequest)
    return parsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "pipeline.json"))
    args = ap.parse_args()
    rows: list[tuple[str, str, float]] = []
    scorer = ComplexityScorer()
    for label, text in (("short", SHORT), ("medium", MEDIUM)):
        rows.append(
            (
                "scorer",
                f"{label} prompt ({len(text)} chars)",
                timed(lambda t=text: scorer.score(t), args.n),
            )
        )
    big = "lorem ipsum " * 450_000
    rows.append(("scorer", "5 MB prompt", timed(lambda: scorer.score(big), 20, rounds=3)))
    for name, overrides in CONFIGS.items():
        router = Router(parse_config(overrides))
        router.decision_log = DecisionLog(io.BytesIO())
        parsed = chat(SHORT)
        facts = RequestFacts(
            "/v1/chat/completions", "POST", "r", None, parsed, {"x-user-id": "alice"}
        )
        score = scorer.score(parsed.text)
        rows.append(
            (
                "decide (scored)",
                name,
                timed(
                    lambda f=facts, r=router, s=score: r.pipeline.decide(
                        Signals(f, r.scorer, r.backend, s)
                    ),
                    args.n,
                ),
            )
        )
        h = request_headers(extra={"x-user-id": "alice"})
        b = request_body(
            orjson.dumps({"model": "auto", "messages": [{"role": "user", "content": SHORT}]})
        )
        rh = response_headers()

        def lifecycle(r: Router = router, msgs: tuple[Any, ...] = (h, b, rh)) -> None:
            handler = StreamHandler(r)
            for msg in msgs:
                handler.handle(msg)
            handler.close()

        rows.append(("handler, 3 messages", name, timed(lifecycle, args.n // 2)))
        fast_router = Router(parse_config({**overrides, "mode": "fast"}))
        fast_router.decision_log = DecisionLog(io.BytesIO())
        fast_body = request_body(b.request_body.body)  # same body, plus request attributes
        fast_body.attributes["envoy.filters.http.ext_proc"].update(
            {"request.path": "/v1/chat/completions", "request.method": "POST", "request.id": "r"}
        )

        def fast_lifecycle(r: Router = fast_router, msg: Any = fast_body) -> None:
            handler = StreamHandler(r)
            handler.handle(msg)
            handler.close()

        rows.append(("handler, fast mode", name, timed(fast_lifecycle, args.n // 2)))
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": {
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg": os.getloadavg(),
        },
        "n": args.n,
        "rows": [
            {"bench": a, "case": b, "us_per_call": round(c, 2), "per_s": round(1e6 / c)}
            for a, b, c in rows
        ],
        "median_handler_us": statistics.median(c for a, _, c in rows if a.startswith("handler")),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"{'bench':<22} {'case':<32} {'µs/call':>9} {'per s':>10}")
    for a, b, c in rows:
        print(f"{a:<22} {b:<32} {c:>9.1f} {1e6 / c:>10,.0f}")
    print(f"wrote {args.out} (loadavg {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
