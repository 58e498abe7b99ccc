"""Semantic signals: text embeddings, category classification, a vector index for caching.

Everything here imports with numpy alone; sentence-transformers/torch are imported only when a
`SentenceTransformerEmbedder` is built (`pip install 'extproc-router[semantic]'`).
See docs/semantic.md.
"""

from extproc.semantic.classifier import (
    EXAMPLE_CATEGORIES,
    EXAMPLE_DESCRIPTIONS,
    CategoryClassifier,
    Classification,
)
from extproc.semantic.embedder import (
    BatchingEmbedder,
    BatchStats,
    Embedder,
    EmbedderClosed,
    EmbedderOverloaded,
    HashingEmbedder,
    SemanticUnavailable,
    SentenceTransformerEmbedder,
    default_model_path,
    normalize_rows,
    warm_up,
)
from extproc.semantic.index import IndexFull, VectorIndex, single_thread_numpy_blas

__all__ = [
    "EXAMPLE_CATEGORIES",
    "EXAMPLE_DESCRIPTIONS",
    "BatchStats",
    "BatchingEmbedder",
    "CategoryClassifier",
    "Classification",
    "Embedder",
    "EmbedderClosed",
    "EmbedderOverloaded",
    "HashingEmbedder",
    "IndexFull",
    "SemanticUnavailable",
    "SentenceTransformerEmbedder",
    "VectorIndex",
    "default_model_path",
    "normalize_rows",
    "single_thread_numpy_blas",
    "warm_up",
]
