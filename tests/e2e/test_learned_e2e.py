"""The `learned` rule through a real Envoy, in full and in fast mode: a model trained on
outcomes where the strong tier wins on marker prompts sends those to tier_high and the rest
to tier_low; replacing the model file under the running router flips routing without a
restart, and a corrupt replacement is counted while the old model keeps routing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from extproc.learn.model import load_model
from extproc.stack.up import Stack
from tests.e2e.conftest import make_stack
from tests.e2e.feedback_util import chat, metric_value, metrics_text, wait_for
from tests.unit.learn.learned_data import FAST, marker_rows, split_prompts, train, write_jsonl

pytestmark = pytest.mark.e2e

RELOADS = "extproc_learned_model_reloads_total"


class Models:
    """A: marker prompts gain on the strong tier. B: the same prompts, outcomes inverted."""

    def __init__(self, tmp: Path) -> None:
        rows = marker_rows(120)
        self.a, self.b = tmp / "a.npz", tmp / "b.npz"
        train(write_jsonl(tmp / "a.jsonl", rows), self.a, *FAST, "--strong-share", "0.5")
        train(write_jsonl(tmp / "b.jsonl", marker_rows(120, invert=True)), self.b, *FAST,
              "--strong-share", "0.5")
        self.marked, self.plain = split_prompts(rows, 4)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    return Models(tmp_path_factory.mktemp("learned-models"))


def learned_config(model: Path, mode: str) -> dict[str, object]:
    return {
        "mode": mode,
        "routing": {"rules": [{"type": "learned", "model": str(model),
                               "reload_interval_s": 0.1}]},
    }


@pytest.fixture(scope="module", params=["full", "fast"])
def learned_stack(request: pytest.FixtureRequest, models: Models,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Path]]:
    mode: str = request.param
    tmp = tmp_path_factory.mktemp(f"learned-{mode}")
    live = tmp / "live.npz"
    live.write_bytes(models.a.read_bytes())
    template = {"envoy_template": "fast.yaml"} if mode == "fast" else {}
    with make_stack(tmp, learned_config(live, mode), **template) as stack:  # type: ignore[arg-type]
        yield stack, live


def post(stack: Stack, prompt: str) -> httpx.Response:
    r = httpx.post(f"{stack.url}/v1/chat/completions", json=chat(prompt), timeout=30)
    assert r.status_code == 200, r.text
    return r


def tiers(stack: Stack, prompts: list[str]) -> set[tuple[str, str, str]]:
    """(decided tier, reason, tier that answered) for each prompt."""
    out = set()
    for prompt in prompts:
        r = post(stack, prompt)
        out.add((r.headers["x-route-tier"], r.headers["x-route-reason"],
                 r.headers["x-upstream-tier"]))
    return out


UP = {("tier_high", "learned_high", "tier_high")}
DOWN = {("tier_low", "learned_low", "tier_low")}


def test_marker_prompts_reach_the_strong_tier(learned_stack: tuple[Stack, Path],
                                              models: Models) -> None:
    stack, _ = learned_stack
    assert tiers(stack, models.marked) == UP
    assert tiers(stack, models.plain) == DOWN


def test_a_new_model_file_flips_routing_without_a_restart(
        learned_stack: tuple[Stack, Path], models: Models) -> None:
    stack, live = learned_stack
    router_pid = stack.procs["router"].pid
    applied = metric_value(metrics_text(stack), RELOADS, result="applied")
    rejected = metric_value(metrics_text(stack), RELOADS, result="rejected")
    try:
        load_model(models.b).save(live)  # atomic, as train writes it
        assert wait_for(lambda: tiers(stack, models.marked[:1]) == DOWN, timeout_s=15)
        assert tiers(stack, models.marked) == DOWN
        assert tiers(stack, models.plain) == UP
        assert metric_value(metrics_text(stack), RELOADS, result="applied") == applied + 1

        tmp = live.with_name("broken.tmp")
        tmp.write_bytes(models.a.read_bytes()[:3000])  # truncated: refused
        tmp.replace(live)
        assert wait_for(lambda: metric_value(metrics_text(stack), RELOADS,
                                             result="rejected") >= rejected + 1, timeout_s=15)
        assert tiers(stack, models.marked) == DOWN  # the previous model keeps routing
        assert tiers(stack, models.plain) == UP
    finally:  # back to model A for the other tests of this stack
        load_model(models.a).save(live)
        assert wait_for(lambda: tiers(stack, models.marked[:1]) == UP, timeout_s=15)
    assert tiers(stack, models.marked) == UP and tiers(stack, models.plain) == DOWN
    assert stack.procs["router"].pid == router_pid and stack.procs["router"].poll() is None
