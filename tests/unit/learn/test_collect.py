"""`extproc-router collect` over real HTTP against the demo upstreams (in a thread of their
own): paired rows with the demo judge's known verdicts, reference grading, the feedback
join, and bad input (empty and corrupt files, tiers down, slow, failing, unparseable
verdicts, usage errors)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from extproc.cli import main
from extproc.demo.upstream import DemoUpstream, UpstreamSpec
from extproc.learn.collect import RequestFailed, _answer_text, completions_url
from extproc.learn.outcomes import PairedOutcome, TierOutcome, load_outcomes
from extproc.stack.up import free_port

HIGH_Q, LOW_Q = round(8 / 9, 4), round(1 / 9, 4)  # demo judge: 9 → 8/9, 2 → 1/9


class DemoPair:
    """tier_low and tier_high demo upstreams on free ports, served by a background loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.low = DemoUpstream(UpstreamSpec("tier_low", "small-model"), port=0)
        self.high = DemoUpstream(UpstreamSpec("tier_high", "large-model"), port=0)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        for upstream in (self.low, self.high):
            asyncio.run_coroutine_threadsafe(upstream.start(), self.loop).result(5)

    def endpoints(self) -> list[str]:
        return ["--endpoint", f"tier_low=http://127.0.0.1:{self.low.port}",
                "--endpoint", f"tier_high=http://127.0.0.1:{self.high.port}"]

    def completions(self) -> tuple[int, int]:
        return self.low.completions, self.high.completions

    def close(self) -> None:
        for upstream in (self.low, self.high):
            asyncio.run_coroutine_threadsafe(upstream.stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture(scope="module")
def demo() -> Iterator[DemoPair]:
    pair = DemoPair()
    yield pair
    pair.close()


@pytest.fixture(autouse=True)
def healthy(demo: DemoPair) -> Iterator[None]:
    yield
    for upstream in (demo.low, demo.high):
        upstream.delay_ms, upstream.fail_status = 0.0, 0


def write_jsonl(path: Path, rows: list[Any]) -> str:
    path.write_bytes(b"".join(
        (row if isinstance(row, bytes) else orjson.dumps(row)) + b"\n" for row in rows))
    return str(path)


def decision(request_id: str, prompt: str, tier: str = "tier_low", **extra: Any) -> dict[str, Any]:
    return {"ts": "2025-01-01T00:00:00.000Z", "event": "decision", "request_id": request_id,
            "tier": tier, "rule": "complexity", "reason": "complexity_low", "score": 0.3,
            "prompt": prompt, **extra}


def collect(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any], str]:
    status = main(["collect", *argv, "--json"])
    captured = capsys.readouterr()
    summary = orjson.loads(captured.out) if captured.out.strip() else {}
    return status, summary, captured.err


