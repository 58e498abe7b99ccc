"""Config models of the policy rules: splits, canary, sticky A/B, ranking, scoring, bandits.

Policies are rules: they sit in the same ordered chain (`routing.rules`) and either decide
or abstain. Guards such as `override` or `vram` usually come first; a policy that always
decides (split, ab, rank, score, bandit) ends the chain.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_HEADER = re.compile(r"^[a-z0-9][a-z0-9\-_]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _header(value: str | None) -> str | None:
    if value is None:
        return None
    lowered = value.lower()
    if not _HEADER.match(lowered):
        raise ValueError(f"not a valid HTTP header name: {value!r}")
    return lowered


class SplitRule(_Strict):
    """Weighted random split between tiers (e.g. 60/40). With `health_aware`, unavailable
    tiers are left out and the remaining weights renormalised."""

    type: Literal["split"]
    name: str = Field("split", min_length=1, description="Name in metrics and reasons.")
    weights: dict[str, float] = Field(..., min_length=1, description="tier → weight (> 0).")
    health_aware: bool = True
    seed: int | None = Field(None, description="Random seed (tests, replay).")

    @field_validator("weights")
    @classmethod
    def _positive(cls, weights: dict[str, float]) -> dict[str, float]:
        bad = [t for t, w in weights.items() if not w > 0]
        if bad:
            raise ValueError(f"weights must be > 0 (check {bad})")
        return weights


class CanaryRule(_Strict):
    """Send `percent` of traffic (and every forced request) to `tier`; abstain otherwise."""

    type: Literal["canary"]
    name: str = Field("canary", min_length=1)
    tier: str = Field(..., description="The canary tier (new model or cluster).")
    percent: float = Field(..., ge=0, le=100)
    force_header: str | None = Field(
        "x-canary", description="A request with this header set to a true value goes to the "
        "canary ('1', 'true', 'yes'); 'false'/'0' keeps it out."
    )
    user_header: str | None = Field(
        None, description="Header naming the user; users in `force_users` always get the "
        "canary, and with `sticky` the percentage is drawn per user, not per request."
    )
    force_users: tuple[str, ...] = ()
    sticky: bool = True
    salt: str = "canary"

    _h = field_validator("force_header", "user_header")(_header)


class AbArm(_Strict):
    tier: str
    weight: float = Field(..., gt=0)


class StickyAbRule(_Strict):
    """Sticky A/B: a stable hash of `key_header` (+ salt) picks an arm with the configured
    weights, so a user always lands on the same arm. The arm goes to `x-route-arm`."""

    type: Literal["ab"]
    name: str = Field("ab", min_length=1)
    key_header: str = Field(..., description="e.g. x-user-id, or authorization (API key).")
    arms: dict[str, AbArm] = Field(..., min_length=2)
    salt: str = Field("", description="Change it to reshuffle users between experiments.")
    missing_key: Literal["abstain", "random"] = Field(
        "abstain", description="Without the key header: leave the request to later rules, "
        "or pick an arm at random (not sticky)."
    )

    _h = field_validator("key_header")(_header)


class TierProfile(_Strict):
    """What the ranking and scoring policies know about a tier."""

    quality: float = Field(0.5, ge=0, le=1, description="Expected answer quality in [0,1].")
    quality_by_category: dict[str, float] = Field(
        default_factory=dict, description="Per-category quality (from the semantic layer)."
    )
    slo_ms: float | None = Field(None, gt=0, description="Latency target used to normalise.")


class RankRule(_Strict):
    """Rank available tiers by one objective.

    cost: cheapest tier whose quality ≥ min_quality; latency: lowest latency EMA among tiers
    with quality ≥ min_quality; quality: best quality whose input price ≤ max_price_per_1m.
    """

    type: Literal["rank"]
    name: str = Field("rank", min_length=1)
    objective: Literal["cost", "latency", "quality"]
    profiles: dict[str, TierProfile] = Field(default_factory=dict)
    min_quality: float = Field(0.0, ge=0, le=1)
    max_price_per_1m: float | None = Field(None, ge=0)


class ScoreWeights(_Strict):
    quality: float = Field(1.0, ge=0)
    latency: float = Field(0.3, ge=0)
    price: float = Field(0.3, ge=0)
    load: float = Field(0.2, ge=0)


class ScoreRule(_Strict):
    """Multi-factor score per available tier; the highest wins (formula in docs/policies.md).

    U(t) = w_q·q(t)·(1 + complexity_boost·c) − w_l·min(L(t)/SLO(t), 2) − w_p·P(t)/P_max
           − w_load·load(t)
    """

    type: Literal["score"]
    name: str = Field("score", min_length=1)
    weights: ScoreWeights = Field(default_factory=ScoreWeights)  # type: ignore[arg-type]
    profiles: dict[str, TierProfile] = Field(default_factory=dict)
    complexity_boost: float = Field(
        2.0, ge=0, description="How much more quality counts for a complex prompt (c = score)."
    )
    default_slo_ms: float = Field(2000.0, gt=0)


class RewardWeights(_Strict):
    """Reward in [0,1] = weighted mean of: success, latency within SLA, cheapness."""

    success: float = Field(1.0, ge=0)
    latency: float = Field(0.5, ge=0)
    cost: float = Field(0.5, ge=0)
    feedback: float = Field(
        1.0, ge=0, description="Weight of an explicit quality score (ReportFeedback) as an "
        "extra update of the same arm."
    )


class BanditRule(_Strict):
    """Online learning over tiers: epsilon-greedy, Thompson sampling, or LinUCB on the
    prompt's complexity features. Rewarded by observed outcomes and explicit feedback."""

    type: Literal["bandit"]
    name: str = Field("bandit", min_length=1)
    algorithm: Literal["epsilon_greedy", "thompson", "linucb"] = "thompson"
    tiers: tuple[str, ...] = Field((), description="Arms; all tiers when empty.")
    epsilon: float = Field(0.1, ge=0, le=1, description="epsilon_greedy exploration rate.")
    alpha: float = Field(0.5, ge=0, description="linucb exploration width.")
    reward: RewardWeights = Field(default_factory=RewardWeights)  # type: ignore[arg-type]
    sla_ms: float = Field(2000.0, gt=0, description="Latency at which the latency reward is 0.5.")
    max_cost: float = Field(0.01, gt=0, description="Cost per request at which cost reward is 0.")
    seed: int | None = None

    @model_validator(mode="after")
    def _arms(self) -> BanditRule:
        if len(set(self.tiers)) != len(self.tiers):
            raise ValueError("tiers must be distinct")
        return self
