"""Synthetic outcome data with a learnable signal, and a way to run the CLI in-process.

Half of the prompts carry a marker word; on those the strong tier wins (q_weak 0, q_strong
1), on the rest both tiers tie (1, 1). Prompt length is drawn independently of the marker,
so the length rule cannot find the signal and a learned scorer must.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
from pathlib import Path
from typing import Any

from extproc.cli import main

MARKER = "quasar"
VOCAB = (
    "apple river stone cloud paper garden window silver market yellow forest engine bridge "
    "candle doctor island jacket kettle lemon mirror needle orange pencil rabbit saddle tunnel "
    "violin wallet anchor bottle carpet dragon eagle feather guitar hammer"
).split()
FAST = ("--hash-bits", "12", "--folds", "3")  # small tables, few folds: tests stay quick


def prompt(rng: random.Random, marker: bool, low: int = 4, high: int = 14) -> str:
    words = [rng.choice(VOCAB) for _ in range(rng.randint(low, high))]
    if marker:
        words.insert(rng.randrange(len(words) + 1), MARKER)
    return " ".join(words)


def marker_rows(n: int = 120, seed: int = 1, invert: bool = False) -> list[dict[str, Any]]:
    """Paired rows: even rows carry the marker. `invert` swaps which rows the strong tier
    wins on (same prompts), so a model trained on it routes the other way round."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for i in range(n):
        marked = i % 2 == 0
        gain = marked != invert
        rows.append({"prompt": prompt(rng, marked), "q_weak": 0.0 if gain else 1.0,
                     "q_strong": 1.0, "source": "a" if i % 3 else "b"})
    return rows


def split_prompts(rows: list[dict[str, Any]], k: int = 5) -> tuple[list[str], list[str]]:
    """The first `k` marker prompts and the first `k` plain prompts of `rows`."""
    marked = [r["prompt"] for r in rows if MARKER in r["prompt"].split()]
    plain = [r["prompt"] for r in rows if MARKER not in r["prompt"].split()]
    return marked[:k], plain[:k]


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    """One line per row: a str is written as is, anything else as JSON."""
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def run_cli(*argv: str) -> tuple[int, str, str]:
    """`extproc-router ARGV` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(list(argv))
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else 1
    return rc, out.getvalue(), err.getvalue()


def train(data: Path, out: Path, *extra: str) -> dict[str, Any]:
    """Train with `train --json` and return its report; fails the test on a non-zero exit."""
    rc, stdout, stderr = run_cli("train", str(data), "--out", str(out), "--json", *extra)
    assert rc == 0, stderr
    report: dict[str, Any] = json.loads(stdout)
    return report
