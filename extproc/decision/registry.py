"""Rule registry: each config model type maps to the factory that builds its rule.

The config's `type:` names (override, complexity, learned, vram, latency_sla, load, split, canary,
ab, rank, score, bandit, custom) are the registry's keys, so config and code share nouns.
Users add rules without touching this file through `type: custom, import_path: ...`
(plugin interface v1, see extproc/decision/rules.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from extproc.config.model import (
    CategoryRule,
    ComplexityRule,
    CustomRule,
    LatencySlaRule,
    LearnedRule,
    LoadRule,
    OverrideRule,
    RouterConfig,
    TierConfig,
    VramRule,
)
from extproc.config.policies import (
    BanditRule,
    CanaryRule,
    RankRule,
    ScoreRule,
    SplitRule,
    StickyAbRule,
)
from extproc.decision.bandits import BanditPolicy
from extproc.decision.learned import LearnedThresholdRule
from extproc.decision.policies import (
    CanaryPolicy,
    RankPolicy,
    ScorePolicy,
    StickyAbPolicy,
    WeightedSplitRule,
)
from extproc.decision.rules import (
    CategoryRouteRule,
    ComplexityThresholdRule,
    LatencySlaRuleImpl,
    OverrideTierRule,
    Rule,
    SaturationRule,
    VramHeadroomRule,
    load_custom_rule,
)


@dataclass(frozen=True, slots=True)
class BuildContext:
    tiers: Mapping[str, TierConfig]
    category_routes: dict[str, str]
    classifier_model: str | None = None  # the semantic layer's embedder (learned rules)

    @property
    def tier_names(self) -> frozenset[str]:
        return frozenset(self.tiers)


Factory = Callable[[Any, BuildContext], Rule]

RULE_FACTORIES: dict[type[BaseModel], Factory] = {
    OverrideRule: lambda cfg, ctx: OverrideTierRule(ctx.tier_names),
    ComplexityRule: lambda cfg, ctx: ComplexityThresholdRule(cfg),
    LearnedRule: lambda cfg, ctx: LearnedThresholdRule(cfg, ctx.classifier_model),
    VramRule: lambda cfg, ctx: VramHeadroomRule(cfg),
    LatencySlaRule: lambda cfg, ctx: LatencySlaRuleImpl(cfg, ctx.tiers[cfg.tier].sla_ms),
    LoadRule: lambda cfg, ctx: SaturationRule(cfg),
    SplitRule: lambda cfg, ctx: WeightedSplitRule(cfg),
    CanaryRule: lambda cfg, ctx: CanaryPolicy(cfg),
    StickyAbRule: lambda cfg, ctx: StickyAbPolicy(cfg),
    RankRule: lambda cfg, ctx: RankPolicy(cfg, ctx.tiers),
    ScoreRule: lambda cfg, ctx: ScorePolicy(cfg, ctx.tiers),
    BanditRule: lambda cfg, ctx: BanditPolicy(cfg, list(ctx.tiers)),
    CategoryRule: lambda cfg, ctx: CategoryRouteRule(cfg.routes or ctx.category_routes),
    CustomRule: lambda cfg, ctx: load_custom_rule(cfg, ctx.tier_names),
}


def build_rules(config: RouterConfig) -> list[Rule]:
    """Config → rule objects, in chain order."""
    ctx = BuildContext(config.tiers, dict(config.classifier.routes), config.classifier.model)
    return [RULE_FACTORIES[type(cfg)](cfg, ctx) for cfg in config.routing.rules]
