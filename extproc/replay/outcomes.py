"""Replay on outcome data, and the routing curve of a replayed config's scorer.

A synthetic trace draws its outcomes from the author labels the complexity scorer was fitted
to, so any curve on it flatters the scorer. Outcome rows (`{"prompt", "q_weak", "q_strong"}`,
what `eval` and `train` read) carry what the models actually got right; replay turns each
paired row into a request judged on the weak and strong tiers and reports the curve
(extproc/learn/curve.py) from those.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import orjson

from extproc.config.model import RouterConfig
from extproc.learn.curve import RoutingReport, routing_report
from extproc.learn.outcomes import OutcomeSet
from extproc.learn.scoring import scorer_for
from extproc.replay.trace import TierOutcome, Trace, TraceLineError, TraceRecord, record_for_prompt


def looks_like_outcomes(path: str | Path) -> bool:
    """Whether a file's first row is a paired outcome row (q_weak and q_strong, no
    `outcomes`), so `replay FILE` can take an outcome file in place of a trace."""
    with open(path, "rb") as handle:
        for raw in handle:
            if not raw.strip():
                continue
            try:
                doc = orjson.loads(raw.removeprefix(b"\xef\xbb\xbf"))
            except orjson.JSONDecodeError:
                return False
            return (
                isinstance(doc, dict)
                and "q_weak" in doc
                and "q_strong" in doc
                and "outcomes" not in doc
            )
    return False


def trace_from_outcomes(data: OutcomeSet, weak: str, strong: str) -> tuple[Trace, list[str]]:
    """One request per paired row, judged on `weak` (q_weak) and `strong` (q_strong); and
    notes on what was left out (single-tier rows cannot place a request on the curve)."""
    trace = Trace(data.path)
    for number, row in enumerate(data.paired, start=1):
        outcomes = {weak: TierOutcome(row.q_weak), strong: TierOutcome(row.q_strong)}
        try:
            record = record_for_prompt(number, f"row-{number}", row.prompt, outcomes, row.source)
        except TraceLineError as exc:  # only a prompt past the body limit gets here
            trace.skip(number, str(exc))
            continue
        trace.records.append(record)
    notes = []
    if data.single:
        notes.append(f"{len(data.single)} single-tier outcome rows skipped: replay needs both "
                     "tiers judged on the same prompt")
    return trace, notes


def curve_report(
    records: Sequence[TraceRecord], weak: str, strong: str, config: RouterConfig
) -> tuple[RoutingReport | None, int]:
    """The routing curve of `config`'s scorer (its first scoring rule, as `eval` computes it)
    over the requests judged on both tiers, per source when the records carry one; and how
    many of those requests carry an author label (a synthetic trace)."""
    judged = [
        (r, lo.quality, hi.quality)
        for r in records
        if (lo := r.outcomes.get(weak)) is not None and lo.quality is not None
        and (hi := r.outcomes.get(strong)) is not None and hi.quality is not None
    ]
    if not judged:
        return None, 0
    scorer = scorer_for(config)
    memo: dict[str, float] = {}  # each distinct text scored once
    prompts, scores = [], []
    for record, _, _ in judged:
        text = record.chat.text
        if text not in memo:
            memo[text] = scorer.score_text(text)
        prompts.append(text)
        scores.append(memo[text])
    has_source = any(r.source for r, _, _ in judged)
    report = routing_report(
        prompts,
        scores,
        [lo for _, lo, _ in judged],
        [hi for _, _, hi in judged],
        [r.source or "all" for r, _, _ in judged] if has_source else None,
        threshold=scorer.threshold,
    )
    return report, sum(r.labelled for r, _, _ in judged)
