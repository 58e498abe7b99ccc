"""The learned model's file: a round trip scores identically; anything truncated, altered,
foreign, of another version, missing or carrying a pickle is refused with ModelFileError."""

from __future__ import annotations

import json
import math
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from extproc.learn.features import FeatureSpec
from extproc.learn.model import FORMAT_VERSION, KIND, LearnedScorer, ModelFileError, load_model
from tests.unit.learn.learned_data import FAST, marker_rows, train, write_jsonl

PROMPTS = [
    "",
    "hi",
    "Prove that there are infinitely many primes.",
    "東京で寿司を食べたい 🍣 \x00 NUL",
    "word " * 3000,
    "\ud800 lone surrogate",
]


def made_scorer(seed: int = 0, spec: FeatureSpec | None = None) -> LearnedScorer:
    """A scorer with random weights (a real one, not trained: file tests need no fitting)."""
    spec = spec or FeatureSpec(hash_bits=12)
    rng = np.random.default_rng(seed)
    n_dense = len(spec.dense_names)
    idf = rng.uniform(1.0, 5.0, spec.dim).astype(np.float32)
    return LearnedScorer(
        spec=spec,
        weights=(rng.normal(size=spec.dim) * idf).astype(np.float32),
        idf=idf,
        dense_mean=rng.normal(size=n_dense),
        dense_scale=rng.uniform(0.5, 2.0, n_dense),
        dense_weights=rng.normal(size=n_dense),
        bias=0.25,
        threshold=0.1,
        manifest={"note": "made by a test"},
    )


@pytest.fixture()
def saved(tmp_path: Path) -> Path:
    path = tmp_path / "model.npz"
    made_scorer().save(path)
    return path


def rewrite(src: Path, dst: Path, *, manifest: Callable[[dict[str, Any]], Any] | None = None,
            arrays: Callable[[dict[str, np.ndarray]], None] | None = None,
            manifest_bytes: bytes | None = None) -> Path:
    """Copy a model archive with its manifest and/or arrays edited (the digest untouched)."""
    with np.load(src, allow_pickle=False) as archive:
        content = {name: archive[name] for name in archive.files}
    doc = json.loads(content["manifest"].tobytes().decode())
    if manifest is not None:
        edited = manifest(doc)
        doc = doc if edited is None else edited
    if arrays is not None:
        arrays(content)
    raw = manifest_bytes if manifest_bytes is not None else json.dumps(doc).encode()
    content["manifest"] = np.frombuffer(raw, dtype=np.uint8)
    np.savez(dst, **content)  # type: ignore[arg-type]
    return dst


def refused(path: Path, *fragments: str) -> str:
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_round_trip_scores_identically(saved: Path) -> None:
    original = made_scorer()
    loaded = load_model(saved)
    for text in PROMPTS:
        assert loaded.score(text) == original.score(text)
    assert loaded.spec == original.spec and loaded.threshold == original.threshold
    manifest = loaded.manifest
    assert manifest["kind"] == KIND and manifest["format_version"] == FORMAT_VERSION
    assert manifest["feature_spec"] == original.spec.to_json()
    assert manifest["note"] == "made by a test"  # the caller's fields are kept
    assert list(saved.parent.iterdir()) == [saved]  # no temp file left behind


def test_round_trip_of_a_trained_model(tmp_path: Path) -> None:
    rows = marker_rows(40)
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    model_path = tmp_path / "m.npz"
    train(data, model_path, *FAST)
    model = load_model(model_path)
    again = tmp_path / "again.npz"
    model.save(again)
    reloaded = load_model(again)
    for text in PROMPTS + [r["prompt"] for r in rows[:10]]:
        assert reloaded.score(text) == model.score(text)
    assert reloaded.manifest == model.manifest
    assert reloaded.threshold == model.threshold


def test_scores_are_finite_for_odd_text(saved: Path) -> None:
    model = load_model(saved)
    for text in [*PROMPTS, "🍣" * 200000, "a" * 3000000]:
        assert math.isfinite(model.score(text))
    spec = FeatureSpec(hash_bits=10, word_ngrams=0, char_ngrams=(2, 3), complexity=True)
    with_complexity = made_scorer(spec=spec)
    path = saved.with_name("c.npz")
    with_complexity.save(path)
    assert load_model(path).score(PROMPTS[2]) == with_complexity.score(PROMPTS[2])


def test_save_replaces_an_existing_file(saved: Path) -> None:
    before = load_model(saved).score("replace me")
    made_scorer(seed=5).save(saved)
    after = load_model(saved)
    assert after.score("replace me") != before
    assert after.score("replace me") == made_scorer(seed=5).score("replace me")


def test_missing_file(tmp_path: Path) -> None:
    refused(tmp_path / "nope.npz", "No such file")


def test_a_directory_is_not_a_model(tmp_path: Path) -> None:
    refused(tmp_path)


@pytest.mark.parametrize("content", [b"", b"hello, not a model\n", b'{"kind": "x"}',
                                     b"PK\x03\x04" + b"\x00" * 40, b"\x93NUMPY" + b"\x00" * 80])
def test_a_file_that_is_not_a_model_archive(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "model.npz"
    path.write_bytes(content)
    refused(path)


def test_a_plain_npy_array(tmp_path: Path) -> None:
    path = tmp_path / "model.npy"
    np.save(path, np.zeros(4))
    refused(path)


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.999])
def test_truncated_file(saved: Path, keep: float) -> None:
    data = saved.read_bytes()
    saved.write_bytes(data[: int(len(data) * keep)])
    refused(saved)


