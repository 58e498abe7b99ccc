#!/usr/bin/env python3
"""Routing quality on outcome files: the untrained default, a k-fold cross-validated learned
scorer, the length rule and random, side by side.

    .venv/bin/python bench/routing_quality.py OUTCOMES.jsonl [...] [--folds 5]

Per file: APGR and PGR at strong shares 0.2/0.5/0.8 for

* **default**: the shipped complexity rule (`extproc-router eval` without a config);
* **learned (k-fold)**: `extproc-router train`'s nested k-fold out-of-fold scores (every
  prompt scored by a model that never saw it);
* **length**: longest prompts to the strong tier; **random**: 0.5 by definition;
* **oracle**: by the known gain, the ceiling.

Prints a table and writes `bench/results/routing_quality.json`. Needs the train extra.
Never pass MMLU, GSM8K or MT-bench data: they are held out for evaluation.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from extproc.config import load_config  # noqa: E402
from extproc.learn import fit as fitting  # noqa: E402
from extproc.learn.curve import POINTS, group_row  # noqa: E402
from extproc.learn.features import FeatureSpec  # noqa: E402
from extproc.learn.outcomes import load_outcomes, paired_arrays  # noqa: E402
from extproc.learn.scoring import scorer_for  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "routing_quality.json"


def _row(name: str, apgr: float | None, pgr: dict[float, float | None]) -> dict[str, Any]:
    return {"router": name, "apgr": apgr, "pgr": {str(k): v for k, v in pgr.items()}}


def evaluate_file(path: str, folds: int, seed: int) -> dict[str, Any]:
    data = load_outcomes(path)
    prompts, q_weak, q_strong, _ = paired_arrays(data.paired)
    default = scorer_for(load_config(None))
    default_scores = np.array([default.score_text(p) for p in prompts])
    base = group_row("ALL", prompts, default_scores, q_weak, q_strong,
                     threshold=default.threshold)
    started = time.monotonic()
    table = fitting.FeatureTable(prompts, FeatureSpec())
    rows = np.arange(len(prompts), dtype=np.intp)
    cv = fitting.cross_validate(table, fitting.Targets(rows, q_weak, rows, q_strong), folds, seed)
    if cv is None:
        raise SystemExit(f"{path}: too few rows for {folds}-fold cross-validation")
    learned = group_row("ALL", prompts, cv.scores, q_weak, q_strong)
    return {
        "file": Path(path).name,
        "rows": len(prompts),
        "sha256": data.sha256,
        "folds": folds,
        "train_s": round(time.monotonic() - started, 1),
        "default_strong_share": base.strong_share,
        "routers": [
            _row("default", base.apgr, base.pgr),
            _row(f"learned ({folds}-fold)", learned.apgr, learned.pgr),
            _row("length", base.length, base.length_pgr),
            _row("random", 0.5, {p: p for p in POINTS}),
            _row("oracle", base.oracle, {}),
        ],
    }


def _f(x: float | None) -> str:
    return "  n/a" if x is None else f"{x:5.3f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    results = [evaluate_file(f, args.folds, args.seed) for f in args.files]
    print("| file | rows | router | APGR | PGR@0.2 | PGR@0.5 | PGR@0.8 |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for res in results:
        for r in res["routers"]:
            pgr = r["pgr"]
            cells = " | ".join(_f(pgr.get(str(p))) for p in POINTS)
            print(f"| {res['file'][:40]} | {res['rows']} | {r['router']} | {_f(r['apgr'])} | "
                  f"{cells} |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"results": results}, indent=2) + "\n")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
