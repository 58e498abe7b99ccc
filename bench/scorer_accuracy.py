"""Accuracy and speed of the rule-based complexity scorer vs the keyword baseline.

Reads tests/data/complexity_prompts.jsonl and reports, per split (test is held out; weights and
thresholds were tuned on train only):

  * accuracy / precision / recall / ROC AUC of ComplexityScorer at DEFAULT_THRESHOLD and of the
    keyword baseline at its best train threshold;
  * share of prompts sent to the strong tier at several thresholds;
  * a routing curve in the RouterBench style: with labels as a proxy for per-prompt outcomes
    ("simple" is answered well by either tier, "strong" only by the strong tier), the quality
    kept when a given share of traffic goes up, for the scorer, the baseline, a "longest prompts
    go up" length rule and random routing;
  * microseconds per score() call for short, medium and ~5 MB prompts.

Usage:
  python bench/scorer_accuracy.py             # tables + bench/results/scorer_accuracy.json
  python bench/scorer_accuracy.py --no-speed  # accuracy only
  python bench/scorer_accuracy.py --fit       # also refit weights on train (needs numpy)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from itertools import pairwise
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from extproc.signals.complexity import (  # noqa: E402
    BIAS,
    DEFAULT_THRESHOLD,
    DEFAULT_WEIGHTS,
    DIMENSIONS,
    ComplexityScorer,
)
from extproc.signals.keyword_baseline import KeywordBaselineScorer, best_threshold  # noqa: E402

DATA = ROOT / "tests" / "data" / "complexity_prompts.jsonl"
OUT = ROOT / "bench" / "results" / "scorer_accuracy.json"
SCORER_THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)
BASELINE_THRESHOLDS = (0.25, 0.5, 0.75, 1.0)
BUDGETS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.8)

Split = tuple[list[str], list[bool]]


def load_split(name: str) -> Split:
    """(prompts, is_strong) for one split of the labelled set."""
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line]
    rows = [r for r in rows if r["split"] == name]
    return [r["prompt"] for r in rows], [r["label"] == "strong" for r in rows]


def roc_auc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """Probability a random strong prompt outscores a random simple one (ties count half)."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def classify(scores: Sequence[float], labels: Sequence[bool], threshold: float) -> dict[str, float]:
    """Accuracy, precision, recall and strong-share of ``score >= threshold``."""
    pred = [s >= threshold for s in scores]
    tp = sum(p and y for p, y in zip(pred, labels, strict=True))
    fp = sum(p and not y for p, y in zip(pred, labels, strict=True))
    correct = sum(p == y for p, y in zip(pred, labels, strict=True))
    return {
        "threshold": threshold,
        "accuracy": correct / len(labels),
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / sum(labels),
        "strong_share": sum(pred) / len(pred),
    }


def quality_at_budget(scores: Sequence[float], labels: Sequence[bool], budget: float) -> float:
    """Share of prompts answered well when the top ``budget`` share by score goes up.

    Ties at the cut are split proportionally, so the result does not depend on input order.
    """
    n = len(scores)
    k = budget * n
    ranked = sorted(zip(scores, labels, strict=True), key=lambda sy: -sy[0])
    strong_up = 0.0
    i = 0
    while i < n and i < k:
        j = i
        while j < n and ranked[j][0] == ranked[i][0]:
            j += 1
        take = min(j, k) - i
        group_strong = sum(y for _, y in ranked[i:j])
        strong_up += group_strong * take / (j - i)
        i = j
    simple_total = n - sum(labels)
    return (simple_total + strong_up) / n


def routing_curve(scores: Sequence[float], labels: Sequence[bool]) -> dict[str, float]:
    """Quality kept per strong-tier budget, plus the area under the curve on [0, 1]."""
    curve = {f"{b:.0%}": quality_at_budget(scores, labels, b) for b in BUDGETS}
    grid = [i / 100 for i in range(101)]
    vals = [quality_at_budget(scores, labels, b) for b in grid]
    curve["area"] = sum((a + b) / 2 for a, b in pairwise(vals)) / 100
    return curve


