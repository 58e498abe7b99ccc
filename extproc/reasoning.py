"""Reasoning control: per tier (and per semantic category), write the model family's
reasoning switch into the request body (e.g. Qwen3 `chat_template_kwargs.enable_thinking`,
gpt-oss `reasoning_effort`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from extproc.config.semantic import BUILTIN_FAMILIES, ReasoningConfig, ReasoningFamily


@dataclass(frozen=True, slots=True)
class ReasoningPlan:
    family: str
    mode: str  # "on" | "off"
    effort: str
    patch: Mapping[str, Any]


def _fill(value: Any, effort: str) -> Any:
    if isinstance(value, str):
        return value.replace("{effort}", effort)
    if isinstance(value, dict):
        return {k: _fill(v, effort) for k, v in value.items()}
    return value


def _client_set(doc: Mapping[str, Any], patch: Mapping[str, Any]) -> bool:
    """True when the client already set any leaf key the patch would write."""
    for key, value in patch.items():
        if key not in doc:
            continue
        if isinstance(value, Mapping) and isinstance(doc[key], Mapping):
            if _client_set(doc[key], value):
                return True
        else:
            return True
    return False


class ReasoningPlanner:
    def __init__(self, config: ReasoningConfig) -> None:
        self._config = config
        self._families: dict[str, ReasoningFamily] = {**BUILTIN_FAMILIES, **config.families}

    @property
    def enabled(self) -> bool:
        return bool(self._config.tiers)

    def plan(
        self,
        tier: str,
        doc: Mapping[str, Any],
        complexity: float | None,
        category: str | None = None,
    ) -> ReasoningPlan | None:
        """The patch for a request routed to `tier`, or None to leave the body alone."""
        tier_cfg = self._config.tiers.get(tier)
        if tier_cfg is None:
            return None
        mode: str = tier_cfg.mode
        effort: str = tier_cfg.effort
        by_category = self._config.by_category.get(category) if category else None
        if by_category is not None:
            mode = by_category.mode
            effort = by_category.effort or effort
        if mode == "auto":
            mode = "on" if (complexity or 0.0) >= tier_cfg.auto_threshold else "off"
        if mode == "keep":
            return None
        family = self._families[tier_cfg.family]
        template = family.on if mode == "on" else family.off
        patch = _fill(template, effort)
        if not patch or (self._config.respect_client and _client_set(doc, patch)):
            return None
        return ReasoningPlan(tier_cfg.family, mode, effort, patch)
