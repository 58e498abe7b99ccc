"""Outcome data: what the models actually got right, one JSONL row per prompt.

Two row shapes (extra keys are ignored; a row with both shapes' keys is paired):

* paired ``{"prompt", "q_weak", "q_strong"}``: both tiers judged on the same prompt, which
  is what a routing curve and training need;
* single-tier ``{"prompt", "tier", "score"}``: one tier judged, as feedback produces.

Either may carry ``source`` (default ``"all"``), the group per-source reports use.
Loading is strict: the first bad row stops it with an `OutcomeDataError` naming the file and
line, because silently dropping rows would bias every figure computed from the rest.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray

DEFAULT_SOURCE = "all"
_SHOWN_CHARS = 60  # how much of a bad value an error message quotes
_BOM = b"\xef\xbb\xbf"


class OutcomeDataError(ValueError):
    """Outcome data that cannot be used; the message names the file and line."""


class _RowError(ValueError):
    """A bad row; load_outcomes prefixes it with `file:line:`."""


@dataclass(frozen=True, slots=True)
class PairedOutcome:
    """Both tiers' quality on one prompt (each in [0, 1])."""

    prompt: str
    q_weak: float
    q_strong: float
    source: str = DEFAULT_SOURCE


@dataclass(frozen=True, slots=True)
class TierOutcome:
    """One tier's score on one prompt (in [0, 1])."""

    prompt: str
    tier: str
    score: float
    source: str = DEFAULT_SOURCE


@dataclass(frozen=True, slots=True)
class OutcomeSet:
    """A loaded outcome file: rows in file order, and what identifies the file."""

    paired: tuple[PairedOutcome, ...]
    single: tuple[TierOutcome, ...]
    path: str
    sha256: str  # of the file's bytes, as read
    rows: int  # paired + single

    @property
    def sources(self) -> list[str]:
        """Distinct sources of the paired rows, sorted."""
        return sorted({r.source for r in self.paired})


def _shown(value: Any) -> str:
    """A bad value as JSON, cut short: a multi-MB string must not flood the message."""
    try:
        text = orjson.dumps(value).decode()
    except TypeError:
        text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"


def _quality(doc: dict[str, Any], key: str) -> float:
    value = doc[key]
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
        if math.isfinite(number) and 0.0 <= number <= 1.0:
            return number
    raise _RowError(f"{key} must be a number in [0, 1], got {_shown(value)}")


def _name(doc: dict[str, Any], key: str, default: str | None = None) -> str:
    value = doc.get(key)
    if value is None and default is not None:
        return default
    if not isinstance(value, str) or not value.strip():
        raise _RowError(f"{key} must be a non-empty string, got {_shown(value)}")
    return value


def parse_row(doc: Any) -> PairedOutcome | TierOutcome:
    """One decoded JSON value → a typed row; raises ValueError saying what is wrong."""
    if not isinstance(doc, dict):
        raise _RowError(f"expected a JSON object, got {_shown(doc)}")
    if "prompt" not in doc:
        raise _RowError("prompt is missing")
    prompt = doc["prompt"]
    if not isinstance(prompt, str):
        raise _RowError(f"prompt must be a string, got {_shown(prompt)}")
    if not prompt.strip():
        raise _RowError("prompt is empty")
    source = _name(doc, "source", DEFAULT_SOURCE)
    has_weak, has_strong = "q_weak" in doc, "q_strong" in doc
    if has_weak and has_strong:
        return PairedOutcome(prompt, _quality(doc, "q_weak"), _quality(doc, "q_strong"), source)
    has_tier, has_score = "tier" in doc, "score" in doc
    if has_tier and has_score:
        return TierOutcome(prompt, _name(doc, "tier"), _quality(doc, "score"), source)
    if has_weak or has_strong:
        missing = "q_strong" if has_weak else "q_weak"
        raise _RowError(f"paired row without {missing} (a paired row needs q_weak and q_strong)")
    if has_tier or has_score:
        missing = "score" if has_tier else "tier"
        raise _RowError(f"single-tier row without {missing} (it needs tier and score)")
    raise _RowError(
        "unknown row shape: expected q_weak and q_strong (paired) or tier and score "
        "(single-tier)"
    )


def _decode_error(raw: bytes, exc: orjson.JSONDecodeError) -> str:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        return f"not valid UTF-8 (byte {bad.start} of the line)"
    return f"invalid JSON: {exc}"


def load_outcomes(path: str | Path) -> OutcomeSet:
    """Read and validate an outcome JSONL file (blank lines skipped; a UTF-8 BOM allowed).

    Reads line by line in one pass, hashing as it goes, so multi-MB prompts cost linear time.
    Raises OutcomeDataError for any bad row, an unreadable file or a file with no rows."""
    name = str(path)
    digest = hashlib.sha256()
    paired: list[PairedOutcome] = []
    single: list[TierOutcome] = []
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below; OSError handled once
    except OSError as exc:
        raise OutcomeDataError(f"{name}: cannot read: {exc.strerror or exc}") from None
    with handle:
        try:
            for number, raw in enumerate(handle, start=1):
                digest.update(raw)
                line = raw[len(_BOM):] if number == 1 and raw.startswith(_BOM) else raw
                if not line.strip():
                    continue
                try:
                    doc = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    raise OutcomeDataError(f"{name}:{number}: {_decode_error(line, exc)}") from None
                try:
                    row = parse_row(doc)
                except _RowError as exc:
                    raise OutcomeDataError(f"{name}:{number}: {exc}") from None
                if isinstance(row, PairedOutcome):
                    paired.append(row)
                else:
                    single.append(row)
        except OSError as exc:
            raise OutcomeDataError(f"{name}: cannot read: {exc.strerror or exc}") from None
    if not paired and not single:
        raise OutcomeDataError(f"{name}: no outcome rows")
    return OutcomeSet(tuple(paired), tuple(single), name, digest.hexdigest(),
                      len(paired) + len(single))


def paired_arrays(
    rows: Sequence[PairedOutcome],
) -> tuple[list[str], NDArray[np.float64], NDArray[np.float64], list[str]]:
    """Columns of paired rows: (prompts, q_weak, q_strong, sources), in row order."""
    prompts = [r.prompt for r in rows]
    q_weak = np.fromiter((r.q_weak for r in rows), dtype=np.float64, count=len(rows))
    q_strong = np.fromiter((r.q_strong for r in rows), dtype=np.float64, count=len(rows))
    return prompts, q_weak, q_strong, [r.source for r in rows]
