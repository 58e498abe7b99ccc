"""The semantic layer on the request path: embeddings (one per request, shared by the
classifier and the semantic cache), within a per-request time budget.

Heavy work never runs on the event loop: `BatchingEmbedder` micro-batches concurrent
requests onto a worker thread. When the budget runs out the request goes on without the
embedding (rules decide without a category; the cache misses), counted.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import numpy as np

from extproc.config.model import RouterConfig
from extproc.observability.metrics import RouterMetrics

log = logging.getLogger("extproc.semantic")


class SemanticLayer:
    """Owns the embedder and classifier; `vector()` and `classify()` for the request path."""

    def __init__(self, config: RouterConfig, metrics: RouterMetrics,
                 for_rules: bool = False) -> None:
        """`for_rules`: a rule reads the prompt's embedding (a learned model trained on one)."""
        self.config = config
        self.metrics = metrics
        classifier_cfg = config.classifier
        self.wanted = (
            classifier_cfg.enabled or (config.cache.enabled and config.cache.semantic) or for_rules
        )
        self.embedder: Any = None  # BatchingEmbedder once started
        self.classifier: Any = None  # CategoryClassifier once started
        self.unavailable = ""  # why the semantic layer is off although configured

    @property
    def active(self) -> bool:
        return self.embedder is not None

    def _budget_s(self) -> float:
        budgets = []
        if self.config.classifier.enabled:
            budgets.append(self.config.classifier.budget_ms)
        if self.config.cache.enabled and self.config.cache.semantic:
            budgets.append(self.config.cache.budget_ms)
        return max(budgets or [40.0]) / 1000.0

    async def start(self) -> None:
        """Load the model (off the loop) and embed the category examples."""
        if not self.wanted:
            return
        try:
            from extproc.semantic.classifier import CategoryClassifier
            from extproc.semantic.embedder import (
                BatchingEmbedder,
                HashingEmbedder,
                SemanticUnavailable,
                SentenceTransformerEmbedder,
                warm_up,
            )
            from extproc.semantic.index import single_thread_numpy_blas
        except ImportError as exc:  # numpy-only parts missing would be a packaging bug
            self.unavailable = f"semantic layer cannot load: {exc}"
            log.error(self.unavailable)
            return
        cfg = self.config.classifier
        try:
            if cfg.model == "hashing":
                base: Any = HashingEmbedder()
            else:
                base = await asyncio.to_thread(SentenceTransformerEmbedder, cfg.model)
                await asyncio.to_thread(warm_up, base)
        except SemanticUnavailable as exc:
            self.unavailable = str(exc)
            log.error("semantic layer off: %s (the category rule abstains, the cache matches "
                      "exact requests only)", exc)
            return
        single_thread_numpy_blas()  # multi-threaded BLAS made small searches erratic
        self.embedder = BatchingEmbedder(base, max_batch=cfg.max_batch,
                                         max_wait_ms=cfg.max_wait_ms)
        if cfg.enabled and cfg.categories:
            self.classifier = CategoryClassifier(
                self.embedder, cfg.categories, cfg.descriptions or None,
                threshold=cfg.threshold, margin=cfg.margin,
            )
            await self.classifier.prepare()
        log.info("semantic layer ready (dim %d, %d categories)", self.embedder.dim,
                 len(cfg.categories))

    async def stop(self) -> None:
        if self.embedder is not None:
            await self.embedder.aclose()
            self.embedder = None

    async def vector(self, text: str) -> np.ndarray | None:
        """The text's embedding, or None when the budget runs out or the embedder is busy."""
        embedder = self.embedder
        if embedder is None or not text:
            return None
        try:
            return await asyncio.wait_for(embedder.embed(text), self._budget_s())  # type: ignore[no-any-return]
        except TimeoutError:
            self.metrics.semantic_timeouts.inc()
            return None
        except Exception as exc:  # overloaded or closed: go on without it
            self.metrics.semantic_timeouts.inc()
            log.debug("embedding skipped: %r", exc)
            return None

    def classify(self, vector: np.ndarray | None) -> tuple[str | None, float]:
        if vector is None or self.classifier is None or not self.classifier.ready:
            return None, 0.0
        result = self.classifier.classify_vector(vector)
        if result.category is not None:
            self.metrics.categories.labels(result.category).inc()
        return result.category, float(result.confidence)
