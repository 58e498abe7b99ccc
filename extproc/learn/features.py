"""Prompt features for learned scorers: hashed word and character n-grams plus dense
features, computed with numpy only, identically at training and at routing time.

Hashing is done with our own arithmetic, not Python's ``hash`` (salted per process):

* text → UTF-8 bytes with ASCII letters lower-cased, head + tail windowed to ``max_chars``
  characters and then bytes, so the cost is bounded whatever the prompt size;
* **words** are runs of ``[a-z0-9_]`` or non-ASCII bytes. A word's hash is a polynomial hash
  of its bytes, taken from one prefix sum over the whole text (``(S[end] − S[start]) ·
  P^−start`` mod 2^64; P is odd, so the inverse exists), so no Python loop runs per word;
* **word bigrams** combine neighbouring word hashes; **character n-grams** are rolling
  polynomial hashes over a ``char_window``-byte head + tail of the text;
* the kinds need no salt: a word's hash sums its bytes lowest power first and a character
  n-gram's highest power first, and n-grams of different n are polynomials of different
  degree, so their values collide only by chance; each hash keeps the top ``hash_bits`` bits
  of its product with 2^64/φ (Fibonacci hashing).

Each *group* (words, chars) is one bag of indices. With per-index ``idf`` weights, a group's
value vector is ``x_j = idf_j · count_j / sqrt(Σ_occurrences idf²)``: a tf-idf vector scaled
by a norm that counts every occurrence once, which a linear model evaluates as a gather and
a sum (`LearnedScorer` in ``model.py``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.intp]
HashArray = npt.NDArray[np.uint64]  # hashed feature indices (numpy's take accepts them as is)
FloatArray = npt.NDArray[np.float64]

GROUPS: tuple[str, ...] = ("words", "chars")
DENSE_BASE: tuple[str, ...] = ("log_chars", "log_lines", "log_spaces")

_U64 = np.uint64
_P = _U64(1099511628211)  # FNV prime: odd, so invertible mod 2^64
_GOLDEN = _U64(0x9E3779B97F4A7C15)  # Fibonacci hashing: the top bits of x · 2^64/φ
_WORD_BYTES = frozenset(b"0123456789abcdefghijklmnopqrstuvwxyz_") | frozenset(range(128, 256))
_NON_WORD_TO_ZERO = bytes(c if c in _WORD_BYTES else 0 for c in range(256))
_EMPTY_U64 = np.empty(0, dtype=np.uint64)


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """Which features a model reads; stored in its manifest."""

    hash_bits: int = 16  # 64 Ki indices: 512 KiB of weights, cache-friendly; no loss measured vs 19
    word_ngrams: int = 2  # 1 = words, 2 = words + bigrams
    char_ngrams: tuple[int, int] = (3, 5)  # inclusive range; (0, 0) = none
    max_chars: int = 4096  # bytes of (head + tail) text analysed
    char_window: int = 512  # bytes of (head + tail) text for character n-grams (no loss vs 1024)
    complexity: bool = False  # the rule scorer's 12 dimensions as dense features
    # sentence embedding of the prompt (semantic extra): "" = none, "bundled" = the packaged
    # all-MiniLM-L6-v2, else the model path; the router's semantic layer must use the same one
    embedding: str = ""
    embedding_dim: int = 0

    def __post_init__(self) -> None:
        if not 10 <= self.hash_bits <= 24:
            raise ValueError(f"hash_bits must be in [10, 24], got {self.hash_bits}")
        if self.word_ngrams not in (0, 1, 2):
            raise ValueError(f"word_ngrams must be 0, 1 or 2, got {self.word_ngrams}")
        lo, hi = self.char_ngrams
        if (lo, hi) != (0, 0) and not 2 <= lo <= hi <= 8:
            raise ValueError(f"char_ngrams must be (0, 0) or 2 <= lo <= hi <= 8, got {lo, hi}")
        if not 64 <= self.char_window <= self.max_chars <= 1 << 20:
            raise ValueError("need 64 <= char_window <= max_chars <= 1 MiB")
        if bool(self.embedding) != (self.embedding_dim > 0) or not 0 <= self.embedding_dim <= 8192:
            raise ValueError("embedding and embedding_dim (1..8192) go together")

    @property
    def dim(self) -> int:
        return 1 << self.hash_bits

    @property
    def text_dense_names(self) -> tuple[str, ...]:
        """Dense features computed from the text (`dense_features`)."""
        if not self.complexity:
            return DENSE_BASE
        from extproc.signals.complexity import DIMENSIONS

        return DENSE_BASE + tuple(f"complexity.{d}" for d in DIMENSIONS)

    @property
    def dense_names(self) -> tuple[str, ...]:
        """All dense features: the text ones, then the embedding's dimensions."""
        return self.text_dense_names + tuple(
            f"embedding.{i}" for i in range(self.embedding_dim)
        )

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["char_ngrams"] = list(self.char_ngrams)
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> FeatureSpec:
        known = {"hash_bits", "word_ngrams", "char_ngrams", "max_chars", "char_window",
                 "complexity", "embedding", "embedding_dim"}
        unknown = set(doc) - known
        if unknown:
            raise ValueError(f"unknown feature spec keys {sorted(unknown)}")
        args = dict(doc)
        if "char_ngrams" in args:
            lo, hi = args["char_ngrams"]
            args["char_ngrams"] = (int(lo), int(hi))
        return cls(**args)


