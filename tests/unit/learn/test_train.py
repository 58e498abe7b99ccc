"""`extproc-router train`: learns a planted signal, writes a complete manifest, takes both row
shapes, and refuses bad data with exit 2 and a message that names the line."""

from __future__ import annotations

import hashlib
import json
import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from extproc.learn.features import FeatureSpec
from extproc.learn.model import FORMAT_VERSION, load_model
from tests.unit.learn.learned_data import (
    FAST,
    MARKER,
    marker_rows,
    prompt,
    run_cli,
    train,
    write_jsonl,
)

N = 120


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    """One training run with the default feature spec (data, model, --json report)."""
    tmp = tmp_path_factory.mktemp("train")
    data = write_jsonl(tmp / "outcomes.jsonl", marker_rows(N))
    model = tmp / "model.npz"
    return data, model, train(data, model, "--folds", "3")


def all_group(report: dict[str, Any]) -> dict[str, Any]:
    group: dict[str, Any] = report["groups"][0]
    assert group["group"] == "ALL"
    return group


def test_learns_the_marker_signal(trained: tuple[Path, Path, dict[str, Any]]) -> None:
    _, model_path, out = trained
    row = all_group(out["report"])
    assert row["n"] == N
    assert row["apgr_random"] == 0.5
    assert row["apgr"] > 0.6, row  # cross-validated, on rows the fold did not see
    assert row["apgr"] > row["apgr_length"] + 0.05, row
    assert row["apgr"] <= row["apgr_oracle"] + 1e-9
    assert {g["group"] for g in out["report"]["groups"]} == {"ALL", "a", "b"}
    # the final model puts marker prompts above the rest
    model = load_model(model_path)
    rng = random.Random(99)
    marked = [model.score(prompt(rng, True, 6, 8)) for _ in range(30)]
    plain = [model.score(prompt(rng, False, 6, 8)) for _ in range(30)]
    assert np.mean(marked) > np.mean(plain) + 0.2


