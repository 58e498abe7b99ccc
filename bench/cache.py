"""Response cache through Envoy + router: hit latency (exact and semantic) vs a routed miss,
and the hit rate on a small paraphrase set (plus near-misses that must NOT hit).

    python bench/cache.py [--min-similarity 0.9]
Needs the semantic extra (sentence-transformers). Prints a table, writes
bench/results/cache.json. All on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from extproc.stack.up import Stack, StackPorts  # noqa: E402

PARAPHRASES = [
    ("What is the capital city of France?", "Which city is the capital of France?"),
    ("How do I reverse a list in Python?", "What's the way to reverse a Python list?"),
    ("Explain what photosynthesis is.", "Can you explain photosynthesis?"),
    ("Give me three tips for better sleep.", "What are three tips to sleep better?"),
    ("Translate 'good morning' into Spanish.", "How do you say 'good morning' in Spanish?"),
    ("What causes the seasons on Earth?", "Why does Earth have seasons?"),
    ("How many legs does a spider have?", "How many legs do spiders have?"),
    ("What is the boiling point of water at sea level?",
     "At sea level, what temperature does water boil at?"),
]
NEAR_MISSES = [  # similar wording, different answer: must not be served from the cache
    ("Convert 10 miles to kilometers.", "Convert 12 miles to kilometers."),
    ("Sort the list [3, 1, 2] in ascending order.", "Sort the list [3, 1, 2] in descending order."),
    ("Is 7 a prime number?", "Is 9 a prime number?"),
    ("Name a country in Europe.", "Name a country that is not in Europe."),
]


def ask(client: httpx.Client, text: str, user: str = "bench") -> tuple[float, str]:
    body = {"model": "auto", "messages": [{"role": "user", "content": text}]}
    start = time.perf_counter()
    r = client.post("/v1/chat/completions", json=body, headers={"authorization": user})
    elapsed = (time.perf_counter() - start) * 1000.0
    r.raise_for_status()
    return elapsed, r.headers.get("x-cache", "miss")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--min-similarity", type=float, default=0.95)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "cache.json"))
    args = ap.parse_args()
    if importlib.util.find_spec("sentence_transformers") is None:
        raise SystemExit("semantic extra not installed: pip install -e '.[semantic]'")
    tmp = Path(tempfile.mkdtemp(prefix="cache-bench-"))
    config = tmp / "router.yaml"
    config.write_text(yaml.safe_dump({"cache": {
        "enabled": True, "min_similarity": args.min_similarity, "budget_ms": 2000}}))
    stack = Stack(ports=StackPorts.free(), router_config=str(config), log_dir=tmp)
    stack.start(timeout_s=120)
    try:
        with httpx.Client(base_url=stack.url, timeout=60) as client:
            miss_ms, exact_ms, semantic_ms, first_semantic_ms = [], [], [], []
            para_hits = 0
            for first, second in PARAPHRASES:
                ms, _ = ask(client, first)
                miss_ms.append(ms)
                ms, cache = ask(client, second)
                if cache == "hit-semantic":
                    para_hits += 1
                    first_semantic_ms.append(ms)  # a new text: embedding + search
            near_hits = 0
            for first, second in NEAR_MISSES:
                ask(client, first)
                _, cache = ask(client, second)
                near_hits += cache != "miss"
            for _ in range(args.repeat):
                for first, _second in PARAPHRASES:
                    ms, cache = ask(client, first)
                    if cache == "hit-exact":
                        exact_ms.append(ms)
            for _ in range(args.repeat // 4 or 1):
                for _first, second in PARAPHRASES:
                    ms, cache = ask(client, second + " ")  # not exact; embedding LRU-cached
                    if cache == "hit-semantic":
                        semantic_ms.append(ms)
    finally:
        stack.stop()

    def p50(values: list[float]) -> float | None:
        return round(statistics.median(values), 3) if values else None

    result = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "loadavg": os.getloadavg(),
        "min_similarity": args.min_similarity,
        "paraphrase_hit_rate": para_hits / len(PARAPHRASES),
        "near_miss_false_hits": near_hits,
        "near_miss_pairs": len(NEAR_MISSES),
        "miss_p50_ms": p50(miss_ms),
        "exact_hit_p50_ms": p50(exact_ms),
        "semantic_hit_new_text_p50_ms": p50(first_semantic_ms),
        "semantic_hit_cached_embedding_p50_ms": p50(semantic_ms),
        "samples": {"miss": len(miss_ms), "exact": len(exact_ms),
                    "semantic_new": len(first_semantic_ms), "semantic_cached": len(semantic_ms)},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"{'metric':<34} value")
    for key in ("paraphrase_hit_rate", "near_miss_false_hits", "miss_p50_ms",
                "exact_hit_p50_ms", "semantic_hit_new_text_p50_ms",
                "semantic_hit_cached_embedding_p50_ms"):
        print(f"{key:<34} {result[key]}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
