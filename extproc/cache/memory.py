"""In-memory response cache: exact map + optional vector index, LRU and TTL bounded."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from extproc.cache.answer import CachedAnswer


class VectorSearch(Protocol):
    """The semantic side (extproc.semantic.index.VectorIndex satisfies it)."""

    def add(self, key: str, vector: np.ndarray, scope: str = ...) -> None: ...

    def remove(self, key: str) -> None: ...

    def search(
        self, vector: np.ndarray, min_score: float, scope: str = ...
    ) -> tuple[str, float] | None: ...


@dataclass(slots=True)
class _Entry:
    answer: CachedAnswer
    scope: str
    expires_at: float
    has_vector: bool
    signature: object = None  # lexical signature a semantic hit must match


@dataclass(frozen=True, slots=True)
class CacheHit:
    answer: CachedAnswer
    kind: str  # "exact" | "semantic"
    similarity: float


class MemoryCache:
    """Exact lookups are a dict get; semantic lookups one matrix-vector product."""

    def __init__(self, max_entries: int, ttl_s: float, index: VectorSearch | None = None) -> None:
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self.index = index
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self.evictions = 0
        self.expired = 0
        self.lexical_rejects = 0

    def __len__(self) -> int:
        return len(self._entries)

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None and entry.has_vector and self.index is not None:
            self.index.remove(key)

    def _live(self, key: str, now: float) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires_at <= now:
            self._drop(key)
            self.expired += 1
            return None
        self._entries.move_to_end(key)
        return entry

    def get_exact(self, key: str, now: float | None = None) -> CacheHit | None:
        entry = self._live(key, time.monotonic() if now is None else now)
        return None if entry is None else CacheHit(entry.answer, "exact", 1.0)

    def get_similar(
        self,
        vector: np.ndarray,
        min_similarity: float,
        scope: str,
        signature: object = None,
        now: float | None = None,
    ) -> CacheHit | None:
        if self.index is None:
            return None
        found = self.index.search(vector, min_similarity, scope)
        if found is None:
            return None
        key, similarity = found
        entry = self._live(key, time.monotonic() if now is None else now)
        if entry is None or entry.scope != scope:
            return None
        if signature is not None and entry.signature is not None and signature != entry.signature:
            self.lexical_rejects += 1
            return None
        return CacheHit(entry.answer, "semantic", similarity)

    def put(
        self,
        key: str,
        scope: str,
        answer: CachedAnswer,
        vector: np.ndarray | None = None,
        now: float | None = None,
        signature: object = None,
    ) -> None:
        now = time.monotonic() if now is None else now
        self._drop(key)
        while len(self._entries) >= self.max_entries:
            self._drop(next(iter(self._entries)))
            self.evictions += 1
        has_vector = False
        if vector is not None and self.index is not None:
            try:
                self.index.add(key, vector, scope)
                has_vector = True
            except (ValueError, RuntimeError):  # index full, or a bad vector: exact only
                has_vector = False
        self._entries[key] = _Entry(answer, scope, now + self.ttl_s, has_vector, signature)
