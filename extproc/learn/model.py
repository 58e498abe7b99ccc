"""A learned scorer and its file: predicted quality gain of the strong tier over the weak
one for a prompt; higher means the prompt needs the strong tier more.

The model is linear in the features of ``features.py``::

    score = bias + word_scale · Σ_words v[i] / norm_words + Σ_chars v[i] / norm_chars
                 + dense_std · w_dense

where ``v = w · idf`` is folded at training time, so scoring is one gather and a few sums.

File format (``FORMAT_VERSION`` 1): a numpy ``.npz`` archive (no pickles) holding
``manifest`` (UTF-8 JSON bytes), ``weights`` and ``idf`` (float32, ``2**hash_bits``) and
``dense_mean``, ``dense_scale``, ``dense_weights`` (float64). The manifest records the
format version, the feature spec, the bias and threshold, the training data's sha256 and row
count, the cross-validated figures, and the sha256 of the arrays, so a truncated or altered
file is refused rather than routed by.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from extproc.learn.features import FeatureSpec, dense_features, hash_text

FORMAT_VERSION = 1
KIND = "extproc-router/learned-scorer"
_ARRAYS = ("weights", "idf", "dense_mean", "dense_scale", "dense_weights")
MAX_MODEL_BYTES = 512 * 1024 * 1024


class ModelFileError(ValueError):
    """A model file that is missing, unreadable, corrupt or of an unknown format."""


def _digest(arrays: Mapping[str, npt.NDArray[Any]]) -> str:
    h = hashlib.sha256()
    for name in _ARRAYS:
        arr = np.ascontiguousarray(arrays[name])
        h.update(name.encode())
        h.update(str(arr.dtype).encode())
        h.update(str(arr.shape).encode())
        h.update(arr.tobytes())
    return h.hexdigest()


@dataclass(slots=True)
class LearnedScorer:
    """Scores prompt text; see the module docstring for the formula."""

    spec: FeatureSpec
    weights: npt.NDArray[np.float32]  # w · idf, per hashed index
    idf: npt.NDArray[np.float32]
    dense_mean: npt.NDArray[np.float64]
    dense_scale: npt.NDArray[np.float64]
    dense_weights: npt.NDArray[np.float64]
    bias: float
    threshold: float
    manifest: dict[str, Any] = field(default_factory=dict)
    word_scale: float = 1.0  # weight of the word group beside the character group
    # weight + i·idf² per index: one gather fetches both, one sum adds both
    _table: npt.NDArray[np.complex64] = field(init=False, repr=False)
    # standardisation folded into the weights: Σ x·w/scale − Σ mean·w/scale
    _text_w: list[float] = field(init=False, repr=False)
    _text_c: float = field(init=False, repr=False)
    _emb_w: npt.NDArray[np.float64] = field(init=False, repr=False)
    _emb_c: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        dim = self.spec.dim
        if self.weights.shape != (dim,) or self.idf.shape != (dim,):
            raise ModelFileError(f"weights and idf must have shape ({dim},)")
        n_dense = len(self.spec.dense_names)
        for name in ("dense_mean", "dense_scale", "dense_weights"):
            if getattr(self, name).shape != (n_dense,):
                raise ModelFileError(f"{name} must have shape ({n_dense},)")
        if not all(math.isfinite(x) for x in (self.bias, self.threshold, self.word_scale)):
            raise ModelFileError("bias, threshold and word_scale must be finite")
        if not np.all(self.dense_scale > 0):
            raise ModelFileError("dense_scale must be positive")
        self._table = (self.weights + 1j * np.square(self.idf)).astype(np.complex64)
        k = len(self.spec.text_dense_names)
        w = self.dense_weights / self.dense_scale
        self._text_w = [float(x) for x in w[:k]]
        self._text_c = -float(self.dense_mean[:k] @ w[:k])
        self._emb_w = w[k:].astype(np.float64)
        self._emb_c = -float(self.dense_mean[k:] @ w[k:]) if w.size > k else 0.0

    @property
    def needs_vector(self) -> bool:
        """The model reads the prompt's sentence embedding (`score(text, vector)`)."""
        return self.spec.embedding_dim > 0

    def score(self, text: str, vector: npt.NDArray[np.floating[Any]] | None = None) -> float:
        """Predicted quality gain of the strong tier for `text` (never raises for a str).

        `vector` is the prompt's sentence embedding, for models trained with one. Without it
        (semantic layer off, over its time budget) the embedding features take their training
        mean, so the model still scores by the text."""
        spec = self.spec
        indices, (n_words, n_chars) = hash_text(text, spec)
        z = self.bias
        if indices.size:
            rows = self._table.take(indices)
            if n_words:
                words = complex(rows[:n_words].sum())
                if words.imag > 0.0:
                    z += self.word_scale * words.real / math.sqrt(words.imag)
            if n_chars:
                chars = complex(rows[n_words:].sum())
                if chars.imag > 0.0:
                    z += chars.real / math.sqrt(chars.imag)
        dense = dense_features(text, spec)
        z += self._text_c
        for value, weight in zip(dense, self._text_w, strict=True):
            z += value * weight
        if vector is not None and self._emb_w.size and vector.shape == self._emb_w.shape:
            z += float(vector @ self._emb_w) + self._emb_c
        return z

    # -- file I/O ------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write atomically (temp file + rename), so a watcher never reads half a file."""
        arrays: dict[str, npt.NDArray[Any]] = {
            "weights": self.weights.astype(np.float32),
            "idf": self.idf.astype(np.float32),
            "dense_mean": self.dense_mean.astype(np.float64),
            "dense_scale": self.dense_scale.astype(np.float64),
            "dense_weights": self.dense_weights.astype(np.float64),
        }
        manifest = dict(self.manifest)
        manifest.update(
            kind=KIND,
            format_version=FORMAT_VERSION,
            feature_spec=self.spec.to_json(),
            bias=self.bias,
            threshold=self.threshold,
            word_scale=self.word_scale,
            dense_names=list(self.spec.dense_names),
            arrays_sha256=_digest(arrays),
        )
        self.manifest = manifest
        buf = io.BytesIO()
        payload = dict(arrays, manifest=np.frombuffer(json.dumps(manifest).encode(), np.uint8))
        np.savez_compressed(buf, allow_pickle=False, **payload)
        target = Path(path)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_bytes(buf.getvalue())
        os.replace(tmp, target)


