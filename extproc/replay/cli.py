"""`extproc-router replay`: offline evaluation of routing policies on a JSONL trace.

Heavy modules are imported inside the command so the CLI starts fast.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from extproc.config.model import RouterConfig
    from extproc.replay.engine import ReplayOptions
    from extproc.replay.trace import Trace

PROMPTS = Path("tests/data/complexity_prompts.jsonl")
BASELINE_NAMES = frozenset({"always-low", "always-high", "random", "length", "oracle"})


def add_replay_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Register the `replay` subcommand."""
    p = subparsers.add_parser(
        "replay",
        help="replay a JSONL trace through routing policies offline (see docs/replay.md)",
        description="Replay a trace through each --config's rule chain and built-in baselines "
        "(always-low/high, random and length at the same strong share, oracle); or, with "
        "--synthesize N --out F, write a seeded synthetic trace.",
    )
    p.add_argument("trace", nargs="?",
                   help="JSONL trace (one request per line); a file of paired outcome rows "
                   "({prompt, q_weak, q_strong}) is read as with --outcomes")
    p.add_argument("--outcomes", metavar="DATA.jsonl",
                   help="replay outcome rows instead of a trace: each paired row is a request "
                   "judged on the weak (q_weak) and strong (q_strong) tier")
    p.add_argument("--config", action="append", default=[], metavar="FILE",
                   help="router config whose rule chain is a policy (repeat to compare; "
                   "built-in defaults when omitted)")
    p.add_argument("--sweep", metavar="LO:HI:STEP",
                   help="sweep the first complexity rule's threshold of the first config")
    p.add_argument("--json", metavar="PATH", help="write the full report as JSON")
    p.add_argument("--csv", metavar="PATH", help="write policies and sweep points as CSV")
    p.add_argument("--png", metavar="PATH", help="plot quality vs strong share (matplotlib)")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="processes for complexity scoring (default 1)")
    p.add_argument("--oracle-epsilon", type=float, default=0.0, metavar="E",
                   help="oracle takes the cheapest tier within E of the best quality")
    p.add_argument("--seed", type=int, default=0, help="random baseline / synthesis seed")
    p.add_argument("--weak", help="weak tier (default: the complexity rule's `below`)")
    p.add_argument("--strong", help="strong tier (default: the complexity rule's `above`)")
    p.add_argument("--learn", choices=["both", "outcome", "quality", "none"], default="both",
                   help="what learning policies are fed per request (default both)")
    p.add_argument("--quiet", action="store_true", help="no table on stdout")
    p.add_argument("--synthesize", type=int, metavar="N",
                   help="write N synthetic requests to --out instead of replaying")
    p.add_argument("--out", metavar="PATH", help="output of --synthesize ('-' for stdout)")
    p.add_argument("--prompts", metavar="PATH",
                   help=f"labelled prompts for --synthesize (default {PROMPTS})")
    p.set_defaults(func=cmd_replay)
    return p


def _configs(paths: list[str]) -> list[tuple[str, RouterConfig]]:
    from extproc.config import ConfigError, RouterConfig, load_config

    if not paths:
        return [("default", RouterConfig())]
    out: list[tuple[str, RouterConfig]] = []
    for path in paths:
        try:
            config = load_config(path)
        except ConfigError as exc:
            print(exc.report(), file=sys.stderr)
            raise SystemExit(2) from None
        stem = Path(path).stem
        stem = Path(path).name if stem in BASELINE_NAMES else stem  # "oracle.yaml" stays so
        name, names, suffix = stem, {n for n, _ in out}, 2
        while name in names:
            name, suffix = f"{stem}#{suffix}", suffix + 1
        out.append((name, config))
    return out


def _prompts_path(given: str | None) -> Path:
    if given:
        return Path(given)
    if PROMPTS.exists():
        return PROMPTS
    return Path(__file__).resolve().parents[2] / PROMPTS


def _synthesize(args: argparse.Namespace, configs: list[tuple[str, RouterConfig]]) -> int:
    from extproc.replay.engine import ReplayOptions, weak_strong
    from extproc.replay.synth import load_labelled, synthesize, write_jsonl

    if not args.out:
        print("--synthesize needs --out PATH", file=sys.stderr)
        return 2
    config = configs[0][1]
    weak, strong = weak_strong(config, ReplayOptions(weak=args.weak, strong=args.strong))
    try:
        rows = load_labelled(_prompts_path(args.prompts))
    except OSError as exc:
        print(f"cannot read labelled prompts: {exc} (pass --prompts)", file=sys.stderr)
        return 2
    lines = synthesize(rows, args.synthesize, seed=args.seed, weak=weak, strong=strong,
                       config=config)
    if args.out == "-":
        import orjson

        for line in lines:
            sys.stdout.buffer.write(orjson.dumps(line) + b"\n")
    else:
        write_jsonl(lines, args.out)
        print(f"wrote {len(lines)} requests to {args.out} (seed {args.seed}, "
              f"weak={weak}, strong={strong})", file=sys.stderr)
    return 0


def _outcome_trace(
    path: str, config: RouterConfig, options: ReplayOptions
) -> tuple[Trace, list[str]]:
    """Paired outcome rows as a trace on the config's weak and strong tiers (strict: a bad
    row raises OutcomeDataError, naming its line)."""
    from extproc.learn.outcomes import load_outcomes
    from extproc.replay.engine import weak_strong
    from extproc.replay.outcomes import trace_from_outcomes

    data = load_outcomes(path)
    weak, strong = weak_strong(config, options)
    return trace_from_outcomes(data, weak, strong)


def cmd_replay(args: argparse.Namespace) -> int:
    from extproc.replay.engine import ReplayOptions, run_replay
    from extproc.replay.outcomes import looks_like_outcomes
    from extproc.replay.report import format_table, write_csv, write_json, write_png
    from extproc.replay.runner import parse_sweep
    from extproc.replay.trace import load_trace

    configs = _configs(args.config)
    try:
        if args.synthesize is not None:
            return _synthesize(args, configs)
        if args.trace and args.outcomes:
            print("replay: give a TRACE or --outcomes, not both", file=sys.stderr)
            return 2
        if not args.trace and not args.outcomes:
            print("replay: a TRACE file is needed (or --outcomes DATA.jsonl, or --synthesize N "
                  "--out F)", file=sys.stderr)
            return 2
        if args.workers < 1:
            raise ValueError("--workers must be >= 1")
        options = ReplayOptions(
            sweep=parse_sweep(args.sweep) if args.sweep else None,
            oracle_epsilon=args.oracle_epsilon,
            seed=args.seed,
            learn=args.learn,
            weak=args.weak,
            strong=args.strong,
            workers=args.workers,
        )
        started = time.perf_counter()
        notes: list[str] = []
        try:
            if args.outcomes or looks_like_outcomes(args.trace):
                trace, notes = _outcome_trace(args.outcomes or args.trace, configs[0][1], options)
            else:
                trace = load_trace(args.trace)
        except OSError as exc:
            print(f"cannot read trace: {exc}", file=sys.stderr)
            return 2
        load_s = time.perf_counter() - started
        result = run_replay(trace, configs, options)
    except ValueError as exc:  # OutcomeDataError too: its message names file and line
        print(f"replay: {exc}", file=sys.stderr)
        return 2
    report = result.report
    report.notes[:0] = notes
    report.speed["load_s"] = load_s
    if not args.quiet:
        print(format_table(report))
    if args.json:
        write_json(report, args.json)
    if args.csv:
        write_csv(report, args.csv)
    if args.png:
        print(write_png(report, result.curves, args.png), file=sys.stderr)
    return 0 if report.trace["requests"] else 1
