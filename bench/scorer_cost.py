"""Cost of one routing score: the complexity scorer and the learned scorer, per prompt size.

What is timed is the call the live path makes for one request's prompt text, built the way
the router builds it (`extproc.learn.scoring.scorer_for`, the code `score --jsonl` and the
rules share):

  complexity            the default config's complexity rule (shipped weights)
  complexity-12dims     a complexity rule whose weights read all 12 dimensions (what the
                        scorer cost before the length-only default; context for
                        `train --complexity-features`)
  learned               a `type: learned` rule with a model from `extproc-router train`
                        (default features: hashed word + char n-grams, 3 dense features)

at prompts of 100 B, 2 KB and 16 KB (UTF-8 bytes; English prose with some code, numbers and
a little non-ASCII). Each call is timed on its own over several rounds cycling through
distinct prompts of the size; two tables give p50 and p99 of all calls in µs: thread CPU
time (thread_time_ns: a call is not charged while the OS runs something else, so it is the
steadier figure on a shared machine) and wall time (perf_counter_ns: what a request waits).
Issue 14's target: learned p99 ≤ 100 µs at 2 KB with the default features.

The learned model: `--model PATH` (any file `train` wrote), else one trained first on
`--data OUTCOMES.jsonl`, else on a synthetic outcome file (a marker word decides which tier
wins). Training is not timed; what it learned does not change the cost, the feature spec does.

Usage:
  python bench/scorer_cost.py              # table + bench/results/scorer_cost.json
  python bench/scorer_cost.py --quick      # fewer calls, no JSON
  python bench/scorer_cost.py --data ../shared/data/routing-dev/<file>.jsonl
  python bench/scorer_cost.py --model model.npz
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import io
import json
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from extproc.config import RouterConfig, parse_config  # noqa: E402
from extproc.learn.model import load_model  # noqa: E402
from extproc.learn.scoring import scorer_for  # noqa: E402
from extproc.signals.complexity import DIMENSIONS  # noqa: E402

OUT = ROOT / "bench" / "results" / "scorer_cost.json"
SIZES = (("100 B", 100), ("2 KB", 2048), ("16 KB", 16384))
TARGET_US = 100.0  # learned scorer, p99 at 2 KB

BASE = (
    "I'm working on a Python service that handles about 2000 requests per second. Could you "
    "explain how to structure the retry logic so that transient failures get exponential "
    "backoff, and what a sensible maximum delay would be? ```python\ndef retry(fn, n=5):\n"
    "    for i in range(n):\n        try:\n            return fn()\n        except IOError:\n"
    "            time.sleep(2 ** i)\n``` We deploy on Kubernetes 1.29 with three replicas; the "
    "upstream API returns 503 for up to 30 s during deploys. Prove the expected number of "
    "retries is bounded, then compare it with a token bucket. Café, naïve, 東京, ½ → ∞. "
)
WORDS = BASE.split()


def prompts_of(size: int, count: int, seed: int) -> list[str]:
    """`count` distinct prompts of exactly `size` UTF-8 bytes (a cut never splits a char)."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        words: list[str] = []
        length = 0
        while length < size + 16:
            word = rng.choice(WORDS)
            words.append(word)
            length += len(word.encode()) + 1
        data = " ".join(words).encode()[:size]
        text = data.decode("utf-8", "ignore")
        text += "x" * (size - len(text.encode()))
        assert len(text.encode()) == size
        out.append(text)
    return out


