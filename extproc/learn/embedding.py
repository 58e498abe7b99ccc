"""Sentence embeddings as learned-scorer features (the semantic extra).

A model's spec names its embedder the way the router's semantic layer does
(`classifier.model`): "bundled" for the packaged all-MiniLM-L6-v2 (`classifier.model` unset),
"hashing" for the numpy hashing embedder, else a local model path. Training, offline scoring
and the live path then embed with the same model, so the features mean the same thing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

BUNDLED = "bundled"


def embedding_name(classifier_model: str | None) -> str:
    """The spec's name for the embedder the semantic layer builds from `classifier.model`."""
    return BUNDLED if classifier_model is None else classifier_model


def embedder_for(name: str) -> Any:
    """The embedder a spec names; raises SemanticUnavailable when it can't be loaded."""
    from extproc.semantic.embedder import HashingEmbedder, SentenceTransformerEmbedder

    if name == "hashing":
        return HashingEmbedder()
    return SentenceTransformerEmbedder(None if name == BUNDLED else name)


def embed_all(embedder: Any, texts: list[str], batch: int = 64) -> npt.NDArray[np.float32]:
    """Every text's embedding, in batches (one row per text)."""
    rows = [embedder.embed(texts[i:i + batch]) for i in range(0, len(texts), batch)]
    if not rows:
        return np.zeros((0, int(embedder.dim)), dtype=np.float32)
    return np.vstack(rows).astype(np.float32)
