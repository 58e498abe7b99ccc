"""Prompt guard entry point: ``PromptGuard.scan`` -> ``ScanResult``; ``redact``.

A scan prepares the text once (lower-cased copy, ASCII word set; ``pii.prepare``), then runs
the detectors, each behind a cheap gate: secret formats, numeric PII around digit clusters,
e-mail around ``@``, the catch-all ``secret:generic``, and jailbreak phrasings. PII and
secret hits never overlap: an earlier source wins, so ``api_key=AIza...`` is one
``secret:google_api_key``, not also a ``secret:generic``. Texts longer than ``max_chars`` are
analysed head + tail only. See docs/prompt-guard.md.
"""

from __future__ import annotations

import bisect
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal, cast

from extproc.guard.jailbreak import JAILBREAK_KINDS, find_jailbreaks
from extproc.guard.pii import (
    PII_KINDS,
    SECRET_KINDS,
    Hit,
    Severity,
    find_generic_secrets,
    find_pii,
    find_secrets,
    prepare,
)

__all__ = ["ALL_KINDS", "CATEGORIES", "Finding", "PromptGuard", "ScanResult", "redact"]

Category = Literal["pii", "secret", "jailbreak"]
CATEGORIES: tuple[Category, ...] = ("pii", "secret", "jailbreak")
ALL_KINDS: frozenset[str] = PII_KINDS | SECRET_KINDS | JAILBREAK_KINDS
_RANK: dict[str, int] = {"low": 0, "medium": 1, "high": 2}


@dataclass(frozen=True, slots=True)
class Finding:
    """One detection. ``preview`` is masked; the matched value itself is never kept."""

    kind: str
    category: Category
    start: int
    end: int
    severity: Severity
    preview: str


@dataclass(frozen=True, slots=True)
class ScanResult:
    """Findings in text order.

    ``truncated``: not every character was fully analysed (the text was longer than
    ``max_chars``, the findings cap was hit, or a candidate flood used up the validation
    budget); findings may be missing. ``failed``: an internal error was swallowed.
    """

    findings: tuple[Finding, ...] = ()
    truncated: bool = False
    failed: bool = False

    @property
    def categories(self) -> frozenset[str]:
        return frozenset(f.category for f in self.findings)

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(f.kind for f in self.findings)

    def has(self, category: str, min_severity: str = "low") -> bool:
        """Any finding of ``category`` (or exact ``kind``) at ``min_severity`` or above."""
        floor = _RANK[min_severity]
        return any(
            (f.category == category or f.kind == category) and _RANK[f.severity] >= floor
            for f in self.findings
        )

    def __bool__(self) -> bool:
        return bool(self.findings)


def _category(kind: str) -> Category:
    head = kind.partition(":")[0]
    return cast(Category, head) if head in ("secret", "jailbreak") else "pii"


