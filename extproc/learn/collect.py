"""`extproc-router collect`: outcome rows from live traffic, for `extproc-router train`.

Two modes over capture files (`capture:` in the router config; docs/learning-loop.md):

* grade (default): sample up to `--limit` captured prompts (seeded reservoir, duplicates
  dropped), send each to the weak and the strong tier (OpenAI chat completions over HTTP),
  grade both answers with `--judge TIER` or `--reference`, write paired rows
  `{"prompt", "q_weak", "q_strong", "source": "collect", ...}`;
* `--feedback`: join ReportFeedback scores (feedback rows of the capture files, plus
  `--feedback-file` rows `{"request_id", "score"}`) with the captured decisions by request
  id, write single-tier rows `{"prompt", "tier", "score", "source": "feedback", ...}`.

Bad lines are skipped and reported with their file and line number; failed requests and
ungradeable answers are counted per kind. Every request has a timeout and a bounded number
of retries, and `--deadline` bounds the whole run. Exit status: 0 when rows were written,
1 when none could be, 2 for usage errors.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import math
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from extproc.learn.graders import Grade, JudgeGrader, ReferenceGrader

if TYPE_CHECKING:
    import httpx

DEFAULT_LIMIT = 200
_SHOWN_PROBLEMS = 10  # bad lines listed by name in the summary


class UsageError(ValueError):
    """Bad arguments: exit status 2."""


# ---- reading capture files --------------------------------------------------------------


@dataclass
class ReadReport:
    """What reading the input files found."""

    files: int = 0
    lines: int = 0
    prompt_rows: int = 0
    feedback_rows: int = 0
    bad_lines: int = 0
    bad_examples: list[str] = field(default_factory=list)  # "file:line: why"
    skipped: Counter[str] = field(default_factory=Counter)  # no_prompt, duplicate, other_event

    def bad(self, path: str, number: int, why: str) -> None:
        self.bad_lines += 1
        if len(self.bad_examples) < _SHOWN_PROBLEMS:
            self.bad_examples.append(f"{path}:{number}: {why}")


def iter_rows(paths: Sequence[str], report: ReadReport) -> Iterator[dict[str, Any]]:
    """JSON objects of the files' lines, in order; bad lines are counted in `report`."""
    for path in paths:
        report.files += 1
        with open(path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                report.lines += 1
                line = raw.removeprefix(b"\xef\xbb\xbf") if number == 1 else raw
                if not line.strip():
                    continue
                try:
                    doc = orjson.loads(line)
                except orjson.JSONDecodeError:
                    report.bad(path, number, "not valid JSON (or not UTF-8)")
                    continue
                if not isinstance(doc, dict):
                    report.bad(path, number, "not a JSON object")
                    continue
                doc["_where"] = f"{path}:{number}"
                yield doc


def _prompt_of(doc: dict[str, Any]) -> str | None:
    prompt = doc.get("prompt")
    if isinstance(prompt, str) and prompt.strip():
        return prompt
    return None


def _is_feedback(doc: dict[str, Any]) -> bool:
    return doc.get("event") == "feedback"


def sample_prompts(
    paths: Sequence[str], limit: int, seed: int, report: ReadReport
) -> list[dict[str, Any]]:
    """Up to `limit` distinct-prompt rows, a seeded uniform sample (reservoir), in file
    order. Rows need a non-empty string `prompt`; feedback rows are not prompts."""
    rng = random.Random(seed)
    seen: set[bytes] = set()
    reservoir: list[tuple[int, dict[str, Any]]] = []
    index = 0
    for doc in iter_rows(paths, report):
        if _is_feedback(doc):
            report.feedback_rows += 1
            continue
        event = doc.get("event")
        if event is not None and event != "decision":
            report.skipped["other_event"] += 1
            continue
        prompt = _prompt_of(doc)
        if prompt is None:
            report.skipped["no_prompt"] += 1
            continue
        key = hashlib.sha1(prompt.encode("utf-8", "surrogatepass")).digest()
        if key in seen:
            report.skipped["duplicate"] += 1
            continue
        seen.add(key)
        report.prompt_rows += 1
        if len(reservoir) < limit:
            reservoir.append((index, doc))
        else:
            slot = rng.randrange(index + 1)
            if slot < limit:
                reservoir[slot] = (index, doc)
        index += 1
    reservoir.sort(key=lambda pair: pair[0])
    return [doc for _, doc in reservoir]


# ---- talking to the tiers ---------------------------------------------------------------


class RequestFailed(Exception):
    """A tier request that failed after its retries; `kind` says how."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def completions_url(base: str) -> str:
    base = base.rstrip("/")
    if base.endswith("/chat/completions"):
        return base
    if base.endswith("/v1"):
        return base + "/chat/completions"
    return base + "/v1/chat/completions"


@dataclass(frozen=True, slots=True)
class ClientSettings:
    timeout_s: float = 60.0
    retries: int = 2
    concurrency: int = 8
    max_tokens: int = 512
    judge_max_tokens: int = 256
    api_key: str | None = None
    backoff_s: float = 0.25


class TierClient:
    """OpenAI chat completions against named endpoints; bounded concurrency and retries."""

    def __init__(
        self,
        endpoints: dict[str, str],
        models: dict[str, str],
        settings: ClientSettings,
    ) -> None:
        import httpx  # here, not at module level: the CLI's other commands start faster

        self.urls = {tier: completions_url(url) for tier, url in endpoints.items()}
        self.models = models
        self.settings = settings
        self._semaphore = asyncio.Semaphore(settings.concurrency)
        headers = {"authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.timeout_s),
            limits=httpx.Limits(max_connections=settings.concurrency,
                                max_keepalive_connections=settings.concurrency),
            headers=headers,
            trust_env=False,
        )
        self.requests = 0
        self.retried = 0

    async def aclose(self) -> None:
        await self._http.aclose()

    async def complete(
        self, tier: str, messages: list[dict[str, str]], max_tokens: int | None = None
    ) -> str:
        """The assistant text of one chat completion; raises RequestFailed."""
        body: dict[str, Any] = {
            "messages": messages,
            "max_tokens": max_tokens or self.settings.max_tokens,
            "temperature": 0,
            "stream": False,
        }
        model = self.models.get(tier)
        if model:
            body["model"] = model
        import httpx

        url = self.urls[tier]
        kind = "error"
        for attempt in range(self.settings.retries + 1):
            if attempt:
                self.retried += 1
                await asyncio.sleep(min(2.0, self.settings.backoff_s * 2 ** (attempt - 1)))
            async with self._semaphore:
                self.requests += 1
                try:
                    response = await self._http.post(url, json=body)
                except httpx.TimeoutException:
                    kind = "timeout"
                    continue
                except httpx.HTTPError:
                    kind = "connect"
                    continue
            status = response.status_code
            if status == 429 or status >= 500:
                kind = f"http_{status}"
                continue
            if status >= 400:
                raise RequestFailed(f"http_{status}")
            return _answer_text(response)
        raise RequestFailed(kind)

    async def judge(self, tier: str, messages: list[dict[str, str]]) -> str:
        return await self.complete(tier, messages, self.settings.judge_max_tokens)


def _answer_text(response: httpx.Response) -> str:
    try:
        doc = response.json()
        content = doc["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise RequestFailed("bad_response") from None
    if not isinstance(content, str):
        raise RequestFailed("bad_response")
    return content


# ---- grading ----------------------------------------------------------------------------


@dataclass
class GradeReport:
    sampled: int = 0
    written: int = 0
    failures: Counter[str] = field(default_factory=Counter)  # "weak:timeout", ...
    ungraded: Counter[str] = field(default_factory=Counter)  # unparseable, no_reference, ...
    deadline_hit: bool = False


def _messages_of(row: dict[str, Any], prompt: str) -> list[dict[str, str]]:
    messages = row.get("messages")
    if isinstance(messages, list) and messages and all(
        isinstance(m, dict) and isinstance(m.get("role"), str)
        and isinstance(m.get("content"), str) for m in messages
    ):
        return [{"role": m["role"], "content": m["content"]} for m in messages]
    return [{"role": "user", "content": prompt}]


async def _grade_row(
    row: dict[str, Any],
    client: TierClient,
    grader: JudgeGrader | ReferenceGrader,
    weak: str,
    strong: str,
    source: str,
    report: GradeReport,
) -> dict[str, Any] | None:
    problem = grader.unusable(row)
    if problem is not None:
        report.ungraded[problem] += 1
        return None
    prompt = row["prompt"]
    messages = _messages_of(row, prompt)
    answers = await asyncio.gather(
        client.complete(weak, messages), client.complete(strong, messages),
        return_exceptions=True,
    )
    failed = False
    for side, answer in (("weak", answers[0]), ("strong", answers[1])):
        if isinstance(answer, RequestFailed):
            report.failures[f"{side}:{answer.kind}"] += 1
            failed = True
        elif isinstance(answer, BaseException):
            report.failures[f"{side}:{type(answer).__name__}"] += 1
            failed = True
    if failed:
        return None
    weak_answer, strong_answer = str(answers[0]), str(answers[1])
    grades: list[Grade] = list(await asyncio.gather(
        grader.grade(prompt, weak_answer, row), grader.grade(prompt, strong_answer, row)
    ))
    for grade in grades:
        if grade.quality is None:
            report.ungraded[grade.problem or "ungraded"] += 1
            return None
    out: dict[str, Any] = {
        "prompt": prompt,
        "q_weak": grades[0].quality,
        "q_strong": grades[1].quality,
        "source": source,
        "weak": weak,
        "strong": strong,
        "grader": grader.name,
    }
    if grades[0].raw is not None:
        out["verdict_weak"], out["verdict_strong"] = grades[0].raw, grades[1].raw
    request_id = row.get("request_id")
    if isinstance(request_id, str) and request_id:
        out["request_id"] = request_id
    return out


async def grade_rows(
    rows: Sequence[dict[str, Any]],
    client: TierClient,
    grader: JudgeGrader | ReferenceGrader,
    weak: str,
    strong: str,
    source: str = "collect",
    deadline_s: float | None = None,
) -> tuple[list[dict[str, Any]], GradeReport]:
    """Paired rows for `rows` (in their order); failures and skips counted in the report."""
    report = GradeReport(sampled=len(rows))
    tasks = [
        asyncio.ensure_future(_grade_row(row, client, grader, weak, strong, source, report))
        for row in rows
    ]
    if not tasks:
        return [], report
    done, pending = await asyncio.wait(tasks, timeout=deadline_s)
    for task in pending:
        task.cancel()
    if pending:
        report.deadline_hit = True
        report.failures["deadline"] += len(pending)
        await asyncio.gather(*pending, return_exceptions=True)
    out: list[dict[str, Any]] = []
    for task in tasks:
        if task in done and not task.cancelled():
            error = task.exception()
            if error is not None:
                report.failures[f"error:{type(error).__name__}"] += 1
                continue
            result = task.result()
            if result is not None:
                out.append(result)
    report.written = len(out)
    return out, report


# ---- feedback join ------------------------------------------------------------------------


@dataclass
class JoinReport:
    feedback: int = 0
    joined: int = 0
    unmatched: int = 0
    bad_scores: int = 0


def join_feedback(
    capture_paths: Sequence[str],
    feedback_paths: Sequence[str],
    read: ReadReport,
    source: str = "feedback",
) -> tuple[list[dict[str, Any]], JoinReport]:
    """Single-tier rows: each request's last valid feedback score with its captured prompt
    and the tier that answered."""
    report = JoinReport()
    scores: dict[str, float] = {}
    for doc in iter_rows([*capture_paths, *feedback_paths], read):
        from_capture = doc["_where"].rsplit(":", 1)[0] in capture_paths
        if from_capture and not _is_feedback(doc):
            continue
        request_id, score = doc.get("request_id"), doc.get("score")
        if not isinstance(request_id, str) or not request_id:
            read.bad(*_split_where(doc["_where"]), "feedback row without request_id")
            continue
        report.feedback += 1
        if (
            isinstance(score, bool)
            or not isinstance(score, int | float)
            or not math.isfinite(score)
            or not 0.0 <= score <= 1.0
        ):
            report.bad_scores += 1
            continue
        scores[request_id] = float(score)  # the last score for a request wins
    read.feedback_rows = report.feedback
    rows: list[dict[str, Any]] = []
    matched: set[str] = set()
    for doc in iter_rows(capture_paths, ReadReport()):  # bad lines were counted above
        if _is_feedback(doc) or doc.get("event") not in (None, "decision"):
            continue
        request_id = doc.get("request_id")
        if not isinstance(request_id, str) or request_id not in scores or request_id in matched:
            continue
        prompt, tier = _prompt_of(doc), doc.get("tier")
        if prompt is None or not isinstance(tier, str) or not tier:
            read.skipped["no_prompt"] += 1
            continue
        matched.add(request_id)
        read.prompt_rows += 1
        rows.append({"prompt": prompt, "tier": tier, "score": scores[request_id],
                     "source": source, "request_id": request_id})
    report.joined = len(rows)
    report.unmatched = len(scores) - len(matched)
    return rows, report


def _split_where(where: str) -> tuple[str, int]:
    path, _, number = where.rpartition(":")
    return path, int(number)


# ---- the command ------------------------------------------------------------------------


def _pairs(values: Sequence[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name.strip() or not rest.strip():
            raise UsageError(f"{what}: expected NAME=VALUE, got {value!r}")
        out[name.strip()] = rest.strip()
    return out


def default_tiers(config_path: str | None) -> tuple[str, str, dict[str, str]]:
    """(weak, strong, models) from the config's first learned or complexity rule
    (`below`, `above`) and its tiers' models; the defaults without a config."""
    from extproc.config import ConfigError, load_config

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        raise UsageError(f"config error in {exc.source}: {'; '.join(exc.problems)}") from None
    weak, strong = "tier_low", "tier_high"
    for rule in config.routing.rules:
        if getattr(rule, "type", None) in ("learned", "complexity"):
            weak, strong = rule.below, rule.above  # type: ignore[union-attr]
            break
    models = {name: tier.model for name, tier in config.tiers.items() if tier.model}
    return weak, strong, models


def _write_rows(path: str, rows: Sequence[dict[str, Any]], append: bool) -> None:
    data = b"".join(orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE) for row in rows)
    if append:
        with open(path, "ab") as handle:
            handle.write(data)
        return
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def _check_files(paths: Sequence[str]) -> None:
    for path in paths:
        if not os.path.isfile(path):
            raise UsageError(f"{path}: no such file")