def test_every_flipped_byte_is_refused_or_harmless(saved: Path, tmp_path: Path) -> None:
    """Flip bytes all over the file: loading either fails with ModelFileError or, where the
    byte does not matter (e.g. a zip timestamp), yields the very same model."""
    data = saved.read_bytes()
    reference = load_model(saved)
    step = max(1, len(data) // 300)  # ~300 positions, bounded
    refusals = 0
    target = tmp_path / "flipped.npz"
    for pos in range(0, len(data), step):
        flipped = bytearray(data)
        flipped[pos] ^= 0xFF
        target.write_bytes(bytes(flipped))
        try:
            model = load_model(target)
        except ModelFileError:
            refusals += 1
            continue
        assert np.array_equal(model.weights, reference.weights)
        assert model.threshold == reference.threshold and model.bias == reference.bias
    assert refusals > 0


def test_an_altered_array_fails_the_digest(saved: Path, tmp_path: Path) -> None:
    def bump(arrays: dict[str, np.ndarray]) -> None:
        weights = arrays["weights"].copy()
        weights[7] += 1.0
        arrays["weights"] = weights

    refused(rewrite(saved, tmp_path / "x.npz", arrays=bump), "sha256")

    def shrink(arrays: dict[str, np.ndarray]) -> None:
        arrays["dense_weights"] = arrays["dense_weights"][:-1]

    refused(rewrite(saved, tmp_path / "y.npz", arrays=shrink), "sha256")


def test_a_missing_array(saved: Path, tmp_path: Path) -> None:
    refused(rewrite(saved, tmp_path / "x.npz", arrays=lambda a: a.pop("idf")), "missing", "idf")


@pytest.mark.parametrize("version", [0, 2, "1", None])
def test_wrong_format_version(saved: Path, tmp_path: Path, version: object) -> None:
    def edit(doc: dict[str, Any]) -> None:
        doc["format_version"] = version

    refused(rewrite(saved, tmp_path / "x.npz", manifest=edit), "format_version")


def test_no_format_version(saved: Path, tmp_path: Path) -> None:
    refused(rewrite(saved, tmp_path / "x.npz", manifest=lambda d: d.pop("format_version")),
            "format_version")


@pytest.mark.parametrize("kind", ["something-else", None, 1])
def test_wrong_kind(saved: Path, tmp_path: Path, kind: object) -> None:
    def edit(doc: dict[str, Any]) -> None:
        doc["kind"] = kind

    refused(rewrite(saved, tmp_path / "x.npz", manifest=edit), KIND)


@pytest.mark.parametrize("raw", [b"not json", b"\xff\xfe\x00", b"[1, 2]", b'"text"', b"null"])
def test_a_manifest_that_is_not_a_json_object(saved: Path, tmp_path: Path, raw: bytes) -> None:
    refused(rewrite(saved, tmp_path / "x.npz", manifest_bytes=raw))


@pytest.mark.parametrize("edit", [
    lambda d: d.pop("feature_spec"),
    lambda d: d.pop("bias"),
    lambda d: d.update(threshold="high"),
    lambda d: d.update(threshold=float("nan")),
    lambda d: d.update(bias=float("inf")),
    lambda d: d.update(feature_spec={"hash_bits": 99}),
    lambda d: d.update(feature_spec={"hash_bits": 12, "salt": 1}),
    lambda d: d["feature_spec"].update(hash_bits=13),  # arrays no longer fit the spec
    lambda d: d["feature_spec"].update(complexity=True),  # dense features differ
    lambda d: d.update(dense_names=["other"]),
], ids=["no-spec", "no-bias", "str-threshold", "nan-threshold", "inf-bias", "bad-spec",
        "unknown-spec-key", "spec-dim", "spec-dense", "dense-names"])
def test_a_bad_manifest(saved: Path, tmp_path: Path,
                        edit: Callable[[dict[str, Any]], Any]) -> None:
    def apply(doc: dict[str, Any]) -> dict[str, Any]:
        edit(doc)
        return doc

    refused(rewrite(saved, tmp_path / "x.npz", manifest=apply))


class _Planted:
    """Unpickling this creates a file: proof that a pickle ran."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (str(self.target), "w"))


@pytest.mark.parametrize("where", ["weights", "manifest", "extra"])
def test_a_pickle_bearing_archive_is_refused_unexecuted(saved: Path, tmp_path: Path,
                                                         where: str) -> None:
    planted = tmp_path / "pickle-ran"
    with np.load(saved, allow_pickle=False) as archive:
        content: dict[str, Any] = {name: archive[name] for name in archive.files}
    content[where] = np.array([_Planted(planted)], dtype=object)
    bad = tmp_path / "pickled.npz"
    np.savez(bad, allow_pickle=True, **content)
    with zipfile.ZipFile(bad) as z:  # the archive really holds the pickle
        assert f"{where}.npy" in z.namelist()
    if where == "extra":  # an extra array is never read: the model loads, the pickle stays
        assert load_model(bad).score("x") == load_model(saved).score("x")
    else:
        refused(bad)
    assert not planted.exists()


def test_scorer_refuses_inconsistent_arrays() -> None:
    good = made_scorer()
    with pytest.raises(ModelFileError, match="shape"):
        LearnedScorer(good.spec, good.weights[:-1], good.idf, good.dense_mean, good.dense_scale,
                      good.dense_weights, 0.0, 0.0)
    with pytest.raises(ModelFileError, match="dense_scale"):
        LearnedScorer(good.spec, good.weights, good.idf, good.dense_mean,
                      np.zeros_like(good.dense_scale), good.dense_weights, 0.0, 0.0)
    with pytest.raises(ModelFileError, match="finite"):
        LearnedScorer(good.spec, good.weights, good.idf, good.dense_mean, good.dense_scale,
                      good.dense_weights, float("nan"), 0.0)
