"""Learned scorers with sentence-embedding features: training, the file, and the live path
(the semantic layer's vector reaching the rule through the stream handler).

Most tests use the numpy hashing embedder (`classifier.model: hashing`), so they need no
torch; one trains on the bundled MiniLM when the semantic extra is installed.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from extproc.config import parse_config
from extproc.decision.learned import LearnedThresholdRule
from extproc.learn.embedding import embed_all, embedder_for
from extproc.learn.model import LearnedScorer, load_model
from extproc.learn.scoring import scorer_for
from extproc.router import Router
from extproc.wire.stream import StreamHandler
from tests.helpers import request_body, request_headers
from tests.unit.learn.learned_data import (
    FAST,
    marker_rows,
    run_cli,
    split_prompts,
    train,
    write_jsonl,
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], list[Any]]:
    tmp = tmp_path_factory.mktemp("embedding")
    rows = marker_rows(120, seed=3)
    data = write_jsonl(tmp / "rows.jsonl", rows)
    model = tmp / "model.npz"
    report = train(data, model, *FAST, "--embedding-features", "--embedding-model", "hashing")
    return model, report, rows


def config(model: Path, classifier_model: str | None = "hashing") -> dict[str, Any]:
    doc: dict[str, Any] = {"routing": {"rules": [{"type": "learned", "model": str(model)}]}}
    if classifier_model is not None:
        doc["classifier"] = {"model": classifier_model}
    return doc


def test_the_manifest_names_the_embedder_and_its_dimensions(trained: Any) -> None:
    path, report, _ = trained
    model = load_model(path)
    assert model.spec.embedding == "hashing"
    assert model.spec.embedding_dim == embedder_for("hashing").dim
    assert model.needs_vector
    assert model.manifest["dense_names"][-1] == f"embedding.{model.spec.embedding_dim - 1}"
    assert report["report"]["groups"][0]["apgr"] > 0.6  # the marker is learnable


def test_without_a_vector_the_embedding_takes_its_training_mean(trained: Any) -> None:
    path, _, rows = trained
    model: LearnedScorer = load_model(path)
    k = len(model.spec.text_dense_names)
    mean_vector = model.dense_mean[k:]
    embedder = embedder_for("hashing")
    for text in [r["prompt"] for r in rows[:6]]:
        imputed = model.score(text)
        assert imputed == pytest.approx(model.score(text, mean_vector), abs=1e-9)
        real = model.score(text, embedder.embed([text])[0])
        assert real != pytest.approx(imputed, abs=1e-9)  # the vector does move the score
    wrong_shape = np.zeros(3)
    assert model.score("x", wrong_shape) == model.score("x")  # ignored, never raises


def test_offline_scoring_embeds_like_training(trained: Any) -> None:
    path, _, rows = trained
    scorer = scorer_for(parse_config(config(path)))
    model = load_model(path)
    embedder = embedder_for("hashing")
    texts = [r["prompt"] for r in rows[:8]]
    vectors = embed_all(embedder, texts)
    for text, vector in zip(texts, vectors, strict=True):
        assert scorer.score_text(text) == pytest.approx(model.score(text, vector), abs=1e-9)


def test_a_model_for_another_embedder_is_refused(trained: Any, tmp_path: Path) -> None:
    path, _, _ = trained
    with pytest.raises(ValueError, match=r"classifier\.model"):
        Router(parse_config(config(path, classifier_model=None)))  # bundled MiniLM instead
    cfg = tmp_path / "router.yaml"
    cfg.write_text(json.dumps(config(path, classifier_model=None)))
    rc, _, err = run_cli("validate", str(cfg))
    assert rc == 2 and "trained on 'hashing' embeddings" in err


def test_the_router_runs_its_semantic_layer_for_the_rule(trained: Any) -> None:
    path, _, _ = trained
    router = Router(parse_config(config(path)))
    assert router.semantic.wanted  # no classifier or semantic cache configured
    plain = Router(parse_config({"classifier": {"model": "hashing"}}))
    assert not plain.semantic.wanted


async def _decide(router: Router, text: str) -> Any:
    handler = StreamHandler(router)
    handler.handle(request_headers())
    body = orjson.dumps({"model": "auto", "messages": [{"role": "user", "content": text}]})
    result = handler.handle(request_body(body))
    if inspect.isawaitable(result):
        await result
    return handler.decision


async def test_the_stream_passes_the_vector_to_the_rule(trained: Any) -> None:
    path, _, rows = trained
    router = Router(parse_config(config(path)))
    await router.start_background()
    try:
        assert router.semantic.active
        rule = next(r for r in router.pipeline.rules if isinstance(r, LearnedThresholdRule))
        model = rule.handle.model
        embedder = embedder_for("hashing")
        marked, plain = split_prompts(rows, 4)
        for text in marked + plain:
            decision = await _decide(router, text)
            want = model.score(text, embedder.embed([text])[0])
            assert decision.rule == "learned"
            assert decision.score == pytest.approx(want, abs=1e-6)
            assert decision.score != pytest.approx(model.score(text), abs=1e-9)
    finally:
        await router.stop_background()


def test_training_needs_a_loadable_embedder(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "rows.jsonl", marker_rows(40))
    rc, _, err = run_cli("train", str(data), "--out", str(tmp_path / "m.npz"),
                         "--embedding-features", "--embedding-model", str(tmp_path / "nope"))
    assert rc == 2 and "--embedding-features" in err
    assert not (tmp_path / "m.npz").exists()


def test_bundled_minilm_features_train_and_score(tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers")
    try:
        embedder = embedder_for("bundled")
    except RuntimeError as exc:  # model files missing
        pytest.skip(str(exc))
    data = write_jsonl(tmp_path / "rows.jsonl", marker_rows(60, seed=5))
    out = tmp_path / "m.npz"
    report = train(data, out, *FAST, "--embedding-features")
    model = load_model(out)
    assert model.spec.embedding == "bundled" and model.spec.embedding_dim == embedder.dim
    assert report["report"]["groups"][0]["apgr"] > 0.55
    scorer = scorer_for(parse_config({"routing": {"rules": [{"type": "learned",
                                                             "model": str(out)}]}}))
    text = "a quasar near the river"
    assert scorer.score_text(text) == pytest.approx(
        model.score(text, embedder.embed([text])[0]), abs=1e-6)
