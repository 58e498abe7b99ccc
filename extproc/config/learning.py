"""Config models of the learning loop: opt-in prompt capture for `extproc-router collect`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MiB = 1024 * 1024


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CaptureConfig(_Strict):
    """Opt-in capture of sampled prompts with their routing decision (and accepted feedback
    scores), one JSON line each, for `extproc-router collect`. Off by default; bounded in
    sample rate, prompt size and file size; PII and secrets redacted by default.
    See docs/learning-loop.md."""

    enabled: bool = Field(False, description="Write capture rows (nothing is recorded when off).")
    path: str = Field(
        "extproc-capture.jsonl",
        min_length=1,
        description="Capture file (JSONL, appended). Rotated files are PATH.1, PATH.2, ...",
    )
    sample_rate: float = Field(
        0.1, ge=0, le=1, description="Fraction of routed requests captured (random sample)."
    )
    max_chars: int = Field(
        8000, ge=16, description="Prompt text longer than this is cut (the row says so)."
    )
    messages: bool = Field(
        True,
        description="Also keep the chat `messages` (redacted; omitted when their text exceeds "
        "max_chars), so collect can replay the conversation rather than the joined text.",
    )
    redact: bool = Field(
        True,
        description="Replace PII and secrets found by the prompt guard's detectors with "
        "[REDACTED:<kind>] before writing.",
    )
    max_bytes: int = Field(
        64 * MiB, ge=4096, description="Size limit of the current capture file."
    )
    on_full: Literal["rotate", "stop"] = Field(
        "rotate",
        description="At max_bytes: 'rotate' renames the file to PATH.1 (older ones shift, "
        "keep_files are kept); 'stop' writes nothing more (rows are counted as dropped).",
    )
    keep_files: int = Field(
        2, ge=1, le=100,
        description="Rotated files kept; disk use stays under max_bytes × (keep_files + 1).",
    )
    queue_rows: int = Field(
        10_000, ge=1,
        description="Rows waiting for the writer thread; more are dropped (and counted).",
    )
    flush_interval_s: float = Field(
        0.2, gt=0, le=60, description="How often the writer thread writes queued rows."
    )
    feedback: bool = Field(
        True,
        description="Also write a row for each valid ReportFeedback score (request id, "
        "score), which `collect --feedback` joins with the captured decisions.",
    )

    @model_validator(mode="after")
    def _sane(self) -> CaptureConfig:
        if self.enabled and self.sample_rate == 0 and not self.feedback:
            raise ValueError("capture.enabled with sample_rate 0 and feedback off records nothing")
        return self
