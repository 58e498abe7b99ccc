"""Online-learning policies over tiers: epsilon-greedy, Thompson sampling, LinUCB.

Arms are tiers. Each decision carries the arm and (LinUCB) the context features; the
outcome of the request (success, latency vs SLA, cost) becomes a reward in [0,1] that
updates the arm, and an explicit quality score (ReportFeedback) is one more update.
Updates happen on the event-loop thread; state is small and bounded (one entry per arm).
"""

from __future__ import annotations

import math
import random

import numpy as np

from extproc.config.policies import BanditRule, RewardWeights
from extproc.decision.model import Decision, Outcome, Verdict
from extproc.decision.signals import Signals

FEATURES = ("bias", "complexity", "math", "code", "reasoning", "length")


def outcome_reward(outcome: Outcome, weights: RewardWeights, sla_ms: float,
                   max_cost: float) -> float:
    """Weighted mean of success (0/1), latency score (1 at 0 ms, 0.5 at the SLA, → 0) and
    cheapness (1 − cost/max_cost, floored at 0). A failed request rewards 0 in every term."""
    if not outcome.ok:
        return 0.0
    latency = 1.0 / (1.0 + outcome.latency_ms / sla_ms)
    cheap = max(0.0, 1.0 - outcome.cost / max_cost)
    total = weights.success + weights.latency + weights.cost
    if total <= 0:
        return 1.0
    return (weights.success + weights.latency * latency + weights.cost * cheap) / total


def context_features(signals: Signals) -> tuple[float, ...]:
    """The prompt's features for LinUCB: bias, complexity score and a few dimensions."""
    result = signals.complexity()
    if result is None:
        return (1.0, 0.5, 0.0, 0.0, 0.0, 0.0)
    dims = result.dimensions
    return (
        1.0,
        result.score,
        dims.get("math", 0.0),
        dims.get("code", 0.0),
        dims.get("reasoning", 0.0),
        dims.get("length", 0.0),
    )


class BanditPolicy:
    """A bandit rule; `learn` is called with the decision and a reward."""

    learns = True

    def __init__(self, cfg: BanditRule, all_tiers: list[str]) -> None:
        self.name = cfg.name
        self.cfg = cfg
        self.arms = list(cfg.tiers) or list(all_tiers)
        self._rng = random.Random(cfg.seed)
        self.pulls = dict.fromkeys(self.arms, 0)
        self.reward_sum = dict.fromkeys(self.arms, 0.0)
        # Thompson: Beta(successes + 1, failures + 1) with fractional rewards
        self.alpha = dict.fromkeys(self.arms, 1.0)
        self.beta = dict.fromkeys(self.arms, 1.0)
        # LinUCB: per arm A⁻¹ (d×d) and b (d)
        d = len(FEATURES)
        self.a_inv = {arm: np.eye(d) for arm in self.arms}
        self.b = {arm: np.zeros(d) for arm in self.arms}
        self._np_rng = np.random.default_rng(cfg.seed)

    def _available(self, signals: Signals) -> list[str]:
        health = signals.backend.health
        live = [arm for arm in self.arms if health.available(arm) is None]
        return live or self.arms

    def evaluate(self, signals: Signals) -> Verdict | None:
        arms = self._available(signals)
        algorithm = self.cfg.algorithm
        if algorithm == "linucb":
            x = context_features(signals)
            arm = self._linucb_pick(arms, np.asarray(x))
            return Verdict(arm, "bandit", arm, x)
        if algorithm == "thompson":
            arm = max(arms, key=lambda a: self._rng.betavariate(self.alpha[a], self.beta[a]))
        else:
            arm = self._epsilon_pick(arms)
        return Verdict(arm, "bandit", arm)

    def _epsilon_pick(self, arms: list[str]) -> str:
        untried = [a for a in arms if self.pulls[a] == 0]
        if untried:
            return self._rng.choice(untried)
        if self._rng.random() < self.cfg.epsilon:
            return self._rng.choice(arms)
        return max(arms, key=lambda a: (self.reward_sum[a] / self.pulls[a], self._rng.random()))

    def _linucb_pick(self, arms: list[str], x: np.ndarray) -> str:
        best, best_value = arms[0], -math.inf
        for arm in arms:
            a_inv = self.a_inv[arm]
            theta = a_inv @ self.b[arm]
            value = float(theta @ x + self.cfg.alpha * math.sqrt(max(0.0, float(x @ a_inv @ x))))
            value += 1e-9 * self._rng.random()  # random tie-break
            if value > best_value:
                best, best_value = arm, value
        return best

    def learn(self, decision: Decision, reward: float) -> None:
        arm = decision.arm
        if arm not in self.pulls:
            return
        reward = min(1.0, max(0.0, reward))
        self.pulls[arm] += 1
        self.reward_sum[arm] += reward
        self.alpha[arm] += reward
        self.beta[arm] += 1.0 - reward
        if decision.features is not None and len(decision.features) == len(FEATURES):
            x = np.asarray(decision.features)
            a_inv = self.a_inv[arm]
            ax = a_inv @ x
            self.a_inv[arm] = a_inv - np.outer(ax, ax) / (1.0 + float(x @ ax))  # Sherman-Morrison
            self.b[arm] = self.b[arm] + reward * x

    def reward_for(self, outcome: Outcome) -> float:
        return outcome_reward(outcome, self.cfg.reward, self.cfg.sla_ms, self.cfg.max_cost)

    def state(self) -> dict[str, dict[str, float]]:
        """Per-arm pulls and mean reward (GetState, metrics)."""
        return {
            arm: {
                "pulls": float(self.pulls[arm]),
                "mean_reward": self.reward_sum[arm] / self.pulls[arm] if self.pulls[arm] else 0.0,
            }
            for arm in self.arms
        }