def test_manifest_fields(trained: tuple[Path, Path, dict[str, Any]]) -> None:
    data, model_path, out = trained
    model = load_model(model_path)
    m = model.manifest
    assert m["format_version"] == FORMAT_VERSION
    assert m["feature_spec"] == FeatureSpec().to_json()
    assert m["training_data"]["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert m["training_data"]["rows"] == N and m["training_data"]["paired"] == N
    assert m["training_data"]["single"] == 0
    assert m["tiers"] == {"weak": "tier_low", "strong": "tier_high"}
    assert m["strong_share"] == 0.3
    cv = m["cross_validation"]
    assert cv["folds"] == 3
    assert cv["report"] == out["report"]
    assert cv["curve"]["share"][0] == 0.0 and cv["curve"]["share"][-1] == 1.0
    assert len(cv["curve"]["pgr"]) == len(cv["curve"]["share"])
    assert cv["length_curve"] is not None
    # threshold: the model's, the report's and the printed one agree, and it sends about the
    # requested share of the cross-validated scores up
    assert model.threshold == m["threshold"] == out["threshold"] == cv["report"]["threshold"]
    share = all_group(cv["report"])["strong_share"]
    assert abs(share - 0.3) <= 2 / N, share


@pytest.mark.parametrize("share", ["0.1", "0.5", "0.8"])
def test_threshold_follows_the_strong_share(tmp_path: Path, share: str) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", marker_rows(60))
    out = train(data, tmp_path / "m.npz", *FAST, "--strong-share", share)
    got = all_group(out["report"])["strong_share"]
    assert abs(got - float(share)) <= 2 / 60, (share, got)
    assert load_model(tmp_path / "m.npz").manifest["strong_share"] == float(share)


def test_training_is_deterministic(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", marker_rows(40))
    first = train(data, tmp_path / "a.npz", *FAST)
    second = train(data, tmp_path / "b.npz", *FAST)
    assert first["report"] == second["report"] and first["threshold"] == second["threshold"]
    a, b = load_model(tmp_path / "a.npz"), load_model(tmp_path / "b.npz")
    assert a.manifest["arrays_sha256"] == b.manifest["arrays_sha256"]


def test_human_output(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", marker_rows(40))
    rc, out, err = run_cli("train", str(data), "--out", str(tmp_path / "m.npz"), *FAST)
    assert rc == 0, err
    assert "40 rows (40 paired, 0 single-tier)" in out
    assert "APGR" in out and "ALL" in out and f"wrote {tmp_path / 'm.npz'}" in out


def single_tier_rows(n: int, seed: int = 3, weak: str = "tier_low",
                     strong: str = "tier_high") -> list[dict[str, Any]]:
    """One tier judged per prompt: the weak tier fails marker prompts, everything else 1."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        marked = i % 2 == 0
        tier = weak if (i // 2) % 2 == 0 else strong
        score = 0.0 if (marked and tier == weak) else 1.0
        rows.append({"prompt": prompt(rng, marked), "tier": tier, "score": score})
    return rows


def test_single_tier_rows_only(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", single_tier_rows(80))
    out = train(data, tmp_path / "m.npz", *FAST)
    assert out["report"] is None  # no paired rows: no curve to cross-validate
    assert any("paired rows" in note for note in out["notes"])
    model = load_model(tmp_path / "m.npz")
    m = model.manifest
    assert m["training_data"]["single"] == 80 and m["training_data"]["paired"] == 0
    assert m["cross_validation"] is None and math.isfinite(model.threshold)
    rng = random.Random(5)
    marked = [model.score(prompt(rng, True, 6, 8)) for _ in range(30)]
    plain = [model.score(prompt(rng, False, 6, 8)) for _ in range(30)]
    assert np.mean(marked) > np.mean(plain)  # learned from the weak tier's failures


def test_mixed_rows_custom_tier_names_and_skipped_tiers(tmp_path: Path) -> None:
    rows: list[Any] = marker_rows(40)
    rows += single_tier_rows(20, weak="small", strong="big")
    rows += [{"prompt": "judged elsewhere", "tier": "tier_mid", "score": 0.5}] * 3
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    out = train(data, tmp_path / "m.npz", *FAST, "--weak", "small", "--strong", "big")
    assert "3 rows of tier 'tier_mid' skipped" in " ".join(out["notes"])
    assert all_group(out["report"])["n"] == 40  # curves score the paired rows only
    m = load_model(tmp_path / "m.npz").manifest
    assert m["tiers"] == {"weak": "small", "strong": "big"}
    assert m["training_data"]["rows"] == 63


@pytest.mark.parametrize("tier", ["tier_low", "tier_high"])
def test_only_one_tier_is_refused(tmp_path: Path, tier: str) -> None:
    rows = [{"prompt": f"prompt {i}", "tier": tier, "score": (i % 2) * 1.0} for i in range(20)]
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    rc, _, err = run_cli("train", str(data), "--out", str(tmp_path / "m.npz"), *FAST)
    assert rc == 2
    assert "both tiers" in err and "20 rows" in err
    assert not (tmp_path / "m.npz").exists()


@pytest.mark.parametrize("content", ["", "\n\n   \n"])
def test_empty_file(tmp_path: Path, content: str) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text(content)
    rc, _, err = run_cli("train", str(data), "--out", str(tmp_path / "m.npz"))
    assert rc == 2 and "no outcome rows" in err


def test_missing_file(tmp_path: Path) -> None:
    rc, _, err = run_cli("train", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "m"))
    assert rc == 2 and "cannot read" in err


@pytest.mark.parametrize(("bad", "says"), [
    ("{not json", "invalid JSON"),
    ('{"prompt": "x", "q_weak": 1.5, "q_strong": 1}', "q_weak"),
    ('{"prompt": "x", "q_weak": 0.5}', "q_strong"),
    ('{"prompt": 3, "q_weak": 0, "q_strong": 1}', "prompt"),
    ('{"prompt": "x", "tier": "tier_low"}', "score"),
    ("[1, 2]", "JSON object"),
])
def test_a_bad_line_is_named(tmp_path: Path, bad: str, says: str) -> None:
    rows: list[Any] = marker_rows(6)
    rows.insert(4, bad)  # line 5
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    rc, _, err = run_cli("train", str(data), "--out", str(tmp_path / "m.npz"))
    assert rc == 2
    assert f"{data}:5:" in err and says in err, err
    assert not (tmp_path / "m.npz").exists()


def test_invalid_utf8_line_is_named(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", marker_rows(4))
    data.write_bytes(data.read_bytes() + b'{"prompt": "\xff\xfe", "q_weak": 0, "q_strong": 1}\n')
    rc, _, err = run_cli("train", str(data), "--out", str(tmp_path / "m.npz"))
    assert rc == 2 and f"{data}:5:" in err and "UTF-8" in err


@pytest.mark.parametrize(("q_weak", "q_strong"), [(1.0, 1.0), (0.0, 1.0), (0.4, 0.4)])
def test_single_class_data_trains(tmp_path: Path, q_weak: float, q_strong: float) -> None:
    """Every row has the same gain: nothing to learn, but no crash and a usable file."""
    rows = [dict(r, q_weak=q_weak, q_strong=q_strong) for r in marker_rows(30)]
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    out = train(data, tmp_path / "m.npz", *FAST)
    model = load_model(tmp_path / "m.npz")
    assert math.isfinite(model.threshold) and math.isfinite(out["threshold"])
    for r in rows[:5]:
        assert math.isfinite(model.score(r["prompt"]))


def test_too_few_rows_for_the_folds(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", marker_rows(5))  # < 2 × 3 folds
    out = train(data, tmp_path / "m.npz", *FAST)
    assert out["report"] is None and any("paired rows" in n for n in out["notes"])
    assert math.isfinite(load_model(tmp_path / "m.npz").threshold)


def test_a_multi_megabyte_prompt_row_trains(tmp_path: Path) -> None:
    rows: list[Any] = marker_rows(30)
    huge = "Summarise this log line by line. " + "error at step 12; retrying. " * 110_000
    assert len(huge) > 3_000_000
    rows.append({"prompt": huge, "q_weak": 0.2, "q_strong": 0.9})
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    out = train(data, tmp_path / "m.npz", *FAST)
    model = load_model(tmp_path / "m.npz")
    assert model.manifest["training_data"]["rows"] == 31
    assert all_group(out["report"])["n"] == 31
    assert math.isfinite(model.score(huge))


@pytest.mark.parametrize("share", ["0", "1", "-0.1", "1.5", "nan"])
def test_strong_share_out_of_range(tmp_path: Path, share: str) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", marker_rows(20))
    rc, _, err = run_cli("train", str(data), "--out", str(tmp_path / "m.npz"),
                         f"--strong-share={share}")
    assert rc == 2 and "--strong-share" in err
    assert not (tmp_path / "m.npz").exists()


def test_strong_share_not_a_number(tmp_path: Path) -> None:
    rc, _, err = run_cli("train", "d.jsonl", "--out", str(tmp_path / "m.npz"),
                         "--strong-share", "lots")
    assert rc == 2 and "strong-share" in err


@pytest.mark.parametrize("folds", ["1", "21"])
def test_folds_out_of_range(tmp_path: Path, folds: str) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", marker_rows(20))
    rc, _, err = run_cli("train", str(data), "--out", str(tmp_path / "m.npz"), "--folds", folds)
    assert rc == 2 and "--folds" in err


def test_unwritable_output(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", marker_rows(12))
    target = tmp_path / "no" / "such" / "dir" / "m.npz"
    rc, _, err = run_cli("train", str(data), "--out", str(target), *FAST)
    assert rc == 2 and "cannot write" in err


def test_bad_hash_bits(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", marker_rows(12))
    rc, _, err = run_cli("train", str(data), "--out", str(tmp_path / "m.npz"), "--hash-bits", "40")
    assert rc == 2 and "hash_bits" in err


def test_the_report_is_json_serialisable_and_names_the_marker_file(
        trained: tuple[Path, Path, dict[str, Any]]) -> None:
    data, model_path, out = trained
    assert out["model"] == str(model_path)
    assert load_model(model_path).manifest["training_data"]["path"] == data.name
    json.dumps(load_model(model_path).manifest, allow_nan=False)
    assert MARKER not in json.dumps(load_model(model_path).manifest)  # no prompts in the file
