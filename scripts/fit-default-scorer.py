#!/usr/bin/env python3
"""Refit the default complexity scorer on outcome files and print the evidence.

    .venv/bin/python scripts/fit-default-scorer.py OUTCOMES.jsonl [...] [--strong-share 0.3]

For each file (paired rows ``{"prompt","q_weak","q_strong"}``) it prints:

* the APGR of each complexity dimension alone (ties broken by length), of the length rule and
  of the shipped default;
* a pooled ridge fit of the other dimensions on top of length (each file's gains scaled by
  its own mean gain, so every file counts alike), in sample and leave-one-file-out, as
  APGR minus the length rule's;
* the length, in characters, above which ``--strong-share`` of the prompts lie (each file
  weighted equally), and the ``BIAS`` that puts the default threshold there.

The shipped constants in ``extproc/signals/complexity.py`` come from this output; the
reasoning is in ``docs/complexity-scorer.md``. Never pass MMLU, GSM8K or MT-bench data: those
are held out for evaluation.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from extproc.learn.curve import length_scores, routing_curve  # noqa: E402
from extproc.learn.outcomes import load_outcomes, paired_arrays  # noqa: E402
from extproc.signals import complexity as cx  # noqa: E402

RIDGE = 10.0


def apgr(scores: np.ndarray, q_weak: np.ndarray, q_strong: np.ndarray) -> float:
    curve = routing_curve(scores, q_weak, q_strong)
    return 0.5 if curve is None else curve.apgr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--strong-share", type=float, default=0.3)
    parser.add_argument("--weight", type=float, default=cx.DEFAULT_WEIGHTS["length"],
                        help="length weight of the default (sets the score's spread)")
    args = parser.parse_args()

    scorer = cx.ComplexityScorer()
    data = []
    for path in args.files:
        rows = load_outcomes(path).paired
        prompts, q_weak, q_strong, _ = paired_arrays(rows)
        values = np.array([scorer.score(p).values for p in prompts])
        default = np.array([scorer.score(p).score for p in prompts])
        data.append((Path(path).stem[:28], prompts, q_weak, q_strong, values, default))

    li = cx.DIMENSIONS.index("length")
    print("APGR of each dimension alone (ties broken by length):")
    print(f"{'file':28} " + " ".join(f"{d[:7]:>7}" for d in cx.DIMENSIONS)
          + "  length default")
    for name, prompts, qw, qs, v, default in data:
        tie = 1e-9 * np.log1p(length_scores(prompts))
        cells = " ".join(f"{apgr(v[:, j] + tie, qw, qs):7.3f}" for j in range(v.shape[1]))
        print(f"{name:28} {cells}  {apgr(length_scores(prompts), qw, qs):6.3f} "
              f"{apgr(default, qw, qs):7.3f}")

    others = [j for j in range(len(cx.DIMENSIONS)) if j != li]

    def fit(keep: list[int]) -> np.ndarray:
        xs, ys = [], []
        for k in keep:
            _, _, qw, qs, v, _ = data[k]
            gain = (qs - qw) / max(1e-9, float((qs - qw).mean()))
            xs.append(v[:, others])
            ys.append(gain - gain.mean())
        x = np.vstack(xs)
        x = x - x.mean(axis=0)
        y = np.concatenate(ys)
        coef = np.linalg.solve(x.T @ x + RIDGE * np.eye(len(others)), x.T @ y)
        w = np.zeros(len(cx.DIMENSIONS))
        w[li] = 1.0
        w[others] = coef
        return w

    def delta(w: np.ndarray, k: int) -> float:
        _, prompts, qw, qs, v, _ = data[k]
        return apgr(v @ w, qw, qs) - apgr(length_scores(prompts), qw, qs)

    everything = list(range(len(data)))
    pooled = fit(everything)
    print(f"\nPooled ridge (lambda {RIDGE}) of the other dimensions on top of length:")
    print("  weights: " + ", ".join(f"{cx.DIMENSIONS[j]} {pooled[j]:+.3f}" for j in others))
    for k, (name, *_rest) in enumerate(data):
        held_out = fit([i for i in everything if i != k]) if len(data) > 1 else pooled
        print(f"  {name:28} APGR - length: in sample {delta(pooled, k):+.3f}, "
              f"leave-one-file-out {delta(held_out, k):+.3f}")

    lengths = np.concatenate([length_scores(d[1]) for d in data])
    weights = np.concatenate([np.full(len(d[1]), 1.0 / len(d[1])) for d in data])
    order = np.argsort(lengths)
    cumulative = np.cumsum(weights[order]) / weights.sum()
    cut = float(lengths[order][np.searchsorted(cumulative, 1.0 - args.strong_share)])
    value = (math.log(cut) - cx._LEN_LO) / cx._LEN_SPAN
    print(f"\n{args.strong_share:.0%} of prompts (files weighted equally) are longer than "
          f"{cut:.0f} characters")
    print(f"length-only default: weight {args.weight}, BIAS {-args.weight * value:.4f} "
          f"(score 0.5 at {cut:.0f} characters)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