def load_model(path: str | Path) -> LearnedScorer:
    """Read and verify a model file; `ModelFileError` names what is wrong."""
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise ModelFileError(f"model file {p}: {exc.strerror or exc}") from None
    if size > MAX_MODEL_BYTES:
        raise ModelFileError(f"model file {p}: {size} bytes is over the {MAX_MODEL_BYTES} limit")
    try:
        with np.load(p, allow_pickle=False) as archive:
            names = set(archive.files)
            missing = {"manifest", *_ARRAYS} - names
            if missing:
                raise ModelFileError(f"model file {p}: missing {sorted(missing)}")
            manifest = json.loads(archive["manifest"].tobytes().decode("utf-8"))
            arrays = {name: archive[name] for name in _ARRAYS}
    except ModelFileError:
        raise
    except Exception as exc:  # zipfile, zlib and numpy raise many types on a damaged file
        raise ModelFileError(f"model file {p}: not a readable model archive ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("kind") != KIND:
        raise ModelFileError(f"model file {p}: not an {KIND} file")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"model file {p}: format_version {version!r} is not supported "
            f"(this router reads {FORMAT_VERSION})"
        )
    if manifest.get("arrays_sha256") != _digest(arrays):
        raise ModelFileError(f"model file {p}: arrays do not match the manifest's sha256")
    try:
        spec = FeatureSpec.from_json(manifest["feature_spec"])
        if list(spec.dense_names) != manifest.get("dense_names"):
            raise ModelFileError("dense feature names differ from this router's")
        return LearnedScorer(
            spec=spec,
            weights=arrays["weights"].astype(np.float32),
            idf=arrays["idf"].astype(np.float32),
            dense_mean=arrays["dense_mean"].astype(np.float64),
            dense_scale=arrays["dense_scale"].astype(np.float64),
            dense_weights=arrays["dense_weights"].astype(np.float64),
            bias=float(manifest["bias"]),
            threshold=float(manifest["threshold"]),
            manifest=manifest,
            word_scale=float(manifest.get("word_scale", 1.0)),
        )
    except ModelFileError as exc:
        raise ModelFileError(f"model file {p}: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"model file {p}: bad manifest ({exc})") from None