def run_collect(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    """Run the command; (exit status, summary)."""
    _check_files(args.inputs)
    _check_files(args.feedback_file)
    read = ReadReport()
    summary: dict[str, Any] = {"out": args.out}
    if args.feedback or args.feedback_file:
        rows, join = join_feedback(args.inputs, args.feedback_file, read, args.source or "feedback")
        summary.update(mode="feedback", feedback=join.feedback, joined=join.joined,
                       unmatched=join.unmatched, bad_scores=join.bad_scores)
    else:
        minimums = (("--limit", args.limit, 1), ("--concurrency", args.concurrency, 1),
                    ("--retries", args.retries, 0), ("--max-tokens", args.max_tokens, 1),
                    ("--judge-max-tokens", args.judge_max_tokens, 1))
        for name, value, low in minimums:
            if value < low:
                raise UsageError(f"{name} must be at least {low}")
        if not args.timeout > 0 or args.deadline < 0 or args.retries > 10:
            raise UsageError("--timeout must be > 0, --deadline >= 0, --retries at most 10")
        endpoints = _pairs(args.endpoint, "--endpoint")
        weak, strong, models = default_tiers(args.config)
        weak, strong = args.weak or weak, args.strong or strong
        models.update(_pairs(args.model, "--model"))
        if args.judge is None and not args.reference:
            raise UsageError("choose a grader: --judge TIER or --reference")
        needed = [weak, strong] + ([args.judge] if args.judge else [])
        missing = [tier for tier in needed if tier not in endpoints]
        if missing:
            raise UsageError(f"no --endpoint for {', '.join(sorted(set(missing)))} "
                             "(e.g. --endpoint tier_low=http://127.0.0.1:8101)")
        api_key = os.environ.get(args.api_key_env) if args.api_key_env else None
        settings = ClientSettings(
            timeout_s=args.timeout, retries=args.retries, concurrency=args.concurrency,
            max_tokens=args.max_tokens, judge_max_tokens=args.judge_max_tokens, api_key=api_key,
        )
        sample = sample_prompts(args.inputs, args.limit, args.seed, read)
        rows, graded = asyncio.run(_grade(sample, endpoints, models, settings, args, weak,
                                          strong))
        summary.update(mode="grade", weak=weak, strong=strong,
                       grader=f"judge:{args.judge}" if args.judge else "reference",
                       sampled=graded.sampled, written=graded.written,
                       failures=dict(graded.failures), ungraded=dict(graded.ungraded),
                       deadline_hit=graded.deadline_hit)
    summary.update(lines=read.lines, prompt_rows=read.prompt_rows,
                   feedback_rows=read.feedback_rows, bad_lines=read.bad_lines,
                   bad_examples=read.bad_examples, skipped=dict(read.skipped),
                   rows_written=len(rows))
    if rows or not args.append:
        _write_rows(args.out, rows, args.append)
    return (0 if rows else 1), summary


async def _grade(
    sample: list[dict[str, Any]],
    endpoints: dict[str, str],
    models: dict[str, str],
    settings: ClientSettings,
    args: argparse.Namespace,
    weak: str,
    strong: str,
) -> tuple[list[dict[str, Any]], GradeReport]:
    client = TierClient(endpoints, models, settings)
    try:
        grader: JudgeGrader | ReferenceGrader = (
            JudgeGrader(args.judge, client.judge) if args.judge else ReferenceGrader()
        )
        return await grade_rows(sample, client, grader, weak, strong, args.source or "collect",
                                args.deadline or None)
    finally:
        await client.aclose()


def _print_summary(status: int, summary: dict[str, Any], read_err: Any) -> None:
    err = read_err
    print(f"read {summary['lines']} lines: {summary['prompt_rows']} prompt rows, "
          f"{summary['feedback_rows']} feedback rows, {summary['bad_lines']} bad lines",
          file=err)
    for example in summary["bad_examples"]:
        print(f"  bad line {example}", file=err)
    if summary["bad_lines"] > len(summary["bad_examples"]):
        print(f"  ... and {summary['bad_lines'] - len(summary['bad_examples'])} more", file=err)
    for why, n in sorted(summary["skipped"].items()):
        print(f"  skipped ({why}): {n}", file=err)
    if summary["mode"] == "grade":
        print(f"graded with {summary['grader']}: weak={summary['weak']} "
              f"strong={summary['strong']}; {summary['sampled']} sampled, "
              f"{summary['written']} paired rows", file=err)
        for kind, n in sorted(summary["failures"].items()):
            print(f"  failed ({kind}): {n}", file=err)
        for kind, n in sorted(summary["ungraded"].items()):
            print(f"  not graded ({kind}): {n}", file=err)
    else:
        print(f"feedback: {summary['feedback']} scores, {summary['joined']} joined with a "
              f"captured decision, {summary['unmatched']} without one, "
              f"{summary['bad_scores']} bad scores", file=err)
    if status == 0:
        print(f"wrote {summary['rows_written']} rows to {summary['out']}", file=err)
    else:
        print(f"no rows written to {summary['out']}", file=err)


def cmd_collect(args: argparse.Namespace) -> int:
    started = time.monotonic()
    try:
        status, summary = run_collect(args)
    except UsageError as exc:
        print(f"collect: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"collect: {exc}", file=sys.stderr)
        return 2
    summary["seconds"] = round(time.monotonic() - started, 3)
    _print_summary(status, summary, sys.stderr)
    if args.json:
        print(orjson.dumps(summary).decode())
    return status


def add_collect_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "collect",
        help="outcome rows from captured traffic: grade both tiers' answers, or join feedback",
        description=__doc__.split("\n\n", 1)[0] if __doc__ else None,
    )
    p.add_argument("inputs", nargs="+", metavar="CAPTURE",
                   help="capture JSONL files (capture.path and its rotated PATH.N), or any "
                   "JSONL with a `prompt` per line (and `reference` for --reference)")
    p.add_argument("--out", required=True, help="output JSONL (rows for `train`)")
    p.add_argument("--append", action="store_true", help="append to --out instead of replacing")
    p.add_argument("--feedback", action="store_true",
                   help="join mode: feedback scores + captured decisions → single-tier rows")
    p.add_argument("--feedback-file", action="append", default=[], metavar="FILE",
                   help="more feedback rows {request_id, score} (implies --feedback)")
    grading = p.add_mutually_exclusive_group()
    grading.add_argument("--judge", metavar="TIER",
                         help="grade with an LLM judge on this --endpoint (rubric: "
                         "docs/learning-loop.md)")
    grading.add_argument("--reference", action="store_true",
                         help="grade by the rows' `reference` field (normalised match → 1/0)")
    p.add_argument("--endpoint", action="append", default=[], metavar="TIER=URL",
                   help="OpenAI base URL of a tier, e.g. tier_low=http://127.0.0.1:8101")
    p.add_argument("--model", action="append", default=[], metavar="TIER=NAME",
                   help="model name sent to a tier (default: the config's tiers.<t>.model)")
    p.add_argument("--config", help="router config: default weak/strong tiers and models")
    p.add_argument("--weak", help="weak tier (default: the first learned/complexity rule's below)")
    p.add_argument("--strong", help="strong tier (default: that rule's above)")
    p.add_argument("--limit", type=int, default=DEFAULT_LIMIT,
                   help=f"prompts to sample (default {DEFAULT_LIMIT})")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--concurrency", type=int, default=8, help="requests in flight (default 8)")
    p.add_argument("--timeout", type=float, default=60.0,
                   help="seconds per request (default 60)")
    p.add_argument("--retries", type=int, default=2,
                   help="retries of a request after a timeout, connection error, 429 or 5xx "
                   "(default 2)")
    p.add_argument("--deadline", type=float, default=0.0,
                   help="seconds for the whole grading run; unfinished rows are counted "
                   "(default: none)")
    p.add_argument("--max-tokens", type=int, default=512, help="answer length (default 512)")
    p.add_argument("--judge-max-tokens", type=int, default=256,
                   help="judge reply length (default 256)")
    p.add_argument("--api-key-env", metavar="VAR",
                   help="environment variable holding a bearer token for the endpoints")
    p.add_argument("--source", help="`source` of the rows (default: collect, or feedback)")
    p.add_argument("--json", action="store_true", help="also print the summary as JSON")
    p.set_defaults(func=cmd_collect)
