"""Features of the learned scorer: the same indices in every process, bounded work on any
prompt size, no exception on odd text, and the documented head + tail windows."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from extproc.learn.features import FeatureSpec, dense_features, hash_text

ROOT = Path(__file__).resolve().parents[3]
SPEC = FeatureSpec()
TEXTS = [
    "Prove that there are infinitely many primes.",
    "hi",
    "Straße, naïve café — 東京で寿司を食べたい 🍣🍣 and émojis 👩‍👩‍👧",
    "def f(x):\n    return x ** 2  # square\n",
]
ODD = [
    "",
    " ",
    "\x00",
    "\x00" * 1000,
    "a\x00b\x00c",
    "🍣" * 500,
    "\ud800 lone surrogate \udfff",
    "\u200b\u200b zero-width",
    "\n\n\n\t\t",
    "a",
    "x" * 5000,
    "!!!???...",
    "ǅ ß ﬁ İ",  # case mappings that change length
]


def indices(text: str, spec: FeatureSpec = SPEC) -> tuple[list[int], tuple[int, int]]:
    idx, sizes = hash_text(text, spec)
    return idx.tolist(), sizes


def test_indices_are_the_same_in_another_process() -> None:
    """Python's own str hash is salted per process; the features must not depend on it."""
    here = [indices(t) for t in TEXTS]
    script = (
        "import json, sys\n"
        "from extproc.learn.features import FeatureSpec, hash_text\n"
        "texts = json.loads(sys.stdin.read())\n"
        "out = []\n"
        "for t in texts:\n"
        "    idx, sizes = hash_text(t, FeatureSpec())\n"
        "    out.append([idx.tolist(), list(sizes)])\n"
        "print(json.dumps(out))\n"
    )
    for seed in ("1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        proc = subprocess.run([sys.executable, "-c", script], input=json.dumps(TEXTS),
                              capture_output=True, text=True, env=env, timeout=60, check=True)
        there = [(idx, (sizes[0], sizes[1])) for idx, sizes in json.loads(proc.stdout)]
        assert there == here


def test_different_texts_get_different_indices_and_case_is_folded() -> None:
    a, b = indices("the quick brown fox"), indices("the quick brown cat")
    assert a != b
    assert indices("The QUICK Brown FOX") == a
    # indices fall inside the hashed space
    for text in TEXTS:
        idx, _ = hash_text(text, SPEC)
        assert idx.dtype == np.uint64
        assert idx.size == 0 or (idx.min() >= 0 and idx.max() < SPEC.dim)


def test_sizes_count_the_words_and_the_character_n_grams() -> None:
    spec = FeatureSpec(hash_bits=12, word_ngrams=2, char_ngrams=(3, 5))
    idx, (n_words, n_chars) = hash_text("alpha beta gamma", spec)
    assert n_words == 3 + 2  # three words, two bigrams
    n = len("alpha beta gamma")
    assert n_chars == (n - 2) + (n - 3) + (n - 4)  # 3-, 4- and 5-grams
    assert idx.size == n_words + n_chars
    unigrams = FeatureSpec(hash_bits=12, word_ngrams=1, char_ngrams=(0, 0))
    assert hash_text("alpha beta gamma", unigrams)[1] == (3, 0)
    # the same word gives the same index wherever it stands
    words, _ = hash_text("beta alpha beta", unigrams)
    assert words[0] == words[2] != words[1]