def evaluate(name: str, prompts: list[str], labels: list[bool], base_t: float) -> dict[str, Any]:
    """All accuracy figures for one split."""
    scorer, baseline = ComplexityScorer(), KeywordBaselineScorer()
    ours = [scorer.score(p).score for p in prompts]
    base = [baseline.score(p) for p in prompts]
    length = [float(len(p)) for p in prompts]
    random_curve = {f"{b:.0%}": 1 - (1 - b) * sum(labels) / len(labels) for b in BUDGETS}
    random_curve["area"] = 1 - 0.5 * sum(labels) / len(labels)
    return {
        "split": name,
        "n": len(labels),
        "strong": sum(labels),
        "scorer": {
            "auc": roc_auc(ours, labels),
            "default": classify(ours, labels, DEFAULT_THRESHOLD),
            "thresholds": [classify(ours, labels, t) for t in SCORER_THRESHOLDS],
        },
        "baseline": {
            "auc": roc_auc(base, labels),
            "default": classify(base, labels, base_t),
            "thresholds": [classify(base, labels, t) for t in BASELINE_THRESHOLDS],
        },
        "routing": {
            "scorer": routing_curve(ours, labels),
            "baseline": routing_curve(base, labels),
            "length": routing_curve(length, labels),
            "random": random_curve,
        },
    }


def time_call(fn: Callable[[], object], min_seconds: float = 0.3) -> float:
    """Median microseconds per call over a few timed batches."""
    batches = []
    for _ in range(5):
        n, start = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds / 5:
                break
        batches.append(elapsed / n * 1e6)
    return statistics.median(batches)


