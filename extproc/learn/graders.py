"""Graders for `extproc-router collect`: how good was one tier's answer to one prompt?

Two graders, both returning a quality in [0, 1] or None (the pair is skipped and counted):

* `JudgeGrader`: an LLM judge on a chosen tier reads the prompt and the answer with
  `RUBRIC` and gives a 1–10 score; `parse_judge_score` reads it, `(score - 1) / 9` maps it
  to [0, 1]. Each answer is graded on its own (absolute grading), so the judge never sees
  which tier wrote it or the other tier's answer.
* `reference_quality`: rows that carry a `reference` (a string or a list of accepted
  strings) score 1 when the normalised answer equals or contains a normalised reference
  as whole words, else 0.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

RUBRIC_TAG = "extproc-router judge rubric v1"

RUBRIC = f"""You are an impartial grader ({RUBRIC_TAG}).
You will see a user's request and one AI assistant's answer to it. Judge only that answer.

Score it from 1 to 10:
- 10: fully correct, complete and directly useful; an expert could not do better.
- 8-9: correct and useful, with at most minor omissions or style problems.
- 6-7: mostly correct, but missing a part of the request or with a small error.
- 4-5: partly correct; a significant error or omission limits its use.
- 2-3: mostly wrong, evasive or off-topic, with some relevant content.
- 1: wrong, harmful, empty or a refusal of a reasonable request.

Correctness matters more than length or tone: do not reward a long answer for being long.
If the request has a single right answer (a number, a fact, code that must run), an answer
that gets it wrong scores at most 3.

Reply with one or two sentences of reasoning, then a last line of exactly this form:
Score: N"""

QUESTION_OPEN, QUESTION_CLOSE = "[Question]", "[End of question]"
ANSWER_OPEN, ANSWER_CLOSE = "[Answer]", "[End of answer]"

MIN_SCORE, MAX_SCORE = 1.0, 10.0


def judge_messages(prompt: str, answer: str) -> list[dict[str, str]]:
    """The chat messages that ask the judge to grade `answer` to `prompt`."""
    user = (
        f"{QUESTION_OPEN}\n{prompt}\n{QUESTION_CLOSE}\n\n"
        f"{ANSWER_OPEN}\n{answer}\n{ANSWER_CLOSE}\n\n"
        "Grade the answer with the rubric. End with the line `Score: N` (N from 1 to 10)."
    )
    return [{"role": "system", "content": RUBRIC}, {"role": "user", "content": user}]


def split_judge_request(text: str) -> tuple[str, str] | None:
    """(prompt, answer) from a judge request's user message, or None if it is not one.
    The demo upstream uses this to answer judge requests deterministically."""
    try:
        q_start = text.index(QUESTION_OPEN) + len(QUESTION_OPEN)
        q_end = text.index(QUESTION_CLOSE, q_start)
        a_start = text.index(ANSWER_OPEN, q_end) + len(ANSWER_OPEN)
        a_end = text.rindex(ANSWER_CLOSE)
    except ValueError:
        return None
    if a_end < a_start:
        return None
    return text[q_start:q_end].strip("\n"), text[a_start:a_end].strip("\n")


_NUMBER = r"(?<![\d.])(10(?:\.0+)?|[1-9](?:\.\d+)?)"
_SCORE_LINE = re.compile(
    r"(?:score|rating|grade)\s*[*_`\"']*\s*(?:[:=]|is|of)?\s*[*_`\"']*\s*" + _NUMBER
    + r"(?!\d)(?:\s*(?:/|out\s+of)\s*10\b)?",
    re.IGNORECASE,
)
_OUT_OF_TEN = re.compile(_NUMBER + r"\s*(?:/|out\s+of)\s*10\b", re.IGNORECASE)
_JSON_SCORE = re.compile(r"\"score\"\s*:\s*\"?" + _NUMBER + r"(?!\d)", re.IGNORECASE)
_BARE = re.compile(r"^\s*[*_`]*" + _NUMBER + r"[*_`]*\s*\.?\s*$")


def parse_judge_score(reply: str) -> float | None:
    """The judge's 1–10 score, or None when the reply has no readable score.

    Accepted, in this order (the last match of a kind wins, since judges often restate
    the scale first): `"score": N` (JSON), `Score: N` / `**Rating:** N/10` / `score of N`,
    `N/10` or `N out of 10`, a reply that is only a number. N may have decimals; values
    outside 1–10 are unreadable."""
    if not isinstance(reply, str) or not reply.strip():
        return None
    text = reply[-4000:]  # the verdict is at the end; bound the regex work
    for pattern in (_JSON_SCORE, _SCORE_LINE, _OUT_OF_TEN, _BARE):
        matches = pattern.findall(text)
        if matches:
            value = float(matches[-1])
            return value if MIN_SCORE <= value <= MAX_SCORE else None
    return None


def judge_quality(score: float) -> float:
    """A 1–10 judge score as a quality in [0, 1]."""
    return min(1.0, max(0.0, (score - MIN_SCORE) / (MAX_SCORE - MIN_SCORE)))


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_NOT_WORD = re.compile(r"[^\w]+|_")


def normalise(text: str) -> str:
    """Lower case, NFKC, punctuation and articles dropped, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _NOT_WORD.sub(" ", text)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def reference_quality(answer: str, reference: object) -> float | None:
    """1.0 when the answer matches a reference (equal or containing it as whole words after
    `normalise`), 0.0 when not, None when there is no usable reference."""
    refs = reference if isinstance(reference, list) else [reference]
    wanted: list[str] = []
    for ref in refs:
        if isinstance(ref, str | int | float) and not isinstance(ref, bool):
            text = normalise(str(ref))
            if text:
                wanted.append(text)
    if not wanted:
        return None
    got = f" {normalise(answer)} "
    return 1.0 if any(f" {w} " in got for w in wanted) else 0.0


@dataclass(frozen=True, slots=True)
class Grade:
    """A grader's verdict: quality in [0, 1], or None with why (`unparseable`,
    `no_reference`, `judge_failed`)."""

    quality: float | None
    raw: float | None = None  # the judge's 1–10 score
    problem: str | None = None


Complete = Callable[[str, list[dict[str, str]]], Awaitable[str]]  # (tier, messages) → text


class JudgeGrader:
    """Grades with an LLM judge on `tier` through `complete` (which raises on failure)."""

    def __init__(self, tier: str, complete: Complete) -> None:
        self.tier = tier
        self.name = f"judge:{tier}"
        self._complete = complete

    def unusable(self, row: dict[str, object]) -> str | None:
        """Why `row` cannot be graded (checked before any answer is requested)."""
        return None

    async def grade(self, prompt: str, answer: str, row: dict[str, object]) -> Grade:
        try:
            reply = await self._complete(self.tier, judge_messages(prompt, answer))
        except Exception:
            return Grade(None, problem="judge_failed")
        score = parse_judge_score(reply)
        if score is None:
            return Grade(None, problem="unparseable")
        return Grade(round(judge_quality(score), 4), raw=score)


class ReferenceGrader:
    """Grades by the row's `reference` field."""

    name = "reference"

    def unusable(self, row: dict[str, object]) -> str | None:
        return "no_reference" if reference_quality("", row.get("reference")) is None else None

    async def grade(self, prompt: str, answer: str, row: dict[str, object]) -> Grade:
        quality = reference_quality(answer, row.get("reference"))
        if quality is None:
            return Grade(None, problem="no_reference")
        return Grade(quality)