class PromptGuard:
    """Detects PII, secrets and jailbreak phrasings in prompt text."""

    def __init__(
        self,
        detect: Collection[str] = CATEGORIES,
        max_chars: int = 200_000,
        disabled_kinds: Collection[str] = (),
        max_findings: int = 1_000,
    ) -> None:
        unknown = set(detect) - set(CATEGORIES)
        if unknown:
            raise ValueError(f"unknown guard categories: {sorted(unknown)}")
        bad_kinds = set(disabled_kinds) - ALL_KINDS
        if bad_kinds:
            raise ValueError(f"unknown guard kinds: {sorted(bad_kinds)}")
        if max_chars < 1_000:
            raise ValueError("max_chars must be at least 1000")
        if max_findings < 1:
            raise ValueError("max_findings must be at least 1")
        self.detect = frozenset(detect)
        self.max_chars = max_chars
        self.max_findings = max_findings
        self.disabled = frozenset(disabled_kinds)
        self._on = (
            frozenset(k for k in PII_KINDS | SECRET_KINDS if _category(k) in self.detect)
            - self.disabled
        )
        self._jailbreak = "jailbreak" in self.detect

    def scan(self, text: str) -> ScanResult:
        """Scan ``text``; never raises (a failure yields ``failed=True``)."""
        try:
            if not isinstance(text, str) or not text:
                return ScanResult()
            if len(text) <= self.max_chars:
                hits, truncated = self._scan_segment(text, 0)
            else:
                head = self.max_chars // 2
                tail_start = len(text) - (self.max_chars - head)
                hits, _ = self._scan_segment(text[:head], 0)
                tail, _ = self._scan_segment(text[tail_start:], tail_start)
                hits += tail
                truncated = True
            if len(hits) > self.max_findings:
                hits, truncated = hits[: self.max_findings], True
            findings = tuple(
                Finding(kind, _category(kind), start, end, severity, preview)
                for kind, start, end, severity, preview in hits
            )
            return ScanResult(findings, truncated)
        except Exception:  # pragma: no cover - defensive: the request path must not fail
            return ScanResult(failed=True)

    def _scan_segment(self, text: str, offset: int) -> tuple[list[Hit], bool]:
        """Hits in ``text`` (positions shifted by ``offset``) and whether work was cut short."""
        t = prepare(text)
        taken = _Spans()
        sources = (
            find_secrets(t, self._on),
            find_pii(t, self._on),
            find_generic_secrets(t, self._on),  # last: specific formats win overlaps
        )
        full = False
        for source in sources:
            for hit in source:
                taken.add(hit)
                if len(taken.hits) > self.max_findings:
                    full = True
                    break
        hits = taken.hits
        if self._jailbreak:
            phrases = list(find_jailbreaks(t, self.disabled, self.max_findings))
            full = full or len(phrases) >= self.max_findings
            hits.extend(phrases)
        hits.sort(key=lambda h: (h[1], h[2]))
        if offset:
            hits = [(k, s + offset, e + offset, sev, p) for k, s, e, sev, p in hits]
        return [_safe_preview(h, text, offset) for h in hits], full or t.budget.exhausted


class _Spans:
    """Non-overlapping hits; a hit overlapping one already kept is dropped. O(log n) a hit."""

    __slots__ = ("ends", "hits", "starts")

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.hits: list[Hit] = []

    def add(self, hit: Hit) -> None:
        start, end = hit[1], hit[2]
        i = bisect.bisect_left(self.starts, end)  # kept spans starting before `end`
        if i and self.ends[i - 1] > start:  # ends are sorted too (spans are disjoint)
            return
        self.starts.insert(i, start)
        self.ends.insert(i, end)
        self.hits.append(hit)


def _safe_preview(hit: Hit, text: str, offset: int) -> Hit:
    """Belt and braces: a PII/secret preview may never equal the raw value."""
    kind, start, end, severity, preview = hit
    if _category(kind) != "jailbreak" and preview == text[start - offset : end - offset]:
        return kind, start, end, severity, "*" * len(preview)
    return hit


def redact(text: str, result: ScanResult, categories: Collection[str] | None = None) -> str:
    """``text`` with each finding's span replaced by ``[REDACTED:<kind>]``.

    Overlapping spans are merged (the label is the first finding's kind). ``categories``
    limits which findings are redacted (default: all).
    """
    spans = sorted(
        (f.start, f.end, f.kind)
        for f in result.findings
        if (categories is None or f.category in categories) and 0 <= f.start < f.end <= len(text)
    )
    if not spans:
        return text
    out: list[str] = []
    pos = 0
    cur_start, cur_end, cur_kind = spans[0]
    for start, end, kind in spans[1:]:
        if start < cur_end:
            cur_end = max(cur_end, end)
            continue
        out += (text[pos:cur_start], f"[REDACTED:{cur_kind}]")
        pos = cur_end
        cur_start, cur_end, cur_kind = start, end, kind
    out += (text[pos:cur_start], f"[REDACTED:{cur_kind}]", text[cur_end:])
    return "".join(out)