def speed(prompts: list[str]) -> dict[str, float]:
    """µs per score() call for typical and adversarial inputs (inputs built once, untimed)."""
    score = ComplexityScorer().score
    medium = [p for p in prompts if 400 <= len(p) <= 700][:16]
    mixed = "Some text 12 x^2 + y = 3; def f(): return 1\nAlice said: prove it?\n"
    inputs = {
        "short_30c": "What is the capital of France?",
        "huge_5MB_mixed": (mixed * (5_000_000 // len(mixed) + 1))[:5_000_000],
        "huge_5MB_newlines": "\n" * 5_000_000,
        "huge_5MB_cjk": "数学题目" * 1_250_000,
    }
    timing = {name: time_call(partial(score, text)) for name, text in inputs.items()}
    timing["medium_500c"] = statistics.mean(time_call(partial(score, p)) for p in medium)
    return timing


NEGATIVE_DIMENSIONS = frozenset({"simple_intent", "creative", "multiple_choice"})
FIT_L2 = 0.003


def fit_weights(prompts: list[str], labels: list[bool]) -> dict[str, Any]:
    """Sign-constrained L2 logistic regression of labels on dimension values (train only).

    Dimensions in NEGATIVE_DIMENSIONS may only get weights <= 0, the others >= 0. The L2
    strength only changes the scale of the weights (5-fold CV accuracy is flat over 0.001-0.01),
    so the fit uses FIT_L2 from the middle of that plateau and reports the CV table alongside.
    DEFAULT_WEIGHTS in complexity.py are these weights rounded to 0.25, with the priors listed
    in docs/complexity-scorer.md.
    """
    import numpy as np  # only needed here

    scorer = ComplexityScorer()
    x = np.array([[scorer.score(p).dimensions[d] for d in DIMENSIONS] for p in prompts])
    y = np.array(labels, dtype=float)
    sign = np.array([-1.0 if d in NEGATIVE_DIMENSIONS else 1.0 for d in DIMENSIONS])

    def fit(xs: Any, ys: Any, l2: float, iters: int = 20000) -> tuple[Any, float]:
        w, b = np.zeros(xs.shape[1]), 0.0
        for _ in range(iters):
            p = 1.0 / (1.0 + np.exp(-(xs @ w + b)))
            w -= 0.5 * (xs.T @ (p - ys) / len(ys) + l2 * w)
            b -= 0.5 * float((p - ys).mean())
            w = np.where(w * sign < 0, 0.0, w)
        return w, b

    folds = np.array_split(np.random.default_rng(0).permutation(len(y)), 5)
    cv: dict[float, float] = {}
    for l2 in (0.001, 0.003, 0.01, 0.03, 0.1):
        accs = []
        for fold in folds:
            mask = np.ones(len(y), dtype=bool)
            mask[fold] = False
            w, b = fit(x[mask], y[mask], l2, iters=3000)
            accs.append(float((((x[fold] @ w + b) >= 0) == (y[fold] == 1)).mean()))
        cv[l2] = float(np.mean(accs))
    w, b = fit(x, y, FIT_L2)
    return {
        "l2": FIT_L2,
        "cv_accuracy": cv,
        "weights": {d: round(float(v), 2) for d, v in zip(DIMENSIONS, w, strict=True)},
        "bias": round(b, 2),
        "shipped_weights": dict(DEFAULT_WEIGHTS),
        "shipped_bias": BIAS,
    }


def print_report(results: list[dict[str, Any]], timing: dict[str, float] | None) -> None:
    """Human-readable tables."""
    for res in results:
        print(f"\n== {res['split']} split: {res['n']} prompts, {res['strong']} strong ==")
        print(f"{'model':9} {'thr':>5} {'acc':>6} {'prec':>6} {'recall':>6} {'up%':>6} {'auc':>6}")
        for name in ("scorer", "baseline"):
            d = res[name]["default"]
            print(
                f"{name:9} {d['threshold']:5.2f} {d['accuracy']:6.3f} {d['precision']:6.3f} "
                f"{d['recall']:6.3f} {d['strong_share']:6.1%} {res[name]['auc']:6.3f}"
            )
        for name in ("scorer", "baseline"):
            shares = "  ".join(
                f"t={c['threshold']:.2f}:{c['strong_share']:.0%}" for c in res[name]["thresholds"]
            )
            print(f"strong share, {name}: {shares}")
        print("quality kept at strong-tier share (label proxy):")
        print(f"{'router':9} " + " ".join(f"{b:>6}" for b in res["routing"]["scorer"]))
        for name, curve in res["routing"].items():
            print(f"{name:9} " + " ".join(f"{v:6.3f}" for v in curve.values()))
    if timing:
        print("\n== speed (µs per score) ==")
        for key, value in timing.items():
            print(f"{key:20} {value:10.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-speed", action="store_true", help="skip the timing section")
    parser.add_argument("--fit", action="store_true", help="refit weights on train (numpy)")
    parser.add_argument("--out", type=Path, default=OUT, help="JSON output path")
    args = parser.parse_args()

    train_prompts, train_labels = load_split("train")
    baseline = KeywordBaselineScorer()
    base_t = best_threshold([baseline.score(p) for p in train_prompts], train_labels)
    results = [
        evaluate("test", *load_split("test"), base_t),
        evaluate("train", train_prompts, train_labels, base_t),
    ]
    timing = None if args.no_speed else speed(train_prompts + load_split("test")[0])
    print_report(results, timing)
    fitted = fit_weights(train_prompts, train_labels) if args.fit else None
    if fitted:
        cv = ", ".join(f"{k}: {v:.3f}" for k, v in fitted["cv_accuracy"].items())
        print(f"\n== refit on train: 5-fold CV accuracy per L2 {{{cv}}}; fit at {fitted['l2']} ==")
        print(f"{'dimension':16} {'fitted':>7} {'shipped':>8}")
        for dim in DIMENSIONS:
            print(f"{dim:16} {fitted['weights'][dim]:7.2f} {DEFAULT_WEIGHTS[dim]:8.2f}")
        print(f"{'bias':16} {fitted['bias']:7.2f} {BIAS:8.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "default_threshold": DEFAULT_THRESHOLD,
        "baseline_threshold": base_t,
        "results": results,
        "speed_us": timing,
        "refit": fitted,
        "python": sys.version.split()[0],
    }
    args.out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")


if __name__ == "__main__":
    main()
