"""Category classification by embedding similarity to example utterances.

Each category is a handful of example utterances (and optionally a one-line description,
embedded as one more example). A text's score for a category is its cosine similarity to the
closest example (`method="max"`, the default) or to the normalised mean of the examples
(`method="centroid"`). The best category wins unless its score is under `threshold` or it
beats the runner-up by less than `margin`: then the classifier abstains (category None).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from extproc.semantic.embedder import BatchingEmbedder, Embedder, FloatArray, normalize_rows

Method = Literal["max", "centroid"]


@dataclass(frozen=True, slots=True)
class Classification:
    """`category` None means abstain; `confidence` is the best cosine score (-1..1)."""

    category: str | None
    confidence: float
    scores: Mapping[str, float]
    reason: Literal["match", "below_threshold", "ambiguous", "empty"] = "match"


# A small example set (used by tests, the benchmark and docs/semantic.md); real deployments
# configure their own.
EXAMPLE_CATEGORIES: Mapping[str, Sequence[str]] = {
    "code": (
        "Write a Python function that reverses a linked list",
        "Why does my JavaScript fetch call return a pending promise?",
        "Fix this SQL query: SELECT name FROM users WHERE id = ",
        "How do I use async and await in Rust with tokio?",
        "Refactor this Java class to use dependency injection",
        "What does a segmentation fault in my C program mean?",
        "Explain this regular expression and write unit tests for it",
        "My Docker build fails with 'no such file or directory' on COPY",
    ),
    "math": (
        "Solve the equation 3x + 7 = 22 for x",
        "What is the derivative of sin(x) * x^2?",
        "Prove that the square root of 2 is irrational",
        "Compute the integral of 1/(1+x^2) from 0 to 1",
        "What is the probability of rolling two sixes with two dice?",
        "Find the eigenvalues of the matrix [[2, 1], [1, 2]]",
        "How many ways can 5 people sit around a round table?",
        "Simplify the fraction 84/126",
    ),
    "chitchat": (
        "Hi there, how are you doing today?",
        "Good morning! Hope you slept well",
        "Tell me a joke",
        "What's your favourite movie?",
        "Thanks a lot, that was really helpful!",
        "I'm bored, let's just chat for a bit",
        "Do you like music?",
        "Have a great weekend!",
    ),
    "translation": (
        "Translate 'good morning' into Spanish",
        "How do you say 'thank you very much' in Japanese?",
        "Translate this paragraph from English to German",
        "What does 'je ne sais pas' mean in English?",
        "Please translate the following sentence into French: I love reading books",
        "Render this text in Italian",
        "How would I write 'where is the train station' in Portuguese?",
        "Translate from Chinese to English: 你好，世界",
    ),
}

EXAMPLE_DESCRIPTIONS: Mapping[str, str] = {
    "code": "programming, source code, software bugs and developer tools",
    "math": "mathematics: equations, calculus, algebra, proofs and probability",
    "chitchat": "casual small talk, greetings and thanks",
    "translation": "translating text between human languages",
}


class CategoryClassifier:
    """Nearest-category classifier over example embeddings.

    Defaults (threshold 0.3, margin 0.05) are tuned for all-MiniLM-L6-v2, whose cosine between
    two different questions on one topic is typically 0.2-0.6: at 0.5 it abstained on 75% of
    held-out in-domain utterances (see docs/semantic.md). Other models need their own values.

    `embedder`: a `BatchingEmbedder` (async path, `classify`) or a plain `Embedder`
    (blocking path only: `prepare_blocking` + `classify_vector`). Example vectors are computed
    by `await prepare()` (on the embedder's worker thread) or `prepare_blocking()`;
    `classify()` prepares lazily on first use.
    """

    def __init__(
        self,
        embedder: BatchingEmbedder | Embedder,
        categories: Mapping[str, Sequence[str]],
        descriptions: Mapping[str, str] | None = None,
        threshold: float = 0.3,
        margin: float = 0.05,
        method: Method = "max",
    ) -> None:
        if not categories:
            raise ValueError("at least one category is needed")
        for name, examples in categories.items():
            if not examples and not (descriptions and descriptions.get(name)):
                raise ValueError(f"category {name!r} has no examples and no description")
        unknown = set(descriptions or ()) - set(categories)
        if unknown:
            raise ValueError(f"descriptions for unknown categories: {sorted(unknown)}")
        if method not in ("max", "centroid"):
            raise ValueError(f"unknown method {method!r}")
        self.embedder = embedder
        self.names: tuple[str, ...] = tuple(categories)
        self.threshold = threshold
        self.margin = margin
        self.method: Method = method
        texts: list[str] = []
        owners: list[int] = []
        for idx, name in enumerate(self.names):
            items = list(categories[name])
            if descriptions and descriptions.get(name):
                items.append(descriptions[name])
            texts.extend(items)
            owners.extend([idx] * len(items))
        self._texts = texts
        self._owners = np.asarray(owners, dtype=np.intp)
        self._matrix: FloatArray | None = None  # rows: examples (max) or centroids
        self._lock: asyncio.Lock | None = None

    @property
    def ready(self) -> bool:
        return self._matrix is not None

    def _install(self, vectors: FloatArray) -> None:
        vectors = normalize_rows(vectors)
        if self.method == "centroid":
            sums = np.zeros((len(self.names), vectors.shape[1]), dtype=np.float32)
            np.add.at(sums, self._owners, vectors)
            self._matrix = normalize_rows(sums)
        else:
            self._matrix = vectors

    async def prepare(self) -> None:
        """Embed the examples (once) on the embedder's worker thread."""
        if self._matrix is not None:
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._matrix is not None:
                return
            if isinstance(self.embedder, BatchingEmbedder):
                vectors = await self.embedder.embed_many(self._texts)
            else:
                vectors = await asyncio.to_thread(self.embedder.embed, self._texts)
            self._install(vectors)

    def prepare_blocking(self) -> None:
        """Embed the examples on this thread (startup code, tests)."""
        if self._matrix is None:
            inner = (
                self.embedder.embedder
                if isinstance(self.embedder, BatchingEmbedder)
                else self.embedder
            )
            self._install(inner.embed(self._texts))

    def scores(self, vector: FloatArray) -> dict[str, float]:
        """Per-category cosine scores of one unit vector."""
        if self._matrix is None:
            raise RuntimeError("classifier not prepared: await prepare() or prepare_blocking()")
        sims = self._matrix @ np.asarray(vector, dtype=np.float32)
        if self.method == "centroid":
            per_cat = sims
        else:
            per_cat = np.full(len(self.names), -np.inf, dtype=np.float32)
            np.maximum.at(per_cat, self._owners, sims)
        return {name: float(per_cat[i]) for i, name in enumerate(self.names)}

    def classify_vector(self, vector: FloatArray) -> Classification:
        """Pure numpy: the decision for an already-embedded text."""
        if not np.any(vector):
            zeros = dict.fromkeys(self.names, 0.0)
            return Classification(None, 0.0, zeros, "empty")
        scores = self.scores(vector)
        ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
        best, best_score = ranked[0]
        second = ranked[1][1] if len(ranked) > 1 else -1.0
        if best_score < self.threshold:
            return Classification(None, best_score, scores, "below_threshold")
        if best_score - second < self.margin:
            return Classification(None, best_score, scores, "ambiguous")
        return Classification(best, best_score, scores, "match")

    async def classify(self, text: str) -> Classification:
        """Embed `text` through the `BatchingEmbedder` (never on the loop) and classify it."""
        if not isinstance(self.embedder, BatchingEmbedder):
            raise TypeError("classify() needs a BatchingEmbedder; use classify_vector()")
        if self._matrix is None:
            await self.prepare()
        return self.classify_vector(await self.embedder.embed(text))


__all__ = [
    "EXAMPLE_CATEGORIES",
    "EXAMPLE_DESCRIPTIONS",
    "CategoryClassifier",
    "Classification",
    "Method",
]
