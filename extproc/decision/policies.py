"""Policy rules: weighted split, canary, sticky A/B, ranking, multi-factor score.

Each is a rule (decide or abstain) built from its config model in extproc/config/policies.py.
They read only in-memory state, so each decision costs microseconds.
"""

from __future__ import annotations

import bisect
import hashlib
import random
from collections.abc import Mapping, Sequence

from extproc.config.model import TierConfig
from extproc.config.policies import (
    CanaryRule,
    RankRule,
    ScoreRule,
    SplitRule,
    StickyAbRule,
    TierProfile,
)
from extproc.decision.model import Verdict
from extproc.decision.signals import Signals

TRUE_VALUES = frozenset({"1", "true", "yes", "on"})  # header flags that mean "yes"
_FALSE = frozenset({"0", "false", "no", "off"})
_DEFAULT_PROFILE = TierProfile()


def stable_fraction(key: str, salt: str) -> float:
    """A stable value in [0, 1) for a key (same key and salt → same value, on any replica)."""
    digest = hashlib.blake2b(f"{salt}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class _WeightedPick:
    """Pick an item by cumulative weights with a fraction in [0, 1)."""

    __slots__ = ("_bounds", "_items")

    def __init__(self, items: Sequence[str], weights: Sequence[float]) -> None:
        total = float(sum(weights))
        running = 0.0
        bounds = []
        for weight in weights:
            running += weight / total
            bounds.append(running)
        bounds[-1] = 1.0
        self._items = tuple(items)
        self._bounds = tuple(bounds)

    def pick(self, fraction: float) -> str:
        return self._items[min(bisect.bisect_right(self._bounds, fraction), len(self._items) - 1)]


class WeightedSplitRule:
    """Random split by weight; with health_aware, unavailable tiers are left out."""

    def __init__(self, cfg: SplitRule) -> None:
        self.name = cfg.name
        self._cfg = cfg
        self._rng = random.Random(cfg.seed)
        self._all = _WeightedPick(list(cfg.weights), list(cfg.weights.values()))
        self._verdicts = {t: Verdict(t, "split", t) for t in cfg.weights}

    def evaluate(self, signals: Signals) -> Verdict | None:
        weights = self._cfg.weights
        if self._cfg.health_aware:
            health = signals.backend.health
            live = [t for t in weights if health.available(t) is None]
            if live and len(live) != len(weights):
                pick = _WeightedPick(live, [weights[t] for t in live])
                return self._verdicts[pick.pick(self._rng.random())]
        return self._verdicts[self._all.pick(self._rng.random())]


class CanaryPolicy:
    """A percentage (sticky per user when a user header is set) plus forced requests/users."""

    def __init__(self, cfg: CanaryRule) -> None:
        self.name = cfg.name
        self._cfg = cfg
        self._users = frozenset(cfg.force_users)
        self._rng = random.Random()
        self._forced = Verdict(cfg.tier, "canary_forced", "canary")
        self._drawn = Verdict(cfg.tier, "canary", "canary")
        self.headers = frozenset(h for h in (cfg.force_header, cfg.user_header) if h)

    def evaluate(self, signals: Signals) -> Verdict | None:
        cfg = self._cfg
        headers = signals.facts.headers
        if cfg.force_header:
            flag = headers.get(cfg.force_header, "").strip().lower()
            if flag in TRUE_VALUES:
                return self._forced
            if flag in _FALSE:
                return None
        user = headers.get(cfg.user_header) if cfg.user_header else None
        if user and user in self._users:
            return self._forced
        sticky = cfg.sticky and user
        fraction = stable_fraction(user, cfg.salt) if sticky and user else self._rng.random()
        return self._drawn if fraction * 100.0 < cfg.percent else None


class StickyAbPolicy:
    """Stable hash of the key header → arm (weighted); reported as x-route-arm."""

    def __init__(self, cfg: StickyAbRule) -> None:
        self.name = cfg.name
        self._cfg = cfg
        arms = list(cfg.arms)
        self._pick = _WeightedPick(arms, [cfg.arms[a].weight for a in arms])
        self._verdicts = {a: Verdict(cfg.arms[a].tier, "ab_test", a) for a in arms}
        self._rng = random.Random()
        self.headers = frozenset({cfg.key_header})

    def arm_for(self, key: str) -> str:
        return self._pick.pick(stable_fraction(key, self._cfg.salt))

    def evaluate(self, signals: Signals) -> Verdict | None:
        key = signals.facts.headers.get(self._cfg.key_header)
        if not key:
            if self._cfg.missing_key == "abstain":
                return None
            return self._verdicts[self._pick.pick(self._rng.random())]
        return self._verdicts[self.arm_for(key)]


def _profile(profiles: Mapping[str, TierProfile], tier: str) -> TierProfile:
    return profiles.get(tier, _DEFAULT_PROFILE)


def _quality(profile: TierProfile, category: str | None) -> float:
    if category is not None and category in profile.quality_by_category:
        return profile.quality_by_category[category]
    return profile.quality


class RankPolicy:
    """Pick the best available tier by one objective (cost, latency or quality)."""

    def __init__(self, cfg: RankRule, tiers: Mapping[str, TierConfig]) -> None:
        self.name = cfg.name
        self._cfg = cfg
        self._order = list(tiers)
        self._price = {n: t.prices.input_per_1m + t.prices.output_per_1m for n, t in tiers.items()}
        self._input_price = {n: t.prices.input_per_1m for n, t in tiers.items()}
        self._reason = f"rank_{cfg.objective}"

    def evaluate(self, signals: Signals) -> Verdict | None:
        cfg = self._cfg
        backend = signals.backend
        candidates = [t for t in self._order if backend.health.available(t) is None]
        if not candidates:
            return None
        quality = {t: _quality(_profile(cfg.profiles, t), None) for t in candidates}
        if cfg.objective == "quality":
            limit = cfg.max_price_per_1m
            allowed = [t for t in candidates if limit is None or self._input_price[t] <= limit]
            pool = allowed or candidates
            best = max(pool, key=lambda t: (quality[t], -self._price[t]))
        else:
            good = [t for t in candidates if quality[t] >= cfg.min_quality] or candidates
            if cfg.objective == "cost":
                best = min(good, key=lambda t: (self._price[t], -quality[t]))
            else:
                best = min(good, key=lambda t: backend.latency.ema_ms(t) or float("inf"))
        return Verdict(best, self._reason)


class ScorePolicy:
    """Multi-factor utility per available tier; argmax wins (see ScoreRule docstring)."""

    def __init__(self, cfg: ScoreRule, tiers: Mapping[str, TierConfig]) -> None:
        self.name = cfg.name
        self._cfg = cfg
        self._order = list(tiers)
        self._price = {n: t.prices.input_per_1m + t.prices.output_per_1m for n, t in tiers.items()}
        self._max_price = max(self._price.values()) or 1.0
        self._slo = {
            n: (_profile(cfg.profiles, n).slo_ms or t.sla_ms or cfg.default_slo_ms)
            for n, t in tiers.items()
        }

    def utilities(self, signals: Signals) -> dict[str, float]:
        """Utility of each available tier for this request (used by Explain too)."""
        cfg = self._cfg
        w = cfg.weights
        backend = signals.backend
        complexity = signals.complexity()
        c = complexity.score if complexity is not None else 0.5
        category = None  # per-category quality arrives with the semantic layer
        out = {}
        for tier in self._order:
            if backend.health.available(tier) is not None:
                continue
            quality = _quality(_profile(cfg.profiles, tier), category)
            latency = backend.latency.ema_ms(tier) or self._slo[tier]
            load = _load(signals, tier)
            out[tier] = (
                w.quality * quality * (1.0 + cfg.complexity_boost * c)
                - w.latency * min(latency / self._slo[tier], 2.0)
                - w.price * self._price[tier] / self._max_price
                - w.load * load
            )
        return out

    def evaluate(self, signals: Signals) -> Verdict | None:
        utilities = self.utilities(signals)
        if not utilities:
            return None
        best = max(utilities, key=utilities.__getitem__)
        return Verdict(best, "score")


def _load(signals: Signals, tier: str) -> float:
    """Load in [0,1]: scraped KV-cache usage when fresh, else 0."""
    load = signals.backend.load(tier)
    if load is None or not load.is_fresh(5.0) or load.kv_cache_usage is None:
        return 0.0
    return load.kv_cache_usage