def synthetic_outcomes(path: Path, rows: int = 400, seed: int = 7) -> None:
    """Paired rows: prompts with the word "quasar" gain on the strong tier, the rest tie."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        for i in range(rows):
            words = [rng.choice(WORDS) for _ in range(rng.randint(8, 120))]
            if i % 3 == 0:
                words.insert(rng.randrange(len(words) + 1), "quasar")
            gain = i % 3 == 0
            out.write(json.dumps({"prompt": " ".join(words), "q_weak": 0.0 if gain else 1.0,
                                  "q_strong": 1.0}) + "\n")


def train_model(data: Path, out: Path) -> dict[str, Any]:
    from extproc.cli import main

    argv = ["train", str(data), "--out", str(out), "--folds", "2", "--json"]
    stdout, stderr = io.StringIO(), io.StringIO()
    started = time.monotonic()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        rc = main(argv)
    if rc != 0:
        raise SystemExit(f"train failed ({rc}): {stderr.getvalue().strip()}")
    return {"data": str(data), "train_s": round(time.monotonic() - started, 1)}


def _stats(ns: np.ndarray[Any, Any], prefix: str) -> dict[str, float]:
    us = ns / 1000.0
    return {f"{prefix}p50_us": round(float(np.percentile(us, 50)), 2),
            f"{prefix}p99_us": round(float(np.percentile(us, 99)), 2),
            f"{prefix}mean_us": round(float(us.mean()), 2)}


def time_calls(fn: Callable[[str], float], texts: list[str], calls: int,
               rounds: int) -> dict[str, float]:
    """Per-call wall time (perf_counter_ns) and thread CPU time (thread_time_ns, which a
    preempted call is not charged for) over `rounds` rounds of `calls` calls (texts cycled),
    after a warm-up pass; p50/p99/mean in µs of all calls."""
    for text in texts:  # warm-up: caches, lazy tables
        fn(text)
    gc.collect()
    wall = np.empty(calls * rounds, dtype=np.int64)
    cpu = np.empty(calls * rounds, dtype=np.int64)
    wall_clock, cpu_clock = time.perf_counter_ns, time.thread_time_ns
    k = 0
    n = len(texts)
    for _ in range(rounds):
        for i in range(calls):
            text = texts[i % n]
            w0, c0 = wall_clock(), cpu_clock()
            fn(text)
            c1, w1 = cpu_clock(), wall_clock()
            wall[k], cpu[k] = w1 - w0, c1 - c0
            k += 1
    return {**_stats(cpu, "cpu_"), **_stats(wall, ""), "calls": int(wall.size)}


def clock_overhead() -> dict[str, float]:
    """What the timing itself adds to a call (a no-op timed the same way)."""
    return time_calls(lambda text: 0.0, ["x"], 5000, 1)


def git_state() -> dict[str, Any]:
    """The commit measured, and whether extproc/ had uncommitted changes."""
    import subprocess

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                              timeout=10, check=False)
        return done.stdout.strip()

    return {"commit": git("rev-parse", "HEAD") or None,
            "extproc_dirty": bool(git("status", "--porcelain", "--", "extproc"))}


def machine() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "loadavg_at_start": load,
    }


def scorers(model_path: Path) -> dict[str, Callable[[str], float]]:
    default = scorer_for(RouterConfig())
    all_dims = scorer_for(parse_config({"routing": {"rules": [
        {"type": "complexity", "weights": dict.fromkeys(DIMENSIONS, 1.0)}]}}))
    learned = scorer_for(parse_config({"routing": {"rules": [
        {"type": "learned", "model": str(model_path)}]}}))
    assert default.rule == all_dims.rule == "complexity" and learned.rule == "learned"
    return {"complexity": default.score_text, "complexity-12dims": all_dims.score_text,
            "learned": learned.score_text}


def print_table(rows: list[dict[str, Any]], prefix: str, title: str) -> None:
    names = list(dict.fromkeys(r["scorer"] for r in rows))
    head = f"{'scorer':<18}" + "".join(f" | {label:>6} p50 {'p99':>7}" for label, _ in SIZES)
    print(f"{title} (µs per call)")
    print(head)
    print("-" * len(head))
    for name in names:
        cells = {r["size"]: r for r in rows if r["scorer"] == name}
        line = f"{name:<18}"
        for label, _ in SIZES:
            c = cells[label]
            line += f" | {c[prefix + 'p50_us']:10.1f} {c[prefix + 'p99_us']:7.1f}"
        print(line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="a model file written by `train`")
    parser.add_argument("--data", type=Path, help="outcome JSONL to train the model on")
    parser.add_argument("--quick", action="store_true", help="fewer calls; no JSON written")
    parser.add_argument("--calls", type=int, default=2000, help="calls per round (default 2000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    calls, rounds = (300, 2) if args.quick else (args.calls, args.rounds)

    with tempfile.TemporaryDirectory(prefix="scorer-cost-") as tmp:
        if args.model is not None:
            model_path, origin = args.model, {"model": str(args.model)}
        else:
            data = args.data
            if data is None:
                data = Path(tmp) / "synthetic.jsonl"
                synthetic_outcomes(data)
            model_path = Path(tmp) / "model.npz"
            origin = train_model(data, model_path)
            if args.data is None:
                origin["data"] = "synthetic (400 rows, bench/scorer_cost.py)"
        model = load_model(model_path)
        fns = scorers(model_path)
        rows = []
        for label, size in SIZES:
            texts = prompts_of(size, 32, seed=size)
            for name, fn in fns.items():
                rows.append({"scorer": name, "size": label, "bytes": size,
                             **time_calls(fn, texts, calls, rounds)})

    info = machine()
    print(f"scorer cost: {calls} calls x {rounds} rounds per cell, single-call timings")
    print(f"learned model: {origin}; features {model.spec.to_json()}\n")
    print_table(rows, "cpu_", "thread CPU time")
    print()
    print_table(rows, "", "wall time")
    overhead = clock_overhead()
    print(f"\ntiming overhead (a timed no-op): CPU p50 {overhead['cpu_p50_us']} µs, wall p50 "
          f"{overhead['p50_us']} µs (not subtracted)")
    learned_2k = next(r for r in rows if r["scorer"] == "learned" and r["size"] == "2 KB")
    for what, key in (("CPU", "cpu_p99_us"), ("wall", "p99_us")):
        verdict = "meets" if learned_2k[key] <= TARGET_US else "MISSES"
        print(f"learned p99 at 2 KB ({what}): {learned_2k[key]} µs: {verdict} the "
              f"{TARGET_US:g} µs target")
    print(f"machine: {info}")
    if not args.quick:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        result = {
            "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": info,
            "git": git_state(),
            "timing": "per call: wall = perf_counter_ns, cpu_* = thread_time_ns (not charged "
                      "while preempted); p50/p99/mean over all calls of all rounds",
            "timing_overhead": overhead,
            "calls_per_round": calls,
            "rounds": rounds,
            "model": {**origin, "feature_spec": model.spec.to_json(),
                      "arrays_sha256": model.manifest.get("arrays_sha256")},
            "target": {"learned_p99_us_at_2KB": TARGET_US,
                       "cpu_p99_us": learned_2k["cpu_p99_us"],
                       "wall_p99_us": learned_2k["p99_us"],
                       "met_cpu": learned_2k["cpu_p99_us"] <= TARGET_US,
                       "met_wall": learned_2k["p99_us"] <= TARGET_US},
            "results": rows,
        }
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
