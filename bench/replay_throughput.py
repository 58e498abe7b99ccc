"""Throughput of offline replay (`extproc-router replay`) on one core.

Builds a synthetic trace from tests/data/complexity_prompts.jsonl (N requests; the labelled
set has ~400 distinct prompts, so a second copy makes every prompt distinct with a
` #<n>` suffix) and measures, best of --rounds:

  * load: JSONL lines parsed per second (the router's own body parser);
  * decide: decisions/s of several policies with complexity precomputed — the rule chain
    through `router.pipeline.decide(Signals(...))`, exactly as the live router;
  * scoring: distinct prompts scored per second, in-process and with --workers processes;
  * end to end: requests/s including scoring (all prompts distinct: the honest number;
    the trace as synthesized, where the cache scores each of ~400 prompts once).

Usage:
  python bench/replay_throughput.py                 # 50,000 requests, 3 rounds
  python bench/replay_throughput.py -n 5000 --rounds 1
Writes bench/results/replay_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from extproc.config import RouterConfig, load_config, parse_config  # noqa: E402
from extproc.replay.runner import run_config  # noqa: E402
from extproc.replay.scoring import ScoreCache, scorer_key  # noqa: E402
from extproc.replay.synth import load_labelled, synthesize, write_jsonl  # noqa: E402
from extproc.replay.trace import Trace, load_trace  # noqa: E402

PROMPTS = ROOT / "tests" / "data" / "complexity_prompts.jsonl"
OUT = ROOT / "bench" / "results" / "replay_throughput.json"

POLICIES: dict[str, Callable[[], RouterConfig]] = {
    "default chain (override, vram, latency_sla, complexity)": RouterConfig,
    "complexity only": lambda: parse_config({"routing": {"rules": [{"type": "complexity"}]}}),
    "examples/router.yaml": lambda: load_config(
        ROOT / "examples" / "router.yaml", env={"ROUTER_LISTEN": "", "X": ""}
    ),
    "split 60/40": lambda: parse_config(
        {
            "routing": {
                "rules": [
                    {"type": "split", "weights": {"tier_low": 60, "tier_high": 40}, "seed": 1}
                ]
            }
        }
    ),
    "bandit thompson (learning)": lambda: parse_config(
        {"routing": {"rules": [{"type": "bandit", "algorithm": "thompson", "seed": 1}]}}
    ),
}


def best(rounds: int, run: Callable[[], float]) -> float:
    """Smallest of `rounds` timings (seconds)."""
    return min(run() for _ in range(rounds))


def make_traces(n: int, directory: Path) -> tuple[Path, Path]:
    lines = synthesize(load_labelled(PROMPTS), n, seed=0)
    repeated = directory / "repeated.jsonl"
    write_jsonl(lines, repeated)
    for i, line in enumerate(lines):
        line["prompt"] = f"{line['prompt']} #{i}"
    distinct = directory / "distinct.jsonl"
    write_jsonl(lines, distinct)
    return repeated, distinct


def time_load(path: Path, rounds: int) -> tuple[float, Trace]:
    holder: list[Trace] = []

    def run() -> float:
        started = time.perf_counter()
        holder[:] = [load_trace(path)]
        return time.perf_counter() - started

    return best(rounds, run), holder[0]


def time_scoring(trace: Trace, workers: int, rounds: int) -> float:
    texts = [r.chat.text for r in trace.records]
    key = scorer_key(RouterConfig())

    def run() -> float:
        cache = ScoreCache(workers=workers)
        cache.scores_for(key, texts)
        return cache.seconds

    return best(rounds, run)


def time_decide(config: RouterConfig, trace: Trace, rounds: int) -> float:
    cache = ScoreCache()
    cache.scores_for(scorer_key(config), (r.chat.text for r in trace.records))  # precompute
    return best(rounds, lambda: run_config("bench", config, trace.records, cache).decide_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=50_000, help="requests in the trace")
    parser.add_argument("--rounds", type=int, default=3, help="best of this many runs")
    parser.add_argument(
        "--workers",
        type=int,
        default=min(4, os.cpu_count() or 1),
        help="processes for the parallel scoring row",
    )
    parser.add_argument("--out", type=Path, default=OUT, help="JSON output path")
    args = parser.parse_args()
    n, rounds = args.n, args.rounds

    with tempfile.TemporaryDirectory() as tmp:
        repeated_path, distinct_path = make_traces(n, Path(tmp))
        load_s, distinct = time_load(distinct_path, rounds)
        repeated = load_trace(repeated_path)
    unique_repeated = len({r.chat.text for r in repeated.records})

    decide: dict[str, float] = {}
    for name, make in POLICIES.items():
        decide[name] = n / time_decide(make(), distinct, rounds)
    default_name = next(iter(POLICIES))
    decide_s = n / decide[default_name]
    score_1 = time_scoring(distinct, 1, rounds)
    score_w = time_scoring(distinct, args.workers, rounds) if args.workers > 1 else score_1
    score_repeated = time_scoring(repeated, 1, rounds)
    results: dict[str, Any] = {
        "requests": n,
        "rounds": rounds,
        "load_lines_per_s": n / load_s,
        "decisions_per_s_precomputed": decide,
        "scoring": {
            "distinct_prompts": n,
            "wall_us_per_prompt_1_worker": 1e6 * score_1 / n,
            f"wall_us_per_prompt_{args.workers}_workers": 1e6 * score_w / n,
        },
        "end_to_end_per_s": {
            "distinct prompts, 1 worker": n / (score_1 + decide_s),
            f"distinct prompts, {args.workers} workers": n / (score_w + decide_s),
            f"as synthesized ({unique_repeated} distinct prompts, cached)": n
            / (score_repeated + decide_s),
        },
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_1m": os.getloadavg()[0],
        },
    }

    print(f"replay throughput, {n:,} requests, best of {rounds} (one core unless noted)\n")
    print(f"{'measure':72} {'per second':>12}")
    print(f"{'load + parse trace lines':72} {results['load_lines_per_s']:>12,.0f}")
    for name, rate in decide.items():
        print(f"{'decide, precomputed: ' + name:72} {rate:>12,.0f}")
    print(f"{'score distinct prompts, 1 worker':72} {n / score_1:>12,.0f}")
    print(
        f"{f'score distinct prompts, {args.workers} workers (incl. process start)':72} "
        f"{n / score_w:>12,.0f}"
    )
    for name, rate in results["end_to_end_per_s"].items():
        print(f"{'end to end (default chain), ' + name:72} {rate:>12,.0f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")


if __name__ == "__main__":
    main()