def _powers(base: int, n: int) -> npt.NDArray[np.uint64]:
    out = np.empty(n, dtype=np.uint64)
    value = 1
    for i in range(n):  # exact modular powers (numpy's cumprod would do the same, with warnings)
        out[i] = value
        value = (value * base) & 0xFFFFFFFFFFFFFFFF
    return out


class _Tables:
    """Powers of P and P⁻¹ up to the largest window, built once per size."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.pow = _powers(int(_P), size + 2)
        self.inv_pow = _powers(pow(int(_P), -1, 1 << 64), size + 2)


_tables: _Tables = _Tables(4096)


def _tables_for(size: int) -> _Tables:
    global _tables
    if _tables.size < size:
        _tables = _Tables(size)
    return _tables


def _window(data: bytes, limit: int) -> bytes:
    if len(data) <= limit:
        return data
    half = limit // 2
    return data[:half] + b" " + data[len(data) - (limit - half - 1):]


def _bucket(x: npt.NDArray[np.uint64], shift: np.uint64) -> HashArray:
    return (x * _GOLDEN) >> shift  # type: ignore[no-any-return]


def _word_hashes(data: bytes, tables: _Tables) -> npt.NDArray[np.uint64]:
    """One polynomial hash per word, vectorised (see the module docstring).

    Non-word bytes become 0, so a segment sum from one word's start to the next word's
    start adds nothing past the word's end: one ``add.reduceat`` hashes every word."""
    codes = np.frombuffer(b"\0" + data.translate(_NON_WORD_TO_ZERO), dtype=np.uint8)
    is_word = codes != 0
    starts = np.flatnonzero(is_word[1:] & ~is_word[:-1])  # word starts, as indices into data
    if starts.size == 0:
        return _EMPTY_U64
    terms = codes[1:].astype(np.uint64) * tables.pow[: len(data)]
    return np.add.reduceat(terms, starts) * tables.inv_pow[starts]  # type: ignore[no-any-return]


def hash_text(text: str, spec: FeatureSpec) -> tuple[HashArray, tuple[int, int]]:
    """Hashed n-gram indices of `text`: words first, then chars; and the two group sizes."""
    if len(text) > spec.max_chars:  # window before encoding: a multi-MB prompt costs O(window)
        half = spec.max_chars // 2
        text = text[:half] + " " + text[len(text) - half:]
    # bytes.lower() folds ASCII letters only, at a tenth of str.lower()'s cost on non-ASCII text
    data = _window(text.encode("utf-8", "replace").lower(), spec.max_chars)
    tables = _tables_for(len(data) + 2)
    parts: list[npt.NDArray[np.uint64]] = []
    n_words = 0
    if spec.word_ngrams:
        words = _word_hashes(data, tables)
        parts.append(words)
        if spec.word_ngrams == 2 and words.size > 1:
            parts.append(words[:-1] * _P + words[1:])
        n_words = sum(p.size for p in parts)
    lo, hi = spec.char_ngrams
    if hi:
        chars = np.frombuffer(_window(data, spec.char_window), dtype=np.uint8).astype(np.uint64)
        acc = chars
        for n in range(2, hi + 1):
            if acc.size < 2:
                break
            acc = acc[:-1] * _P + chars[n - 1:]
            if n >= lo:
                parts.append(acc)
    if not parts:
        return _EMPTY_U64, (0, 0)
    joined = np.concatenate(parts) if len(parts) > 1 else parts[0]
    return _bucket(joined, _U64(64 - spec.hash_bits)), (n_words, joined.size - n_words)


def dense_features(text: str, spec: FeatureSpec) -> list[float]:
    """Text dense features in ``spec.text_dense_names`` order (not standardised)."""
    n_chars = len(text)
    head = text if n_chars <= spec.max_chars else text[: spec.max_chars]
    # lines and spaces of the analysed head, scaled up to the whole text
    scale = n_chars / len(head) if head else 1.0
    out = [
        math.log1p(n_chars),
        math.log1p(head.count("\n") * scale),
        math.log1p(head.count(" ") * scale),
    ]
    if spec.complexity:
        from extproc.signals.complexity import ComplexityScorer

        out.extend(_complexity_scorer(ComplexityScorer).score(text).values)
    return out


_COMPLEXITY: Any = None


def _complexity_scorer(cls: Any) -> Any:
    global _COMPLEXITY
    if _COMPLEXITY is None:
        _COMPLEXITY = cls()
    return _COMPLEXITY


def group_norms(indices: HashArray, sizes: tuple[int, int], idf: FloatArray) -> tuple[float, float]:
    """Each group's norm ``sqrt(Σ idf²)`` over its occurrences (1.0 for an empty group)."""
    g = idf[indices]
    g2 = g * g
    n_words = sizes[0]
    words = float(g2[:n_words].sum()) if n_words else 0.0
    chars = float(g2[n_words:].sum()) if sizes[1] else 0.0
    return (math.sqrt(words) or 1.0, math.sqrt(chars) or 1.0)