def read_rows(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


PROMPTS = [
    "Say hello to the team",
    "State and prove the central limit theorem",
    "What is the capital of France?",
    "Explain the theorem of Pythagoras with an example",
    "Write a haiku about autumn",
    "Is Fermat's last theorem proven?",
]


def test_judge_verdicts_become_paired_rows_train_can_read(
    demo: DemoPair, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = write_jsonl(tmp_path / "cap.jsonl",
                          [decision(f"r{i}", p) for i, p in enumerate(PROMPTS)])
    out = tmp_path / "pairs.jsonl"
    status, summary, err = collect(capsys, capture, "--out", str(out), "--judge", "tier_high",
                                   *demo.endpoints())
    assert status == 0, err
    assert summary["sampled"] == 6 and summary["written"] == 6 and summary["failures"] == {}
    rows = {r["prompt"]: r for r in read_rows(out)}
    assert set(rows) == set(PROMPTS)
    for prompt, row in rows.items():
        hard = "theorem" in prompt
        assert (row["q_weak"], row["q_strong"]) == ((LOW_Q if hard else HIGH_Q), HIGH_Q), prompt
        assert row["source"] == "collect" and row["grader"] == "judge:tier_high"
        assert (row["weak"], row["strong"]) == ("tier_low", "tier_high")
        assert row["request_id"] == f"r{PROMPTS.index(prompt)}"
    loaded = load_outcomes(out)  # the reader `train` uses
    assert len(loaded.paired) == 6 and all(isinstance(r, PairedOutcome) for r in loaded.paired)
    assert "wrote 6 rows" in err


def test_captured_messages_are_replayed(
    demo: DemoPair, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    messages = [{"role": "system", "content": "Be terse."},
                {"role": "user", "content": "Name a theorem"}]
    capture = write_jsonl(tmp_path / "cap.jsonl", [
        decision("m1", "Be terse.\nName a theorem", messages=messages),
        decision("m2", "odd messages", messages=[{"role": "user", "content": ["parts"]}]),
    ])
    out = tmp_path / "pairs.jsonl"
    status, summary, _ = collect(capsys, capture, "--out", str(out), "--judge", "tier_high",
                                 *demo.endpoints())
    assert status == 0 and summary["written"] == 2
    assert read_rows(out)[0]["q_weak"] == LOW_Q


def test_sampling_is_bounded_seeded_and_drops_duplicates(
    demo: DemoPair, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [decision(f"r{i}", f"Prompt number {i}") for i in range(40)]
    rows += [decision("dup", "Prompt number 3"), decision("dup2", "Prompt number 3")]
    capture = write_jsonl(tmp_path / "cap.jsonl", rows)

    def prompts(seed: int, name: str) -> list[str]:
        out = tmp_path / name
        status, summary, _ = collect(capsys, capture, "--out", str(out), "--judge", "tier_high",
                                     "--limit", "7", "--seed", str(seed), *demo.endpoints())
        assert status == 0 and summary["sampled"] == 7
        assert summary["skipped"] == {"duplicate": 2} and summary["prompt_rows"] == 40
        return [r["prompt"] for r in read_rows(out)]

    first, again, other = prompts(1, "a.jsonl"), prompts(1, "b.jsonl"), prompts(2, "c.jsonl")
    assert len(first) == 7 and len(set(first)) == 7
    assert first == again and first != other


def test_reference_grading_asks_only_for_rows_with_a_reference(
    demo: DemoPair, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = write_jsonl(tmp_path / "refs.jsonl", [
        {"prompt": "Which model are you?", "reference": "large-model"},
        {"prompt": "Who answers?", "reference": ["tier low", "nobody"]},
        {"prompt": "No reference here"},
        {"prompt": "Empty reference", "reference": ""},
    ])
    before = demo.completions()
    out = tmp_path / "pairs.jsonl"
    status, summary, _ = collect(capsys, capture, "--out", str(out), "--reference",
                                 *demo.endpoints())
    assert status == 0 and summary["grader"] == "reference"
    assert summary["ungraded"] == {"no_reference": 2}
    got = {r["prompt"]: (r["q_weak"], r["q_strong"]) for r in read_rows(out)}
    assert got == {"Which model are you?": (0.0, 1.0), "Who answers?": (1.0, 0.0)}
    after = demo.completions()
    assert (after[0] - before[0], after[1] - before[1]) == (2, 2)  # no judge, no waste


def test_an_empty_capture_file_writes_nothing_and_says_so(
    demo: DemoPair, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = tmp_path / "empty.jsonl"
    capture.write_bytes(b"")
    out = tmp_path / "pairs.jsonl"
    status, summary, err = collect(capsys, str(capture), "--out", str(out), "--judge",
                                   "tier_high", *demo.endpoints())
    assert status == 1 and summary["sampled"] == 0 and summary["rows_written"] == 0
    assert "no rows written" in err
    assert out.read_bytes() == b""


def test_corrupt_lines_are_skipped_with_their_line_numbers(
    demo: DemoPair, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = write_jsonl(tmp_path / "cap.jsonl", [
        decision("a", "Say hi"),
        b"{truncated",
        b"\xff\xfe not utf-8",
        b"[1, 2]",
        b"",
        {"event": "decision", "request_id": "x", "prompt": ""},
        {"event": "decision", "request_id": "y", "prompt": 42},
        {"event": "cache_hit", "request_id": "z"},
        decision("b", "Prove a theorem"),
    ])
    out = tmp_path / "pairs.jsonl"
    status, summary, err = collect(capsys, capture, "--out", str(out), "--judge", "tier_high",
                                   *demo.endpoints())
    assert status == 0 and summary["written"] == 2
    assert summary["bad_lines"] == 3
    assert [e.rsplit(":", 2)[1] for e in summary["bad_examples"]] == ["2", "3", "4"]
    assert summary["skipped"] == {"no_prompt": 2, "other_event": 1}
    assert f"{capture}:2: not valid JSON" in err


def test_a_tier_that_is_down_is_counted_and_the_run_ends(
    demo: DemoPair, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = write_jsonl(tmp_path / "cap.jsonl",
                          [decision(f"r{i}", f"prompt {i}") for i in range(5)])
    out = tmp_path / "pairs.jsonl"
    dead = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    status, summary, err = collect(
        capsys, capture, "--out", str(out), "--judge", "tier_high", "--retries", "1",
        "--endpoint", f"tier_low={dead}",
        "--endpoint", f"tier_high=http://127.0.0.1:{demo.high.port}")
    assert time.monotonic() - started < 15
    assert status == 1 and summary["failures"] == {"weak:connect": 5}
    assert "failed (weak:connect): 5" in err


def test_slow_and_failing_tiers_hit_timeouts_and_bounded_retries(
    demo: DemoPair, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = write_jsonl(tmp_path / "cap.jsonl",
                          [decision(f"r{i}", f"prompt {i}") for i in range(3)])
    out = tmp_path / "pairs.jsonl"
    demo.high.delay_ms = 2000
    demo.low.fail_status = 503
    low_before = demo.low.completions
    started = time.monotonic()
    status, summary, _ = collect(capsys, capture, "--out", str(out), "--judge", "tier_high",
                                 "--timeout", "0.3", "--retries", "1", *demo.endpoints())
    assert time.monotonic() - started < 10
    assert status == 1
    assert summary["failures"] == {"weak:http_503": 3, "strong:timeout": 3}
    assert demo.low.completions - low_before == 6  # one try and one retry each


def test_a_client_error_is_not_retried(
    demo: DemoPair, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = write_jsonl(tmp_path / "cap.jsonl", [decision("r", "prompt")])
    demo.high.fail_status = 400
    high_before = demo.high.completions
    status, summary, _ = collect(capsys, capture, "--out", str(tmp_path / "o.jsonl"),
                                 "--judge", "tier_high", *demo.endpoints())
    assert status == 1 and summary["failures"] == {"strong:http_400": 1}
    assert demo.high.completions - high_before == 1


def test_the_deadline_bounds_the_whole_run(
    demo: DemoPair, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = write_jsonl(tmp_path / "cap.jsonl",
                          [decision(f"r{i}", f"prompt {i}") for i in range(4)])
    demo.low.delay_ms = 3000
    started = time.monotonic()
    status, summary, _ = collect(capsys, capture, "--out", str(tmp_path / "o.jsonl"),
                                 "--judge", "tier_high", "--deadline", "0.5", *demo.endpoints())
    assert time.monotonic() - started < 3
    assert status == 1 and summary["deadline_hit"] and summary["failures"] == {"deadline": 4}


def test_unparseable_verdicts_skip_the_row_and_are_counted(
    demo: DemoPair, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = write_jsonl(tmp_path / "cap.jsonl", [
        decision("a", "an unjudgeable prompt"), decision("b", "a fine prompt")])
    out = tmp_path / "pairs.jsonl"
    status, summary, err = collect(capsys, capture, "--out", str(out), "--judge", "tier_high",
                                   *demo.endpoints())
    assert status == 0 and summary["ungraded"] == {"unparseable": 1}
    assert [r["prompt"] for r in read_rows(out)] == ["a fine prompt"]
    assert "not graded (unparseable): 1" in err


def test_a_reply_without_choices_is_a_bad_response() -> None:
    for reply in (httpx.Response(200, json={"status": "ok"}), httpx.Response(200, text="<html>"),
                  httpx.Response(200, json={"choices": [{"message": {"content": None}}]})):
        with pytest.raises(RequestFailed) as failed:
            _answer_text(reply)
        assert failed.value.kind == "bad_response"
    ok = httpx.Response(200, json={"choices": [{"message": {"content": "fine"}}]})
    assert _answer_text(ok) == "fine"


def test_a_wrong_endpoint_path_is_a_client_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], demo: DemoPair
) -> None:
    capture = write_jsonl(tmp_path / "cap.jsonl", [decision("a", "hi")])
    status, summary, _ = collect(
        capsys, capture, "--out", str(tmp_path / "o.jsonl"), "--judge", "tier_high",
        "--endpoint", f"tier_low=http://127.0.0.1:{demo.low.port}/health/chat/completions",
        "--endpoint", f"tier_high=http://127.0.0.1:{demo.high.port}")
    assert status == 1 and summary["failures"] == {"weak:http_404": 1}


def test_endpoint_urls_accept_base_v1_or_full_paths() -> None:
    assert completions_url("http://h:1") == "http://h:1/v1/chat/completions"
    assert completions_url("http://h:1/") == "http://h:1/v1/chat/completions"
    assert completions_url("http://h:1/v1/") == "http://h:1/v1/chat/completions"
    assert completions_url("http://h:1/x/chat/completions") == "http://h:1/x/chat/completions"


def test_weak_and_strong_default_from_the_config(
    demo: DemoPair, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "router.yaml"
    config.write_text(yaml.safe_dump({
        "tiers": {"cheap": {"cluster": "tier_low", "model": "small-model"},
                  "smart": {"cluster": "tier_high", "model": "large-model"}},
        "routing": {"default_tier": "cheap",
                    "rules": [{"type": "complexity", "above": "smart", "below": "cheap"}]},
    }))
    capture = write_jsonl(tmp_path / "cap.jsonl", [decision("a", "Prove the theorem")])
    out = tmp_path / "pairs.jsonl"
    status, summary, _ = collect(
        capsys, capture, "--out", str(out), "--config", str(config), "--judge", "smart",
        "--endpoint", f"cheap=http://127.0.0.1:{demo.low.port}",
        "--endpoint", f"smart=http://127.0.0.1:{demo.high.port}")
    assert status == 0 and (summary["weak"], summary["strong"]) == ("cheap", "smart")
    (row,) = read_rows(out)
    assert (row["q_weak"], row["q_strong"]) == (LOW_Q, HIGH_Q)
    # swapped by flags: the weak tier is now the one that answers well
    status, summary, _ = collect(
        capsys, capture, "--out", str(out), "--config", str(config), "--judge", "smart",
        "--weak", "smart", "--strong", "cheap",
        "--endpoint", f"cheap=http://127.0.0.1:{demo.low.port}",
        "--endpoint", f"smart=http://127.0.0.1:{demo.high.port}")
    assert status == 0
    (row,) = read_rows(out)
    assert (row["q_weak"], row["q_strong"]) == (HIGH_Q, LOW_Q)


def test_model_names_come_from_the_config_or_flags(
    demo: DemoPair, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = write_jsonl(tmp_path / "cap.jsonl", [decision("a", "Which model?")])
    out = tmp_path / "pairs.jsonl"
    status, _, _ = collect(capsys, capture, "--out", str(out), "--reference",
                           "--model", "tier_low=large-model", *demo.endpoints())
    assert status == 1  # no reference on the row
    refs = write_jsonl(tmp_path / "refs.jsonl",
                       [{"prompt": "Which model?", "reference": "large-model"}])
    status, _, _ = collect(capsys, refs, "--out", str(out), "--reference",
                           "--model", "tier_low=large-model", *demo.endpoints())
    assert status == 0
    (row,) = read_rows(out)
    assert (row["q_weak"], row["q_strong"]) == (1.0, 1.0)  # both were asked for large-model


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--judge", "tier_high"], "no --endpoint for tier_high, tier_low"),
        (["--endpoint", "tier_low=http://x", "--endpoint", "tier_high=http://y"],
         "choose a grader"),
        (["--judge", "judge", "--endpoint", "tier_low=http://x",
          "--endpoint", "tier_high=http://y"], "no --endpoint for judge"),
        (["--judge", "tier_high", "--endpoint", "tier_low"], "expected NAME=VALUE"),
        (["--judge", "tier_high", "--limit", "0", "--endpoint", "tier_low=http://x",
          "--endpoint", "tier_high=http://y"], "--limit must be at least 1"),
        (["--judge", "tier_high", "--timeout", "0", "--endpoint", "tier_low=http://x",
          "--endpoint", "tier_high=http://y"], "--timeout must be > 0"),
    ],
)
def test_usage_errors_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    capture = write_jsonl(tmp_path / "cap.jsonl", [decision("a", "hi")])
    status = main(["collect", capture, "--out", str(tmp_path / "o.jsonl"), *argv])
    assert status == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o.jsonl").exists()


def test_a_missing_input_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["collect", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o"),
                   "--feedback"])
    assert status == 2 and "no such file" in capsys.readouterr().err


# ---- the feedback join ------------------------------------------------------------------


def test_feedback_joins_captured_decisions_into_single_tier_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = write_jsonl(tmp_path / "cap.jsonl", [
        decision("a", "Say hi", tier="tier_low"),
        decision("b", "Prove it", tier="tier_high"),
        decision("c", "Never rated"),
        {"ts": "t", "event": "feedback", "request_id": "a", "score": 0.2, "result": "ok"},
        {"ts": "t", "event": "feedback", "request_id": "a", "score": 0.9, "result": "ok"},
        {"ts": "t", "event": "feedback", "request_id": "ghost", "score": 0.5},
        {"ts": "t", "event": "feedback", "request_id": "c", "score": 3},
        b"{broken",
    ])
    extra = write_jsonl(tmp_path / "fb.jsonl", [
        {"request_id": "b", "score": 1},
        {"request_id": "c", "score": True},
        {"score": 0.5},
    ])
    out = tmp_path / "single.jsonl"
    status, summary, err = collect(capsys, capture, "--out", str(out), "--feedback-file", extra)
    assert status == 0, err
    rows = read_rows(out)
    assert [(r["request_id"], r["prompt"], r["tier"], r["score"]) for r in rows] == [
        ("a", "Say hi", "tier_low", 0.9),  # the last score wins
        ("b", "Prove it", "tier_high", 1.0),
    ]
    assert all(r["source"] == "feedback" for r in rows)
    assert (summary["feedback"], summary["joined"], summary["unmatched"],
            summary["bad_scores"]) == (6, 2, 1, 2)
    assert summary["bad_lines"] == 2  # the broken line and the row without request_id
    loaded = load_outcomes(out)
    assert all(isinstance(r, TierOutcome) for r in loaded.single) and loaded.rows == 2


def test_feedback_without_any_match_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = write_jsonl(tmp_path / "cap.jsonl", [decision("a", "Say hi")])
    status, summary, err = collect(capsys, capture, "--out", str(tmp_path / "o.jsonl"),
                                   "--feedback")
    assert status == 1 and summary["joined"] == 0 and "no rows written" in err


def test_append_adds_to_an_existing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = write_jsonl(tmp_path / "cap.jsonl", [
        decision("a", "Say hi"), {"event": "feedback", "request_id": "a", "score": 0.5}])
    out = tmp_path / "o.jsonl"
    out.write_bytes(b'{"prompt": "old", "q_weak": 1, "q_strong": 1}\n')
    assert collect(capsys, capture, "--out", str(out), "--feedback", "--append")[0] == 0
    assert [r["prompt"] for r in read_rows(out)] == ["old", "Say hi"]


def test_the_demo_stays_a_plain_upstream_for_ordinary_requests(demo: DemoPair) -> None:
    r = httpx.post(f"http://127.0.0.1:{demo.low.port}/v1/chat/completions", timeout=5,
                   json={"messages": [{"role": "user", "content": "Score: 9 theorem"}]})
    assert r.json()["choices"][0]["message"]["content"] == "Hello from tier_low (small-model)."
