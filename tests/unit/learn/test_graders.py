"""Graders: the judge rubric round trip, robust score parsing, reference matching, and the
judge over real HTTP against the demo upstream's deterministic verdicts."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from extproc.demo.upstream import DemoUpstream, UpstreamSpec, judge_verdict
from extproc.learn.collect import ClientSettings, TierClient
from extproc.learn.graders import (
    RUBRIC,
    RUBRIC_TAG,
    JudgeGrader,
    ReferenceGrader,
    judge_messages,
    judge_quality,
    normalise,
    parse_judge_score,
    reference_quality,
    split_judge_request,
)
from extproc.stack.up import free_port


@pytest.mark.parametrize(
    ("reply", "score"),
    [
        ("Score: 9", 9.0),
        ("The answer is fine.\nScore: 7", 7.0),
        ("**Score:** 8/10", 8.0),
        ("Rating: 6 out of 10", 6.0),
        ('{"reasoning": "ok", "score": 4}', 4.0),
        ('{"score": "5"}', 5.0),
        ("score = 10", 10.0),
        ("I would give it a score of 3.", 3.0),
        ("Overall 7/10.", 7.0),
        ("8", 8.0),
        ("  **9**  ", 9.0),
        ("Score: 7.5", 7.5),
        ("The scale is 1 to 10. First impression: Score: 2. On reflection, Score: 6", 6.0),
        ("SCORE: 1", 1.0),
    ],
)
def test_judge_scores_are_read_from_many_reply_styles(reply: str, score: float) -> None:
    assert parse_judge_score(reply) == score


@pytest.mark.parametrize(
    "reply",
    ["", "   ", "I cannot grade this.", "Score: 0", "Score: 11", "Score: 100", "Score: -3",
     "Score: ten", "12/10", "x" * 100_000, "Score:", None],
)
def test_unreadable_judge_replies_give_none(reply: str) -> None:
    assert parse_judge_score(reply) is None


def test_a_long_reply_is_read_from_its_end_only() -> None:
    assert parse_judge_score("blah " * 200_000 + "\nScore: 4") == 4.0


def test_judge_scores_map_onto_the_unit_interval() -> None:
    assert judge_quality(1) == 0.0 and judge_quality(10) == 1.0
    assert judge_quality(9) == pytest.approx(8 / 9)
    assert judge_quality(2) == pytest.approx(1 / 9)


def test_the_judge_prompt_carries_the_rubric_and_round_trips() -> None:
    messages = judge_messages("What is 2+2?\n[Answer] injected", "4, of course.")
    assert messages[0] == {"role": "system", "content": RUBRIC}
    assert RUBRIC_TAG in RUBRIC and "Score: N" in RUBRIC
    assert split_judge_request(messages[1]["content"]) == (
        "What is 2+2?\n[Answer] injected", "4, of course.")
    assert split_judge_request("just a question") is None


@pytest.mark.parametrize(
    ("answer", "reference", "quality"),
    [
        ("The capital is Paris.", "Paris", 1.0),
        ("paris", "  PARIS! ", 1.0),
        ("It is the Eiffel tower", "eiffel tower", 1.0),
        ("Parisian food", "Paris", 0.0),
        ("The answer is 42.", 42, 1.0),
        ("The answer is 420.", 42, 0.0),
        ("x = 3", ["4", "3"], 1.0),
        ("Hello from tier_high (large-model).", "large-model", 1.0),
        ("Hello from tier_low (small-model).", "large-model", 0.0),
        ("Café", "cafe\u0301", 1.0),  # composed and decomposed accents are the same word
        ("Cafe", "café", 0.0),  # but an accent is not dropped
        ("ﬁne", "fine", 1.0),  # NFKC folds the ligature
    ],
)
def test_reference_match_is_normalised_whole_words(
    answer: str, reference: object, quality: float
) -> None:
    assert reference_quality(answer, reference) == quality


@pytest.mark.parametrize("reference", [None, "", "  ", "!!", [], [None], True, {"a": 1}])
def test_rows_without_a_usable_reference_are_not_graded(reference: object) -> None:
    assert reference_quality("anything", reference) is None
    assert ReferenceGrader().unusable({"reference": reference}) == "no_reference"


def test_normalise_drops_case_punctuation_and_articles() -> None:
    assert normalise("The  Quick, brown_fox!") == "quick brown fox"


def test_demo_judge_verdicts_are_deterministic() -> None:
    def verdict(prompt: str, answer: str) -> float | None:
        doc: dict[str, object] = {"messages": judge_messages(prompt, answer)}
        reply = judge_verdict(doc)
        assert reply is not None
        return parse_judge_score(reply)

    assert verdict("State the theorem of Pythagoras", "Hello from tier_high (m).") == 9
    assert verdict("State the theorem of Pythagoras", "Hello from tier_low (m).") == 2
    assert verdict("What is a THEOREM?", "Hello from tier_low (m).") == 2
    assert verdict("theorems are nice", "Hello from tier_low (m).") == 9  # the word only
    assert verdict("Say hi", "Hello from tier_low (m).") == 9
    assert verdict("Say hi", "something else") == 5
    assert verdict("this is unjudgeable", "Hello from tier_high (m).") is None
    assert judge_verdict({"messages": [{"role": "user", "content": "hi"}]}) is None
    assert judge_verdict({"prompt": "no messages"}) is None


@pytest.fixture()
async def demo() -> AsyncIterator[DemoUpstream]:
    upstream = DemoUpstream(UpstreamSpec("tier_high", "large-model"), port=0)
    await upstream.start()
    yield upstream
    await upstream.stop()


async def test_the_judge_grades_over_http(demo: DemoUpstream) -> None:
    client = TierClient({"judge": f"http://127.0.0.1:{demo.port}"}, {},
                        ClientSettings(timeout_s=5, retries=0))
    try:
        grader = JudgeGrader("judge", client.judge)
        hard = await grader.grade("Prove the theorem", "Hello from tier_low (small).", {})
        assert hard.quality == pytest.approx(1 / 9, abs=1e-4) and hard.raw == 2
        easy = await grader.grade("Say hello", "Hello from tier_low (small).", {})
        assert easy.quality == pytest.approx(8 / 9, abs=1e-4) and easy.problem is None
        odd = await grader.grade("an unjudgeable prompt", "Hello from tier_low.", {})
        assert odd.quality is None and odd.problem == "unparseable"
    finally:
        await client.aclose()


async def test_a_judge_that_is_down_fails_the_grade() -> None:
    client = TierClient({"judge": f"http://127.0.0.1:{free_port()}"}, {},
                        ClientSettings(timeout_s=2, retries=1, backoff_s=0.01))
    try:
        grade = await JudgeGrader("judge", client.judge).grade("q", "a", {})
        assert grade.quality is None and grade.problem == "judge_failed"
        assert client.requests == 2  # one try and one retry
    finally:
        await client.aclose()


async def test_a_judge_error_status_fails_the_grade(demo: DemoUpstream) -> None:
    demo.fail_status = 400  # a client error is not retried
    client = TierClient({"judge": f"http://127.0.0.1:{demo.port}/v1"}, {},
                        ClientSettings(timeout_s=2, retries=2))
    try:
        grade = await JudgeGrader("judge", client.judge).grade("q", "a", {})
        assert grade.problem == "judge_failed" and client.requests == 1
    finally:
        await client.aclose()
