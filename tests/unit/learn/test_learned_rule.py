"""The `type: learned` rule through the real Router and pipeline: routes by the model,
honours an explicit threshold, refuses a bad model file at validate and at start, and swaps
in a new model file without a restart (a bad replacement keeps the old model, counted)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from extproc.config import parse_config
from extproc.decision.learned import LearnedThresholdRule
from extproc.decision.model import Decision, RequestFacts
from extproc.decision.signals import Signals
from extproc.learn.model import ModelFileError, load_model
from extproc.parse.openai import ChatRequest, parse_body
from extproc.router import Router
from tests.unit.learn.learned_data import (
    FAST,
    marker_rows,
    run_cli,
    split_prompts,
    train,
    write_jsonl,
)

RELOADS = "extproc_learned_model_reloads_total"


class Models:
    """Model A routes marker prompts up; model B (same prompts, outcomes inverted) down."""

    def __init__(self, tmp: Path) -> None:
        rows = marker_rows(120)
        self.a = tmp / "a.npz"
        self.b = tmp / "b.npz"
        train(write_jsonl(tmp / "a.jsonl", rows), self.a, *FAST, "--strong-share", "0.5")
        train(write_jsonl(tmp / "b.jsonl", marker_rows(120, invert=True)), self.b, *FAST,
              "--strong-share", "0.5")
        self.marked, self.plain = split_prompts(rows)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    return Models(tmp_path_factory.mktemp("models"))


@pytest.fixture()
def live(tmp_path: Path, models: Models) -> Path:
    """A model file the test may replace: a copy of model A."""
    path = tmp_path / "live.npz"
    path.write_bytes(models.a.read_bytes())
    return path


def config(model: Path | str, **rule: Any) -> dict[str, Any]:
    return {"routing": {"rules": [{"type": "learned", "model": str(model), **rule}]}}


def chat(text: str) -> ChatRequest:
    parsed = parse_body(
        b'{"model": "auto", "messages": [{"role": "user", "content": "%s"}]}' % text.encode(),
        "chat", 1 << 20)
    assert isinstance(parsed, ChatRequest)
    return parsed


def decide(router: Router, text: str | None) -> Decision:
    facts = RequestFacts("/v1/chat/completions", "POST", "r", None,
                         None if text is None else chat(text))
    return router.pipeline.decide(Signals(facts, router.scorer, router.backend))


def routes(router: Router, texts: list[str]) -> set[tuple[str, str]]:
    return {(d.tier, d.reason) for d in (decide(router, t) for t in texts)}


def learned_rule(router: Router) -> LearnedThresholdRule:
    rule = router.pipeline.rules[0]
    assert isinstance(rule, LearnedThresholdRule)
    return rule


HIGH = {("tier_high", "learned_high")}
LOW = {("tier_low", "learned_low")}


def test_marker_prompts_go_up_and_the_rest_down(models: Models) -> None:
    router = Router(parse_config(config(models.a)))
    assert routes(router, models.marked) == HIGH
    assert routes(router, models.plain) == LOW
    model = load_model(models.a)
    for text in models.marked + models.plain:
        decision = decide(router, text)
        assert decision.rule == "learned"
        assert decision.score == pytest.approx(model.score(text))  # what the rule compared
    assert learned_rule(router).threshold == model.threshold


def test_the_inverted_model_routes_the_other_way(models: Models) -> None:
    router = Router(parse_config(config(models.b)))
    assert routes(router, models.marked) == LOW
    assert routes(router, models.plain) == HIGH


def test_custom_tiers_above_and_below(models: Models) -> None:
    cfg = config(models.a, above="tier_low", below="tier_high")
    router = Router(parse_config(cfg))
    assert routes(router, models.marked) == {("tier_low", "learned_high")}
    assert routes(router, models.plain) == {("tier_high", "learned_low")}


def test_explicit_threshold_overrides_the_models(models: Models) -> None:
    model = load_model(models.a)
    scores = sorted(model.score(t) for t in models.marked + models.plain)
    for threshold, marked, plain in ((1e6, LOW, LOW), (-1e6, HIGH, HIGH)):
        router = Router(parse_config(config(models.a, threshold=threshold)))
        assert learned_rule(router).threshold == threshold != model.threshold
        assert routes(router, models.marked) == marked
        assert routes(router, models.plain) == plain
    # a threshold between two prompts' scores splits them exactly there
    middle = (scores[3] + scores[4]) / 2
    router = Router(parse_config(config(models.a, threshold=middle)))
    ups = [t for t in models.marked + models.plain
           if decide(router, t).tier == "tier_high"]
    assert len(ups) == len(scores) - 4


def test_without_a_prompt_the_rule_abstains(models: Models) -> None:
    router = Router(parse_config(config(models.a)))
    decision = decide(router, None)
    assert (decision.rule, decision.reason) == ("default", "no_rule_decided")


def test_a_later_rule_decides_after_an_earlier_one(models: Models) -> None:
    cfg = {"routing": {"rules": [{"type": "split", "weights": {"tier_low": 1}},
                                 {"type": "learned", "model": str(models.a)}]}}
    router = Router(parse_config(cfg))
    assert {decide(router, t).tier for t in models.marked} == {"tier_low"}


def write_config(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def test_validate_accepts_a_good_model(tmp_path: Path, models: Models) -> None:
    rc, out, err = run_cli("validate", str(write_config(tmp_path / "c.yaml", config(models.a))))
    assert rc == 0, err
    assert "learned" in out


@pytest.mark.parametrize("damage", ["missing", "truncated", "text", "empty", "directory",
                                    "npy"])
def test_a_bad_model_is_refused_by_validate_and_at_start(tmp_path: Path, models: Models,
                                                        damage: str) -> None:
    path = tmp_path / "model.npz"
    if damage == "truncated":
        path.write_bytes(models.a.read_bytes()[:1000])
    elif damage == "text":
        path.write_text("weights: lots\n")
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "directory":
        path.mkdir()
    elif damage == "npy":
        with path.open("wb") as handle:
            np.save(handle, np.zeros(8))
    cfg = config(path)
    rc, _, err = run_cli("validate", str(write_config(tmp_path / "c.yaml", cfg)))
    assert rc == 2
    assert str(path) in err
    with pytest.raises(ModelFileError, match="model file"):
        Router(parse_config(cfg))


def test_config_field_validation(models: Models) -> None:
    for bad in ({"model": ""}, {"reload_interval_s": 0}, {"threshold": float("nan")},
                {"above": "tier_nowhere"}, {"weights": {}}):
        rule = {"type": "learned", "model": str(models.a), **bad}
        with pytest.raises(ValueError):
            parse_config({"routing": {"rules": [rule]}})


def replace_with(path: Path, content: bytes) -> None:
    """Atomic replacement, as a deploy would do it."""
    tmp = path.with_name(path.name + ".new")
    tmp.write_bytes(content)
    os.replace(tmp, path)


async def test_reload_if_changed_swaps_the_model(live: Path, models: Models) -> None:
    router = Router(parse_config(config(live)))
    handle = learned_rule(router).handle
    assert await handle.reload_if_changed() is None  # unchanged
    assert routes(router, models.marked) == HIGH
    load_model(models.b).save(live)  # the trainer's own atomic save
    assert await handle.reload_if_changed() is True
    assert routes(router, models.marked) == LOW
    assert routes(router, models.plain) == HIGH
    assert learned_rule(router).threshold == load_model(models.b).threshold
    assert await handle.reload_if_changed() is None


@pytest.mark.parametrize("damage", ["truncated", "text", "deleted", "foreign-npz"])
async def test_a_bad_replacement_keeps_the_old_model(live: Path, models: Models,
                                                      damage: str) -> None:
    router = Router(parse_config(config(live)))
    handle = learned_rule(router).handle
    before = handle.model
    if damage == "truncated":
        replace_with(live, models.b.read_bytes()[:2000])
    elif damage == "text":
        replace_with(live, b"not a model")
    elif damage == "deleted":
        live.unlink()
    else:
        np.savez(live.with_name("foreign.npz"), weights=np.zeros(3))
        os.replace(live.with_name("foreign.npz"), live)
    assert await handle.reload_if_changed() is False
    assert handle.model is before
    assert routes(router, models.marked) == HIGH and routes(router, models.plain) == LOW
    assert await handle.reload_if_changed() is None  # a bad file is tried once
    load_model(models.b).save(live)  # a good file afterwards is picked up
    assert await handle.reload_if_changed() is True
    assert routes(router, models.marked) == LOW


async def test_a_non_archive_numpy_file_keeps_the_old_model(live: Path, models: Models) -> None:
    """A .npy (np.load returns an array, not an archive) must be refused like any bad file."""
    router = Router(parse_config(config(live)))
    handle = learned_rule(router).handle
    tmp = live.with_name("plain.npy")
    np.save(tmp, np.zeros(8))
    os.replace(tmp, live)
    assert await handle.reload_if_changed() is False
    assert routes(router, models.marked) == HIGH


async def wait_metric(router: Router, result: str, at_least: float, timeout_s: float = 5.0
                      ) -> float:
    deadline = time.monotonic() + timeout_s
    value = 0.0
    while time.monotonic() < deadline:
        value = router.metrics.registry.get_sample_value(RELOADS, {"result": result}) or 0.0
        if value >= at_least:
            break
        await asyncio.sleep(0.02)
    return value


async def test_the_routers_watcher_reloads_and_counts(live: Path, models: Models) -> None:
    router = Router(parse_config(config(live, reload_interval_s=0.05)))
    await router.start_background()
    try:
        assert routes(router, models.marked) == HIGH
        replace_with(live, b"PK\x03\x04 broken")
        assert await wait_metric(router, "rejected", 1) == 1
        assert routes(router, models.marked) == HIGH  # the old model keeps routing
        load_model(models.b).save(live)
        assert await wait_metric(router, "applied", 1) == 1
        assert routes(router, models.marked) == LOW and routes(router, models.plain) == HIGH
        np.save(live.with_name("x.npy"), np.zeros(4))
        os.replace(live.with_name("x.npy"), live)
        assert await wait_metric(router, "rejected", 2) == 2
        load_model(models.a).save(live)  # the watcher is still alive
        assert await wait_metric(router, "applied", 2) == 2
        assert routes(router, models.marked) == HIGH
    finally:
        await router.stop_background()
    assert router.metrics.registry.get_sample_value(RELOADS, {"result": "rejected"}) == 2