def test_a_multi_megabyte_prompt_costs_a_bounded_number_of_indices() -> None:
    spec = SPEC
    lo, hi = spec.char_ngrams
    word_bound = 2 * (spec.max_chars // 2 + 2)  # words (≤ one per 2 bytes) + bigrams
    char_bound = (hi - lo + 1) * spec.char_window
    block = "Explain the proof step by step, then write the code. 東京 🍣\n"
    sizes_seen = []
    for repeat in (100, 10_000, 80_000):  # ~6 kB, ~600 kB, ~5 MB
        text = block * repeat
        idx, (n_words, n_chars) = hash_text(text, spec)
        assert idx.size == n_words + n_chars
        assert n_words <= word_bound and n_chars <= char_bound
        sizes_seen.append(idx.size)
        dense = dense_features(text, spec)
        assert len(dense) == len(spec.dense_names) and all(math.isfinite(v) for v in dense)
    # past the window the work no longer grows with the text
    assert sizes_seen[1] == sizes_seen[2]
    # the length feature still sees the whole prompt
    assert dense_features(block * 80_000, spec)[0] > dense_features(block * 10_000, spec)[0]


@pytest.mark.parametrize("text", ODD, ids=[repr(t)[:20] for t in ODD])
def test_odd_text_never_raises(text: str) -> None:
    for spec in (SPEC, FeatureSpec(hash_bits=10, word_ngrams=0, char_ngrams=(2, 8)),
                 FeatureSpec(hash_bits=12, word_ngrams=1, char_ngrams=(0, 0),
                             complexity=True)):
        idx, (n_words, n_chars) = hash_text(text, spec)
        assert idx.size == n_words + n_chars
        assert idx.size == 0 or (idx.min() >= 0 and idx.max() < spec.dim)
        dense = dense_features(text, spec)
        assert len(dense) == len(spec.dense_names)
        assert all(math.isfinite(v) for v in dense)


def test_empty_text_has_no_indices() -> None:
    idx, sizes = hash_text("", SPEC)
    assert idx.size == 0 and sizes == (0, 0)
    assert hash_text("   \n\t ", FeatureSpec(char_ngrams=(0, 0)))[0].size == 0


def _text_of_bytes(n: int, tag: str = "w") -> str:
    """ASCII words, exactly `n` bytes."""
    words = " ".join(f"{tag}{i}" for i in range(n))
    return words[:n]


def test_max_chars_window_keeps_head_and_tail() -> None:
    """Past `max_chars` bytes only the head and the tail are read: the middle is free."""
    spec = FeatureSpec(hash_bits=16, max_chars=1024, char_window=256)
    head, tail = _text_of_bytes(2000, "h"), _text_of_bytes(2000, "t")
    a = hash_text(head + " middle one " * 200 + tail, spec)
    b = hash_text(head + " other stuff " * 300 + tail, spec)
    assert a[0].tolist() == b[0].tolist() and a[1] == b[1]
    changed_head = hash_text("zzz " + head[4:] + " middle one " * 200 + tail, spec)
    changed_tail = hash_text(head + " middle one " * 200 + tail[:-4] + " zzz", spec)
    assert changed_head[0].tolist() != a[0].tolist()
    assert changed_tail[0].tolist() != a[0].tolist()


def test_char_window_is_narrower_than_the_word_window() -> None:
    """Between `char_window` and `max_chars` the middle changes the words, not the chars."""
    spec = FeatureSpec(hash_bits=16, max_chars=4096, char_window=256)
    head, tail = _text_of_bytes(400, "h"), _text_of_bytes(400, "t")
    a_idx, (a_words, a_chars) = hash_text(head + " alpha beta gamma " + tail, spec)
    b_idx, (b_words, b_chars) = hash_text(head + " delta epsil zetaa " + tail, spec)
    assert a_words == b_words and a_chars == b_chars
    assert a_idx[:a_words].tolist() != b_idx[:b_words].tolist()
    assert a_idx[a_words:].tolist() == b_idx[b_words:].tolist()
    assert a_chars <= 3 * spec.char_window


def test_dense_features_follow_the_text() -> None:
    short, long = dense_features("one line", SPEC), dense_features("one\n" * 50 + "x " * 50, SPEC)
    assert long[0] > short[0] and long[1] > short[1] and long[2] > short[2]
    with_complexity = FeatureSpec(complexity=True)
    values = dense_features(TEXTS[0], with_complexity)
    assert len(values) == len(with_complexity.dense_names) > len(SPEC.dense_names)


def test_spec_round_trips_and_refuses_bad_values() -> None:
    spec = FeatureSpec(hash_bits=14, word_ngrams=1, char_ngrams=(2, 4), max_chars=2048,
                       char_window=512, complexity=True)
    assert FeatureSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec
    assert spec.dim == 1 << 14
    for bad in ({"hash_bits": 9}, {"hash_bits": 25}, {"word_ngrams": 3},
                {"char_ngrams": (1, 3)}, {"char_ngrams": (4, 3)}, {"char_ngrams": (2, 9)},
                {"max_chars": 100, "char_window": 200}, {"char_window": 10}):
        with pytest.raises(ValueError):
            FeatureSpec(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown"):
        FeatureSpec.from_json({"hash_bits": 12, "salt": 3})


def test_hashing_is_stable_for_a_fixed_input() -> None:
    """Two calls (and a fresh spec object) agree, and the arrays are not shared buffers."""
    first, _ = hash_text(TEXTS[2], FeatureSpec())
    second, _ = hash_text(TEXTS[2], FeatureSpec())
    assert np.array_equal(first, second)
    first[:] = 0
    assert not np.array_equal(first, hash_text(TEXTS[2], FeatureSpec())[0])
