"""`extproc-router train DATA.jsonl --out MODEL`: fit a learned scorer on outcome rows and
print its k-fold cross-validated routing figures."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy and the fitting code load only when `train` runs: the CLI starts fast
    import numpy as np

    from extproc.learn.outcomes import OutcomeSet

CURVE_POINTS = 51  # points of the stored curves (for plots and the console)


@dataclass(frozen=True, slots=True)
class TrainingRows:
    """All prompts, plus which of them feed the weak and the strong head."""

    texts: list[str]
    weak_rows: list[int]
    weak_q: list[float]
    strong_rows: list[int]
    strong_q: list[float]
    sources: dict[int, str]  # paired rows only
    skipped_tiers: dict[str, int]


def training_rows(data: OutcomeSet, weak: str, strong: str) -> TrainingRows:
    """Paired rows feed both heads; single-tier rows feed the head of their tier."""
    texts: list[str] = []
    rows = TrainingRows(texts, [], [], [], [], {}, {})
    for row in data.paired:
        i = len(texts)
        texts.append(row.prompt)
        rows.weak_rows.append(i)
        rows.weak_q.append(row.q_weak)
        rows.strong_rows.append(i)
        rows.strong_q.append(row.q_strong)
        rows.sources[i] = row.source
    for one in data.single:
        if one.tier not in (weak, strong):
            rows.skipped_tiers[one.tier] = rows.skipped_tiers.get(one.tier, 0) + 1
            continue
        i = len(texts)
        texts.append(one.prompt)
        if one.tier == weak:
            rows.weak_rows.append(i)
            rows.weak_q.append(one.score)
        else:
            rows.strong_rows.append(i)
            rows.strong_q.append(one.score)
    return rows


def _curve_points(scores: np.ndarray[Any, Any], q_weak: np.ndarray[Any, Any],
                  q_strong: np.ndarray[Any, Any]) -> dict[str, list[float]] | None:
    import numpy as np

    from extproc.learn.curve import routing_curve

    curve = routing_curve(scores, q_weak, q_strong)
    if curve is None:
        return None
    shares = np.linspace(0.0, 1.0, CURVE_POINTS)
    return {"share": shares.round(4).tolist(),
            "pgr": [round(curve.pgr_at(float(s)), 4) for s in shares]}


def add_train_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train",
        help="fit a learned scorer on outcome rows; print k-fold routing figures",
        description="Fit a learned scorer (type: learned) on outcome JSONL: paired rows "
        '{"prompt","q_weak","q_strong"} and/or single-tier rows {"prompt","tier","score"}. '
        "Prints nested k-fold cross-validated APGR and PGR at 0.2/0.5/0.8 against random, "
        "the length rule and the oracle, per source. Needs the train extra.",
    )
    p.add_argument("data", help="outcome JSONL")
    p.add_argument("--out", required=True, help="model file to write (.npz)")
    p.add_argument("--strong-share", type=float, default=0.3,
                   help="target share of traffic for the strong tier; sets the model's "
                   "default threshold (default 0.3)")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--weak", default="tier_low", help="weak tier name in single-tier rows")
    p.add_argument("--strong", default="tier_high", help="strong tier name in single-tier rows")
    p.add_argument("--complexity-features", action="store_true",
                   help="add the rule scorer's 12 dimensions (costs ~60 µs per 2 KB prompt)")
    p.add_argument("--embedding-features", action="store_true",
                   help="add the prompt's sentence embedding (semantic extra; the router's "
                   "semantic layer must use the same model, and computes it per request)")
    p.add_argument("--embedding-model", default="bundled", metavar="NAME",
                   help="'bundled' (all-MiniLM-L6-v2, classifier.model unset), 'hashing', or "
                   "a local model path: what classifier.model says (default bundled)")
    p.add_argument("--hash-bits", type=int, default=None,
                   help="hashed feature space: 2^N indices (default 16)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_train)
    return p


def _fail(message: str) -> int:
    print(f"train: {message}", file=sys.stderr)
    return 2


def cmd_train(args: argparse.Namespace) -> int:
    if not 0.0 < args.strong_share < 1.0:
        return _fail("--strong-share must be in (0, 1)")
    if not 2 <= args.folds <= 20:
        return _fail("--folds must be in [2, 20]")
    try:
        from extproc.learn import fit as fitting
    except ImportError as exc:
        return _fail(str(exc))
    import numpy as np

    from extproc.learn.curve import format_table, length_scores, routing_report
    from extproc.learn.features import FeatureSpec
    from extproc.learn.outcomes import OutcomeDataError, load_outcomes

    try:
        data = load_outcomes(args.data)
        bits = FeatureSpec().hash_bits if args.hash_bits is None else args.hash_bits
        spec = FeatureSpec(hash_bits=bits, complexity=args.complexity_features)
    except (OutcomeDataError, ValueError) as exc:
        return _fail(str(exc))
    rows = training_rows(data, args.weak, args.strong)
    if not rows.weak_rows or not rows.strong_rows:
        return _fail(
            f"{args.data}: needs outcomes of both tiers ({args.weak}: {len(rows.weak_rows)} rows, "
            f"{args.strong}: {len(rows.strong_rows)} rows)"
        )
    started = time.monotonic()
    vectors = None
    if args.embedding_features:
        from extproc.learn.embedding import embed_all, embedder_for

        try:
            embedder = embedder_for(args.embedding_model)
        except RuntimeError as exc:  # SemanticUnavailable
            return _fail(f"--embedding-features: {exc}")
        vectors = embed_all(embedder, rows.texts)
        spec = dataclasses.replace(spec, embedding=args.embedding_model,
                                   embedding_dim=int(embedder.dim))
    table = fitting.FeatureTable(rows.texts, spec, vectors)
    targets = fitting.Targets(
        np.asarray(rows.weak_rows, dtype=np.intp), np.asarray(rows.weak_q),
        np.asarray(rows.strong_rows, dtype=np.intp), np.asarray(rows.strong_q),
    )
    notes = [f"{n} rows of tier {t!r} skipped (neither --weak nor --strong)"
             for t, n in sorted(rows.skipped_tiers.items())]
    cv = fitting.cross_validate(table, targets, args.folds, args.seed)
    report = None
    manifest_cv: dict[str, Any] | None = None
    if cv is None:
        notes.append(f"fewer than {2 * args.folds} paired rows: no cross-validated curve")
        threshold = None
    else:
        threshold = fitting.threshold_for_share(cv.scores, args.strong_share)
        paired_idx = cv.paired.rows.tolist()
        prompts = [rows.texts[i] for i in paired_idx]
        sources = [rows.sources.get(i, "all") for i in paired_idx]
        report = routing_report(prompts, cv.scores, cv.paired.q_weak, cv.paired.q_strong,
                                sources, threshold=threshold, notes=notes)
        manifest_cv = {
            "folds": args.folds,
            "seed": args.seed,
            "choices": [{"alpha": h.alpha, "word_scale": h.word_scale} for h in cv.choices],
            "report": report.to_json(),
            "curve": _curve_points(cv.scores, cv.paired.q_weak, cv.paired.q_strong),
            "length_curve": _curve_points(length_scores(prompts), cv.paired.q_weak,
                                          cv.paired.q_strong),
        }
    hyper = fitting.select(table, targets, args.folds, args.seed)
    model = fitting.fit(table, targets, hyper, 0.0)
    if threshold is None:  # in-sample quantile: the best available without held-out rows
        in_sample = np.array([model.score(t) for t in rows.texts])
        threshold = fitting.threshold_for_share(in_sample, args.strong_share)
    model.threshold = threshold
    model.manifest = {
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "training_data": {"path": str(Path(args.data).name), "sha256": data.sha256,
                          "rows": data.rows, "paired": len(data.paired),
                          "single": len(data.single)},
        "tiers": {"weak": args.weak, "strong": args.strong},
        "target": "q_strong - q_weak (ridge, two heads)",
        "alpha": hyper.alpha,
        "word_scale": hyper.word_scale,
        "strong_share": args.strong_share,
        "cross_validation": manifest_cv,
        "notes": notes,
    }
    try:
        model.save(args.out)
    except OSError as exc:
        return _fail(f"cannot write {args.out}: {exc}")
    elapsed = time.monotonic() - started
    if args.json:
        print(json.dumps({"model": args.out, "threshold": threshold, "alpha": hyper.alpha,
                          "word_scale": hyper.word_scale,
                          "report": None if report is None else report.to_json(),
                          "notes": notes}, indent=2))
        return 0
    print(f"{args.data}: {data.rows} rows ({len(data.paired)} paired, {len(data.single)} "
          f"single-tier); sha256 {data.sha256[:12]}")
    if report is not None:
        print(f"\n{args.folds}-fold cross-validated (nested: ridge strength chosen inside each "
              "fold), learned scorer vs baselines:")
        print(format_table(report))
    for note in notes:
        print(f"note: {note}")
    print(f"\nwrote {args.out}: threshold {threshold:.6g} (strong share {args.strong_share}), "
          f"ridge alpha {hyper.alpha}, word weight {hyper.word_scale}, {elapsed:.1f} s")
    return 0
