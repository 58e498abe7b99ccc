"""What the response side needs to store an upstream answer in the cache."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from extproc.cache.answer import CachedAnswer
from extproc.cache.memory import MemoryCache


@dataclass(slots=True)
class CacheFill:
    cache: MemoryCache
    key: str
    scope: str
    kind: str  # "chat" | "completion"
    vector: np.ndarray | None
    max_bytes: int
    signature: object = None

    def store(self, answer: CachedAnswer | None) -> bool:
        if answer is None or answer.size() > self.max_bytes:
            return False
        self.cache.put(self.key, self.scope, answer, self.vector, signature=self.signature)
        return True
