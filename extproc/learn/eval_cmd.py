"""`extproc-router eval DATA.jsonl`: how well the config's scorer routes on outcome data.

Scores every paired row's prompt with the config's first scoring rule (the same code as the
live path, through `scorer_for`) and prints the routing curve's figures beside random, the
length rule and the oracle, overall and per source. Heavy modules load inside the command so
the CLI starts fast.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from extproc.learn.curve import RoutingReport
    from extproc.learn.outcomes import OutcomeSet
    from extproc.learn.scoring import ConfigScorer


def add_eval_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Register the `eval` subcommand."""
    p = subparsers.add_parser(
        "eval",
        help="routing curve of the config's scorer on outcome data (APGR, PGR at shares)",
        description="Score each paired outcome row ({prompt, q_weak, q_strong}) with the "
        "config's first scoring rule and print APGR, PGR at strong shares 0.2/0.5/0.8 and the "
        "strong share at the configured threshold, beside random, the length rule and the "
        "oracle, overall and per source. Single-tier rows are counted and skipped.",
    )
    p.add_argument("data", metavar="DATA.jsonl", help="outcome rows (JSONL)")
    p.add_argument("--config", metavar="FILE", help="router config (built-in defaults if omitted)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.set_defaults(func=cmd_eval)
    return p


def evaluate(data: OutcomeSet, scorer: ConfigScorer) -> RoutingReport:
    """The routing report of `scorer` on the paired rows of `data` (at least one)."""
    from extproc.learn.curve import routing_report
    from extproc.learn.outcomes import paired_arrays

    prompts, q_weak, q_strong, sources = paired_arrays(data.paired)
    memo: dict[str, float] = {}  # repeated prompts are scored once
    scores = []
    for prompt in prompts:
        if prompt not in memo:
            memo[prompt] = scorer.score_text(prompt)
        scores.append(memo[prompt])
    notes = []
    if data.single:
        notes.append(f"{len(data.single)} single-tier rows skipped: a curve needs both tiers "
                     "judged on the same prompt")
    return routing_report(prompts, scores, q_weak, q_strong, sources,
                          threshold=scorer.threshold, notes=notes)


def _json(data: OutcomeSet, scorer: ConfigScorer, report: RoutingReport | None) -> dict[str, Any]:
    return {
        "data": {"path": data.path, "sha256": data.sha256, "rows": data.rows,
                 "paired": len(data.paired), "single_skipped": len(data.single)},
        "scorer": {"rule": scorer.rule, "threshold": scorer.threshold,
                   "above": scorer.above, "below": scorer.below},
        **(report.to_json() if report is not None else {"groups": []}),
    }


def cmd_eval(args: argparse.Namespace) -> int:
    import orjson

    from extproc.config import ConfigError, load_config
    from extproc.learn.curve import format_table
    from extproc.learn.outcomes import OutcomeDataError, load_outcomes
    from extproc.learn.scoring import scorer_for

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc.report(), file=sys.stderr)
        return 2
    try:
        data = load_outcomes(args.data)
    except OutcomeDataError as exc:
        print(f"eval: {exc}", file=sys.stderr)
        return 2
    scorer = scorer_for(config)
    if not data.paired:
        print(f"eval: {data.path}: no paired rows (prompt, q_weak, q_strong); "
              f"{len(data.single)} single-tier rows skipped: a curve needs both tiers judged "
              "on the same prompt", file=sys.stderr)
        if args.json:
            print(orjson.dumps(_json(data, scorer, None)).decode())
        return 2
    report = evaluate(data, scorer)
    if args.json:
        print(orjson.dumps(_json(data, scorer, report)).decode())
        return 0
    print(f"eval {data.path}: {len(data.paired)} paired rows"
          + (f", {len(data.single)} single-tier rows skipped" if data.single else "")
          + f"; scorer: {scorer.rule} rule, threshold {scorer.threshold:g} "
          f"(score >= threshold -> {scorer.above}, else {scorer.below})")
    print()
    print(format_table(report))
    return 0
